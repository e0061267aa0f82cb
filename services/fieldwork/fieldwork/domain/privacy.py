"""What of an order is the customer's personal data, and how it reads once erased (BIL-11).

When billing announces that an order's retention is over (OrderRetentionExpired), fieldwork
erases the customer's personal data it keeps for the order and keeps the rest for figures and
audit. Across the API the convention is one: free text that may name the customer reads
:data:`ERASED` (text that was never given stays null); contact details, the place of the visit
and references to signature images and photos read null (lists of them empty); barcode scans,
serials, ids, dates, amounts, outcomes, ratings and technician ids stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.privacy import ERASED

#: Free-text fields of the events fieldwork keeps on an order's file that may name the customer
#: (a reason, a request, guidance given by phone), by event; other text fields are codes.
FREE_TEXT_SUMMARY_KEYS: Mapping[str, frozenset[str]] = {
    "OrderCreated": frozenset({"requests"}),
    "OrderCancelled": frozenset({"reason"}),
    "OrderResolvedRemotely": frozenset({"guidance"}),
    "OrderReopened": frozenset({"reason"}),
    "OrderAssigned": frozenset({"reason"}),
    "OrderReassigned": frozenset({"reason"}),
    "AppointmentRescheduled": frozenset({"reason"}),
    "OrderReturnedToCentre": frozenset({"detail"}),
    "ChargeWaived": frozenset({"reason"}),
}


def is_personal_summary_key(event_type: str, key: str) -> bool:
    """Whether a field of an event's summary holds the customer's personal data (BIL-11): the
    customer's details (``customer.*``) and the event's free text."""
    return key.startswith("customer.") or key in FREE_TEXT_SUMMARY_KEYS.get(event_type, ())


def erase_summary(event_type: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The event's summary with its personal fields reading :data:`ERASED` (BIL-11)."""
    return {
        key: ERASED if is_personal_summary_key(event_type, key) else value
        for key, value in summary.items()
    }
