"""Complaints: taken on every channel at any hour and confirmed by the customer (INT-9),
classified by impact and staff fault (FBK-9), and taken round the loop accept → dispatch → handle →
feedback → reply → follow-up → closed, each state with an owner and an SLA clock (FBK-10); reopened
and taken round it again when the customer is still not satisfied with the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from contracts.base import EventData
from contracts.common import Channel
from contracts.feedback import (
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintFiled,
    ComplaintLevel,
    ComplaintReopened,
    ComplaintStageOverdue,
    StaffFaultClass,
)
from contracts.ids import new_id
from contracts.privacy import ERASED, erase_text
from feedback.domain.case import CENTRE, Case
from feedback.domain.exceptions import (
    ComplaintNotConfirmed,
    FaultClassRequired,
    IllegalTransition,
    IncompleteClosure,
    NotOnOrder,
    OrderNotKnownYet,
    PersonalDataErased,
)
from feedback.domain.policy import ComplaintStage, FeedbackPolicy
from feedback.domain.ports import WorkingCalendar

#: The loop, in order (FBK-10).
LOOP: tuple[ComplaintStage, ...] = tuple(ComplaintStage)

ClosedWithoutFinding = Literal["retention_ended"]
"""Why a complaint was closed without going round the loop."""

RETENTION_ENDED: ClosedWithoutFinding = "retention_ended"
"""Why a complaint still open when its order's retention ended was closed without a fault
finding (BIL-11, :meth:`Complaint.end_at_retention`)."""

AUTOMATIC_OWNER = "feedback"
"""The owner of a state nobody entered by hand: feedback itself closed the complaint."""


def next_stage(stage: ComplaintStage) -> ComplaintStage | None:
    """The state after ``stage`` in the loop (None once closed)."""
    index = LOOP.index(stage)
    return LOOP[index + 1] if index + 1 < len(LOOP) else None


@dataclass
class StageRecord:
    """One state the complaint went through, with its owner and SLA clock."""

    stage: ComplaintStage
    owner: str
    entered_at: datetime
    due_at: datetime | None
    left_at: datetime | None = None
    note: str | None = None
    overdue_reported_at: datetime | None = None
    """When ComplaintStageOverdue was raised for this state (once)."""

    def overdue(self, now: datetime) -> bool:
        """Whether the state's SLA ran out (while in it, or when it was left)."""
        if self.due_at is None:
            return False
        return (self.left_at or now) > self.due_at


@dataclass(frozen=True)
class Closure:
    """The summary and fault finding a complaint closes with (FBK-10)."""

    cause: str
    owner: str
    preventive_action: str
    at_fault: bool
    staff_fault_class: StaffFaultClass | None
    summary: str | None
    compensation: Decimal | None
    closed_at: datetime | None = None
    """None on closures stored before it was kept (the `closed` state's entry tells it)."""


def complained_about(
    case: Case | None,
    *,
    order_id: str | None,
    technician_id: str | None,
    network_id: str | None,
) -> tuple[str | None, str | None]:
    """The technician and network a new complaint counts against (FBK-9, FBK-11), checked
    against what feedback heard of its order (``case``, None when it heard nothing): a complaint
    counts only against someone who worked on the order. Not given, they are the order's
    current holders (the network: that of the technician's visit); with nobody holding it (it
    went back to the centre), whoever the latest visit carried out counts against
    (:meth:`Case.complaint_attribution`), and the complaint follows that visit when it is
    re-credited (:meth:`Complaint.reattribute`). Feedback asks no other
    service: an order it never heard of is refused as not known yet (a mistyped number, or an
    order created a moment ago whose first event has not arrived: retry), and so is a technician
    or network on none of its visits, or named with no order to check them against. An order
    whose retention is over is refused too (BIL-11, 409 ``PersonalDataErased``): its personal
    data is erased and nothing more that may name the customer is kept about it; the complaint
    is filed without it.

    A complaint about no particular order counts for the centre, which took it (FBK-11: a
    complaint's network is its order's network, or the centre; :attr:`Complaint.network`)."""
    if order_id is None:
        for field, value in (("technician_id", technician_id), ("network_id", network_id)):
            if value is not None:
                raise NotOnOrder(field, value, None)
        return None, CENTRE
    if case is None:
        raise OrderNotKnownYet(order_id)
    case.refuse_if_erased("file a complaint", hint="File the complaint without the order.")
    if technician_id is not None and technician_id not in case.technicians():
        raise NotOnOrder("technician_id", technician_id, order_id)
    if network_id is not None and network_id not in case.networks():
        raise NotOnOrder("network_id", network_id, order_id)
    if technician_id is None and network_id is None:
        return case.complaint_attribution()
    technician_id = technician_id or case.technician_id
    if network_id is None:
        network_id = case.network_of(technician_id) if technician_id else case.network
    return technician_id, network_id


