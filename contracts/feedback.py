"""Events published by the feedback service (topic ``fsm.feedback.events``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import EventData
from contracts.common import Channel, Money, RuleId


class _FeedbackEvent(EventData):
    producer: ClassVar[str] = "feedback"


Score = Annotated[int, Field(ge=1, le=10)]
"""A call-back score from 1 to 10 (FBK-5)."""


class Grade(StrEnum):
    """A call-back answer on punctuality or dress (FBK-5, FBK-6)."""

    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class FollowUpScores(BaseModel):
    """What the customer answered at a call-back (FBK-5). The caller never leads the score."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    service_attitude: Score | None = None
    professional_ability: Score | None = None
    punctuality: Grade | None = None
    dress: Grade | None = None
    fee_charged: bool | None = None
    fee_amount: Money | None = None
    """What the customer says they paid; compared with billing's records."""
    comments: str | None = None


class FollowUpScheduled(_FeedbackEvent):
    """A call-back to the customer was scheduled (FBK-1, FBK-2, FBK-3, FBK-4, FBK-7).

    `reason_rule` is the rule that called for it, e.g. `FBK-1` after phone-only guidance.
    """

    event_type: ClassVar[str] = "FollowUpScheduled"

    order_id: str
    task_id: str
    reason_rule: RuleId
    due_at: AwareDatetime
    visit_id: str | None = None
    technician_id: str | None = None
    """The technician whose work is checked; sampling is stratified by technician (FBK-4)."""


class FollowUpCompleted(_FeedbackEvent):
    """A call-back was made (FBK-5); the scores feed satisfaction figures (FBK-6, FBK-11).

    Dissatisfied → a revisit is requested (FBK-7); a contradiction with the signed sheet is a
    fraud suspicion (FBK-8).
    """

    event_type: ClassVar[str] = "FollowUpCompleted"

    order_id: str
    task_id: str
    reached: bool
    """Whether the customer was reached at all."""
    problem_solved: bool | None = None
    satisfied: bool | None = None
    scores: FollowUpScores | None = None
    called_by: str | None = None
    technician_id: str | None = None
    """The technician credited with the visit the call-back was about: whoever held that visit
    when it was carried out, even if the order moved to another technician since (FBK-3, FBK-4,
    FBK-11). Null for a call-back that rates no technician (after phone guidance, FBK-1; about
    desk business, FBK-4) or whose visit named none, and in events published before this field
    existed."""


class FollowUpRecredited(_FeedbackEvent):
    """A call-back result already published (FollowUpCompleted that reached the customer) now
    counts against another technician: feedback learnt late who did the visit it was about
    (FBK-3, FBK-8, FBK-11). Whoever counted the result under `previous_technician_id` moves it,
    as given here, to `technician_id` (satisfaction and call-back coverage, FBK-6, FBK-11).

    The result is the one published, re-credited as it was: the customer's answers do not change.
    A call-back that never reached the customer rates nobody and is never re-credited.
    """

    event_type: ClassVar[str] = "FollowUpRecredited"

    order_id: str
    task_id: str
    """The call-back whose FollowUpCompleted is re-credited."""
    technician_id: str | None = None
    """The technician the result now counts against; null when it now rates none."""
    previous_technician_id: str | None = None
    """The technician the earlier events named; null when they named none."""
    reached: bool = True
    """Whether the call-back reached the customer, as in FollowUpCompleted (always true: an
    unreached call-back rates nobody)."""
    problem_solved: bool | None = None
    satisfied: bool | None = None
    scores: FollowUpScores | None = None


class RevisitRequested(_FeedbackEvent):
    """The customer is not satisfied or the problem is back: feedback asks scheduling for another
    visit, and the loop repeats until the customer is satisfied (FBK-7, FLD-12).
    """

    event_type: ClassVar[str] = "RevisitRequested"

    order_id: str
    task_id: str | None = None
    """The call-back that found the problem."""
    previous_visit_id: str | None = None
    reason: str
    requested_by: str | None = None


ComplaintLevel = Literal[1, 2]
"""1: a direct complaint; 2: taken to higher authorities or media, or escalated (FBK-9)."""

StaffFaultClass = Literal["A", "B", "C"]
"""A: bribes, overcharging, violence or insults; B: not following the process; C: passing the
buck, poor attitude, work errors (FBK-9)."""


