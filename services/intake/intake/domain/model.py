"""The order aggregate as intake sees it: what was taken, its status and its timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from contracts.base import EventData
from contracts.common import Channel, Customer, Fault, Product, TimeWindow, WarrantyStatus
from contracts.ids import new_id
from contracts.intake import OrderCreated


class OrderStatus(StrEnum):
    """Where an order stands, derived from the events of every service."""

    RECEIVED = "received"
    VERIFIED = "verified"
    ASSIGNED = "assigned"
    APPOINTMENT_CONFIRMED = "appointment_confirmed"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    TAKEN_BACK = "taken_back"
    FAILED = "failed"
    RESOLVED_REMOTELY = "resolved_remotely"
    CANCELLED = "cancelled"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"


#: The status an event moves the order to; events not listed leave the status as it is.
STATUS_AFTER_EVENT: dict[str, OrderStatus] = {
    "OrderCreated": OrderStatus.RECEIVED,
    "OrderVerified": OrderStatus.VERIFIED,
    "OrderReopened": OrderStatus.RECEIVED,
    "OrderAssigned": OrderStatus.ASSIGNED,
    "OrderReassigned": OrderStatus.ASSIGNED,
    "OrderReturnedToCentre": OrderStatus.VERIFIED,
    "AppointmentConfirmed": OrderStatus.APPOINTMENT_CONFIRMED,
    "AppointmentRescheduled": OrderStatus.APPOINTMENT_CONFIRMED,
    "TechnicianDeparted": OrderStatus.EN_ROUTE,
    "TechnicianArrived": OrderStatus.ON_SITE,
    "RepairCompleted": OrderStatus.COMPLETED,
    "InstallationCompleted": OrderStatus.COMPLETED,
    "UnitTakenBack": OrderStatus.TAKEN_BACK,
    "UnitReturned": OrderStatus.COMPLETED,
    "RepairFailed": OrderStatus.FAILED,
    "OrderResolvedRemotely": OrderStatus.RESOLVED_REMOTELY,
    "OrderCancelled": OrderStatus.CANCELLED,
    "FollowUpCompleted": OrderStatus.FOLLOWED_UP,
    "OrderClosed": OrderStatus.CLOSED,
}

#: Once an order is here, only an explicit reopening moves it again.
FINAL_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.CLOSED})


@dataclass(frozen=True)
class TimelineEntry:
    """One event seen for an order."""

    event_id: str
    type: str
    version: int
    time: datetime
    source: str


@dataclass
class Order:
    """A customer's service request (INT-1), with the details still to verify (INT-2)."""

    id: str
    customer: Customer
    product: Product
    fault: Fault
    channel: Channel
    created_at: datetime
    requests: str | None = None
    preferred_windows: list[TimeWindow] = field(default_factory=list)
    emergency: bool = False
    needs_verification: list[str] = field(default_factory=list)
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    status: OrderStatus = OrderStatus.RECEIVED
    timeline: list[TimelineEntry] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def take(
        cls,
        *,
        customer: Customer,
        product: Product,
        fault: Fault,
        channel: Channel,
        now: datetime,
        requests: str | None = None,
        preferred_windows: list[TimeWindow] | None = None,
        emergency: bool = False,
        needs_verification: list[str] | None = None,
    ) -> Order:
        """Accept a new request and record OrderCreated (INT-1, INT-2)."""
        order = cls(
            id=str(new_id()),
            customer=customer,
            product=product,
            fault=fault,
            channel=channel,
            created_at=now,
            requests=requests,
            preferred_windows=list(preferred_windows or []),
            emergency=emergency,
            needs_verification=list(needs_verification or []),
        )
        order.events.append(
            OrderCreated(
                order_id=order.id,
                customer=customer,
                product=product,
                fault=fault,
                requests=requests,
                preferred_windows=order.preferred_windows,
                channel=channel,
                emergency=emergency,
                warranty_status=order.warranty_status,
                needs_verification=order.needs_verification,
            )
        )
        return order

    def observe(self, entry: TimelineEntry) -> bool:
        """Add an event seen on the bus to the timeline (oldest first) and move the status.

        Returns False when the event was already on the timeline.
        """
        if any(e.event_id == entry.event_id for e in self.timeline):
            return False
        self.timeline.append(entry)
        self.timeline.sort(key=lambda e: (e.time, e.event_id))
        self.status = status_from(self.timeline)
        return True


def status_from(timeline: list[TimelineEntry]) -> OrderStatus:
    """The status the timeline (oldest first) leads to, whatever order the events arrived in."""
    status = OrderStatus.RECEIVED
    for entry in timeline:
        after = STATUS_AFTER_EVENT.get(entry.type)
        if after is None:
            continue
        if status in FINAL_STATUSES and entry.type != "OrderReopened":
            continue
        status = after
    return status
