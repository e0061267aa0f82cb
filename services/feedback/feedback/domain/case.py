"""The case: what feedback knows of one order from the bus (who worked on it, how each visit went,
what was charged, its revisit chains), and what each event calls for (call-backs, open issues).

`Case.apply` is pure: it updates the case and returns the *reactions* the service layer carries
out (schedule or cancel call-backs, open issues, move what was derived from a visit to the holder
it counts against).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import EventData
from contracts.billing import OrderRetentionExpired, PaymentCollected, ReceiptIssued
from contracts.common import Channel
from contracts.fieldwork import (
    CustomerSignedOff,
    InstallationCompleted,
    Rating,
    RepairCompleted,
    RepairFailed,
    SignOff,
    TechnicianArrived,
    UnitReturned,
    UnitTakenBack,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import (
    DuplicateLinked,
    OrderCancelled,
    OrderCreated,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
)
from contracts.privacy import erase_text
from contracts.scheduling import (
    AppointmentConfirmed,
    ArrivalLate,
    LatenessKind,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    ReturnReason,
    RevisitBooked,
    RevisitReason,
)
from feedback.domain.callbacks import PHONE_GUIDANCE_RULE
from feedback.domain.exceptions import PersonalDataErased
from feedback.domain.policy import BusinessType, FeedbackPolicy
from feedback.domain.ports import WorkingCalendar
from feedback.domain.privacy import RETENTION_OVER

#: Orders handled directly by the centre's own technicians are reported under this network.
CENTRE = "centre"

#: Revisits that are another attempt at the same problem (not a door nobody opened, nor bringing
#: back a unit from the workshop): they count against first-time fix and repair pass (FBK-11).
REPEAT_REASONS = frozenset(
    {
        RevisitReason.WORK_UNFINISHED,
        RevisitReason.MISSING_PART,
        RevisitReason.CUSTOMER_DISSATISFIED,
        RevisitReason.OTHER,
    }
)

_SATISFIED_RATINGS = frozenset({Rating.SATISFIED, Rating.VERY_SATISFIED})


class WorkKind(StrEnum):
    """What a visit did."""

    REPAIR = "repair"
    INSTALLATION = "installation"


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class Holding(_State):
    """Scheduling's word that someone holds a visit of the order from ``since`` (the envelope
    time it happened) on: OrderAssigned, OrderReassigned, RevisitBooked, OrderReturnedToCentre.
    Kept so that a visit is credited to whoever held it when it was carried out, whichever order
    scheduling's and fieldwork's topics are read in (FBK-3, FBK-4, FBK-8, FBK-11)."""

    event_id: str
    since: datetime
    visit_id: str | None = None
    technician_id: str | None = None
    network_id: str | None = None
    """None: the centre (its own technician, or its dispatchers when ``handed_back``)."""
    handed_back: bool = False
    """Nobody holds the visit: it is back with the centre's dispatchers to place again."""
    keeps_trip: bool = False
    """The order went back after a trip nobody answered (FLD-2): that trip stays its holder's, so
    this says nothing of who holds the visit."""
    names_previous: bool = False
    """Whether the event named who held the visit before it (OrderReassigned, and who handed it
    back in OrderReturnedToCentre): ``previous_network_id`` is then theirs."""
    previous_network_id: str | None = None


class Visit(_State):
    """One trip to the customer, as the bus told it."""

    visit_id: str
    technician_id: str | None = None
    network_id: str | None = None
    booked_reason: RevisitReason | None = None
    """Set when the visit was booked as a revisit (RevisitBooked)."""
    previous_visit_id: str | None = None
    booked_at: datetime | None = None
    arrived_at: datetime | None = None
    minutes_late: int | None = None
    """Measured lateness at arrival (ArrivalLate, actual)."""
    kind: WorkKind | None = None
    tested: bool | None = None
    sure_fixed: bool | None = None
    repaired_at: datetime | None = None
    """When fieldwork reported the repair done (RepairCompleted, at the time it happened)."""
    failed: bool = False
    outcome: VisitOutcome | None = None
    closed_at: datetime | None = None
    paid_work: bool = False
    sign_off: SignOff | None = None
    signed_satisfied: bool | None = None
    """Whether the signed sheet marks the customer satisfied (both ratings satisfied or better)."""
    amount_acknowledged: Decimal | None = None
    take_back_receipt: str | None = None
    """The receipt of the unit this visit took back to the workshop (UnitTakenBack, FLD-6)."""
    unit_returned_at: datetime | None = None
    """When the taken-back unit was brought back to the customer (UnitReturned)."""
    unit_repaired: bool | None = None
    """Whether the unit came back repaired."""
    unit_returned_on_visit: str | None = None
    """The visit of its own the taken-back unit was brought back on, if any (UnitReturned)."""

    @property
    def carried_out_at(self) -> datetime | None:
        """When fieldwork placed the technician at the visit: the arrival, else the end of the
        visit; None while nobody has been there."""
        return self.arrived_at or self.closed_at

    @property
    def booked_as_repeat(self) -> bool:
        """Booked as another attempt at the same problem (FBK-11). Whether it *is* one depends on
        the order's other visits: :meth:`Case.is_repeat`."""
        return self.booked_reason in REPEAT_REASONS

    @property
    def on_site(self) -> bool:
        """A visit the technician carried out at the customer's: it ended, and somebody opened
        the door (a trip nobody answered, FLD-2, is no attempt at the problem)."""
        return self.closed_at is not None and self.outcome is not VisitOutcome.CUSTOMER_NOT_HOME

    @property
    def completed(self) -> bool:
        """The visit ended with the work done."""
        return self.outcome is VisitOutcome.COMPLETED and not self.failed

    @property
    def work_done_at(self) -> datetime | None:
        """When the visit's work was done, for call-back sampling and the sheet check (FBK-4,
        FBK-8): the end of a visit that ended completed; for a unit the visit took back to the
        workshop, its return to the customer repaired (FLD-6); None while the work is not done."""
        if self.outcome is VisitOutcome.COMPLETED:
            return self.closed_at
        if self.outcome is VisitOutcome.TAKEN_BACK and self.unit_repaired:
            return self.unit_returned_at
        return None

    @property
    def repair_done_at(self) -> datetime | None:
        """When the visit made a repair record (FBK-11), None when it made none: the end of a
        repair that ended completed; for a unit the visit took back to the workshop (FLD-6), its
        return to the customer repaired, the same moment :attr:`work_done_at` counts it done for
        sampling (FBK-4) and its call-back is made from (FBK-3). The workshop's repair is the
        repair of the visit that took the unit back: it is that visit's technician's record."""
        if self.kind is WorkKind.REPAIR and self.completed:
            return self.closed_at
        if self.kind is not WorkKind.INSTALLATION and self.outcome is VisitOutcome.TAKEN_BACK:
            return self.unit_returned_at if self.unit_repaired else None
        return None


