"""Request and response bodies of feedback's REST API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.common import Channel, Money
from contracts.feedback import FollowUpScores, Grade
from feedback.domain.callbacks import CallBackTask
from feedback.domain.case import RevisitChain
from feedback.domain.complaints import ClosedWithoutFinding, Closure, Complaint
from feedback.domain.figures import Figures
from feedback.domain.findings import ConductFinding, FraudCase, OpenIssueRecord
from feedback.domain.model import OrderFile
from feedback.domain.policy import ComplaintStage
from feedback.domain.sampling import Draw, SamplingRun
from feedback.service_layer.views import Reconciliation
from servicekit.dates import IsoDate

Text = Annotated[str, Field(max_length=2000)]
#: Who owns a state of the complaint loop (FBK-10): someone, so not blank.
Owner = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
#: FBK-5: a JSON integer, strict: lax mode took `true` as a score of 1 (a dissatisfied customer,
#: FBK-7) and "9" as 9.
Score = Annotated[int, Field(ge=1, le=10, strict=True)]

ERASED_TEXT = (
    'Reads "[erased]" once the order\'s retention is over and its personal data is erased '
    "(BIL-11, see `anonymised_at`)."
)
ANONYMISED_AT = (
    "When the order's retention was over and its personal data was erased (BIL-11); null while "
    'it is kept. Once set, text that may name the customer reads "[erased]" and structured '
    "personal values are null; ids, times, outcomes, scores, amounts and staff stay."
)


class RecordedEventOut(BaseModel):
    """One event of interest seen for the order."""

    event_id: str
    type: str = Field(description="The event name, e.g. `RepairCompleted`.")
    version: int
    time: datetime = Field(description="When the fact happened (UTC).")
    source: str = Field(description="The producing service, e.g. `/fsm/fieldwork`.")
    summary: dict[str, Any] = Field(
        description="The event's scalar fields (objects flattened one level as `parent.child`). "
        "Once the order's personal data is erased (BIL-11): text that may name the customer "
        '(`customer.name`, `requests`, `fault.description`, comments, notes...) reads "[erased]", '
        "the customer's other fields, `caller_phone` and `signature_ref` are null."
    )


class OrderEventsOut(BaseModel):
    """The events feedback has recorded for an order, oldest first."""

    order_id: str
    anonymised_at: datetime | None = Field(default=None, description=ANONYMISED_AT)
    events: list[RecordedEventOut]

    @classmethod
    def from_domain(cls, order_file: OrderFile) -> OrderEventsOut:
        """Read model of the order file."""
        return cls(
            order_id=order_file.order_id,
            anonymised_at=order_file.anonymised_at,
            events=[RecordedEventOut(**vars(e)) for e in order_file.entries],
        )


# -- call-backs ----------------------------------------------------------------------------------


class ScoresIn(BaseModel):
    """The customer's answers (FBK-5). Ask, never lead: record the customer's own numbers."""

    model_config = ConfigDict(extra="forbid")

    service_attitude: Score = Field(description="Service attitude, 1 (worst) to 10 (best).")
    professional_ability: Score = Field(description="Professional ability, 1 to 10.")
    punctuality: Grade | None = None
    dress: Grade | None = None
    fee_charged: bool | None = Field(default=None, description="Whether a fee was charged.")
    fee_amount: Decimal | None = Field(
        default=None, ge=0, max_digits=14, decimal_places=2, description="How much, in CNY."
    )
    comments: Text | None = None

    @model_validator(mode="after")
    def _fee(self) -> ScoresIn:
        if self.fee_charged is False and self.fee_amount not in (None, Decimal(0)):
            raise ValueError("fee_amount given although fee_charged is false")
        return self

    def to_value(self) -> FollowUpScores:
        """The contract shape."""
        return FollowUpScores(**self.model_dump())


class CallBackOutcomeIn(BaseModel):
    """How a call went: not reached (tried again later), or the customer's answers."""

    model_config = ConfigDict(extra="forbid")

    reached: bool
    problem_solved: bool | None = Field(
        default=None, description="Whether the problem is gone (asked after FBK-1 and FBK-2)."
    )
    satisfied: bool | None = Field(
        default=None,
        description="Whether the customer says they are satisfied; when left out, both scores "
        "at or above the policy's bar count as satisfied.",
    )
    scores: ScoresIn | None = None

    @model_validator(mode="after")
    def _answers_only_when_reached(self) -> CallBackOutcomeIn:
        answered = self.scores is not None or self.satisfied is not None
        if not self.reached and (answered or self.problem_solved is not None):
            raise ValueError("a customer not reached gives no answers: leave them out")
        if self.reached and self.scores is None:
            raise ValueError("scores are required when the customer was reached")
        return self


