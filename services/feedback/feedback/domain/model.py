"""The order file: what feedback has heard about one order, event by event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from feedback.domain.privacy import erase_summary

#: The events (by name) feedback keeps on an order's file; it ignores the rest of the bus.
EVENTS_OF_INTEREST: frozenset[str] = frozenset(
    {
        # intake: the order, its verified corrections and linked later reports (product, fault,
        # emergency: the sampling class, FBK-4), phone-only resolutions to call back on (FBK-1),
        # reopening, cancelling
        "OrderCreated",
        "OrderVerified",
        "DuplicateLinked",
        "OrderResolvedRemotely",
        "OrderReopened",
        "OrderCancelled",
        # scheduling: who was sent and when, orders handed back to the centre, lateness, revisits
        # (FBK-6, FBK-7, FBK-11)
        "OrderAssigned",
        "OrderReassigned",
        "OrderReturnedToCentre",
        "AppointmentConfirmed",
        "ArrivalLate",
        "RevisitBooked",
        # fieldwork: how the visit went, what the customer signed, when the technician left
        # (FBK-2..FBK-4, FBK-8, FBK-11)
        "TechnicianArrived",
        "CustomerNotHome",
        "RepairCompleted",
        "RepairFailed",
        "InstallationCompleted",
        "UnitTakenBack",
        "UnitReturned",
        "CustomerSignedOff",
        "DamageReported",
        "VisitClosed",
        # billing: what was charged, asked about at the call-back (FBK-4, FBK-5)
        "QuoteIssued",
        "ReceiptIssued",
        "PaymentCollected",
        # billing: the order's retention is over, its personal data is erased (BIL-11)
        "OrderRetentionExpired",
    }
)

#: At most this many fields go into an event's summary.
SUMMARY_MAX_FIELDS = 16
#: Longer text values are cut to this many characters in a summary.
SUMMARY_MAX_TEXT = 120

_SCALARS = (str, int, float, bool)


def summarise(data: Mapping[str, Any]) -> dict[str, Any]:
    """A short, flat summary of an event's data: its scalar fields, and those of its objects
    one level down as ``parent.child``; lists, nulls and the order id are left out."""
    summary: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if len(summary) >= SUMMARY_MAX_FIELDS or value is None or not isinstance(value, _SCALARS):
            return
        if isinstance(value, str) and len(value) > SUMMARY_MAX_TEXT:
            value = value[: SUMMARY_MAX_TEXT - 1] + "…"
        summary[key] = value

    for key, value in data.items():
        if key == "order_id":
            continue
        if isinstance(value, Mapping):
            for child, inner in value.items():
                put(f"{key}.{child}", inner)
        else:
            put(key, value)
    return summary


@dataclass(frozen=True)
class RecordedEvent:
    """One event of interest seen for an order."""

    event_id: str
    type: str
    version: int
    time: datetime
    source: str
    summary: dict[str, Any] = field(default_factory=dict, hash=False)

    def without_personal_data(self) -> RecordedEvent:
        """The entry with its summary's personal data erased (BIL-11)."""
        return replace(self, summary=erase_summary(self.type, self.summary))


@dataclass
class OrderFile:
    """Every event of interest feedback has seen for one order, oldest first."""

    order_id: str
    entries: list[RecordedEvent] = field(default_factory=list)
    anonymised_at: datetime | None = None
    """When the order's personal data was erased (BIL-11); None while it is kept."""
