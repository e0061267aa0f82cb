"""Events published by the scheduling service (topic ``fsm.scheduling.events``), and the one it
sends partner networks' webhooks only (OrderWithdrawn)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import EventData
from contracts.common import AssigneeKind, TimeWindow


class _SchedulingEvent(EventData):
    producer: ClassVar[str] = "scheduling"


class _Assignment(_SchedulingEvent):
    """Who now holds an order's visit; shared by OrderAssigned and OrderReassigned."""

    order_id: str
    visit_id: str
    assignee_kind: AssigneeKind
    technician_id: str | None = None
    """Required when `assignee_kind` is `technician`; set later by a network's own dispatcher."""
    network_id: str | None = None
    """Required when `assignee_kind` is `network`."""
    technician_name: str | None = None
    """Told to the customer with the visit time (INT-3)."""
    technician_phone: str | None = None
    """E.164 phone told to the customer with the visit time (INT-3)."""
    appointment: TimeWindow | None = None
    """The agreed window, when one was agreed before assignment."""
    reason: str | None = None
    """Why this assignee: skill, area, workload (SCH-1), or why the change."""
    acceptance_due_at: AwareDatetime | None = None
    """By when the network given the order must accept or reject it, else the order goes back
    to the centre (SCH-1): `network_accept_minutes` of working time, within the network's own
    office hours when it has declared them, else on the business calendar; wall-clock minutes
    for an emergency (INT-7). Null for a technician's assignment (and in
    events published before this field existed)."""

    @model_validator(mode="after")
    def _assignee_is_identified(self) -> _Assignment:
        if self.assignee_kind is AssigneeKind.TECHNICIAN and not self.technician_id:
            raise ValueError("a technician assignment needs technician_id")
        if self.assignee_kind is AssigneeKind.NETWORK and not self.network_id:
            raise ValueError("a network assignment needs network_id")
        return self


class OrderAssigned(_Assignment):
    """A dispatcher assigned an order's visit to a technician or a partner network (SCH-1, SCH-12).

    The technician is to accept promptly and contact the customer within 2 hours (SCH-2).
    """

    event_type: ClassVar[str] = "OrderAssigned"

    assigned_by: str
    """The dispatcher (or the network's dispatcher for its own orders)."""


class OrderReassigned(_Assignment):
    """A dispatcher moved an order's visit to another technician or network (SCH-3, SCH-6, SCH-8,
    SCH-9, SCH-12).

    The assignee fields describe the new holder; `previous_*` the one who lost the visit.
    Technicians never hand over orders between themselves without this approval (SCH-8).
    """

    event_type: ClassVar[str] = "OrderReassigned"

    previous_assignee_kind: AssigneeKind
    previous_technician_id: str | None = None
    previous_network_id: str | None = None
    reassigned_by: str


class AppointmentConfirmed(_SchedulingEvent):
    """The technician reached the customer and agreed the visit window, checking address, model,
    purchase date and fault (SCH-2, SCH-3, SCH-5).
    """

    event_type: ClassVar[str] = "AppointmentConfirmed"

    order_id: str
    visit_id: str
    window: TimeWindow
    technician_id: str
    technician_name: str | None = None
    technician_phone: str | None = None
    details_corrected: list[str] = Field(default_factory=list)
    """Order details the call corrected (SCH-5), in the words of `needs_verification`."""
    customer_reached: bool = True
    """False when the customer was not reached and the originally agreed time stands (SCH-5)."""


class RescheduleInitiator(StrEnum):
    """Who asked to move an appointment."""

    CUSTOMER = "customer"
    TECHNICIAN = "technician"
    CENTRE = "centre"


class AppointmentRescheduled(_SchedulingEvent):
    """An appointment moved to a new window, with the customer's agreement where required
    (SCH-3, SCH-5, SCH-6, SCH-10, SCH-11).
    """

    event_type: ClassVar[str] = "AppointmentRescheduled"

    order_id: str
    visit_id: str
    old_window: TimeWindow | None = None
    new_window: TimeWindow
    reason: str
    requested_by: RescheduleInitiator = RescheduleInitiator.CENTRE
    customer_consent: bool
    """Whether the customer agreed to the new window."""


