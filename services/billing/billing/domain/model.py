"""The order file: what billing has heard about one order, event by event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The events (by name) billing keeps on an order's file; it ignores the rest of the bus.
EVENTS_OF_INTEREST: frozenset[str] = frozenset(
    {
        # intake: the order, its warranty status (BIL-1), and when it is off or open again: a
        # cancellation or a resolution by phone (INT-4) ends it for retention (BIL-11), a
        # reopening takes that end back
        "OrderCreated",
        "OrderVerified",
        "OrderCancelled",
        "OrderResolvedRemotely",
        "OrderReopened",
        # scheduling: who holds the order, so acts on it (SCH-12), and who does the work, for
        # the monthly settlement with networks (BIL-12); an order handed back, or a revisit left
        # to the centre, is nobody's until placed again (SCH-1, SCH-10)
        "OrderAssigned",
        "OrderReassigned",
        "OrderReturnedToCentre",
        "RevisitBooked",
        # fieldwork: what is to be priced, consented to, done and signed for (BIL-1..BIL-9, BIL-12)
        "DiagnosisRecorded",
        "QuoteRequested",
        "QuoteAccepted",
        "QuoteDeclined",
        "RepairCompleted",
        "InstallationCompleted",
        "UnitTakenBack",
        "UnitReturned",
        "CustomerSignedOff",
        "DamageReported",
        # and whether anything was charged or a coordination ticket opened, for retention (BIL-11)
        "VisitClosed",
        "CoordinationTicketOpened",
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


@dataclass
class OrderFile:
    """Every event of interest billing has seen for one order, oldest first."""

    order_id: str
    entries: list[RecordedEvent] = field(default_factory=list)
