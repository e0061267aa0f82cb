"""How erased personal data reads in every service and on the bus once an order's retention is
over (BIL-11, OrderRetentionExpired): structured personal values become null, text people
wrote that may name the customer reads ``ERASED``."""

from __future__ import annotations

ERASED = "[erased]"
"""What text that may name the customer reads once it is erased (BIL-11)."""


def erase_text(text: str | None) -> str | None:
    """``text`` erased: None and the empty text stay as they are (nothing was given), any other
    reads :data:`ERASED`; erasing twice changes nothing."""
    return text if not text else ERASED
