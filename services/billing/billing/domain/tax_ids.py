"""Buyer tax ids on invoices (BIL-7): the unified social credit code (GB 32100-2015, 18
characters with a check character) and the older 15- or 20-character taxpayer numbers."""

from __future__ import annotations

import re

#: The code's alphabet (no I, O, S, V, Z), each character's value its position.
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_UNIFIED = re.compile(f"^[{_ALPHABET}]{{18}}$")
_LEGACY = re.compile(r"^[0-9A-Z]{15}$|^[0-9A-Z]{20}$")


def check_character(first_17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(_ALPHABET.index(c) * w for c, w in zip(first_17, _WEIGHTS, strict=True))
    return _ALPHABET[(31 - total % 31) % 31]


def tax_id_problem(tax_id: str) -> str | None:
    """What is wrong with ``tax_id`` (upper case, no spaces), or None when it is well formed."""
    if _UNIFIED.match(tax_id):
        expected = check_character(tax_id[:17])
        if tax_id[17] != expected:
            return f"the check character of this unified social credit code should be {expected}"
        return None
    if _LEGACY.match(tax_id):
        return None
    return (
        "a buyer tax id is an 18-character unified social credit code, or an older 15- or "
        "20-character taxpayer number (letters and digits)"
    )
