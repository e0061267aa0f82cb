"""The order file: what fieldwork has heard about one order, event by event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from contracts.common import ServiceType
from fieldwork.domain.exceptions import PersonalDataErased

#: The events (by name) fieldwork keeps on an order's file; it ignores the rest of the bus.
EVENTS_OF_INTEREST: frozenset[str] = frozenset(
    {
        # intake: what the visit is about, and when it is off
        "OrderCreated",
        "OrderVerified",
        "OrderCancelled",
        "OrderResolvedRemotely",
        "OrderReopened",
        # scheduling: who goes, and when
        "OrderAssigned",
        "OrderReassigned",
        "AppointmentConfirmed",
        "AppointmentRescheduled",
        "OrderReturnedToCentre",
        "RevisitBooked",
        # billing: the price the customer must consent to (or why there is none), its waiver,
        # and whether it is charged at all (void, or back in force)
        "QuoteIssued",
        "QuoteRefused",
        "ChargeWaived",
        "QuoteVoided",
        "QuoteReinstated",
        # billing: the order's retention is over, its personal data goes (BIL-11)
        "OrderRetentionExpired",
    }
)

#: At most this many fields go into an event's summary.
SUMMARY_MAX_FIELDS = 16
#: Longer text values are cut to this many characters in a summary.
SUMMARY_MAX_TEXT = 120

_SCALARS = (str, int, float, bool)

#: The product line of an order intake has not described (yet): its kit is the default list.
UNKNOWN_PRODUCT_LINE = "default"


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
    """Every event of interest fieldwork has seen for one order, oldest first."""

    order_id: str
    entries: list[RecordedEvent] = field(default_factory=list)
    anonymised_at: datetime | None = None
    """When the order's personal data was erased (BIL-11), if it was."""


@dataclass
class OrderContext:
    """What fieldwork needs to know about an order to run its visits (from intake's events)."""

    order_id: str
    product_line: str = UNKNOWN_PRODUCT_LINE
    warranty_status: str = "unknown"
    loaner_required: bool = False
    customer_name: str | None = None
    customer_phone: str | None = None
    address: str | None = None
    product_model: str | None = None
    installed_on: date | None = None
    """The product's installation date, for set-up work after installation (BIL-5)."""
    purchase_date: date | None = None
    """The product's purchase date: no installation before it (FLD-10, BIL-5)."""
    fault: str | None = None
    public_area: bool = False
    service_type: ServiceType = ServiceType.REPAIR
    """A repair or an installation (OrderCreated)."""
    cancelled: bool = False
    resolved_remotely: bool = False
    """Closed by phone guidance (INT-4) and not reopened: no visit goes ahead."""
    anonymised_at: datetime | None = None
    """When the customer's personal data was erased, the order's retention being over (BIL-11):
    events heard afterwards bring none back."""

    def erase_personal_data(self, *, at: datetime) -> None:
        """Forget the customer's name, phone and address (BIL-11); the product, the fault and
        the order's state stay. The first erasure's time is kept."""
        self.customer_name = None
        self.customer_phone = None
        self.address = None
        self.anonymised_at = self.anonymised_at or at

    def refuse_if_erased(self, action: str) -> None:
        """No command acts on the order once its personal data was erased (BIL-11): not on its
        take-backs either (409 "Personal data erased"); a loaner lent for it, the centre's
        property, can still be collected, and the customer's unit still at the workshop can
        still be returned to them (FLD-6)."""
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.order_id, action, self.anonymised_at)

    @property
    def known_product_line(self) -> str | None:
        """The product line intake named for the order; None while none is known."""
        return None if self.product_line == UNKNOWN_PRODUCT_LINE else self.product_line

    @property
    def job_type(self) -> str:
        """The job type whose kit list applies (FLD-1): ``installation`` for an installation,
        else the product line (the policy falls back to its default list)."""
        if self.service_type == ServiceType.INSTALLATION:
            return ServiceType.INSTALLATION.value
        return self.product_line