class ChainStatus(StrEnum):
    """Whether a revisit chain still waits for a satisfied customer (FBK-7)."""

    OPEN = "open"
    CLOSED = "closed"
    """The customer was satisfied after the chain's revisits."""
    CANCELLED = "cancelled"
    """The order was cancelled while the chain waited, or before a dissatisfied call-back about
    work done before the cancellation: nobody will revisit, so it is no unresolved
    dissatisfaction (FBK-11); one heard after the cancellation went to the department as an open
    issue (FBK-12)."""


class RevisitChain(_State):
    """The visits for one problem, from the dissatisfied call-back to the satisfied one (FBK-7)."""

    chain_id: str
    origin_visit_id: str | None = None
    opened_at: datetime
    opened_by_task: str
    requests: int = 1
    """RevisitRequested sent in this chain: one at a time, for a dissatisfied call-back that no
    work already under way answers; 0 when the work under way answered every one."""
    awaiting_booking: bool = False
    """A revisit was requested and scheduling has not booked it yet (RevisitBooked)."""
    dissatisfied_tasks: list[str] = Field(default_factory=list)
    """The dissatisfied call-backs of this chain, oldest first (empty on chains stored before it
    was kept: then only ``opened_by_task`` is known)."""
    visit_ids: list[str] = Field(default_factory=list)
    """The visits that answer the chain, oldest first: the revisits booked while it was open,
    and those already booked when a dissatisfied call-back about an earlier visit came."""
    answering_call_backs: list[str] = Field(default_factory=list)
    """Other call-backs (by dedupe key) whose satisfied answer closes the chain: the one after a
    taken-back unit's return, when the chain waits for it."""
    status: ChainStatus = ChainStatus.OPEN
    closed_at: datetime | None = None
    closed_by_task: str | None = None
    closed_reason: str | None = None

    @property
    def dissatisfied_task_ids(self) -> list[str]:
        """The call-backs whose dissatisfaction this chain answers (FBK-7)."""
        return self.dissatisfied_tasks or [self.opened_by_task]