class ReturnReason(StrEnum):
    """Why an order went back to the centre for placing again."""

    CANNOT_STAFF = "cannot_staff"
    """A network cannot staff the order (SCH-1)."""
    CANNOT_ARRIVE_ON_TIME = "cannot_arrive_on_time"
    """The technician cannot make the time and no new time was agreed (SCH-3, SCH-6)."""
    CUSTOMER_POSTPONED = "customer_postponed"
    """The customer postponed unfinished work (SCH-10)."""
    CUSTOMER_NOT_HOME = "customer_not_home"
    """Nobody was home at the visit; rebook (FLD-2)."""
    OTHER = "other"


class OrderReturnedToCentre(_SchedulingEvent):
    """A technician or network handed an order back to the centre's dispatchers, who place it
    again (SCH-1, SCH-3, SCH-10, FLD-2).
    """

    event_type: ClassVar[str] = "OrderReturnedToCentre"

    order_id: str
    visit_id: str | None = None
    reason: ReturnReason
    detail: str | None = None
    returned_by: str | None = None
    technician_id: str | None = None
    network_id: str | None = None


class LatenessKind(StrEnum):
    """Whether the lateness is forecast before the appointment or measured at arrival (SCH-6)."""

    PREDICTED = "predicted"
    ACTUAL = "actual"


class LatenessAction(StrEnum):
    """What the lateness policy calls for (SCH-7)."""

    APOLOGY = "apology"
    """Under 15 minutes late."""
    APOLOGY_AND_GIFT = "apology_and_gift"
    """15 minutes or more late: sincere apology and a small gift."""
    MANAGER_VISIT = "manager_visit"
    """The customer did not accept the apology: the after-sales manager visits."""


class ArrivalLate(_SchedulingEvent):
    """A technician will be, or was, late for an appointment (SCH-6, SCH-7).

    Every late arrival is recorded with its minutes; `action` is what the lateness policy calls for
    (thresholds are policy settings).
    """

    event_type: ClassVar[str] = "ArrivalLate"

    order_id: str
    visit_id: str
    technician_id: str | None = None
    kind: LatenessKind
    minutes_late: int = Field(ge=0)
    action: LatenessAction
    appointment: TimeWindow | None = None
    expected_arrival: AwareDatetime | None = None
    """The forecast (predicted) or actual arrival time."""
    customer_notified: bool = False
    """Whether the customer was told before the appointment (SCH-6)."""
    cause: str | None = None


class ContactOverdue(_SchedulingEvent):
    """The assigned technician did not contact the customer within the allowed time after
    receiving the dispatch (SCH-2, default 2 hours).
    """

    event_type: ClassVar[str] = "ContactOverdue"

    order_id: str
    visit_id: str
    technician_id: str | None = None
    network_id: str | None = None
    assigned_at: AwareDatetime
    due_at: AwareDatetime


class RevisitReason(StrEnum):
    """Why another visit to the same order was booked."""

    WORK_UNFINISHED = "work_unfinished"
    """SCH-10."""
    MISSING_PART = "missing_part"
    """FLD-5."""
    CUSTOMER_NOT_HOME = "customer_not_home"
    """FLD-2, FLD-3."""
    CUSTOMER_DISSATISFIED = "customer_dissatisfied"
    """FBK-7."""
    UNIT_RETURN = "unit_return"
    """Bringing back a taken-back unit (FLD-6)."""
    OTHER = "other"


class RevisitBooked(_SchedulingEvent):
    """Another visit to an order was booked (SCH-10, FLD-5, FLD-6, FBK-7); `visit_id` is the new
    visit, `previous_visit_id` the one it follows.
    """

    event_type: ClassVar[str] = "RevisitBooked"

    order_id: str
    visit_id: str
    previous_visit_id: str | None = None
    reason: RevisitReason
    window: TimeWindow | None = None
    technician_id: str | None = None
    booked_by: str | None = None


