"""Events published by the intake service (topic ``fsm.intake.events``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import EventData
from contracts.common import (
    Channel,
    Customer,
    Fault,
    Product,
    ServiceType,
    TimeWindow,
    WarrantyStatus,
)


class _IntakeEvent(EventData):
    producer: ClassVar[str] = "intake"


class OrderCreated(_IntakeEvent):
    """A call-centre agent (or partner, web form...) took a new service request (INT-1).

    Unverified details are listed in `needs_verification` (INT-2); such an order is not dispatched
    until OrderVerified, unless a dispatcher overrides it.
    """

    event_type: ClassVar[str] = "OrderCreated"

    order_id: str
    customer: Customer
    product: Product
    fault: Fault
    requests: str | None = None
    preferred_windows: list[TimeWindow] = Field(default_factory=list)
    channel: Channel
    emergency: bool = False
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    needs_verification: list[str] = Field(default_factory=list)
    loaner_required: bool = False
    service_type: ServiceType = ServiceType.REPAIR
    """A repair (the default) or an installation."""
    on_site_due_at: AwareDatetime | None = None
    """Emergencies only: someone must be on site by then (INT-7, default 15 minutes after intake);
    no appointment is negotiated and the order goes ahead of the dispatch queue."""
    taken_by: str | None = None
    """Who took the request: the call-centre agent, or the service-hall clerk of a walk-in
    (desk business, sampled for call-backs under FBK-4)."""


class OrderVerified(_IntakeEvent):
    """The centre checked the details an order was missing or doubted (INT-2), or a dispatcher
    released an unverified order for dispatch anyway.

    With `dispatch_override` true, `overridden_by` names the dispatcher (SCH-12) and `unverified`
    lists what is still not confirmed. Corrected customer or product details replace those of
    OrderCreated; the warranty status is re-derived from them (INT-5), and so are the loaner
    prediction (INT-6) and the emergency (INT-7): a fault corrected to one that is always an
    emergency makes the order one, never the other way round.
    """

    event_type: ClassVar[str] = "OrderVerified"

    order_id: str
    verified: list[str] = Field(default_factory=list)
    """The details confirmed, in the words of OrderCreated's `needs_verification`."""
    unverified: list[str] = Field(default_factory=list)
    """Details still not confirmed (only with `dispatch_override`)."""
    customer: Customer | None = None
    """The corrected customer, when verification changed it."""
    product: Product | None = None
    """The corrected product, when verification changed it."""
    fault: Fault | None = None
    """The clarified fault, when verification changed it."""
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    verified_by: str | None = None
    """The agent who verified."""
    dispatch_override: bool = False
    overridden_by: str | None = None
    """The dispatcher who released the unverified order (required with `dispatch_override`)."""
    loaner_required: bool | None = None
    """The take-back prediction after the verification (INT-6): re-derived from the product and
    fault when either was corrected, else the order's as it stood (a policy changed since intake
    re-derives nothing). It replaces OrderCreated's `loaner_required`. None in events published
    before intake sent it: the prediction stands."""
    escalated_to_emergency: bool = False
    """The corrected fault makes the order an emergency (INT-7) and it was not one: it is now an
    emergency, with someone to be on site by `on_site_due_at`. An emergency is never taken back
    at verification (false then)."""
    on_site_due_at: AwareDatetime | None = None
    """With `escalated_to_emergency` only: someone must be on site by then (INT-7, default 15
    minutes after the verification); no appointment is negotiated."""

    @model_validator(mode="after")
    def _override_names_the_dispatcher(self) -> OrderVerified:
        if self.dispatch_override and not self.overridden_by:
            raise ValueError("dispatch_override needs overridden_by (INT-2, SCH-12)")
        return self


class RemoteResolutionCause(StrEnum):
    """Why phone guidance was enough (INT-4)."""

    MISUSE = "misuse"
    MISREPORT = "misreport"
    OTHER = "other"