class AttemptOut(BaseModel):
    """One call made."""

    at: datetime
    by: str
    reached: bool


class SurveyOut(BaseModel):
    """What the customer answered (FBK-5)."""

    problem_solved: bool | None
    satisfied: bool
    scores: FollowUpScores = Field(
        description="The customer's answers. Their `comments` (null when none were given) read "
        '"[erased]" once the order\'s retention is over (BIL-11).'
    )


class CallBackOut(BaseModel):
    """A call-back task."""

    task_id: str
    order_id: str
    reason_rule: str = Field(description="The rule that called for it: FBK-1, -2, -3 or -4.")
    status: str
    not_before: datetime = Field(description="The call is not made before this.")
    due_at: datetime = Field(description="The call is overdue after this.")
    overdue: bool
    visit_id: str | None
    technician_id: str | None
    network_id: str | None
    selection: dict[str, Any] | None = Field(
        description="Why sampling picked this work (FBK-4): business type, rate, stratum."
    )
    claimed_by: str | None
    attempts: list[AttemptOut]
    survey: SurveyOut | None
    follow_up: str | None = Field(
        default=None,
        description="What the answer led to (FBK-7): a revisit requested, none because work "
        "already under way (a later visit, a unit in the workshop, a revisit requested) answers "
        "it, or the revisit chain closed.",
    )
    cancel_reason: str | None = Field(
        default=None, description="Why the call-back is no longer needed (order cancelled...)."
    )
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_domain(cls, task: CallBackTask, now: datetime) -> CallBackOut:
        """Read model of a task."""
        return cls(
            task_id=task.task_id,
            order_id=task.order_id,
            reason_rule=task.reason_rule,
            status=str(task.status),
            not_before=task.not_before,
            due_at=task.due_at,
            overdue=task.completed_at is None and task.due_at < now,
            visit_id=task.visit_id,
            technician_id=task.technician_id,
            network_id=task.network_id,
            selection=task.selection,
            claimed_by=task.claimed_by,
            attempts=[AttemptOut(at=a.at, by=a.by, reached=a.reached) for a in task.attempts],
            survey=None
            if task.survey is None
            else SurveyOut(
                problem_solved=task.survey.problem_solved,
                satisfied=task.survey.satisfied,
                scores=task.survey.scores,
            ),
            follow_up=task.follow_up,
            cancel_reason=task.cancel_reason,
            created_at=task.created_at,
            completed_at=task.completed_at,
        )


NEXT_CURSOR = "Pass it as `cursor` for the next page; null on the last page."


