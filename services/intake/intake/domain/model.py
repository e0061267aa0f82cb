"""The order aggregate as intake sees it: what was taken, its status, its SLA clocks and its
timeline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

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
from contracts.feedback import FollowUpCompleted
from contracts.fieldwork import TechnicianArrived, UnitReturned
from contracts.ids import new_id
from contracts.intake import (
    DuplicateLinked,
    OrderCancelled,
    OrderClosed,
    OrderCreated,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
    RemoteResolutionCause,
    SlaBreached,
    SlaBreachWithdrawn,
    SlaClock,
)
from contracts.privacy import erase_text
from contracts.scheduling import (
    AppointmentConfirmed,
    AppointmentRescheduled,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
)
from intake.domain.exceptions import (
    DetailsStillMissing,
    InvalidTransition,
    NothingToVerify,
    PersonalDataErased,
    TechnicianOnSite,
)
from intake.domain.policy import IntakePolicy
from intake.domain.privacy import erased_customer, erased_fault
from intake.domain.rules import Phone, WarrantyTable, is_emergency, missing_details, phones_of
from intake.domain.rules import loaner_required as loaner_predicted


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
    # A call-back found the customer dissatisfied (FBK-7) or the phone guidance failed (INT-4):
    # the order waits in the centre's queue for its next visit, open again.
    "RevisitRequested": OrderStatus.VERIFIED,
    "OrderClosed": OrderStatus.CLOSED,
}

#: The status an event moves the order to instead when it reports its work not done
#: (``TimelineEntry.succeeded`` is False): a taken-back unit handed back unrepaired (FLD-6, FLD-9)
#: is no completed order but, as after a RepairFailed, one waiting for the centre's decision: a
#: revisit, an exchange (FLD-8) or compensation.
STATUS_AFTER_FAILURE: dict[str, OrderStatus] = {
    "UnitReturned": OrderStatus.FAILED,
}

#: Events that move the status only from these: a correction verified after assignment does
#: not put the order back before its assignment, and a call-back made while the unit is in the
#: workshop or a revisit is due does not mark the order done. (A visit that ended with no work,
#: the quote declined say, leaves the order on site until its call-back.)
ONLY_FROM: dict[str, frozenset[OrderStatus]] = {
    "OrderVerified": frozenset({OrderStatus.RECEIVED}),
    "FollowUpCompleted": frozenset(
        {OrderStatus.COMPLETED, OrderStatus.RESOLVED_REMOTELY, OrderStatus.ON_SITE}
    ),
    # FBK-7: a dissatisfied call-back while a visit is booked or on its way, or while the unit is
    # in the workshop, is attached to that work (scheduling books no other visit for it).
    "RevisitRequested": frozenset(OrderStatus)
    - {
        OrderStatus.ASSIGNED,
        OrderStatus.APPOINTMENT_CONFIRMED,
        OrderStatus.EN_ROUTE,
        OrderStatus.TAKEN_BACK,
    },
    # A revisit requested before the close but heard after it sorts before it on the timeline:
    # the order is open again, and the close it crossed does not apply.
    "OrderClosed": frozenset({OrderStatus.FOLLOWED_UP}),
}

#: Events that end a technician's presence at the customer (INT-7: nobody is on site after them).
_VISIT_ENDED_BY = frozenset({"VisitClosed", "CustomerNotHome"})
#: The event that puts a technician at the customer's for a visit (FLD-2).
_VISIT_STARTED_BY = "TechnicianArrived"
#: Events that put a technician at the customer's or end their presence there.
_VISIT_PRESENCE = frozenset({_VISIT_STARTED_BY, *_VISIT_ENDED_BY})

#: Scheduling's events that place or move a visit (SCH-1, SCH-3, SCH-6, SCH-12). Once the work
#: is done (``_WORK_DONE``) they move the order only for a visit not seen before (``_Story``):
#: one of the visit done, published before scheduling heard it was done (an app that synced
#: late) and dated after its end, must not leave the order waiting for a visit that was made,
#: where no call-back follows it up and it never closes.
_DISPATCH_MOVES = frozenset(
    {
        "OrderAssigned",
        "OrderReassigned",
        "OrderReturnedToCentre",
        "AppointmentConfirmed",
        "AppointmentRescheduled",
    }
)

#: The technician's trip of a visit (FLD-2). Like scheduling's moves, once the work is done
#: they move the order only for a visit not seen before (``_Story``): a departure or arrival of
#: the visit done dated after its completion (a device clock ahead, fieldwork's
#: ``offline_clock_skew_seconds``, or an app that synced late) puts nobody on the way.
_TRIP = frozenset({"TechnicianDeparted", _VISIT_STARTED_BY})

#: Once the work is done (``_WORK_DONE``), events that move the order only for a new visit.
_MOVED_BY_A_NEW_VISIT_ONLY = _DISPATCH_MOVES | _TRIP

#: Events whose visit is kept on the timeline (``TimelineEntry.visit_id``): which visit a
#: technician is at, and which visits the order's story has seen.
#: All of them are read (intake's ``_READ_DATA_OF``): one left unread would hide every visit.
_VISIT_KEPT = frozenset({*_VISIT_PRESENCE, *_MOVED_BY_A_NEW_VISIT_ONLY})

#: Events that leave the status alone while a technician is at the customer (SCH-6, SCH-10): a
#: reassignment, return or revisit request that crossed the arrival (scheduling then gives the
#: visit back to the technician on site), never a reason to show the order waiting for dispatch
#: or to accept a cancellation while the work goes on.
_KEPT_ON_SITE_THROUGH = frozenset(
    {"OrderAssigned", "OrderReassigned", "OrderReturnedToCentre", "RevisitRequested"}
)

#: Events that leave an order ``on_site`` as it is while a technician is there (SCH-3, SCH-6,
#: SCH-10, FLD-2): an appointment or a departure of the visit under way that crossed its arrival
#: (published before scheduling heard of it, or dated by a device clock behind), or of a next
#: visit booked while this one goes on. Neither shows the order waiting for a visit, where it
#: could be resolved by phone with the technician at work. From any other status (a repair
#: failed with the technician still there) they move it: another visit is on its way.
_KEPT_WHILE_ON_SITE = frozenset(
    {"AppointmentConfirmed", "AppointmentRescheduled", "TechnicianDeparted"}
)

#: Once an order is in one of these, only the events listed move it again: an explicit reopening,
#: and for a closed order a revisit feedback requested (FBK-7: the loop repeats until the customer
#: is satisfied, even after intake closed the order). An order resolved by phone (INT-4) is left
#: by its reopening, by its call-back (FBK-1) or by the revisit that call-back requests: an
#: assignment or appointment scheduling made before it heard of the resolution, dated after it,
#: is of a visit called off (fieldwork, scheduling), and must not leave the order waiting for it,
#: where no call-back follows it up and it can neither be reopened nor closed.
REOPENED_BY: dict[OrderStatus, frozenset[str]] = {
    OrderStatus.CANCELLED: frozenset({"OrderReopened"}),
    OrderStatus.CLOSED: frozenset({"OrderReopened", "RevisitRequested"}),
    OrderStatus.RESOLVED_REMOTELY: frozenset(
        {"OrderReopened", "RevisitRequested", "FollowUpCompleted"}
    ),
}
FINAL_STATUSES = frozenset(REOPENED_BY)

#: The work is done: left by a call-back (FBK-3), by a revisit it requests (FBK-7), by a close,
#: by what fieldwork reports of the work, and by a new visit scheduling books or the technician
#: sets out on (``_MOVED_BY_A_NEW_VISIT_ONLY``); not by a move or a trip of the visit done.
_WORK_DONE = frozenset({OrderStatus.COMPLETED, OrderStatus.FOLLOWED_UP})

#: Events that change nothing of the order's own story, only whose figures it counts in: a
#: call-back result re-credited to another technician (FBK-11). On the timeline, but the quiet
#: period before the close does not start again from them.
_BOOKKEEPING = frozenset({"FollowUpRecredited"})

#: Events that open a complaint about the order, and the one that closes it (FBK-10).
_COMPLAINT_OPENED_BY = frozenset({"ComplaintFiled", "ComplaintReopened"})
_COMPLAINT_CLOSED_BY = "ComplaintClosed"

#: An order in one of these is done: a new report of the same product is a new order (INT-8).
DONE_STATUSES = frozenset(
    {
        OrderStatus.COMPLETED,
        OrderStatus.RESOLVED_REMOTELY,
        OrderStatus.CANCELLED,
        OrderStatus.FOLLOWED_UP,
        OrderStatus.CLOSED,
    }
)
OPEN_STATUSES = frozenset(OrderStatus) - DONE_STATUSES

_BEFORE_THE_VISIT = frozenset(
    {
        OrderStatus.RECEIVED,
        OrderStatus.VERIFIED,
        OrderStatus.ASSIGNED,
        OrderStatus.APPOINTMENT_CONFIRMED,
    }
)
#: Which statuses allow each command (409 names them otherwise).
ALLOWED_FROM: dict[str, frozenset[OrderStatus]] = {
    "verify": _BEFORE_THE_VISIT,
    "resolve_remotely": _BEFORE_THE_VISIT,
    "reopen": frozenset({OrderStatus.RESOLVED_REMOTELY}),
    "cancel": _BEFORE_THE_VISIT | {OrderStatus.EN_ROUTE, OrderStatus.FAILED},
}

#: Commands refused while a technician is at the customer's, whatever the status allows
#: (:class:`TechnicianOnSite`, INT-4, SCH-12): each would stop or replace the work going
#: on, whose outcome (a repair, a take-back, the next visit agreed on site) decides what comes
#: next. Not ``verify``: it stops no work, and the technician on site is who finds the real
#: model or fault. Not ``reopen``: it asks for a visit, and the technician there makes it; the
#: order left resolved would hide that visit's outcome (``REOPENED_BY``).
REFUSED_ON_SITE = frozenset({"resolve_remotely", "cancel"})

#: What stops each SLA clock (INT-3, INT-7). Hand-over means technical support (a dispatcher,
#: a network or a technician) holds the order, or triage resolved it without a visit; a reply is
#: a confirmed appointment or a new window the customer agreed to (a consented reschedule), a
#: remote resolution, or a technician at the door.
STOPPED_BY: dict[SlaClock, frozenset[str]] = {
    SlaClock.HANDOVER: frozenset(
        {
            "OrderAssigned",
            "OrderReassigned",
            "OrderResolvedRemotely",
            "OrderCancelled",
            "TechnicianArrived",
        }
    ),
    SlaClock.REPLY: frozenset(
        {
            "AppointmentConfirmed",
            "AppointmentRescheduled",
            "OrderResolvedRemotely",
            "OrderCancelled",
            "TechnicianArrived",
        }
    ),
    SlaClock.EMERGENCY_ON_SITE: frozenset(
        {"TechnicianArrived", "OrderResolvedRemotely", "OrderCancelled"}
    ),
}


#: The events that can stop an SLA clock: ``Order.observe`` changes no clock for any other, so
#: applying one needs no clock read (issue 9).
CLOCK_STOPPING_EVENTS: frozenset[str] = frozenset().union(*STOPPED_BY.values())


class WorkingTime(Protocol):
    """The business calendar as the SLA clocks need it (INT-3)."""

    @property
    def tz(self) -> tzinfo:
        """The calendar's time zone (its local date is the business date)."""
        ...

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        ...