class Case(_State):
    """Everything feedback knows of one order."""

    order_id: str
    product_line: str | None = None
    brand: str | None = None
    emergency: bool = False
    fault_description: str | None = None
    fault_code: str | None = None
    """Intake's fault code (INT-7 emergencies: ``gas_leak``...), as created or verified."""
    further_reports: list[str] = Field(default_factory=list)
    """What the customer said in later reports linked to the order (DuplicateLinked, INT-8)."""
    technician_id: str | None = None
    network_id: str | None = None
    resolved_remotely_at: datetime | None = None
    cancelled: bool = False
    cancelled_at: datetime | None = None
    """When the order was cancelled (OrderCancelled); None on cases stored before it was kept,
    whose cancellation then stops everything."""
    visits: dict[str, Visit] = Field(default_factory=dict)
    receipts: dict[str, Decimal] = Field(default_factory=dict)
    payments: dict[str, Decimal] = Field(default_factory=dict)
    chains: list[RevisitChain] = Field(default_factory=list)
    holdings: list[Holding] = Field(default_factory=list)
    """Scheduling's word on who held the order's visits, as heard (scheduling's own order)."""
    anonymised_at: datetime | None = None
    """When billing said the order's retention was over and its personal data was erased
    (BIL-11, OrderRetentionExpired's ``expired_at``); None while it is kept."""
    reported_gas_leak: bool = False
    """Whether the customer's words erased with the order's personal data mentioned a gas leak
    (FBK-4): the sampling class stays what those words made it."""

    # -- reading -------------------------------------------------------------------------------

    @property
    def network(self) -> str:
        """The network the order is reported under (the centre when none)."""
        return self.network_id or CENTRE

    def attribution(self, visit_id: str | None) -> tuple[str | None, str]:
        """The technician and network (the centre when none) that work on the order counts
        against (FBK-4, FBK-8, FBK-11): those of the visit when it is known, whoever held the
        order before or after it; else the order's current ones."""
        visit = self.visits.get(visit_id) if visit_id else None
        if visit is None:
            return self.technician_id, self.network
        return visit.technician_id or self.technician_id, visit.network_id or CENTRE

    def complaint_visit(self) -> str | None:
        """The visit a complaint naming nobody is about (FBK-9, FBK-11), whose re-crediting it
        follows: while someone holds the order, the visit scheduling last gave its holder; while
        nobody does (it went back to the centre), the latest visit carried out; None when there
        is neither."""
        if self.technician_id is not None or self.network_id is not None:
            held = [h.visit_id for h in self.holdings if h.visit_id and not h.handed_back]
            return held[-1] if held else None
        done = [v for v in self.visits.values() if v.carried_out_at is not None]
        if not done:
            return None
        return max(done, key=lambda v: (v.carried_out_at, v.visit_id)).visit_id

    def complaint_attribution(self) -> tuple[str | None, str]:
        """The technician and network a complaint naming nobody counts against (FBK-9, FBK-11):
        the order's current holder; while nobody holds it (it went back to the centre), those
        the latest visit carried out counts against (:meth:`attribution`), as whoever went is
        the one the customer met; the centre when nobody went."""
        if self.technician_id is None and self.network_id is None:
            visit_id = self.complaint_visit()
            if visit_id is not None:
                return self.attribution(visit_id)
            return None, CENTRE
        if self.technician_id is None:
            return None, self.network
        return self.technician_id, self.network_of(self.technician_id)

    def visit(self, visit_id: str) -> Visit:
        """The visit, created on first mention."""
        found = self.visits.get(visit_id)
        if found is None:
            found = Visit(
                visit_id=visit_id, technician_id=self.technician_id, network_id=self.network_id
            )
            self.visits[visit_id] = found
        return found

    def billed_amount(self) -> Decimal | None:
        """What billing recorded as charged: its receipts, else its payments; None if nothing."""
        if self.receipts:
            return sum(self.receipts.values(), Decimal(0))
        if self.payments:
            return sum(self.payments.values(), Decimal(0))
        return None

    def open_chain(self) -> RevisitChain | None:
        """The revisit chain still waiting for a satisfied customer, if any."""
        return next((c for c in self.chains if c.status is ChainStatus.OPEN), None)

    def done_before_cancellation(self, visit_id: str | None) -> bool:
        """Whether the work of ``visit_id`` was done before the order's cancellation, as the
        events' own times tell: a repair or installation completed, or a taken-back unit returned
        repaired. Fieldwork applies what a technician logged offline before a cancellation with
        the time it happened, so that work may be heard of after the cancellation."""
        visit = self.visits.get(visit_id) if visit_id else None
        if visit is None or self.cancelled_at is None:
            return False
        done = visit.work_done_at or visit.repaired_at
        return done is not None and done < self.cancelled_at

    def cancellation_stops(self, visit_id: str | None) -> bool:
        """Whether the order's cancellation stops following up ``visit_id`` (None: the order as
        a whole). It stops everything but work done before it: that work was done for the
        customer, so it is called back (FBK-2, FBK-3), sampled (FBK-4, its 100 % classes too) and
        its sheet checked (FBK-8) as usual, whichever was heard first."""
        return self.cancelled and not self.done_before_cancellation(visit_id)

    def technicians(self) -> set[str]:
        """Every technician on the order's visits as feedback heard it: whoever scheduling
        assigned, reassigned or booked a revisit for, and whoever fieldwork saw on a visit."""
        named = [self.technician_id, *(v.technician_id for v in self.visits.values())]
        named += [h.technician_id for h in self.holdings]
        return {t for t in named if t}

    def networks(self) -> set[str]:
        """Every network that held a visit of the order as feedback heard it, and the centre
        (which took the order and holds what no network does)."""
        named: list[str | None] = [self.network, *(v.network_id for v in self.visits.values())]
        named += [n for h in self.holdings for n in (h.network_id, h.previous_network_id)]
        return {CENTRE, *(n for n in named if n)}

    def is_repeat(self, visit: Visit) -> bool:
        """Whether ``visit`` is a repeat visit, another attempt at the same problem (FBK-11):
        booked for a repeat reason (unfinished work, missing part, dissatisfied customer, other)
        *and* following a real visit of the order, one carried out on site before it (before it
        was carried out; any, while it is not yet). A technician's first visit to the customer is
        no repeat, whatever it was booked for: after phone guidance (INT-4) a dissatisfied
        call-back (FBK-1) or a reopened order books the order's first visit with such a reason,
        and the visit first assigned was never made. A visit rebooked because nobody was home
        (FLD-2, FLD-3) is booked for what the trip nobody answered was booked for: the revisit
        a dissatisfied customer got is still the repeat attempt when it took a second trip."""
        if self.booked_reason(visit) not in REPEAT_REASONS:
            return False
        this_at = visit.carried_out_at
        return any(
            other.visit_id != visit.visit_id
            and other.on_site
            and (this_at is None or (other.closed_at is not None and other.closed_at <= this_at))
            for other in self.visits.values()
        )

    def booked_reason(self, visit: Visit) -> RevisitReason | None:
        """What ``visit`` was booked for (FBK-11): a rebooking after a trip nobody answered
        (FLD-2) takes the reason of that trip, back along the trips nobody answered; None for a
        visit booked with no reason (the order's first)."""
        reason = visit.booked_reason
        current, seen = visit, {visit.visit_id}
        while reason is RevisitReason.CUSTOMER_NOT_HOME and current.previous_visit_id not in seen:
            previous = self.visits.get(current.previous_visit_id or "")
            if previous is None or previous.outcome is not VisitOutcome.CUSTOMER_NOT_HOME:
                break
            current, reason = previous, previous.booked_reason
            seen.add(previous.visit_id)
        return reason

    def network_of(self, technician_id: str) -> str:
        """The network ``technician_id`` worked on the order under: that of the latest visit
        fieldwork saw them on, else of the latest one scheduling gave them, else the order's."""
        visits = [v for v in self.visits.values() if v.technician_id == technician_id]
        if visits:
            return visits[-1].network_id or CENTRE
        held = sorted(
            (h for h in self.holdings if h.technician_id == technician_id), key=lambda h: h.since
        )
        if held:
            return held[-1].network_id or CENTRE
        return self.network

    def business_type(self, visit: Visit, policy: FeedbackPolicy) -> BusinessType:
        """The sampling class of a completed visit (FBK-4); the strictest class wins."""
        own = self.brand is None or self.brand.casefold() in {
            b.casefold() for b in policy.own_brands
        }
        if visit.kind is WorkKind.INSTALLATION:
            return BusinessType.OWN_BRAND_INSTALLATION if own else BusinessType.OTHER_INSTALLATION
        if self.is_gas_leak(policy):
            return BusinessType.GAS_LEAK_REPAIR
        if visit.paid_work:
            return BusinessType.PAID_REPAIR
        if own and visit.kind is WorkKind.REPAIR:
            return BusinessType.OWN_BRAND_REPAIR
        return BusinessType.OTHER_REPAIR

    def is_gas_leak(self, policy: FeedbackPolicy) -> bool:
        """A gas-leak repair (FBK-4): intake coded the fault a gas leak (which makes the order an
        emergency, INT-7), or an emergency on a gas product line, or one whose fault, as first
        reported or in a later linked report, mentions a gas leak."""
        if self.fault_code is not None and self.fault_code in policy.gas_leak_fault_codes:
            return True
        if not self.emergency:
            return False
        if self.product_line in policy.gas_product_lines:
            return True
        return self.reported_gas_leak or self._mentions_gas_leak(policy)

    def _mentions_gas_leak(self, policy: FeedbackPolicy) -> bool:
        texts = [self.fault_description or "", *self.further_reports]
        return any(
            k.casefold() in text.casefold() for text in texts for k in policy.gas_leak_keywords
        )

    # -- retention (BIL-11) --------------------------------------------------------------------

    def erase_personal_data(self, *, at: datetime, policy: FeedbackPolicy) -> None:
        """Erase what the customer said (the fault as described, later reports) and mark the case
        anonymised ``at`` (the first time only); ids, times, outcomes, amounts, fault codes and
        technicians stay, so the figures and the sampling class (FBK-4) are what they were.
        Erasing again changes nothing, and erases what an event heard since brought back."""
        self.reported_gas_leak = self.reported_gas_leak or self._mentions_gas_leak(policy)
        self.fault_description = erase_text(self.fault_description)
        self.further_reports = [erase_text(r) or "" for r in self.further_reports]
        if self.anonymised_at is None:
            self.anonymised_at = at

    def refuse_if_erased(self, action: str, *, hint: str = "") -> None:
        """Refuse ``action`` once the order's personal data is erased (BIL-11): nothing more
        that may name the customer is recorded about it, and nobody can call them any more
        (409 :class:`PersonalDataErased`, with ``anonymised_at``, whatever the state of what the
        action names)."""
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.order_id, action, self.anonymised_at, hint=hint)

    # -- applying events -----------------------------------------------------------------------

    def apply(
        self,
        event: EventData,
        *,
        at: datetime,
        event_id: str,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> list[Reaction]:
        """Take ``event`` (which happened ``at``) into the case; what it calls for. A visit that
        now counts against another holder (its holder heard after its own events, or the visit
        placed before a holder change heard first) calls for what was derived from it to follow
        (FBK-3, FBK-4, FBK-8, FBK-11); an event heard twice changes nothing."""
        if any(h.event_id == event_id for h in self.holdings):
            return []
        before = {v.visit_id: (v.technician_id, v.network_id) for v in self.visits.values()}
        reactions = self._take(event, at=at, event_id=event_id, policy=policy, calendar=calendar)
        reactions += [
            ReattributeVisit(visit_id=visit.visit_id)
            for visit in self.visits.values()
            if visit.visit_id in before
            and before[visit.visit_id] != (visit.technician_id, visit.network_id)
        ]
        if self.anonymised_at is None:
            return reactions
        # rule BIL-11: an event heard after the order's retention is over (late or redelivered)
        # keeps the figures right, but brings no personal data back and starts no follow-up:
        # nobody can call the customer any more, their phone is erased.
        self.erase_personal_data(at=self.anonymised_at, policy=policy)
        kept = CancelCallBacks | ReattributeVisit | EraseOrder
        return [r for r in reactions if isinstance(r, kept)]

    def _take(
        self,
        event: EventData,
        *,
        at: datetime,
        event_id: str,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> list[Reaction]:
        match event:
            case OrderCreated():
                self.product_line = event.product.line
                self.brand = event.product.brand
                self.emergency = event.emergency
                self.fault_description = event.fault.description
                self.fault_code = event.fault.code
                if event.channel is Channel.WALK_IN:
                    # A request taken at the service hall is desk business (FBK-4).
                    return [
                        self._desk_work(DeskWorkKind.APPLICATION, self.order_id, event.taken_by, at)
                    ]
            case OrderVerified():
                # Verification corrects what intake first took down (INT-2); the sampling class
                # follows the corrected product and fault (FBK-4), and the emergency the
                # corrected fault may make of the order (INT-7), never taken back.
                self.emergency = self.emergency or event.escalated_to_emergency
                if event.product is not None:
                    self.product_line = event.product.line
                    self.brand = event.product.brand
                if event.fault is not None:
                    self.fault_description = event.fault.description
                    self.fault_code = event.fault.code
            case DuplicateLinked():
                # A later report on the open order (INT-8) may make it an emergency (INT-7) and
                # say what the first did not, e.g. that gas is leaking (FBK-4).
                self.emergency = self.emergency or event.escalated_to_emergency
                if event.fault_description:
                    self.further_reports.append(event.fault_description)
            case OrderAssigned() | OrderReassigned():
                # An assignment names the visit's new holder in full: no network is the centre's
                # own technician, so a network that handed the order back no longer holds it
                # (FBK-4, FBK-8, FBK-11). Only scheduling's events, which arrive in order, say
                # who holds a visit; fieldwork's name the technician, never the network.
                self.technician_id = event.technician_id
                self.network_id = event.network_id
                previous = event if isinstance(event, OrderReassigned) else None
                self._hold(
                    Holding(
                        event_id=event_id,
                        since=at,
                        visit_id=event.visit_id,
                        technician_id=event.technician_id,
                        network_id=event.network_id,
                        names_previous=previous is not None,
                        previous_network_id=previous.previous_network_id if previous else None,
                    )
                )
            case OrderReturnedToCentre():
                self._returned_to_centre(event, at=at, event_id=event_id)
            case AppointmentConfirmed():
                visit = self.visit(event.visit_id)
                if visit.carried_out_at is None:
                    # once fieldwork placed someone there, its word on who went stands
                    visit.technician_id = event.technician_id
            case TechnicianArrived():
                visit = self.visit(event.visit_id)
                visit.technician_id = event.technician_id
                visit.arrived_at = event.arrived_at
                self._settle_holder(visit)
            case ArrivalLate():
                if event.kind is LatenessKind.ACTUAL:
                    visit = self.visit(event.visit_id)
                    visit.minutes_late = max(visit.minutes_late or 0, event.minutes_late)
            case RevisitBooked():
                return self._revisit_booked(event, at=at, event_id=event_id)
            case RepairCompleted():
                return self._repair_completed(event, at=at, policy=policy, calendar=calendar)
            case RepairFailed():
                visit = self.visit(event.visit_id)
                visit.technician_id = event.technician_id
                visit.kind = WorkKind.REPAIR
                visit.failed = True
                return [OpenIssue(visit_id=event.visit_id, reason=f"repair failed: {event.reason}")]
            case InstallationCompleted():
                visit = self.visit(event.visit_id)
                visit.technician_id = event.technician_id
                visit.kind = WorkKind.INSTALLATION
            case UnitTakenBack():
                visit = self.visit(event.visit_id)
                visit.kind = WorkKind.REPAIR
                visit.technician_id = event.technician_id
                visit.take_back_receipt = event.receipt_number
            case UnitReturned():
                return self._unit_returned(event, policy=policy, calendar=calendar)
            case CustomerSignedOff():
                return self._signed_off(event)
            case VisitClosed():
                return self._visit_closed(event, policy=policy, calendar=calendar)
            case OrderResolvedRemotely():
                self.resolved_remotely_at = at
                # rule FBK-1: feedback owns this call-back, so it is due after feedback's policy
                # minutes of working time; the event's `call_back_due_at` (intake's wall-clock
                # estimate) is not used to schedule, or a call due after hours is overdue at once.
                not_before, due = timed_call_back_window(
                    at, policy.remote_call_back_minutes, policy, calendar
                )
                return [
                    ScheduleCallBack(
                        rule=PHONE_GUIDANCE_RULE,
                        not_before=not_before,
                        due_at=due,
                        dedupe_key=f"FBK-1:{self.order_id}:{event_id}",
                    )
                ]
            case OrderReopened():
                return [CancelCallBacks(rule="FBK-1", reason="order reopened")]
            case OrderCancelled():
                self.cancelled = True
                # heard again, the cancellation keeps its first time
                self.cancelled_at = at if self.cancelled_at is None else min(self.cancelled_at, at)
                self._cancel_chains(at)
                done = frozenset(v for v in self.visits if self.done_before_cancellation(v))
                return [CancelCallBacks(rule=None, reason="order cancelled", except_visits=done)]
            case ReceiptIssued():
                self.receipts[event.receipt_number] = event.amount
            case OrderRetentionExpired():
                self.erase_personal_data(at=event.expired_at, policy=policy)
                return [EraseOrder()]
            case PaymentCollected():
                receipt = event.receipt_number or event_id
                self.payments[receipt] = event.amount
                if event.at_desk:
                    return [self._desk_work(DeskWorkKind.PAYMENT, receipt, event.collected_by, at)]
        return []

    def _desk_work(
        self, kind: DeskWorkKind, reference: str, clerk: str | None, at: datetime
    ) -> DeskWork:
        return DeskWork(
            order_id=self.order_id,
            work_id=f"{kind}:{reference}",
            kind=kind,
            clerk=clerk,
            done_at=at,
        )

    def _returned_to_centre(
        self, event: OrderReturnedToCentre, *, at: datetime, event_id: str
    ) -> None:
        """The order is back with the centre's dispatchers (SCH-1, SCH-3, SCH-10): nobody holds it
        until they place it again. The visit handed back is no longer its holder's, unless they
        went (nobody was home, FLD-2, or fieldwork placed them there before it went back): that
        trip stays theirs."""
        self.technician_id = None
        self.network_id = None
        self._hold(
            Holding(
                event_id=event_id,
                since=at,
                visit_id=event.visit_id,
                handed_back=True,
                keeps_trip=event.reason is ReturnReason.CUSTOMER_NOT_HOME,
                names_previous=True,
                previous_network_id=event.network_id,
            )
        )

    def _hold(self, holding: Holding) -> None:
        """Take scheduling's word on who holds a visit, and credit the visit accordingly."""
        self.holdings.append(holding)
        if holding.visit_id is not None and not holding.keeps_trip:
            self._settle_holder(self.visit(holding.visit_id))

    def _settle_holder(self, visit: Visit) -> None:
        """Credit ``visit`` to whoever held it when it was carried out (FBK-3, FBK-4, FBK-8,
        FBK-11), whichever order scheduling's and fieldwork's topics are read in: the latest
        holder scheduling named at or before the technician was there (the latest of all while
        nobody has been). A holder named only after that changes nothing: the visit stays with
        the one it was taken from. The technician follows scheduling only until fieldwork names
        who went; a visit scheduling never spoke of keeps the order's holder when first heard of."""
        holdings = sorted(
            (h for h in self.holdings if h.visit_id == visit.visit_id and not h.keeps_trip),
            key=lambda h: h.since,
        )
        if not holdings:
            return
        moment = visit.carried_out_at
        during = [h for h in holdings if moment is None or h.since <= moment]
        if not during:
            first = holdings[0]
            visit.network_id = (
                first.previous_network_id if first.names_previous else first.network_id
            )
            return
        holder = during[-1]
        visit.network_id = holder.network_id
        if moment is None and (holder.technician_id or holder.handed_back):
            visit.technician_id = holder.technician_id

    def _revisit_booked(
        self, event: RevisitBooked, *, at: datetime, event_id: str
    ) -> list[Reaction]:
        visit = self.visit(event.visit_id)
        visit.booked_reason = event.reason
        visit.previous_visit_id = event.previous_visit_id
        visit.booked_at = at
        # The revisit stays with the technician who keeps the order, under the order's holder;
        # with none kept it waits for the centre to place it (SCH-10).
        kept = event.technician_id is not None
        self._hold(
            Holding(
                event_id=event_id,
                since=at,
                visit_id=event.visit_id,
                technician_id=event.technician_id,
                network_id=self.network_id if kept else None,
                handed_back=not kept,
            )
        )
        chain = self.open_chain()
        if chain is not None:
            chain.awaiting_booking = False
            if event.visit_id not in chain.visit_ids:
                chain.visit_ids.append(event.visit_id)
        return []

    def _repair_completed(
        self,
        event: RepairCompleted,
        *,
        at: datetime,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> list[Reaction]:
        visit = self.visit(event.visit_id)
        visit.technician_id = event.technician_id
        visit.kind = WorkKind.REPAIR
        visit.tested = event.tested
        visit.sure_fixed = event.sure_fixed
        visit.repaired_at = at
        if event.tested and event.sure_fixed:
            return []
        # rule FBK-2: untested → 2 h; tested but not sure → 3 h (working time)
        minutes = (
            policy.untested_call_back_minutes
            if not event.tested
            else policy.unsure_call_back_minutes
        )
        not_before, due = timed_call_back_window(at, minutes, policy, calendar)
        return [
            ScheduleCallBack(
                rule="FBK-2",
                not_before=not_before,
                due_at=due,
                visit_id=event.visit_id,
                technician_id=event.technician_id,
                dedupe_key=f"FBK-2:{self.order_id}:{event.visit_id}",
            )
        ]

    def _unit_returned(
        self, event: UnitReturned, *, policy: FeedbackPolicy, calendar: WorkingCalendar
    ) -> list[Reaction]:
        """A taken-back unit is back with the customer (FLD-6): the visit that took it back now
        counts its work done (sampled under FBK-4), and the customer is called back within 24
        hours of the return (FBK-3).

        Back *unrepaired*, the fault is still there after the visits (FLD-6, FLD-9): an issue left
        open, to the department the same day and to a company-level solution after the policy's
        days (FBK-12). No satisfaction call-back is made about such a return: the customer has
        nothing repaired to rate, and the department's solution is the follow-up. A return made
        on a visit of its own keeps that visit's call-back (FBK-3: after every visit)."""
        taken_back = self._take_back_visit(event.receipt_number)
        if taken_back is not None:
            taken_back.unit_returned_at = event.returned_at
            taken_back.unit_repaired = event.repaired
            taken_back.unit_returned_on_visit = event.visit_id
        # A return made on a visit of its own is that visit's FBK-3 call-back (one call, whichever
        # of UnitReturned and its VisitClosed comes first); otherwise it is keyed on the return.
        own_visit = event.visit_id
        if own_visit is not None and (taken_back is None or own_visit != taken_back.visit_id):
            visit_id: str | None = own_visit
            technician_id = self.visit(own_visit).technician_id
        else:
            visit_id = taken_back.visit_id if taken_back is not None else None
            technician_id = taken_back.technician_id if taken_back is not None else None
        dedupe_key = self._return_call_back_key(
            event.receipt_number, own_visit, taken_back.visit_id if taken_back else None
        )
        chain = self.open_chain()
        awaited = self._return_call_back_key(event.receipt_number, None, None)
        if (
            chain is not None
            and awaited in chain.answering_call_backs
            and dedupe_key not in chain.answering_call_backs
        ):
            # The chain waited for the unit (FBK-7): the call after its return answers it, made
            # about the visit it came back on when there was one.
            chain.answering_call_backs.append(dedupe_key)
        if not event.repaired:
            where = f" at visit {taken_back.visit_id}" if taken_back is not None else ""
            waited = (
                f"; revisit chain {chain.chain_id} waited for it"
                if chain is not None and awaited in chain.answering_call_backs
                else ""
            )
            return [
                OpenIssue(
                    visit_id=taken_back.visit_id if taken_back is not None else own_visit,
                    reason=f"unit taken back{where} (receipt {event.receipt_number}) returned "
                    f"unrepaired: the fault is still there{waited}",
                    dedupe_key=f"{self.order_id}:returned-unrepaired:{event.receipt_number}",
                )
            ]
        not_before, due = visit_call_back_window(event.returned_at, policy, calendar)
        return [
            ScheduleCallBack(
                rule="FBK-3",
                not_before=not_before,
                due_at=due,
                visit_id=visit_id,
                technician_id=technician_id,
                dedupe_key=dedupe_key,
            )
        ]

    def _return_call_back_key(
        self, receipt_number: str, own_visit: str | None, taken_back_visit: str | None
    ) -> str:
        """The dedupe key of the FBK-3 call-back after a taken-back unit's return: its own
        visit's when it came back on one, else keyed on the receipt."""
        if own_visit is not None and own_visit != taken_back_visit:
            return f"FBK-3:{self.order_id}:{own_visit}"
        return f"FBK-3:{self.order_id}:returned:{receipt_number}"

    def _take_back_visit(self, receipt_number: str) -> Visit | None:
        """The visit that took back the unit of this receipt, else the latest that took one."""
        found = next(
            (v for v in self.visits.values() if v.take_back_receipt == receipt_number), None
        )
        if found is not None:
            return found
        taken = [v for v in self.visits.values() if v.outcome is VisitOutcome.TAKEN_BACK]
        return taken[-1] if taken else None

    def _signed_off(self, event: CustomerSignedOff) -> list[Reaction]:
        visit = self.visit(event.visit_id)
        if event.technician_id:
            visit.technician_id = event.technician_id
        visit.sign_off = event.sign_off
        ratings = [r for r in (event.repair_quality, event.service_attitude) if r is not None]
        visit.signed_satisfied = (
            event.sign_off is SignOff.SIGNED
            and bool(ratings)
            and all(r in _SATISFIED_RATINGS for r in ratings)
        )
        visit.amount_acknowledged = event.amount_acknowledged
        if any(r is Rating.DISSATISFIED for r in ratings):
            # rule FLD-12: a dissatisfied customer is followed until satisfied
            return [OpenIssue(visit_id=event.visit_id, reason="customer dissatisfied at sign-off")]
        return []

    def _visit_closed(
        self, event: VisitClosed, *, policy: FeedbackPolicy, calendar: WorkingCalendar
    ) -> list[Reaction]:
        visit = self.visit(event.visit_id)
        visit.technician_id = event.technician_id
        visit.outcome = event.outcome
        visit.closed_at = event.closed_at
        visit.paid_work = event.paid_work
        self._settle_holder(visit)
        reactions: list[Reaction] = []
        if event.outcome is not VisitOutcome.CUSTOMER_NOT_HOME:
            not_before, due = visit_call_back_window(event.closed_at, policy, calendar)
            reactions.append(
                ScheduleCallBack(
                    rule="FBK-3",
                    not_before=not_before,
                    due_at=due,
                    visit_id=event.visit_id,
                    technician_id=event.technician_id,
                    dedupe_key=f"FBK-3:{self.order_id}:{event.visit_id}",
                    unless_rule_for_visit="FBK-2",
                )
            )
        if event.outcome in (VisitOutcome.UNFINISHED, VisitOutcome.DECLINED) or visit.failed:
            reactions.append(
                OpenIssue(visit_id=event.visit_id, reason=f"visit ended {event.outcome}")
            )
        return reactions

    # -- call-back results ---------------------------------------------------------------------

    def dissatisfied(
        self,
        *,
        task_id: str,
        visit_id: str | None,
        at: datetime,
        pending_visits: Collection[str] = (),
        pending_call_backs: Collection[str] = (),
    ) -> Dissatisfaction:
        """A dissatisfied call-back about ``visit_id`` (FBK-7): a revisit is requested, one at a
        time, unless work already under way answers it (a visit booked after that one, a unit
        in the workshop, a revisit requested and not booked yet, or their call-backs still to be
        made: ``pending_visits`` / ``pending_call_backs`` are the visits and dedupe keys of the
        order's call-backs not finished yet). Either way the dissatisfaction joins the open
        chain (a new one when none is open), which that work's satisfied call-back closes.

        On a cancelled order (a call-back about work done before the cancellation) nobody
        revisits: no revisit is requested, and the dissatisfaction is kept in a chain closed as
        cancelled (it still counts against that work, FBK-11)."""
        origin = visit_id or self.last_visit_id()
        if self.cancelled:
            cancelled = RevisitChain(
                chain_id=f"{self.order_id}:{len(self.chains) + 1}",
                origin_visit_id=origin,
                opened_at=at,
                opened_by_task=task_id,
                requests=0,
                dissatisfied_tasks=[task_id],
                status=ChainStatus.CANCELLED,
                closed_at=at,
                closed_reason="order cancelled",
            )
            self.chains.append(cancelled)
            return Dissatisfaction(
                chain=cancelled,
                request_revisit=False,
                previous_visit_id=origin,
                under_way=None,
                order_cancelled=True,
            )
        later = self.later_visits(origin) if origin is not None else []
        latest = later[-1] if later else (self.visits.get(origin) if origin else None)
        chain = self.open_chain()
        answering = [v.visit_id for v in later]
        under_way: UnderWay | None = None
        if later:
            reason = self._awaits(later[-1], pending_visits)
            if reason is not None:
                under_way = UnderWay(reason=reason, visit_ids=answering)
        if under_way is None and latest is not None:
            workshop = self._awaits_return(latest, pending_call_backs)
            if workshop is not None:
                under_way = UnderWay(
                    reason=workshop.reason,
                    visit_ids=answering,
                    call_back_key=workshop.call_back_key,
                )
        if under_way is None and chain is not None and chain.awaiting_booking:
            under_way = UnderWay(reason="a revisit was already requested and is not booked yet")

        if chain is None:
            chain = RevisitChain(
                chain_id=f"{self.order_id}:{len(self.chains) + 1}",
                origin_visit_id=origin,
                opened_at=at,
                opened_by_task=task_id,
                requests=0,
            )
            self.chains.append(chain)
        elif not chain.dissatisfied_tasks:
            chain.dissatisfied_tasks.append(chain.opened_by_task)
        if task_id not in chain.dissatisfied_tasks:
            chain.dissatisfied_tasks.append(task_id)
        if under_way is not None:
            for answering_id in under_way.visit_ids:
                if answering_id not in chain.visit_ids:
                    chain.visit_ids.append(answering_id)
            if (
                under_way.call_back_key is not None
                and under_way.call_back_key not in chain.answering_call_backs
            ):
                chain.answering_call_backs.append(under_way.call_back_key)
            return Dissatisfaction(
                chain=chain,
                request_revisit=False,
                previous_visit_id=latest.visit_id if latest else origin,
                under_way=under_way.reason,
            )
        chain.requests += 1
        chain.awaiting_booking = True
        return Dissatisfaction(
            chain=chain,
            request_revisit=True,
            previous_visit_id=latest.visit_id if latest else origin,
            under_way=None,
        )

    def later_visits(self, visit_id: str) -> list[Visit]:
        """The visits booked after ``visit_id``, oldest first: each RevisitBooked names the visit
        it follows (the latest booked when two name the same one)."""
        found: list[Visit] = []
        seen = {visit_id}
        current = visit_id
        while True:
            following = [
                v
                for v in self.visits.values()
                if v.previous_visit_id == current and v.visit_id not in seen
            ]
            if not following:
                return found
            current_visit = max(
                following,
                key=lambda v: (v.booked_at.timestamp() if v.booked_at else 0.0, v.visit_id),
            )
            found.append(current_visit)
            seen.add(current_visit.visit_id)
            current = current_visit.visit_id

    @staticmethod
    def _awaits(visit: Visit, pending_visits: Collection[str]) -> str | None:
        """Why a visit booked after the one called about still has to answer the customer, or
        None when it is over and called back."""
        if visit.closed_at is None:
            return f"visit {visit.visit_id} is already booked and not done yet"
        if visit.outcome is VisitOutcome.CUSTOMER_NOT_HOME:
            # rule FLD-2: nobody home, the visit is rebooked
            return f"nobody was home at visit {visit.visit_id}; it is being rebooked"
        if visit.visit_id in pending_visits:
            return f"visit {visit.visit_id} is done and its call-back is still to be made"
        return None

    def _awaits_return(self, visit: Visit, pending_call_backs: Collection[str]) -> UnderWay | None:
        """The unit ``visit`` took back to the workshop answers the customer when it comes back
        (FLD-6), until the call-back after its return is made."""
        if visit.take_back_receipt is None or visit.outcome is not VisitOutcome.TAKEN_BACK:
            return None
        key = self._return_call_back_key(
            visit.take_back_receipt, visit.unit_returned_on_visit, visit.visit_id
        )
        if visit.unit_returned_at is None:
            return UnderWay(
                reason=f"the unit taken back at visit {visit.visit_id} (receipt "
                f"{visit.take_back_receipt}) is still in the workshop; the call-back after its "
                "return asks again",
                call_back_key=key,
            )
        if key in pending_call_backs:
            return UnderWay(
                reason=f"the unit taken back at visit {visit.visit_id} is back and the call-back "
                "after its return is still to be made",
                call_back_key=key,
            )
        return None

    def satisfied(
        self, *, task_id: str, visit_id: str | None, at: datetime, call_back_key: str | None = None
    ) -> RevisitChain | None:
        """A satisfied call-back about a visit that answers the open chain (one of its revisits,
        or the call-back it waits for) closes it (FBK-7); the chain it closed."""
        chain = self.open_chain()
        if chain is None:
            return None
        awaited = call_back_key is not None and call_back_key in chain.answering_call_backs
        about_revisit = bool(chain.visit_ids) and (visit_id is None or visit_id in chain.visit_ids)
        if not (awaited or about_revisit):
            return None
        chain.status = ChainStatus.CLOSED
        chain.closed_at = at
        chain.closed_by_task = task_id
        chain.closed_reason = "customer satisfied"
        chain.awaiting_booking = False
        return chain

    def _cancel_chains(self, at: datetime) -> None:
        """The order is cancelled: nobody revisits, so the open chain closes as cancelled."""
        for chain in self.chains:
            if chain.status is ChainStatus.OPEN:
                chain.status = ChainStatus.CANCELLED
                chain.closed_at = at
                chain.closed_reason = "order cancelled"
                chain.awaiting_booking = False

    def last_visit_id(self) -> str | None:
        """The latest closed visit, else the latest known."""
        closed = [(v.closed_at, v.visit_id) for v in self.visits.values() if v.closed_at]
        if closed:
            return max(closed)[1]
        return next(reversed(self.visits), None)

    def to_json(self) -> dict[str, Any]:
        """The case as stored."""
        return self.model_dump(mode="json")


def timed_call_back_window(
    happened_at: datetime, after_minutes: int, policy: FeedbackPolicy, calendar: WorkingCalendar
) -> tuple[datetime, datetime]:
    """When to make a call-back timed from what happened (FBK-1 after phone guidance, FBK-2
    after an untested or unsure repair): from ``after_minutes`` of working time later, until
    ``call_back_min_working_minutes`` of working time after that."""
    # rule FBK-1, FBK-2: the rule says when to call, not by when; a call due the moment it may
    # be made is overdue in the queue before anyone can take it, so it gets the same working
    # window a call-back after a visit is never given less of (FBK-3).
    not_before = calendar.add_working_time(happened_at, timedelta(minutes=after_minutes))
    due = calendar.add_working_time(
        not_before, timedelta(minutes=policy.call_back_min_working_minutes)
    )
    return not_before, due


def visit_call_back_window(
    closed_at: datetime, policy: FeedbackPolicy, calendar: WorkingCalendar
) -> tuple[datetime, datetime]:
    """When to call after a visit (FBK-3): from its end until the last working moment within
    ``visit_call_back_hours``, counted from the next working moment when the technician returned
    outside working time; never with less than ``call_back_min_working_minutes`` of working time
    after the return, which a return just before a weekend or holiday gets on the next working
    day(s). A later return is never due earlier."""
    # rule FBK-3: nobody can call before work resumes, so a return after hours gets the working
    # day a return at the opening would.
    start = calendar.add_working_time(closed_at, timedelta(0))
    within = calendar.working_time_between(
        start, start + timedelta(hours=policy.visit_call_back_hours)
    )
    # Whatever is left of the 24 h, however little, is no deadline: a floor keeps it workable
    # and moves smoothly, instead of jumping past a weekend on a minute's difference.
    allowed = max(within, timedelta(minutes=policy.call_back_min_working_minutes))
    return closed_at, calendar.add_working_time(start, allowed)


@dataclass(frozen=True)
class UnderWay:
    """Work already under way that answers a dissatisfied call-back (FBK-7)."""

    reason: str
    visit_ids: list[str] = field(default_factory=list)
    """Visits booked after the one called about; they join the chain."""
    call_back_key: str | None = None
    """A call-back to come whose answer the chain waits for."""


@dataclass(frozen=True)
class Dissatisfaction:
    """What a dissatisfied call-back led to (FBK-7)."""

    chain: RevisitChain
    request_revisit: bool
    """Whether to ask scheduling for a revisit (RevisitRequested)."""
    previous_visit_id: str | None
    """The latest visit of the problem: the one a revisit follows."""
    under_way: str | None
    """Why no revisit is requested: the work already under way."""
    order_cancelled: bool = False
    """No revisit is requested because the order was cancelled: nobody will revisit."""


@dataclass(frozen=True)
class ScheduleCallBack:
    """Reaction: put a call-back task in the queue (FBK-1, FBK-2, FBK-3)."""

    rule: str
    not_before: datetime
    due_at: datetime
    dedupe_key: str
    visit_id: str | None = None
    technician_id: str | None = None
    unless_rule_for_visit: str | None = None
    """Skip when a task of this rule exists for the same visit (an earlier call covers it)."""


@dataclass(frozen=True)
class ReattributeVisit:
    """Reaction: the visit now counts against another holder (FBK-3, FBK-4, FBK-8, FBK-11), so
    what was derived from it (its call-backs and what their answers raised, its open issues,
    its fraud suspicions) follows ``Case.attribution`` of it."""

    visit_id: str


@dataclass(frozen=True)
class CancelCallBacks:
    """Reaction: the open call-backs of the order (of ``rule``, or all) are no longer needed,
    but those about the visits of ``except_visits`` (work done before the order's
    cancellation)."""

    rule: str | None
    reason: str
    except_visits: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OpenIssue:
    """Reaction: an issue was left open after a visit (FBK-12)."""

    visit_id: str | None
    reason: str
    dedupe_key: str | None = None
    """Set when the issue is not the visit's only one (opened once per key); else the visit's."""


class DeskWorkKind(StrEnum):
    """Business a customer did at a service-hall desk (FBK-4's desk business)."""

    APPLICATION = "application"
    """A service request taken from a walk-in customer."""
    PAYMENT = "payment"
    """A payment taken at the desk."""


@dataclass(frozen=True)
class DeskWork:
    """Business done at a service-hall desk. As a reaction: record it, so it joins the call-back
    sampling population of desk business (FBK-4), stratified by clerk."""

    order_id: str
    work_id: str
    kind: DeskWorkKind
    clerk: str | None
    done_at: datetime


@dataclass(frozen=True)
class EraseOrder:
    """Reaction: the order's retention is over (BIL-11): erase the personal data of what was
    derived from it (its file, call-backs, complaints, findings and issues), and stop what is
    still open: open call-backs are cancelled and open issues resolved (nobody can call the
    customer any more); an open complaint is closed as ``retention_ended``, with no fault
    finding."""

    reason: str = RETENTION_OVER


Reaction = ScheduleCallBack | CancelCallBacks | OpenIssue | DeskWork | ReattributeVisit | EraseOrder