class CallBackListOut(BaseModel):
    """A page of call-backs, soonest due first."""

    items: list[CallBackOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class ChainOut(BaseModel):
    """A revisit chain (FBK-7)."""

    chain_id: str
    status: str = Field(
        description="`open` while it waits for a satisfied customer; `closed` when one was; "
        "`cancelled` when the order was cancelled meanwhile, or before the dissatisfied "
        "call-back (about work done before the cancellation) came: nobody revisits (no "
        "unresolved dissatisfaction; one heard after the cancellation is an open issue)."
    )
    origin_visit_id: str | None
    visit_ids: list[str] = Field(
        description="The visits that answer the chain, oldest first: revisits booked while it "
        "was open, and those already booked when its dissatisfied call-back came."
    )
    revisits_requested: int = Field(
        description="RevisitRequested sent, one at a time; 0 when work already under way "
        "answered every dissatisfied call-back of the chain."
    )
    awaiting_booking: bool = Field(
        default=False, description="A revisit was requested and is not booked yet."
    )
    dissatisfied_call_backs: list[str] = Field(
        default_factory=list, description="The dissatisfied call-backs it answers, oldest first."
    )
    opened_at: datetime
    opened_by_task: str
    closed_at: datetime | None
    closed_by_task: str | None
    closed_reason: str | None = None

    @classmethod
    def from_domain(cls, chain: RevisitChain) -> ChainOut:
        """Read model of a chain."""
        return cls(
            chain_id=chain.chain_id,
            status=str(chain.status),
            origin_visit_id=chain.origin_visit_id,
            visit_ids=list(chain.visit_ids),
            revisits_requested=chain.requests,
            awaiting_booking=chain.awaiting_booking,
            dissatisfied_call_backs=chain.dissatisfied_task_ids,
            opened_at=chain.opened_at,
            opened_by_task=chain.opened_by_task,
            closed_at=chain.closed_at,
            closed_by_task=chain.closed_by_task,
            closed_reason=chain.closed_reason,
        )


class ChainListOut(BaseModel):
    """An order's revisit chains."""

    order_id: str
    chains: list[ChainOut]


# -- sampling ------------------------------------------------------------------------------------


class SamplingRunIn(BaseModel):
    """Run the sampling draw of a day (defaults to today)."""

    model_config = ConfigDict(extra="forbid")

    day: IsoDate | None = None


class SamplingRunOut(BaseModel):
    """The outcome of a day's draw (FBK-4)."""

    run_day: date
    seed: int
    considered: int
    selected: int
    by_type: dict[str, dict[str, int]]

    @classmethod
    def from_domain(cls, drawn: Draw | SamplingRun) -> SamplingRunOut:
        """Read model of a draw, as it is drawn or as it was recorded."""
        if isinstance(drawn, SamplingRun):
            considered, selected = drawn.considered, drawn.selected
        else:
            considered, selected = len(drawn.considered), len(drawn.picks)
        return cls(
            run_day=drawn.run_day,
            seed=drawn.seed,
            considered=considered,
            selected=selected,
            by_type=drawn.by_type,
        )


# -- complaints ----------------------------------------------------------------------------------


class ComplaintIn(BaseModel):
    """A complaint as the taker recorded it (INT-9) and classified it (FBK-9)."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    # INT-9: the customer confirms what was recorded; a record of only spaces records nothing.
    description: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]
    confirmed_by_customer: bool = Field(
        description="The record was read back to the customer, who confirmed it (INT-9); an "
        "unconfirmed complaint is accepted but cannot be dispatched until confirmed."
    )
    order_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="The order complained about, one feedback has heard of from its events "
        "(422 `Order not known yet`, worth a retry, otherwise) and whose retention is not over "
        "(409 `Personal data erased`, BIL-11, otherwise). Null: no particular order.",
    )
    level: Literal[1, 2] = 1
    staff_fault_class: Literal["A", "B", "C"] | None = Field(
        default=None,
        description="A: bribes, overcharging, violence or insults; B: not following the "
        "process; C: passing the buck, poor attitude, work errors. Null: no staff fault alleged.",
    )
    technician_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="Whom it is against: a technician on a visit of the order (422 otherwise). "
        "Null: the order's current technician.",
    )
    network_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="A network that held a visit of the order, or `centre` (422 otherwise). "
        "Null: the network of the technician's visit, else the order's.",
    )


class ComplaintAdvanceIn(BaseModel):
    """Move the complaint to the next state with its owner (FBK-10)."""

    model_config = ConfigDict(extra="forbid")

    to: ComplaintStage
    owner: Owner = Field(description="Who owns the new state (spaces around it are dropped).")
    note: Text | None = None


class ComplaintEscalateIn(BaseModel):
    """Why the complaint becomes level 2 (FBK-9): taken to higher authorities or the media, or
    mishandled."""

    model_config = ConfigDict(extra="forbid")

    reason: Text | None = None


class ComplaintReopenIn(BaseModel):
    """Why a closed complaint is reopened: what the customer is still not satisfied with
    (FBK-10)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]