#: The producer whose envelopes carry a time the technician's app set: an action logged offline
#: is published, when the app syncs, with the time it happened (FLD-2, FLD-11). Every other
#: producer stamps its own clock when it records the fact.
DATED_BY_THE_APP = "/fsm/fieldwork"

#: The steps that bring a visit about: the order's entry, its verification, its assignment and
#: the appointment. A fact the app logged before one of them was recorded, and synced after
#: intake heard of it, is placed after it in the order's story (see ``in_story_order``).
_DISPATCH_STEPS = frozenset(
    {
        "OrderCreated",
        "OrderVerified",
        "OrderAssigned",
        "OrderReassigned",
        "AppointmentConfirmed",
        "AppointmentRescheduled",
    }
)


@dataclass(frozen=True)
class TimelineEntry:
    """One event seen for an order.

    ``succeeded`` is what the event says of its outcome when its effect depends on it (see
    ``outcome_of``), kept because the status is derived again from the whole timeline whenever a
    late event sorts in before others; None for every other event.

    ``heard_at`` is when intake heard of the event (its clock), None for entries stored before
    it was kept: a fact the technician's app logged offline is dated when it happened, and heard
    when the app synced (``in_story_order``, ``SlaTimer.stop``).

    ``visit_id`` is the visit a departure, an arrival, an end of visit or a move of a visit by
    scheduling is about (``VisitsOnSite``, ``_Story``), None for every other event and for
    entries stored before it was kept.
    """

    event_id: str
    type: str
    version: int
    time: datetime
    source: str
    succeeded: bool | None = None
    heard_at: datetime | None = None
    visit_id: str | None = None

    @property
    def dated_by_the_app(self) -> bool:
        """A fieldwork fact heard at a known time: its ``time`` may be long before that."""
        return self.source == DATED_BY_THE_APP and self.heard_at is not None

    @property
    def known_at(self) -> datetime:
        """The earliest moment anyone but the technician could know of the fact: when intake
        heard of it, for a fact the app dated itself; else its time. Never before its time:
        intake's clock may run behind the producer's."""
        if self.dated_by_the_app and self.heard_at is not None:
            return max(self.time, self.heard_at)
        return self.time


