"""What call-backs and sheets reveal beyond satisfaction: open issues that escalate (FBK-12),
fair/poor conduct answers to follow up (FBK-6) and fraud suspicions (FBK-8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from contracts.base import EventData
from contracts.feedback import FraudSignal, FraudSuspected, Grade, IssueEscalated
from contracts.ids import new_id
from contracts.privacy import erase_text
from feedback.domain.exceptions import IllegalTransition
from feedback.domain.policy import FeedbackPolicy
from feedback.domain.ports import WorkingCalendar

# -- open issues (FBK-12) ----------------------------------------------------------------------


def end_of_working_day(moment: datetime, calendar: WorkingCalendar) -> datetime:
    """The end of the last working period of ``moment``'s day, or of the next working day."""
    local = moment.astimezone(calendar.tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=calendar.tz)
    left_today = calendar.working_time_between(local, midnight)
    if left_today > timedelta(0):
        return calendar.add_working_time(local, left_today)
    start = calendar.add_working_time(local, timedelta(0))
    next_midnight = datetime.combine(
        start.astimezone(calendar.tz).date() + timedelta(days=1), time(0), tzinfo=calendar.tz
    )
    return calendar.add_working_time(start, calendar.working_time_between(start, next_midnight))


def department_due(now: datetime, policy: FeedbackPolicy, calendar: WorkingCalendar) -> datetime:
    """When the department must have an issue opened ``now`` (FBK-12): the end of the working
    day, or of the next one when ``now`` is after hours; never with less than
    ``call_back_min_working_minutes`` of working time, which an issue opened just before the
    close gets on the next working day(s)."""
    # rule FBK-12: "the same day" seconds before the close is no deadline anyone can meet; the
    # floor moves smoothly, like a call-back's after a visit (FBK-3).
    minimum = timedelta(minutes=policy.call_back_min_working_minutes)
    return max(end_of_working_day(now, calendar), calendar.add_working_time(now, minimum))