class ComplaintCloseIn(BaseModel):
    """The closing summary and fault finding (FBK-10)."""

    model_config = ConfigDict(extra="forbid")

    cause: Annotated[str, Field(max_length=2000)]
    owner: Annotated[str, Field(max_length=200)]
    preventive_action: Annotated[str, Field(max_length=2000)]
    at_fault: bool
    staff_fault_class: Literal["A", "B", "C"] | None = Field(
        default=None,
        description="The class of the staff fault found (FBK-9); at fault, required unless the "
        "complaint was filed with one (422 otherwise).",
    )
    summary: Text | None = None
    compensation: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)


class StageOut(BaseModel):
    """One state of the loop, with its owner and SLA clock."""

    stage: str
    owner: str
    entered_at: datetime
    due_at: datetime | None
    left_at: datetime | None
    overdue: bool
    note: str | None = Field(description="Null when none was given. " + ERASED_TEXT)


class ClosureOut(BaseModel):
    """How the complaint was closed."""

    cause: str = Field(description=ERASED_TEXT)
    owner: str
    preventive_action: str = Field(description=ERASED_TEXT)
    at_fault: bool
    staff_fault_class: str | None
    summary: str | None = Field(description="Null when none was given. " + ERASED_TEXT)
    compensation: Money | None
    closed_at: datetime | None

    @classmethod
    def from_domain(cls, closure: Closure) -> ClosureOut:
        """Read model of a closure."""
        return cls(
            cause=closure.cause,
            owner=closure.owner,
            preventive_action=closure.preventive_action,
            at_fault=closure.at_fault,
            staff_fault_class=closure.staff_fault_class,
            summary=closure.summary,
            compensation=closure.compensation,
            closed_at=closure.closed_at,
        )


class ComplaintOut(BaseModel):
    """A complaint and its way round the loop."""

    complaint_id: str
    order_id: str
    channel: Channel
    description: str = Field(description="The complaint in the customer's words. " + ERASED_TEXT)
    level: int
    staff_fault_class: str | None = Field(
        description="The staff-fault class alleged when filed (FBK-9), or the class found when "
        "closed at fault; a complaint closed not at fault keeps the alleged class for the record "
        "(see `closure.at_fault`) and does not count against anyone in the quality figures."
    )
    confirmed_by_customer: bool
    taken_by: str
    filed_at: datetime
    technician_id: str | None
    network_id: str | None
    stage: str
    owner: str
    due_at: datetime | None
    allowed_next: list[str]
    stages: list[StageOut]
    closure: ClosureOut | None
    earlier_closures: list[ClosureOut] = Field(
        description="The closures of the rounds before the complaint was reopened, oldest first."
    )
    escalated_at: datetime | None = Field(description="When it was raised to level 2 (FBK-9).")
    escalated_by: str | None
    escalation_reason: str | None = Field(description="Null when none was given. " + ERASED_TEXT)
    anonymised_at: datetime | None = Field(default=None, description=ANONYMISED_AT)
    closed_without_finding: ClosedWithoutFinding | None = Field(
        default=None,
        description="Why the complaint is `closed` with no `closure` (no cause, preventive action "
        "or fault finding, FBK-10): `retention_ended`, it was still open when its order's "
        "retention ended (BIL-11), nobody can contact the customer to take it further, and it "
        "was closed then, by `feedback`. It counts in the quality figures as it did while open "
        "(its alleged class, never as cleared) and cannot be reopened. Null otherwise.",
    )

    @classmethod
    def from_domain(cls, complaint: Complaint, now: datetime) -> ComplaintOut:
        """Read model of a complaint."""
        closure = complaint.closure
        return cls(
            complaint_id=complaint.complaint_id,
            order_id=complaint.order_id,
            channel=complaint.channel,
            description=complaint.description,
            level=complaint.level,
            staff_fault_class=complaint.staff_fault_class,
            confirmed_by_customer=complaint.confirmed_by_customer,
            taken_by=complaint.taken_by,
            filed_at=complaint.filed_at,
            technician_id=complaint.technician_id,
            network_id=complaint.network_id,
            stage=str(complaint.stage),
            owner=complaint.current.owner,
            due_at=complaint.current.due_at,
            allowed_next=complaint.allowed_next(),
            stages=[
                StageOut(
                    stage=str(s.stage),
                    owner=s.owner,
                    entered_at=s.entered_at,
                    due_at=s.due_at,
                    left_at=s.left_at,
                    overdue=s.overdue(now),
                    note=s.note,
                )
                for s in complaint.stages
            ],
            closure=None if closure is None else ClosureOut.from_domain(closure),
            earlier_closures=[ClosureOut.from_domain(c) for c in complaint.earlier_closures],
            escalated_at=complaint.escalated_at,
            escalated_by=complaint.escalated_by,
            escalation_reason=complaint.escalation_reason,
            anonymised_at=complaint.anonymised_at,
            closed_without_finding=complaint.closed_without_finding,
        )