class WithdrawalCause(StrEnum):
    """Why an order (its visit) is no longer a partner network's."""

    REASSIGNED = "reassigned"
    """A dispatcher moved it to another technician or network (SCH-8, SCH-12)."""
    RETURNED_TO_CENTRE = "returned_to_centre"
    """It went back to the centre's dispatchers, who place it again (SCH-1, SCH-3, FLD-2)."""
    CANCELLED = "cancelled"
    """The order was cancelled once it was no longer the network's (SCH-12); a network holding
    an order when it is cancelled reads OrderCancelled itself."""


class OrderWithdrawn(_SchedulingEvent):
    """The order (its visit) is no longer yours: sent to the partner network that lost it, in
    place of the event that took it away (SCH-12).

    A network holding an order's visit reads that event itself (OrderReassigned,
    OrderReturnedToCentre); the network it was taken from reads this instead: which order, when,
    why (`why`, and the coded `reason` when there is one), and its own technician who held it;
    never who holds the order now, when they come, nor the dispatcher's own words.

    Webhook only: never published on the bus (no Kafka topic). The envelope's `id` (and the
    `webhook-id`) is that of the event it stands for, so it is the same on every retry and replay.
    """

    event_type: ClassVar[str] = "OrderWithdrawn"
    webhook_only: ClassVar[bool] = True

    order_id: str
    visit_id: str | None = None
    """The visit the network held (null when the order had none yet)."""
    withdrawn_at: AwareDatetime
    """When it was taken away (the time of the event it stands for)."""
    why: WithdrawalCause
    reason: ReturnReason | RevisitReason | None = None
    """The coded reason, when the change gave one; free text is never sent."""
    previous_technician_id: str | None = None
    """The network's own technician who held the visit, if one was named."""


class AnswerDueChange(StrEnum):
    """Why the time a partner network has to answer for an order moved."""

    EMERGENCY = "emergency"
    """The order was escalated to an emergency (INT-7): someone must go now."""


class NetworkAnswerDueChanged(_SchedulingEvent):
    """The network given an order, which has neither accepted nor rejected it yet, must now
    answer sooner (SCH-1, INT-7): the order was escalated to an emergency, so it has at most
    `network_accept_minutes` (default 30) wall-clock minutes from the escalation, nobody waiting
    for its office to open. Silent until `acceptance_due_at`, it loses the order to the centre
    (OrderReturnedToCentre).

    Published only when the time moves earlier; the order stays with the network and an answer
    already given is not asked for again.
    """

    event_type: ClassVar[str] = "NetworkAnswerDueChanged"

    order_id: str
    visit_id: str
    network_id: str
    """The network that must answer (the one holding the order)."""
    acceptance_due_at: AwareDatetime
    """The new time to accept or reject the order by."""
    previous_acceptance_due_at: AwareDatetime
    """The time it had until now (as told in OrderAssigned / OrderReassigned)."""
    why: AnswerDueChange
    """Why it moved (a code, never free text)."""


class WebhookEndpointDisabled(_SchedulingEvent):
    """A partner network's webhook endpoint was disabled by delivery: it answered 410 Gone, or it
    kept failing for the policy time (default 5 days). Ops follow up with the network, which
    must stay reachable as a dispatch target (SCH-1); it re-enables the endpoint and replays what
    it missed.

    The subject (Kafka key) is the network id, not an order id.
    """

    event_type: ClassVar[str] = "WebhookEndpointDisabled"
    subject_field: ClassVar[str] = "network_id"

    network_id: str
    subscription_id: str
    url: str
    cause: str
    """`gone` (the receiver answered 410) or `failing` (no success for the policy time)."""
    reason: str
    failing_since: AwareDatetime | None = None
    disabled_at: AwareDatetime