@dataclass
class OpenIssueRecord:
    """An issue left open after a visit: to the department the same day, to a company-level
    solution when still open after 2 (working) days (FBK-12)."""

    issue_id: str
    order_id: str
    reason: str
    opened_at: datetime
    department_due_at: datetime
    company_due_at: datetime
    dedupe_key: str
    visit_id: str | None = None
    technician_id: str | None = None
    network_id: str | None = None
    level: str | None = None
    """None, "department" or "company": how far it went up."""
    department_escalated_at: datetime | None = None
    company_escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(
        cls,
        *,
        order_id: str,
        reason: str,
        now: datetime,
        dedupe_key: str,
        visit_id: str | None,
        technician_id: str | None,
        network_id: str | None,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> OpenIssueRecord:
        """Open the issue and send it to the department at once (the same day)."""
        issue = cls(
            issue_id=str(new_id()),
            order_id=order_id,
            reason=reason,
            opened_at=now,
            department_due_at=department_due(now, policy, calendar),
            company_due_at=calendar.add_working_days(now, policy.company_escalation_days),
            dedupe_key=dedupe_key,
            visit_id=visit_id,
            technician_id=technician_id,
            network_id=network_id,
        )
        issue._escalate("department", now)
        return issue

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.resolved_at is None

    def reattribute(self, *, technician_id: str | None, network_id: str) -> bool:
        """Its visit now counts against another holder (a holder heard late, FBK-3, FBK-8): the
        issue is theirs to solve and to reconcile, open or solved; whether anything changed."""
        if (self.technician_id, self.network_id) == (technician_id, network_id):
            return False
        self.technician_id = technician_id
        self.network_id = network_id
        return True

    def sweep(self, now: datetime) -> bool:
        """Escalate to the company level once its time is up; True when it did."""
        if not self.is_open or self.company_escalated_at is not None:
            return False
        if now < self.company_due_at:
            return False
        self._escalate("company", now)
        return True

    def resolve(self, resolution: str, now: datetime) -> None:
        """The issue is solved."""
        if not self.is_open:
            raise IllegalTransition(
                f"issue {self.issue_id}", "resolved", allowed=[], action="resolve"
            )
        self.resolved_at = now
        self.resolution = resolution

    def erase_personal_data(self, *, reason: str, now: datetime) -> bool:
        """The order's retention is over (BIL-11): the resolution, free text that may name the
        customer, is erased, and an issue still open is resolved with ``reason`` (nothing more
        can be done for the customer), which stays; the reason it was opened, written by
        feedback from codes and ids, stays too. Whether anything changed; erasing again changes
        nothing."""
        erased = self.resolution if self.resolution == reason else erase_text(self.resolution)
        changed = erased != self.resolution
        self.resolution = erased
        if self.is_open:
            self.resolve(reason, now)
            changed = True
        return changed

    def _escalate(self, level: str, now: datetime) -> None:
        self.level = level
        if level == "department":
            self.department_escalated_at = now
        else:
            self.company_escalated_at = now
        self.events.append(
            IssueEscalated(
                order_id=self.order_id,
                issue_id=self.issue_id,
                level="department" if level == "department" else "company",
                reason=self.reason,
                opened_at=self.opened_at,
                visit_id=self.visit_id,
                technician_id=self.technician_id,
                network_id=self.network_id,
            )
        )


# -- conduct findings (FBK-6) ------------------------------------------------------------------


class FindingStatus(StrEnum):
    """Where a fair/poor answer's follow-up stands."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    """Confirmed with no reasonable explanation: counts against the technician."""
    DISMISSED = "dismissed"
    """A reasonable explanation was found: it does not count."""


@dataclass
class ConductFinding:
    """A "fair" or "poor" answer on punctuality or dress, followed up (FBK-6)."""

    finding_id: str
    order_id: str
    task_id: str
    aspect: str
    grade: Grade
    raised_at: datetime
    technician_id: str | None = None
    network_id: str | None = None
    status: FindingStatus = FindingStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None

    @classmethod
    def raise_(
        cls,
        *,
        order_id: str,
        task_id: str,
        aspect: str,
        grade: Grade,
        now: datetime,
        technician_id: str | None,
        network_id: str | None,
    ) -> ConductFinding:
        """A new finding to follow up."""
        return cls(
            finding_id=str(new_id()),
            order_id=order_id,
            task_id=task_id,
            aspect=aspect,
            grade=grade,
            raised_at=now,
            technician_id=technician_id,
            network_id=network_id,
        )

    def reattribute(self, *, technician_id: str | None, network_id: str) -> bool:
        """The call-back that raised it now counts against another holder (FBK-6, FBK-11): the
        finding follows it, decided or not (the decision stays); whether anything changed."""
        if (self.technician_id, self.network_id) == (technician_id, network_id):
            return False
        self.technician_id = technician_id
        self.network_id = network_id
        return True

    def decide(self, *, confirmed: bool, by: str, note: str | None, now: datetime) -> None:
        """Confirm (counts against the technician) or dismiss with the explanation found."""
        if self.status is not FindingStatus.PENDING:
            raise IllegalTransition(
                f"finding {self.finding_id}", str(self.status), allowed=[], action="decide"
            )
        self.status = FindingStatus.CONFIRMED if confirmed else FindingStatus.DISMISSED
        self.decided_by = by
        self.decided_at = now
        self.note = note

    def erase_personal_data(self) -> bool:
        """The order's retention is over (BIL-11): the note, free text that may name the
        customer, is erased; the grade, the decision and who made it stay for the figures
        (FBK-6). A finding still pending stays pending: it is about the technician. Whether
        anything changed."""
        erased = erase_text(self.note)
        changed = erased != self.note
        self.note = erased
        return changed


# -- fraud suspicions (FBK-8) ------------------------------------------------------------------


@dataclass
class FraudCase:
    """A sheet that looks falsified or never came back, flagged to the network (FBK-8)."""

    fraud_id: str
    order_id: str
    signal: FraudSignal
    flagged_at: datetime
    dedupe_key: str
    network_id: str
    visit_id: str | None = None
    technician_id: str | None = None
    detail: str | None = None
    reported_amount: Decimal | None = None
    billed_amount: Decimal | None = None
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def flag(
        cls,
        *,
        order_id: str,
        signal: FraudSignal,
        now: datetime,
        dedupe_key: str,
        network_id: str,
        visit_id: str | None,
        technician_id: str | None,
        detail: str,
        reported_amount: Decimal | None = None,
        billed_amount: Decimal | None = None,
    ) -> FraudCase:
        """Flag the suspicion; FraudSuspected is recorded."""
        case = cls(
            fraud_id=str(new_id()),
            order_id=order_id,
            signal=signal,
            flagged_at=now,
            dedupe_key=dedupe_key,
            network_id=network_id,
            visit_id=visit_id,
            technician_id=technician_id,
            detail=detail,
            reported_amount=reported_amount,
            billed_amount=billed_amount,
        )
        case.events.append(
            FraudSuspected(
                order_id=order_id,
                signal=signal,
                technician_id=technician_id,
                network_id=network_id,
                detail=detail,
                visit_id=visit_id,
                reported_amount=reported_amount,
                billed_amount=billed_amount,
            )
        )
        return case

    def reattribute(self, *, technician_id: str | None, network_id: str) -> bool:
        """Its visit now counts against another holder (a holder heard late, FBK-8): the
        suspicion is reconciled by that network from now on (the FraudSuspected already
        published named the one known then); whether anything changed."""
        if (self.technician_id, self.network_id) == (technician_id, network_id):
            return False
        self.technician_id = technician_id
        self.network_id = network_id
        return True


def fee_discrepancy(
    reported: Decimal | None, billed: Decimal | None, tolerance: Decimal
) -> str | None:
    """Why a fee the customer reports does not match billing (FBK-8); None when it does.

    Only a fee the customer says they paid is checked: billing knows none, or another amount.
    """
    if reported is None or reported == 0:
        return None
    if billed is None or billed == 0:
        return f"customer reports paying {reported} CNY; billing has no fee for the order"
    if abs(reported - billed) > tolerance:
        return f"customer reports paying {reported} CNY; billing recorded {billed} CNY"
    return None