class OrderResolvedRemotely(_IntakeEvent):
    """Triage found misuse or a misreport and the customer was guided by phone: no visit (INT-4).

    The order closes as *resolved remotely*; feedback schedules the call-back (FBK-1) by its
    own policy, in working time.
    """

    event_type: ClassVar[str] = "OrderResolvedRemotely"

    order_id: str
    cause: RemoteResolutionCause = RemoteResolutionCause.OTHER
    guidance: str
    """What the customer was told to do."""
    resolved_by: str | None = None
    call_back_due_at: AwareDatetime | None = None
    """Intake's estimate of when the customer is called back (for the agent to tell them);
    feedback's own schedule decides."""


class OrderReopened(_IntakeEvent):
    """An order closed as resolved remotely is open again: the customer did not accept the phone
    guidance, or it was wrong, so a visit is to be arranged (INT-4).
    """

    event_type: ClassVar[str] = "OrderReopened"

    order_id: str
    reason: str
    reopened_by: str | None = None
    visit_needed: bool = True


class OrderCancelled(_IntakeEvent):
    """An agent or dispatcher cancelled the order (SCH-12); every service stops work on it."""

    event_type: ClassVar[str] = "OrderCancelled"

    order_id: str
    reason: str
    cancelled_by: str
    """The user id of the agent or dispatcher who cancelled."""
    requested_by_customer: bool = False


class OrderClosed(_IntakeEvent):
    """The order is over: the last stage of the flow, the follow-up, is done (FLOW.md).

    The latest call-back that reached the customer found them satisfied and the problem solved
    (FBK-1, FBK-3, FLD-12: followed until satisfied), no complaint about the order is open
    (FBK-10), and nothing happened on it for the policy's quiet period
    (`close_after_quiet_days`, long enough for the sampled call-back of FBK-4). Intake closes it
    in a periodic sweep. A revisit feedback requests later (FBK-7) opens it again.
    """

    event_type: ClassVar[str] = "OrderClosed"

    order_id: str
    satisfied_at: AwareDatetime
    """When the call-back that found the customer satisfied was published."""
    quiet_since: AwareDatetime
    """The time of the order's last event before it closed."""


class DuplicateLinked(_IntakeEvent):
    """A customer reported the same product again while an order was open; the report was linked
    to that order instead of creating a new dispatch (INT-8).

    `order_id` is the open order the report was linked to.
    """

    event_type: ClassVar[str] = "DuplicateLinked"

    order_id: str
    report_reference: str | None = None
    """The call or ticket id of the duplicate report, when the channel has one."""
    reported_at: AwareDatetime
    channel: Channel
    caller_phone: str | None = None
    """E.164 phone the duplicate came from."""
    fault_description: str | None = None
    """What the customer said this time."""
    linked_by: str | None = None
    escalated_to_emergency: bool = False
    """This report is an emergency (INT-7) and the open order was not: the order is now an
    emergency, with its on-site clock started at `reported_at`."""


class SlaClock(StrEnum):
    """The SLA timers intake runs (INT-3, INT-7)."""

    HANDOVER = "handover"
    """Hand the order to technical support within 1 hour of intake."""
    REPLY = "reply"
    """Give the customer a remote solution or a visit time within 8 working hours."""
    EMERGENCY_ON_SITE = "emergency_on_site"
    """Have someone on site within 15 minutes of an emergency report."""


class SlaBreached(_IntakeEvent):
    """An SLA clock of an order ran out before its goal was met (INT-3, INT-7).

    `due_at` is the deadline computed in business hours (or wall-clock for emergencies);
    `breached_at` is when the breach was detected.
    """

    event_type: ClassVar[str] = "SlaBreached"

    order_id: str
    clock: SlaClock
    due_at: AwareDatetime
    breached_at: AwareDatetime


class SlaBreachWithdrawn(_IntakeEvent):
    """A breach reported earlier was none: an event that reached intake late (an arrival logged
    offline and synced after the deadline) shows the clock's goal was met in time (INT-3, INT-7).

    Whoever counted the SlaBreached of this order and clock (`breached_at`) takes it back;
    `met_at` is when the goal was met, on or before `due_at`.
    """

    event_type: ClassVar[str] = "SlaBreachWithdrawn"

    order_id: str
    clock: SlaClock
    due_at: AwareDatetime
    met_at: AwareDatetime
    breached_at: AwareDatetime