def in_story_order(timeline: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """The timeline in the order of the order's story, each entry with its own time.

    By time, except a fact the technician's app logged offline (FLD-2, FLD-11): it is placed no
    earlier than the dispatch steps intake heard before it (entry, verification, assignment,
    appointment, ``_DISPATCH_STEPS``), right after the latest of them, in the order the facts
    happened. The app may log work before the centre entered the order or the assignment
    (fieldwork's ``offline_before_assignment_minutes``), but no step recorded before the sync
    undoes it: the order is not shown waiting for an assignment its technician already acted
    on. Every other event keeps its time: a cancellation the fact preceded comes after it.
    """
    entries = list(timeline)
    steps = [e for e in entries if e.type in _DISPATCH_STEPS and not e.dated_by_the_app]

    def placed(entry: TimelineEntry) -> tuple[datetime, bool, datetime, str]:
        if entry.dated_by_the_app and entry.heard_at is not None:
            heard = entry.heard_at
            floor = max(
                (s.time for s in steps if (s.heard_at or s.time) <= heard), default=entry.time
            )
            if floor > entry.time:
                return (floor, True, entry.time, entry.event_id)
        return (entry.time, False, entry.time, entry.event_id)

    return sorted(entries, key=placed)


class VisitsOnSite:
    """Which visits have their technician at the customer's, as the order's events are seen one
    after the other (INT-7, SCH-12).

    Per visit, not per order: the end of one visit does not take another visit's technician off
    site. An end is final: a visit whose end was seen is over even if its arrival sorts after it
    (the same instant with a later event id, or an arrival dated by a device clock ahead of the
    server that dated the close), so no order is left with a technician on site for ever.

    Entries stored before visits were kept (``visit_id`` None) count as before: such an arrival
    is ended by any end seen after it, and such an end ends every visit seen before it.
    """

    def __init__(self) -> None:
        self._present: set[str | None] = set()
        self._ended: set[str] = set()

    def see(self, entry: TimelineEntry) -> None:
        """Take the next entry into account."""
        if entry.type == _VISIT_STARTED_BY:
            if entry.visit_id is None or entry.visit_id not in self._ended:
                self._present.add(entry.visit_id)
        elif entry.type in _VISIT_ENDED_BY:
            if entry.visit_id is None:
                self._present.clear()
                return
            self._ended.add(entry.visit_id)
            self._present.discard(entry.visit_id)
            self._present.discard(None)

    @property
    def anyone(self) -> bool:
        """A technician is at the customer's."""
        return bool(self._present)


def visit_of(payload: EventData | None) -> str | None:
    """The visit an event's data names, if any."""
    visit_id = getattr(payload, "visit_id", None)
    return visit_id if isinstance(visit_id, str) else None


def outcome_of(payload: EventData) -> bool | None:
    """Whether an event reports its work done, for the events whose effect depends on it: a
    taken-back unit returned repaired or not (FLD-6, FLD-9); a call-back that reached the customer
    found them satisfied with the problem solved, or not (FBK-7, as feedback judges it). None for
    a call-back that did not reach the customer, and for any other event."""
    if isinstance(payload, UnitReturned):
        return payload.repaired
    if isinstance(payload, FollowUpCompleted):
        if not payload.reached:
            return None
        return payload.satisfied is True and payload.problem_solved is not False
    return None


@dataclass
class SlaTimer:
    """One SLA clock of an order (INT-3, INT-7)."""

    clock: SlaClock
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None = None
    breached_at: datetime | None = None

    def stop(self, at: datetime, *, occurred_at: datetime | None = None) -> None:
        """The goal was met, as an event published at ``at`` says; ``occurred_at`` is the
        business time the event records, when it has one (INT-3, INT-7).

        An event published before the clock started does not count (a reopened order's clocks
        are a new promise); for a fact the technician's app dated itself, ``at`` is when intake
        heard of it (``TimelineEntry.known_at``). A business time counts from the clock's start
        at the earliest (the goal was met before it was even set: an arrival logged offline
        before an emergency escalation) and from ``at`` at the latest (a device clock ahead of
        the bus proves nothing).
        """
        if self.stopped_at is not None or at < self.started_at:
            return
        self.stopped_at = at if occurred_at is None else min(max(occurred_at, self.started_at), at)

    def withdraw_disproved_breach(self) -> datetime | None:
        """Forget a reported breach that the goal, met in time after all, disproves (an arrival
        synced late); returns when the breach had been reported, or None if there was none."""
        reported = self.breached_at
        if reported is None or self.stopped_at is None or self.stopped_at > self.due_at:
            return None
        self.breached_at = None
        return reported

    @property
    def settled(self) -> bool:
        """Met in time, or its breach was reported: nothing more can happen to it."""
        if self.breached_at is not None:
            return True
        return self.stopped_at is not None and self.stopped_at <= self.due_at

    def is_breached_by(self, now: datetime) -> bool:
        """Past due and not met in time, and not reported yet. The due time itself is in time
        ("within 1 hour", INT-3; "within 15 minutes", INT-7), as for a goal met at it
        (``settled``), so a clock stopped exactly then never has a breach to withdraw."""
        if self.breached_at is not None or now <= self.due_at:
            return False
        return self.stopped_at is None or self.stopped_at > self.due_at


def start_clocks(
    now: datetime,
    *,
    calendar: WorkingTime,
    policy: IntakePolicy,
    emergency: bool,
    which: Iterable[SlaClock] = (SlaClock.HANDOVER, SlaClock.REPLY, SlaClock.EMERGENCY_ON_SITE),
) -> dict[SlaClock, SlaTimer]:
    """The clocks an order taken (or reopened) at ``now`` runs: hand-over and reply in working
    time on the business calendar, the emergency on-site target in wall-clock time."""
    due = {
        SlaClock.HANDOVER: calendar.add_working_time(
            now, timedelta(minutes=policy.handover_within_working_minutes)
        ),
        SlaClock.REPLY: calendar.add_working_time(
            now, timedelta(minutes=policy.reply_within_working_minutes)
        ),
        SlaClock.EMERGENCY_ON_SITE: now + timedelta(minutes=policy.emergency_on_site_minutes),
    }
    return {
        clock: SlaTimer(clock=clock, started_at=now, due_at=due[clock].astimezone(UTC))
        for clock in which
        if emergency or clock is not SlaClock.EMERGENCY_ON_SITE
    }


@dataclass(frozen=True)
class LinkedReport:
    """A later report of the same product, linked to this order (INT-8)."""

    reported_at: datetime
    channel: Channel
    caller_phone: str | None
    fault_description: str | None
    linked_by: str | None
    caller_phone_extension: str | None = None


@dataclass
class Order:
    """A customer's service request (INT-1), with the details still to verify (INT-2).

    ``phone_extensions`` holds the extension of each customer phone behind a switchboard, keyed
    by its E.164 number in ``customer.phones``; the events' customer carries no extensions.

    ``anonymised_at`` is when the customer's personal data was erased, the order's retention
    being over (BIL-11, :meth:`anonymise`); None until then.
    """

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
    confirmed_details: list[str] = field(default_factory=list)
    dispatch_override: bool = False
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    loaner_required: bool = False
    service_type: ServiceType = ServiceType.REPAIR
    status: OrderStatus = OrderStatus.RECEIVED
    network_id: str | None = None
    technician_id: str | None = None
    assignment_seen_at: datetime | None = None
    clocks: dict[SlaClock, SlaTimer] = field(default_factory=dict)
    linked_reports: list[LinkedReport] = field(default_factory=list)
    phone_extensions: dict[str, str] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    anonymised_at: datetime | None = None
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        # However it was read (a store orders by time), the timeline is the story's order.
        self.timeline = in_story_order(self.timeline)

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
        warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN,
        loaner_required: bool = False,
        clocks: dict[SlaClock, SlaTimer] | None = None,
        service_type: ServiceType = ServiceType.REPAIR,
        taken_by: str | None = None,
        phone_extensions: Mapping[str, str] | None = None,
    ) -> Order:
        """Accept a new request and record OrderCreated (INT-1, INT-2, INT-5..INT-7); the event
        names who took it (a walk-in's clerk makes it desk business, FBK-4)."""
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
            warranty_status=warranty_status,
            loaner_required=loaner_required,
            service_type=service_type,
            clocks=dict(clocks or {}),
            phone_extensions=_extensions_of(customer, phone_extensions),
        )
        on_site = order.clocks.get(SlaClock.EMERGENCY_ON_SITE)
        order.events.append(
            OrderCreated(
                order_id=order.id,
                customer=order.customer_with_extensions(),
                product=product,
                fault=fault,
                requests=requests,
                preferred_windows=order.preferred_windows,
                channel=channel,
                emergency=emergency,
                warranty_status=order.warranty_status,
                needs_verification=order.needs_verification,
                loaner_required=loaner_required,
                service_type=service_type,
                on_site_due_at=on_site.due_at if on_site else None,
                taken_by=taken_by,
            )
        )
        return order

    def customer_with_extensions(self) -> Customer:
        """The customer as events carry it: with the extension of each switchboard phone, so
        whoever calls the customer dials it (INT-1)."""
        return self.customer.model_copy(update={"phone_extensions": dict(self.phone_extensions)})

    @property
    def phones(self) -> list[Phone]:
        """The customer's phones, main first, each with its extension if any."""
        return phones_of(self.customer, self.phone_extensions)

    @property
    def is_open(self) -> bool:
        """Still being worked on: a new report of the same product belongs here (INT-8)."""
        return self.status in OPEN_STATUSES

    @property
    def awaiting_verification(self) -> bool:
        """Not to be dispatched yet: details are missing and no dispatcher released it (INT-2)."""
        return bool(self.needs_verification) and not self.dispatch_override

    def _require(self, action: str) -> None:
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.id, action, self.anonymised_at)
        allowed = ALLOWED_FROM[action]
        if self.status not in allowed:
            raise InvalidTransition(self.id, action, self.status.value, sorted(allowed))
        if action in REFUSED_ON_SITE and self.technician_on_site(datetime.max.replace(tzinfo=UTC)):
            raise TechnicianOnSite(self.id, action, self.status.value)

    def verify(
        self,
        *,
        reported_on: date,
        warranty: WarrantyTable,
        verified_by: str,
        now: datetime,
        policy: IntakePolicy,
        calendar: WorkingTime,
        customer: Customer | None = None,
        product: Product | None = None,
        fault: Fault | None = None,
        confirmed: Iterable[str] = (),
        override: bool = False,
        phone_extensions: Mapping[str, str] | None = None,
        oldest_plausible: date | None = None,
    ) -> OrderVerified:
        """Complete or correct the details (INT-2) and re-derive the warranty status (INT-5) as
        of ``reported_on``, the local day the fault was reported (a call-back the next day does
        not take the customer out of warranty).

        A purchase or installation date before ``oldest_plausible`` stays doubtful
        (``rules.missing_details``) until the agent corrects or confirms it.

        The loaner prediction is re-derived from the verified product and fault when either was
        corrected (INT-6); else the order keeps its own. A fault corrected to a code that is
        always an emergency escalates an order that was not one (INT-7): its on-site clock starts
        ``now``, as for an emergency report of the open order (``link_duplicate``); an emergency
        stays one whatever the verified fault. A policy changed since intake re-derives nothing
        on a verification that corrects neither.

        Details the agent confirms as they are count as verified. What is still missing after
        that blocks verification, unless a dispatcher overrides (``override``): the order is then
        released for dispatch with the list of what is still unverified.

        ``phone_extensions`` go with ``customer`` (ignored without it): a corrected customer
        replaces the extensions too, and a corrected extension alone is a corrected customer.
        """
        self._require("verify")
        new_extensions = (
            self.phone_extensions
            if customer is None
            else _extensions_of(customer, phone_extensions)
        )
        changed = {
            "customer": customer is not None
            and (customer != self.customer or new_extensions != self.phone_extensions),
            "product": product is not None and product != self.product,
            "fault": fault is not None and fault != self.fault,
        }
        confirmed_now = [c for c in dict.fromkeys(confirmed) if c not in self.confirmed_details]
        if not (self.needs_verification or any(changed.values()) or confirmed_now):
            raise NothingToVerify(self.id)
        new_customer = customer or self.customer
        new_product = product or self.product
        new_fault = fault or self.fault
        all_confirmed = [*self.confirmed_details, *confirmed_now]
        still = [
            d
            for d in missing_details(
                new_customer, new_product, new_fault, oldest_plausible=oldest_plausible
            )
            if d not in all_confirmed
        ]
        if still and not override:
            raise DetailsStillMissing(self.id, still)
        verified = [d for d in dict.fromkeys([*self.needs_verification, *confirmed_now])]
        verified = [d for d in verified if d not in still]
        self.customer, self.product, self.fault = new_customer, new_product, new_fault
        self.phone_extensions = new_extensions
        self.confirmed_details = all_confirmed
        self.needs_verification = still
        self.dispatch_override = self.dispatch_override or bool(still)
        self.warranty_status = warranty.status(new_product, on=reported_on)
        # INT-6 / INT-7: only what the agent corrected is re-derived; an uncorrected order keeps
        # its prediction and its emergency whatever the policy's lists say since it was taken
        if changed["product"] or changed["fault"]:
            self.loaner_required = loaner_predicted(new_product, new_fault, policy)
        escalated = (
            changed["fault"] and is_emergency(False, new_fault, policy) and not self.emergency
        )
        if escalated:
            self._escalate_to_emergency(now, calendar=calendar, policy=policy)
        on_site = self.clocks.get(SlaClock.EMERGENCY_ON_SITE) if escalated else None
        event = OrderVerified(
            order_id=self.id,
            verified=verified,
            unverified=still,
            customer=self.customer_with_extensions() if changed["customer"] else None,
            product=new_product if changed["product"] else None,
            fault=new_fault if changed["fault"] else None,
            warranty_status=self.warranty_status,
            verified_by=verified_by,
            dispatch_override=bool(still),
            overridden_by=verified_by if still else None,
            loaner_required=self.loaner_required,
            escalated_to_emergency=escalated,
            on_site_due_at=on_site.due_at if on_site else None,
        )
        self.events.append(event)
        return event

    def resolve_remotely(
        self,
        *,
        guidance: str,
        cause: RemoteResolutionCause,
        resolved_by: str,
        now: datetime,
        calendar: WorkingTime,
        policy: IntakePolicy,
    ) -> OrderResolvedRemotely:
        """Close the order as resolved by phone guidance; the call-back is due later (INT-4),
        after the policy's minutes of working time on the business calendar. Refused while a
        technician is at the customer's (:class:`TechnicianOnSite`): the visit going on decides
        the outcome, not phone guidance (a repair that failed on site with the next visit
        already booked leaves the order ``appointment_confirmed`` with the technician there)."""
        self._require("resolve_remotely")
        # FBK-1: feedback owns the call-back and schedules it in working time; the due time the
        # agent tells the customer must be the same (resolved Friday 17:30: Monday 10:30, not
        # Friday 19:30 when nobody calls).
        due = calendar.add_working_time(
            now, timedelta(minutes=policy.remote_call_back_after_minutes)
        )
        event = OrderResolvedRemotely(
            order_id=self.id,
            cause=cause,
            guidance=guidance,
            resolved_by=resolved_by,
            call_back_due_at=due.astimezone(UTC),
        )
        self.events.append(event)
        return event

    def reopen(
        self,
        *,
        reason: str,
        reopened_by: str,
        now: datetime,
        calendar: WorkingTime,
        policy: IntakePolicy,
    ) -> OrderReopened:
        """The phone guidance did not work: open the order again for a visit (INT-4), with new
        hand-over and reply clocks (a new promise to the customer, INT-3) and, for an emergency,
        a new on-site clock (INT-7).

        When a technician is at the customer's as the order is reopened (one on the way arrived
        after the phone resolution, or an arrival logged offline was synced after it), every new
        clock that an arrival stops (``STOPPED_BY``) starts already stopped at ``now``: the
        target met with no wait, as for an emergency escalation (``_escalate_to_emergency``),
        instead of a clock that arrival, heard before it started, never stops and a false
        breach. An appointment of the visit the resolution called off answers nothing: the
        revisit scheduling books for the reopening does.
        """
        self._require("reopen")
        # INT-7: an emergency reopened is still one; someone must be on site within the target
        # again, counted from the reopening (start_clocks leaves the on-site clock out otherwise).
        clocks = start_clocks(now, calendar=calendar, policy=policy, emergency=self.emergency)
        # Everything on the timeline was heard by now: an arrival dated by a device clock ahead
        # of intake's still has its technician at the door (as ``_require`` judges it).
        if self.technician_on_site(datetime.max.replace(tzinfo=UTC)):
            for timer in clocks.values():
                if _VISIT_STARTED_BY in STOPPED_BY[timer.clock]:
                    timer.stop(now)
        self.clocks.update(clocks)
        event = OrderReopened(order_id=self.id, reason=reason, reopened_by=reopened_by)
        self.events.append(event)
        return event

    def cancel(
        self, *, reason: str, cancelled_by: str, requested_by_customer: bool = False
    ) -> OrderCancelled:
        """Cancel the order; every service stops work on it (SCH-12). Refused while a
        technician is at the customer's (:class:`TechnicianOnSite`): a repair that failed on
        site leaves the order ``failed`` (cancellable once the visit closed) with the technician
        still there."""
        self._require("cancel")
        event = OrderCancelled(
            order_id=self.id,
            reason=reason,
            cancelled_by=cancelled_by,
            requested_by_customer=requested_by_customer,
        )
        self.events.append(event)
        return event

    def link_duplicate(
        self,
        *,
        reported_at: datetime,
        channel: Channel,
        caller_phone: str | None,
        fault_description: str | None,
        linked_by: str | None,
        emergency: bool = False,
        calendar: WorkingTime | None = None,
        policy: IntakePolicy | None = None,
        caller_phone_extension: str | None = None,
    ) -> DuplicateLinked:
        """A second report of the same product while this order is open (INT-8).

        A report that is an emergency (INT-7) escalates an order that was not one: it becomes an
        emergency and its on-site clock starts now (``calendar`` and ``policy`` are needed then).
        When a technician is on site at that moment (see ``technician_on_site``), the clock starts
        already stopped at ``reported_at``: the SLA report shows the escalation with its target
        met with no wait, instead of a clock no arrival will ever stop and a false breach.
        The caller's extension is kept on the linked report; DuplicateLinked has no field for it.
        """
        escalated = emergency and not self.emergency
        if escalated:
            if calendar is None or policy is None:
                raise ValueError("escalating to an emergency needs the calendar and the policy")
            self._escalate_to_emergency(reported_at, calendar=calendar, policy=policy)
        self.linked_reports.append(
            LinkedReport(
                reported_at=reported_at,
                channel=channel,
                caller_phone=caller_phone,
                fault_description=fault_description,
                linked_by=linked_by,
                caller_phone_extension=caller_phone_extension,
            )
        )
        event = DuplicateLinked(
            order_id=self.id,
            reported_at=reported_at,
            channel=channel,
            caller_phone=caller_phone,
            fault_description=fault_description,
            linked_by=linked_by,
            escalated_to_emergency=escalated,
        )
        self.events.append(event)
        return event

    def _escalate_to_emergency(
        self, at: datetime, *, calendar: WorkingTime, policy: IntakePolicy
    ) -> None:
        """Make the order an emergency at ``at`` (INT-7): its on-site clock starts then, already
        stopped when a technician is on site at that moment (the target met with no wait)."""
        self.emergency = True
        on_site = start_clocks(
            at,
            calendar=calendar,
            policy=policy,
            emergency=True,
            which=(SlaClock.EMERGENCY_ON_SITE,),
        )
        if self.technician_on_site(at):
            on_site[SlaClock.EMERGENCY_ON_SITE].stop(at)
        self.clocks.update(on_site)

    def technician_on_site(self, at: datetime) -> bool:
        """A technician's arrival seen by ``at`` with no end of its visit by then (INT-7), visit
        by visit (:class:`VisitsOnSite`).

        Not the status alone: a visit that ended with no work leaves the order ON_SITE after the
        technician left, and an order back in the queue for a revisit has its first arrival on
        the timeline; either way nobody is there to meet an emergency.
        """
        visits = VisitsOnSite()
        for entry in sorted(self.timeline, key=lambda e: (e.time, e.event_id)):
            if entry.time > at:
                break
            visits.see(entry)
        return visits.anyone

    @property
    def closable_since(self) -> datetime | None:
        """Since when the order could be closed, None while it cannot be: it was followed up,
        the latest call-back that reached the customer found them satisfied with the problem
        solved (FLD-12, FBK-7: followed until satisfied), and no complaint about it is open
        (FBK-10). The time is that of its last event: the quiet period counts from there (a
        re-credit of a call-back's result to another technician, :data:`_BOOKKEEPING`, is no
        event of the order's)."""
        if self.status is not OrderStatus.FOLLOWED_UP or self._satisfied_at() is None:
            return None
        if self._open_complaints() > 0:
            return None
        return max(e.time for e in self.timeline if e.type not in _BOOKKEEPING)

    def close_if_due(self, now: datetime, *, policy: IntakePolicy) -> OrderClosed | None:
        """Record OrderClosed if the order is closable and nothing happened on it for the
        policy's quiet period by ``now``; None otherwise."""
        since = self.closable_since
        satisfied_at = self._satisfied_at()
        if since is None or satisfied_at is None:
            return None
        if now - since < timedelta(days=policy.close_after_quiet_days):
            return None
        event = OrderClosed(order_id=self.id, satisfied_at=satisfied_at, quiet_since=since)
        self.events.append(event)
        return event

    def _satisfied_at(self) -> datetime | None:
        """The time of the latest call-back that reached the customer, if it found them
        satisfied; None if it did not, or there was none."""
        for entry in reversed(self.timeline):
            if entry.type == "FollowUpCompleted" and entry.succeeded is not None:
                return entry.time if entry.succeeded else None
        return None

    def _open_complaints(self) -> int:
        # Counted rather than matched by complaint id: every complaint's events reach intake
        # once each (inbox), so the balance is right whatever order they sort in.
        opened = sum(1 for e in self.timeline if e.type in _COMPLAINT_OPENED_BY)
        closed = sum(1 for e in self.timeline if e.type == _COMPLAINT_CLOSED_BY)
        return opened - closed

    def anonymise(self, now: datetime) -> bool:
        """The order's retention is over (BIL-11): erase the customer's personal data
        (:meth:`erase_personal_data`) and remember since when, so that nothing heard of the order
        later brings it back and no command acts on it any more. Heard again, nothing changes
        (False)."""
        if self.anonymised_at is not None:
            return False
        self.anonymised_at = now
        self.erase_personal_data()
        return True

    def erase_personal_data(self) -> None:
        """Erase what the order holds of the customer (BIL-11, ``domain.privacy``): the customer
        reads "[erased]" with no phone, extension, organisation or contact person and only the
        area of the address; the requests, the fault's description and the linked reports'
        descriptions read "[erased]", and their callers' phones are gone. The product, fault
        code, staff, assignee, windows, clocks, timeline and status stay, for figures and the
        audit. Erasing twice changes nothing."""
        self.customer = erased_customer(self.customer)
        self.phone_extensions = {}
        self.requests = erase_text(self.requests)
        self.fault = erased_fault(self.fault)
        self.linked_reports = [
            replace(
                report,
                caller_phone=None,
                caller_phone_extension=None,
                fault_description=erase_text(report.fault_description),
            )
            for report in self.linked_reports
        ]

    def report_breaches(self, now: datetime) -> list[SlaBreached]:
        """SlaBreached for each clock that ran out before its goal was met, once per clock."""
        breaches = []
        for timer in self.clocks.values():
            if timer.is_breached_by(now):
                timer.breached_at = now
                breaches.append(
                    SlaBreached(
                        order_id=self.id, clock=timer.clock, due_at=timer.due_at, breached_at=now
                    )
                )
        self.events.extend(breaches)
        return breaches

    def observe(self, entry: TimelineEntry, payload: EventData | None = None) -> bool:
        """Add an event seen on the bus to the timeline (in story order, ``in_story_order``)
        and apply what it means to intake: status, assignee, SLA clocks.

        Returns False when the event was already on the timeline.
        """
        if any(e.event_id == entry.event_id for e in self.timeline):
            return False
        if entry.succeeded is None and payload is not None:
            entry = replace(entry, succeeded=outcome_of(payload))
        if entry.visit_id is None and entry.type in _VISIT_KEPT:
            entry = replace(entry, visit_id=visit_of(payload))
        self.timeline = in_story_order([*self.timeline, entry])
        story = _Story(self.timeline)
        self.status = story.status
        if entry.event_id not in story.crossed:
            self._apply_assignment(entry, payload)
        # INT-3, INT-7: an arrival logged offline is heard when the device syncs; the goal was
        # met when the technician arrived, not when the bus heard of it.
        occurred_at = payload.arrived_at if isinstance(payload, TechnicianArrived) else None
        if occurred_at is None and entry.dated_by_the_app:
            occurred_at = entry.time
        for timer in self.clocks.values():
            if entry.type not in STOPPED_BY[timer.clock]:
                continue
            if entry.type == "AppointmentConfirmed" and not (
                isinstance(payload, AppointmentConfirmed) and payload.customer_reached
            ):
                continue  # INT-3, SCH-5: unread data proves no customer told of the time
            if entry.type == "AppointmentRescheduled" and not (
                isinstance(payload, AppointmentRescheduled) and payload.customer_consent
            ):
                continue  # INT-3: only a new window the customer agreed to is a reply
            timer.stop(entry.known_at, occurred_at=occurred_at)
            reported = timer.withdraw_disproved_breach()
            if reported is not None:
                assert timer.stopped_at is not None
                self.events.append(
                    SlaBreachWithdrawn(
                        order_id=self.id,
                        clock=timer.clock,
                        due_at=timer.due_at,
                        met_at=timer.stopped_at,
                        breached_at=reported,
                    )
                )
        return True

    def _apply_assignment(self, entry: TimelineEntry, payload: EventData | None) -> None:
        """Who holds the order now (SCH-12). Not called for a move that crossed the order's end
        (``_Story.crossed``): a cancelled or resolved order keeps the holder it had then, and a
        done one the technician who did the work, in every list filtered by technician."""
        if not isinstance(payload, OrderAssigned | OrderReassigned | OrderReturnedToCentre):
            return
        if self.assignment_seen_at is not None and entry.time < self.assignment_seen_at:
            return  # an older assignment arriving late does not undo a newer one
        self.assignment_seen_at = entry.time
        if isinstance(payload, OrderReturnedToCentre):
            self.network_id = self.technician_id = None
        else:
            self.network_id = payload.network_id
            self.technician_id = payload.technician_id