def stage_due(
    stage: ComplaintStage,
    *,
    entered_at: datetime,
    level: int,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> datetime | None:
    """When a state's SLA runs out: its working hours, shortened for level 2 complaints."""
    hours = policy.complaint_sla_working_hours.get(stage)
    if hours is None:
        return None
    minutes = hours * 60
    if level == 2:
        minutes = max(1, minutes * policy.level_two_sla_factor_percent // 100)
    return calendar.add_working_time(entered_at, timedelta(minutes=minutes))


@dataclass
class Complaint:
    """A customer's complaint and its way round the loop.

    ``staff_fault_class`` is the class of staff fault alleged when the complaint was filed
    (FBK-9), replaced by the class found when it closes at fault; a complaint closed *not* at fault
    keeps the class that was alleged, for the record, and :attr:`cleared` tells it no longer counts
    against anyone (the closure's own ``staff_fault_class`` is then None).

    Reopened, its closure joins ``earlier_closures`` and it goes round the loop again: it is one
    complaint throughout, counted once in the quality figures, by where it stands now.
    """

    complaint_id: str
    order_id: str
    channel: Channel
    description: str
    level: ComplaintLevel
    staff_fault_class: StaffFaultClass | None
    filed_at: datetime
    taken_by: str
    confirmed_by_customer: bool = False
    confirmed_at: datetime | None = None
    technician_id: str | None = None
    network_id: str | None = None
    stages: list[StageRecord] = field(default_factory=list)
    closure: Closure | None = None
    earlier_closures: list[Closure] = field(default_factory=list)
    """The closures of the rounds before it was reopened, oldest first."""
    escalated_at: datetime | None = None
    escalated_by: str | None = None
    escalation_reason: str | None = None
    anonymised_at: datetime | None = None
    """When its order's personal data was erased (BIL-11); None while it is kept."""
    visit_id: str | None = None
    """The visit it was charged to by default (it named no technician nor network,
    :meth:`Case.complaint_visit`): it follows that visit when the visit is re-credited to
    another holder (FBK-11). None when the customer named whom, or no visit was known."""
    closed_without_finding: ClosedWithoutFinding | None = None
    """Why it was closed without going round the loop and with no fault finding
    (:data:`RETENTION_ENDED`); None when it was not (open, or closed by its owner with one)."""
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def file(
        cls,
        *,
        order_id: str | None,
        channel: Channel,
        description: str,
        level: ComplaintLevel,
        staff_fault_class: StaffFaultClass | None,
        taken_by: str,
        confirmed_by_customer: bool,
        now: datetime,
        technician_id: str | None,
        network_id: str | None,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
        visit_id: str | None = None,
    ) -> Complaint:
        """Accept a complaint whatever the channel and hour (INT-9); ComplaintFiled is recorded.

        A complaint about no particular order is keyed by its own id.
        """
        complaint_id = str(new_id())
        complaint = cls(
            complaint_id=complaint_id,
            order_id=order_id or complaint_id,
            channel=channel,
            description=description,
            level=level,
            staff_fault_class=staff_fault_class,
            filed_at=now,
            taken_by=taken_by,
            confirmed_by_customer=confirmed_by_customer,
            confirmed_at=now if confirmed_by_customer else None,
            technician_id=technician_id,
            network_id=network_id,
            visit_id=visit_id,
        )
        complaint.stages.append(
            StageRecord(
                stage=ComplaintStage.ACCEPTED,
                owner=taken_by,
                entered_at=now,
                due_at=stage_due(
                    ComplaintStage.ACCEPTED,
                    entered_at=now,
                    level=level,
                    policy=policy,
                    calendar=calendar,
                ),
            )
        )
        complaint.events.append(
            ComplaintFiled(
                order_id=complaint.order_id,
                complaint_id=complaint_id,
                level=level,
                staff_fault_class=staff_fault_class,
                channel=channel,
                description=description,
                technician_id=technician_id,
                network_id=network_id,
                confirmed_by_customer=confirmed_by_customer,
                taken_by=taken_by,
            )
        )
        return complaint

    @property
    def network(self) -> str:
        """The network the complaint counts for (FBK-11) and is reconciled by (FBK-8): its
        order's network, else the centre (a complaint about no order, or one stored without a
        network before this rule was kept)."""
        return self.network_id or CENTRE

    @property
    def cleared(self) -> bool:
        """Closed with the finding that staff were not at fault (FBK-10): it does not count
        against the technician or network in the quality figures (FBK-11)."""
        return self.closure is not None and not self.closure.at_fault

    @property
    def current(self) -> StageRecord:
        """The state the complaint is in."""
        return self.stages[-1]

    @property
    def stage(self) -> ComplaintStage:
        """The name of the current state."""
        return self.current.stage

    def refuse_if_erased(self, action: str) -> None:
        """Refuse ``action`` once its order's personal data is erased (BIL-11): 409
        :class:`PersonalDataErased`, with ``anonymised_at``, whatever its state. The loop
        (FBK-10) needs the customer, whose contact data is gone, and nothing more that may name
        them is recorded about the order: a complaint closed by its owner before the erasure is
        not reopened, and one closed then (:meth:`end_at_retention`) is not taken further. A
        complaint about no particular order is never erased, so never refused."""
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.order_id, action, self.anonymised_at)

    def allowed_next(self) -> list[str]:
        """The states the complaint may move to now."""
        following = next_stage(self.stage)
        return [str(following)] if following is not None else []

    def reattribute(self, *, technician_id: str | None, network_id: str) -> bool:
        """The visit it was charged to by default now counts against another holder (FBK-11):
        the complaint follows it, open or closed (a finding stays as it was); whether anything
        changed."""
        if (self.technician_id, self.network_id) == (technician_id, network_id):
            return False
        self.technician_id = technician_id
        self.network_id = network_id
        return True

    def confirm(self, now: datetime) -> None:
        """The customer confirmed what was recorded (INT-9)."""
        if not self.confirmed_by_customer:
            self.confirmed_by_customer = True
            self.confirmed_at = now

    def advance(
        self,
        to: ComplaintStage,
        *,
        owner: str,
        now: datetime,
        note: str | None,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> None:
        """Move one step round the loop (FBK-10); closing goes through :meth:`close`."""
        if to is ComplaintStage.CLOSED or next_stage(self.stage) is not to:
            raise IllegalTransition(
                f"complaint {self.complaint_id}", str(self.stage), allowed=self.allowed_next()
            )
        if to is ComplaintStage.DISPATCHED and not self.confirmed_by_customer:
            raise ComplaintNotConfirmed(self.complaint_id)
        self._enter(to, owner=owner, now=now, note=note, policy=policy, calendar=calendar)

    def escalate(
        self,
        *,
        now: datetime,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
        reason: str | None = None,
        by: str | None = None,
    ) -> None:
        """Level 2: taken to higher authorities or media, or mishandled (FBK-9); the current
        state's clock is shortened accordingly and ComplaintEscalated recorded. A complaint
        already at level 2 stays as it is."""
        if self.stage is ComplaintStage.CLOSED:
            raise IllegalTransition(
                f"complaint {self.complaint_id}", str(self.stage), allowed=[], action="escalate"
            )
        if self.level == 2:
            return
        self.level = 2
        self.escalated_at = now
        self.escalated_by = by
        self.escalation_reason = reason
        current = self.current
        current.due_at = stage_due(
            current.stage,
            entered_at=current.entered_at,
            level=2,
            policy=policy,
            calendar=calendar,
        )
        assert current.due_at is not None  # every state of the loop but `closed` has an SLA
        self.events.append(
            ComplaintEscalated(
                order_id=self.order_id,
                complaint_id=self.complaint_id,
                level=2,
                stage=str(current.stage),
                due_at=current.due_at,
                reason=reason,
                escalated_by=by,
            )
        )

    def close(
        self,
        *,
        cause: str,
        owner: str,
        preventive_action: str,
        at_fault: bool,
        staff_fault_class: StaffFaultClass | None,
        summary: str | None,
        compensation: Decimal | None,
        now: datetime,
    ) -> None:
        """Close after the follow-up visit, with a cause, an owner and a preventive action
        (FBK-10); at fault, with the class of the fault (FBK-9), given now or alleged when filed.
        ComplaintClosed is recorded."""
        if self.stage is not ComplaintStage.FOLLOWED_UP:
            raise IllegalTransition(
                f"complaint {self.complaint_id}",
                str(self.stage),
                allowed=self.allowed_next(),
                action="close",
            )
        missing = [
            name
            for name, value in (
                ("cause", cause),
                ("owner", owner),
                ("preventive_action", preventive_action),
            )
            if not value or not value.strip()
        ]
        if missing:
            raise IncompleteClosure(missing)
        fault_class = staff_fault_class if at_fault else None
        if at_fault and fault_class is None:
            fault_class = self.staff_fault_class
        if at_fault and fault_class is None:
            raise FaultClassRequired(self.complaint_id)
        self.closure = Closure(
            cause=cause.strip(),
            owner=owner.strip(),
            preventive_action=preventive_action.strip(),
            at_fault=at_fault,
            staff_fault_class=fault_class,
            summary=summary,
            compensation=compensation,
            closed_at=now,
        )
        if at_fault:
            self.staff_fault_class = fault_class
        self.current.left_at = now
        self.stages.append(
            StageRecord(
                stage=ComplaintStage.CLOSED,
                owner=self.closure.owner,
                entered_at=now,
                due_at=None,
            )
        )
        self.events.append(
            ComplaintClosed(
                order_id=self.order_id,
                complaint_id=self.complaint_id,
                cause=self.closure.cause,
                owner=self.closure.owner,
                preventive_action=self.closure.preventive_action,
                at_fault=at_fault,
                staff_fault_class=fault_class,
                summary=summary,
                compensation=compensation,
            )
        )

    def reopen(
        self,
        *,
        reason: str,
        by: str,
        now: datetime,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> None:
        """The customer is still not satisfied with the outcome (FBK-10): the closed complaint
        goes round the loop again from `accepted`, owned by whoever took the reopening, each
        state on its SLA clock at the complaint's level. Its closure stays on record
        (``earlier_closures``); a new closure needs its own cause, owner and preventive action.
        ComplaintReopened is recorded."""
        if self.stage is not ComplaintStage.CLOSED or self.closure is None:
            raise IllegalTransition(
                f"complaint {self.complaint_id}", str(self.stage), allowed=[], action="reopen"
            )
        self.earlier_closures.append(self.closure)
        self.closure = None
        restart = ComplaintStage.ACCEPTED
        self._enter(
            restart,
            owner=by,
            now=now,
            note=f"reopened: {reason}",
            policy=policy,
            calendar=calendar,
        )
        self.events.append(
            ComplaintReopened(
                order_id=self.order_id,
                complaint_id=self.complaint_id,
                level=self.level,
                stage=str(restart),
                reason=reason,
                reopened_by=by,
            )
        )

    def erase_personal_data(self, at: datetime) -> bool:
        """Its order's retention is over (BIL-11): what the customer said and what staff wrote
        about it (the description, the states' notes, the closures' cause, preventive action and
        summary, the escalation reason) reads "[erased]"; the level, the classes, the fault
        finding, the compensation, the states, their owners and times stay, so the complaint
        counts in the figures as before (FBK-11); an open one is then closed by
        :meth:`end_at_retention`. The complaint is marked anonymised ``at`` (the first time
        only). Whether anything changed; erasing again changes nothing, and erases text given
        since."""
        before = (
            self.description,
            [s.note for s in self.stages],
            self.closure,
            list(self.earlier_closures),
            self.escalation_reason,
            self.anonymised_at,
        )
        self.description = ERASED
        for stage in self.stages:
            stage.note = erase_text(stage.note)
        self.closure = None if self.closure is None else _erased_closure(self.closure)
        self.earlier_closures = [_erased_closure(c) for c in self.earlier_closures]
        self.escalation_reason = erase_text(self.escalation_reason)
        self.anonymised_at = self.anonymised_at or at
        return before != (
            self.description,
            [s.note for s in self.stages],
            self.closure,
            self.earlier_closures,
            self.escalation_reason,
            self.anonymised_at,
        )

    def end_at_retention(self, now: datetime) -> bool:
        """Its order's retention is over (BIL-11) while it is still open: close it as
        :data:`RETENTION_ENDED`. What the loop still needs (replying to the customer, the
        follow-up visit) needs the customer, whose contact data is now erased, so nobody can
        take it further and its SLA clock stops. It is not a closure with a finding (FBK-10):
        nobody found a cause or decided a fault, so it gets no :class:`Closure`, records no
        ComplaintClosed and is not :attr:`cleared`; it keeps its level, classes, technician,
        network and states, and counts in the quality figures exactly as it did while open
        (FBK-11). It cannot be reopened. Whether it was open (closing again changes nothing)."""
        if self.stage is ComplaintStage.CLOSED:
            return False
        self.current.left_at = now
        self.stages.append(
            StageRecord(
                stage=ComplaintStage.CLOSED, owner=AUTOMATIC_OWNER, entered_at=now, due_at=None
            )
        )
        self.closed_without_finding = RETENTION_ENDED
        return True

    @property
    def overdue_check_at(self) -> datetime | None:
        """When the current state runs past its SLA and is to be reported (FBK-10); None when
        there is nothing left to report: no SLA, reported already, or closed."""
        current = self.current
        if current.left_at is not None or current.overdue_reported_at is not None:
            return None
        return current.due_at

    def overdue_unreported(self, now: datetime) -> bool:
        """Whether the current state ran past its SLA (FBK-10) and that was not reported yet."""
        check_at = self.overdue_check_at
        return check_at is not None and now > check_at

    def report_overdue(self, now: datetime) -> bool:
        """Raise ComplaintStageOverdue if the current state ran past its SLA (FBK-10), once per
        state; returns whether it did."""
        if not self.overdue_unreported(now):
            return False
        current = self.current
        assert current.due_at is not None
        current.overdue_reported_at = now
        self.events.append(
            ComplaintStageOverdue(
                order_id=self.order_id,
                complaint_id=self.complaint_id,
                stage=str(current.stage),
                owner=current.owner,
                level=self.level,
                due_at=current.due_at,
                detected_at=now,
            )
        )
        return True

    def _enter(
        self,
        stage: ComplaintStage,
        *,
        owner: str,
        now: datetime,
        note: str | None,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> None:
        self.current.left_at = now
        self.stages.append(
            StageRecord(
                stage=stage,
                owner=owner,
                entered_at=now,
                due_at=stage_due(
                    stage, entered_at=now, level=self.level, policy=policy, calendar=calendar
                ),
                note=note,
            )
        )


def _erased_closure(closure: Closure) -> Closure:
    return replace(
        closure,
        cause=ERASED,
        preventive_action=ERASED,
        summary=erase_text(closure.summary),
    )
