"""Commands feedback accepts (imperative)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from contracts.common import Channel
from contracts.feedback import ComplaintLevel, FollowUpScores, StaffFaultClass
from feedback.domain.policy import ComplaintStage


@dataclass(frozen=True)
class ClaimCallBack:
    """An agent takes a call-back to make it now."""

    task_id: str
    agent: str


@dataclass(frozen=True)
class RecordCallBack:
    """An agent records how a call-back went (FBK-5): not reached, or the customer's answers."""

    task_id: str
    agent: str
    reached: bool
    problem_solved: bool | None = None
    satisfied: bool | None = None
    scores: FollowUpScores | None = None


@dataclass(frozen=True)
class RunSampling:
    """Draw the day's call-back sample of completed work (FBK-4); ``day`` defaults to today."""

    day: date | None = None


@dataclass(frozen=True)
class FileComplaint:
    """Take a complaint on any channel at any hour (INT-9), classified by FBK-9."""

    channel: Channel
    description: str
    taken_by: str
    confirmed_by_customer: bool
    order_id: str | None = None
    level: ComplaintLevel = 1
    staff_fault_class: StaffFaultClass | None = None
    technician_id: str | None = None
    network_id: str | None = None


@dataclass(frozen=True)
class ConfirmComplaint:
    """The customer confirmed what was recorded (INT-9)."""

    complaint_id: str


@dataclass(frozen=True)
class AdvanceComplaint:
    """Move a complaint to the next state of the loop with its owner (FBK-10)."""

    complaint_id: str
    to: ComplaintStage
    owner: str
    note: str | None = None


@dataclass(frozen=True)
class EscalateComplaint:
    """A complaint taken to higher authorities or the media, or mishandled: level 2 (FBK-9)."""

    complaint_id: str
    reason: str | None = None
    escalated_by: str | None = None


@dataclass(frozen=True)
class CloseComplaint:
    """Close a complaint with its summary and fault finding (FBK-10)."""

    complaint_id: str
    cause: str
    owner: str
    preventive_action: str
    at_fault: bool
    staff_fault_class: StaffFaultClass | None = None
    summary: str | None = None
    compensation: Decimal | None = None


@dataclass(frozen=True)
class ReopenComplaint:
    """The customer is still not satisfied with a closed complaint's outcome: round the loop
    again (FBK-10)."""

    complaint_id: str
    reason: str
    reopened_by: str


@dataclass(frozen=True)
class DecideFinding:
    """Confirm a fair/poor answer against the technician, or dismiss it with the explanation
    (FBK-6)."""

    finding_id: str
    confirmed: bool
    by: str
    note: str | None = None


@dataclass(frozen=True)
class ResolveIssue:
    """An issue left open after a visit is solved (FBK-12)."""

    issue_id: str
    resolution: str