class ComplaintListOut(BaseModel):
    """A page of complaints, in the order asked for."""

    items: list[ComplaintOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


# -- findings, fraud, issues ---------------------------------------------------------------------


class FindingDecisionIn(BaseModel):
    """Confirm or dismiss a fair/poor answer (FBK-6); dismissing needs the explanation."""

    model_config = ConfigDict(extra="forbid")

    note: Text | None = None


class ExplanationIn(BaseModel):
    """The reasonable explanation found for a fair/poor answer (FBK-6)."""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(min_length=1, max_length=2000)]


class FindingOut(BaseModel):
    """A fair/poor answer followed up (FBK-6)."""

    finding_id: str
    order_id: str
    task_id: str
    aspect: str
    grade: Grade
    status: str
    technician_id: str | None
    network_id: str | None
    raised_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None = Field(description="Null when none was given. " + ERASED_TEXT)

    @classmethod
    def from_domain(cls, finding: ConductFinding) -> FindingOut:
        """Read model of a finding."""
        return cls(
            finding_id=finding.finding_id,
            order_id=finding.order_id,
            task_id=finding.task_id,
            aspect=finding.aspect,
            grade=finding.grade,
            status=str(finding.status),
            technician_id=finding.technician_id,
            network_id=finding.network_id,
            raised_at=finding.raised_at,
            decided_by=finding.decided_by,
            decided_at=finding.decided_at,
            note=finding.note,
        )


