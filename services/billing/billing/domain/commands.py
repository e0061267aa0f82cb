"""Commands billing accepts (imperative). None yet: the walking skeleton only records events."""