class ComplaintFiled(_FeedbackEvent):
    """A complaint was accepted on some channel and confirmed by the customer (INT-9), and
    classified by impact and staff fault (FBK-9).
    """

    event_type: ClassVar[str] = "ComplaintFiled"

    order_id: str
    complaint_id: str
    level: ComplaintLevel = 1
    staff_fault_class: StaffFaultClass | None = None
    """Null when no staff fault is alleged."""
    channel: Channel
    description: str
    technician_id: str | None = None
    network_id: str | None = None
    confirmed_by_customer: bool = False
    taken_by: str | None = None


class ComplaintClosed(_FeedbackEvent):
    """A complaint went round the loop and was closed with a summary and a fault finding; nothing
    closes without a cause, an owner and a preventive action (FBK-10).
    """

    event_type: ClassVar[str] = "ComplaintClosed"

    order_id: str
    complaint_id: str
    cause: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    """Who is responsible for the preventive action."""
    preventive_action: str = Field(min_length=1)
    at_fault: bool
    """Whether staff were found at fault."""
    staff_fault_class: StaffFaultClass | None = None
    summary: str | None = None
    compensation: Money | None = None
    """Compensation the centre granted, if any (FLD-8, FLD-13)."""


class ComplaintEscalated(_FeedbackEvent):
    """A complaint became level 2 (FBK-9): the customer took it to higher authorities or the
    media, or it was mishandled. Its current stage's deadline is shortened (`due_at`)."""

    event_type: ClassVar[str] = "ComplaintEscalated"

    order_id: str
    complaint_id: str
    level: ComplaintLevel = 2
    stage: str
    """The state of the loop it is in: accepted, dispatched, handled, fed_back, replied or
    followed_up."""
    due_at: AwareDatetime
    """The current stage's deadline at level 2."""
    reason: str | None = None
    escalated_by: str | None = None


class ComplaintReopened(_FeedbackEvent):
    """A closed complaint was reopened: the customer is still not satisfied with its outcome
    (FBK-10). It goes round the loop again from `stage`; the earlier closure stays on record and
    a new closure will need its own cause, owner and preventive action."""

    event_type: ClassVar[str] = "ComplaintReopened"

    order_id: str
    complaint_id: str
    level: ComplaintLevel = 1
    stage: str
    """The state of the loop it goes back to."""
    reason: str
    reopened_by: str | None = None


class ComplaintStageOverdue(_FeedbackEvent):
    """A complaint stayed in a state of its loop past that state's SLA (FBK-10): raised once per
    state, so the owner's manager can step in before the customer escalates."""

    event_type: ClassVar[str] = "ComplaintStageOverdue"

    order_id: str
    complaint_id: str
    stage: str
    """The state that ran out: accepted, dispatched, handled, fed_back, replied or followed_up."""
    owner: str
    level: ComplaintLevel = 1
    due_at: AwareDatetime
    detected_at: AwareDatetime


class FraudSignal(StrEnum):
    """Why a sign-off looks forged (FBK-8)."""

    CONTRADICTED_SIGN_OFF = "contradicted_sign_off"
    """The call-back contradicts a "satisfied" mark on the signed sheet."""
    SHEET_NOT_RETURNED = "sheet_not_returned"
    FEE_MISMATCH = "fee_mismatch"
    """The customer reports a fee billing does not know of, or a different amount."""


class FraudSuspected(_FeedbackEvent):
    """A service sheet looks falsified or was not returned; flagged to the network for daily
    reconciliation (FBK-8).
    """

    event_type: ClassVar[str] = "FraudSuspected"

    order_id: str
    signal: FraudSignal
    technician_id: str | None = None
    network_id: str | None = None
    detail: str | None = None
    visit_id: str | None = None
    """The visit whose sheet is in question, when known."""
    reported_amount: Money | None = None
    """What the customer says they paid (`fee_mismatch`)."""
    billed_amount: Money | None = None
    """What billing recorded for the order (`fee_mismatch`); null when billing knows no fee."""


IssueLevel = Literal["department", "company"]
"""Where an open issue is escalated to: the department the same day, the company level after
2 days (FBK-12)."""


class IssueEscalated(_FeedbackEvent):
    """An issue left open after a visit (unfinished work, a failed repair, a dissatisfied customer)
    was escalated: to the department the same day, to a company-level solution when still open
    after 2 days (FBK-12; both numbers are policy settings).
    """

    event_type: ClassVar[str] = "IssueEscalated"

    order_id: str
    issue_id: str
    level: IssueLevel
    reason: str
    opened_at: AwareDatetime
    visit_id: str | None = None
    technician_id: str | None = None
    network_id: str | None = None