class FindingListOut(BaseModel):
    """A page of conduct findings, oldest first."""

    items: list[FindingOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class FraudOut(BaseModel):
    """A fraud suspicion (FBK-8)."""

    fraud_id: str
    order_id: str
    signal: str
    network_id: str
    visit_id: str | None
    technician_id: str | None
    detail: str | None
    reported_amount: Money | None
    billed_amount: Money | None
    flagged_at: datetime

    @classmethod
    def from_domain(cls, case: FraudCase) -> FraudOut:
        """Read model of a suspicion."""
        return cls(
            fraud_id=case.fraud_id,
            order_id=case.order_id,
            signal=str(case.signal),
            network_id=case.network_id,
            visit_id=case.visit_id,
            technician_id=case.technician_id,
            detail=case.detail,
            reported_amount=case.reported_amount,
            billed_amount=case.billed_amount,
            flagged_at=case.flagged_at,
        )


class FraudListOut(BaseModel):
    """A page of fraud suspicions, newest first."""

    items: list[FraudOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class IssueResolveIn(BaseModel):
    """How the issue was solved."""

    model_config = ConfigDict(extra="forbid")

    resolution: Annotated[str, Field(min_length=1, max_length=2000)]


class IssueOut(BaseModel):
    """An issue left open after a visit (FBK-12)."""

    issue_id: str
    order_id: str
    visit_id: str | None
    technician_id: str | None
    network_id: str | None
    reason: str
    level: str | None = Field(description="How far it went up: `department` or `company`.")
    opened_at: datetime
    department_due_at: datetime
    company_due_at: datetime
    department_escalated_at: datetime | None
    company_escalated_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None = Field(
        description="How it was solved; null while open. " + ERASED_TEXT + " An issue still "
        "open then is resolved as the order's retention being over."
    )

    @classmethod
    def from_domain(cls, issue: OpenIssueRecord) -> IssueOut:
        """Read model of an issue."""
        return cls(
            issue_id=issue.issue_id,
            order_id=issue.order_id,
            visit_id=issue.visit_id,
            technician_id=issue.technician_id,
            network_id=issue.network_id,
            reason=issue.reason,
            level=issue.level,
            opened_at=issue.opened_at,
            department_due_at=issue.department_due_at,
            company_due_at=issue.company_due_at,
            department_escalated_at=issue.department_escalated_at,
            company_escalated_at=issue.company_escalated_at,
            resolved_at=issue.resolved_at,
            resolution=issue.resolution,
        )


class IssueListOut(BaseModel):
    """A page of issues, the soonest to go to the company first."""

    items: list[IssueOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


# -- figures and reconciliation ------------------------------------------------------------------


class SatisfactionOut(BaseModel):
    """Satisfaction (FBK-6): per item the mean score, overall the mean of the two."""

    surveys: int
    service_attitude: float | None
    professional_ability: float | None
    overall: float | None


class CoverageOut(BaseModel):
    """Call-back coverage of repair records (FBK-11)."""

    repair_records: int
    surveyed: int
    percent: float | None
    minimum_percent: int
    alarm: bool = Field(description="True when coverage is below the minimum.")


class FiguresOut(BaseModel):
    """The quality figures of one technician or network (key `all`: everyone)."""

    key: str
    arrivals: int
    on_time_rate: float | None
    first_visits: int
    first_time_fix_rate: float | None
    visits: int
    repeat_visit_rate: float | None
    repairs: int
    repair_pass_rate: float | None
    satisfaction: SatisfactionOut
    confirmed_conduct_findings: int
    complaints_by_class: dict[str, int] = Field(
        description="Complaints filed in the period by staff-fault class (FBK-9): `A`, `B`, `C` "
        "and `none` (no staff fault alleged) count those still open or closed at fault; those "
        "closed not at fault are under `not_at_fault` and count against no one."
    )
    complaints_level_2: int = Field(
        description="Level-2 complaints filed in the period, except those closed not at fault."
    )
    call_back_coverage: CoverageOut

    @classmethod
    def from_domain(cls, f: Figures) -> FiguresOut:
        """Read model of the figures."""
        return cls(
            key=f.key,
            arrivals=f.arrivals,
            on_time_rate=f.on_time_rate,
            first_visits=f.first_visits,
            first_time_fix_rate=f.first_time_fix_rate,
            visits=f.visits,
            repeat_visit_rate=f.repeat_visit_rate,
            repairs=f.repairs,
            repair_pass_rate=f.repair_pass_rate,
            satisfaction=SatisfactionOut(
                surveys=f.surveys,
                service_attitude=f.attitude,
                professional_ability=f.ability,
                overall=f.satisfaction,
            ),
            confirmed_conduct_findings=f.confirmed_conduct,
            complaints_by_class=dict(f.complaints_by_class),
            complaints_level_2=f.complaints_level_2,
            call_back_coverage=CoverageOut(
                repair_records=f.repairs,
                surveyed=f.repairs_surveyed,
                percent=f.coverage_percent,
                minimum_percent=f.min_coverage_percent,
                alarm=f.coverage_alarm,
            ),
        )


class FiguresListOut(BaseModel):
    """Quality figures over a period (business days, both ends included)."""

    start: date
    end: date
    group_by: str
    rows: list[FiguresOut]


class ReconciliationOut(BaseModel):
    """A network's daily reconciliation report (000 s25, FBK-8)."""

    network_id: str
    day: date
    fraud_suspicions: list[FraudOut]
    suspicions_by_signal: dict[str, int]
    sheets_outstanding: list[dict[str, Any]] = Field(
        description="Completed visits whose sign-off sheet has not come back."
    )
    call_backs_completed: int
    call_backs_reached: int
    customers_dissatisfied: int
    complaints_filed: int
    open_issues: list[IssueOut]

    @classmethod
    def from_domain(cls, r: Reconciliation) -> ReconciliationOut:
        """Read model of the report."""
        return cls(
            network_id=r.network_id,
            day=r.day,
            fraud_suspicions=[FraudOut.from_domain(s) for s in r.fraud_suspicions],
            suspicions_by_signal=r.suspicions_by_signal,
            sheets_outstanding=r.sheets_outstanding,
            call_backs_completed=r.call_backs_completed,
            call_backs_reached=r.call_backs_reached,
            customers_dissatisfied=r.customers_dissatisfied,
            complaints_filed=r.complaints_filed,
            open_issues=[IssueOut.from_domain(i) for i in r.open_issues],
        )
