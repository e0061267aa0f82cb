"""Commands feedback accepts (imperative). None yet: the walking skeleton only records events."""