def _extensions_of(customer: Customer, extensions: Mapping[str, str] | None) -> dict[str, str]:
    # Only the customer's own numbers: an extension of a phone no longer listed means nothing.
    return {n: e for n, e in (extensions or {}).items() if n in customer.phones}


def status_from(timeline: list[TimelineEntry]) -> OrderStatus:
    """The status the timeline (in story order, ``in_story_order``) leads to, whatever order
    the events arrived in."""
    return _Story(timeline).status


class _Story:
    """The order's timeline (in story order) told from the start: the status it leads to, and
    the events that came after the order ended and moved nothing (``crossed``): a cancellation,
    a resolution or a close that only the events of ``REOPENED_BY`` leave, or work done that a
    move or a trip of the visit done does not undo (``_WORK_DONE``)."""

    def __init__(self, timeline: list[TimelineEntry]) -> None:
        self.status = OrderStatus.RECEIVED
        self.crossed: set[str] = set()
        visits = VisitsOnSite()
        seen_visits: set[str | None] = set()
        for entry in timeline:
            visits.see(entry)
            # A visit none of the order's events named before; a stored entry whose visit is
            # unknown (unread data, kept before visits were) could be any of them.
            new_visit = (
                entry.visit_id is not None
                and None not in seen_visits
                and entry.visit_id not in seen_visits
            )
            if entry.type in _VISIT_KEPT:
                seen_visits.add(entry.visit_id)
            after = STATUS_AFTER_EVENT.get(entry.type)
            if after is None:
                continue
            if entry.succeeded is False:
                after = STATUS_AFTER_FAILURE.get(entry.type, after)
            if self.status in FINAL_STATUSES and entry.type not in REOPENED_BY[self.status]:
                self.crossed.add(entry.event_id)
                continue
            if (
                self.status in _WORK_DONE
                and entry.type in _MOVED_BY_A_NEW_VISIT_ONLY
                and not new_visit
            ):
                self.crossed.add(entry.event_id)
                continue
            if entry.type in ONLY_FROM and self.status not in ONLY_FROM[entry.type]:
                continue
            if visits.anyone and entry.type in _KEPT_ON_SITE_THROUGH:
                continue
            if (
                visits.anyone
                and self.status is OrderStatus.ON_SITE
                and entry.type in _KEPT_WHILE_ON_SITE
            ):
                continue
            self.status = after
