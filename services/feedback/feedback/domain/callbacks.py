"""Call-back tasks: the queue agents work from (FBK-1..FBK-4, FBK-7), and the survey they record
(FBK-5)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from contracts.base import EventData
from contracts.feedback import (
    FollowUpCompleted,
    FollowUpRecredited,
    FollowUpScheduled,
    FollowUpScores,
    Grade,
)
from contracts.ids import new_id
from contracts.privacy import erase_text
from feedback.domain.exceptions import CallBackNotDue, IllegalTransition, TaskClaimedByOther
from feedback.domain.policy import FeedbackPolicy
from feedback.domain.ports import WorkingCalendar


class TaskStatus(StrEnum):
    """Where a call-back task stands."""

    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    UNREACHABLE = "unreachable"
    """Not reached after the allowed number of attempts."""
    CANCELLED = "cancelled"


FINISHED = frozenset({TaskStatus.DONE, TaskStatus.UNREACHABLE, TaskStatus.CANCELLED})

PHONE_GUIDANCE_RULE = "FBK-1"
"""The rule of the call-back after phone-only guidance (INT-4): it asks about the centre's
guidance, not about a technician's visit."""

TIMED_RULES = frozenset({PHONE_GUIDANCE_RULE, "FBK-2"})
"""The call-backs the rules time from what happened (FBK-1: 2 h after phone guidance; FBK-2:
2 h / 3 h after an untested or unsure repair): the first call asks whether the problem is gone,
which nobody can tell earlier, so it is not made before ``not_before``. Every other call-back
(FBK-3 within 24 h of the technician's return, FBK-4 sampled) may be made as soon as it is
queued, and a retry after an unanswered call whenever the customer is reached: their
``not_before`` only paces the queue."""


@dataclass(frozen=True)
class Attempt:
    """One call made for the task."""

    at: datetime
    by: str
    reached: bool


@dataclass(frozen=True)
class Survey:
    """What a reached customer answered (FBK-5)."""

    problem_solved: bool | None
    satisfied: bool
    scores: FollowUpScores

    @property
    def dissatisfied(self) -> bool:
        """Not satisfied, or the problem is not gone: a revisit is due (FBK-7)."""
        return not self.satisfied or self.problem_solved is False

    @property
    def has_scores(self) -> bool:
        """Both items were scored (the call counts as a feedback survey, FBK-11)."""
        return (
            self.scores.service_attitude is not None
            and self.scores.professional_ability is not None
        )

    @property
    def weak_grades(self) -> dict[str, Grade]:
        """Fair or poor answers on punctuality or dress, to follow up (FBK-6)."""
        found: dict[str, Grade] = {}
        for aspect in ("punctuality", "dress"):
            grade = getattr(self.scores, aspect)
            if grade in (Grade.FAIR, Grade.POOR):
                found[aspect] = grade
        return found


def satisfied_by_scores(scores: FollowUpScores, policy: FeedbackPolicy) -> bool | None:
    """With no explicit answer: satisfied when both items score at least the policy's bar."""
    items = [scores.service_attitude, scores.professional_ability]
    if any(s is None for s in items):
        return None
    return all(s is not None and s >= policy.satisfied_min_score for s in items)


@dataclass
class CallBackTask:
    """One call to make to a customer, with its reason rule and its due time."""

    task_id: str
    order_id: str
    reason_rule: str
    created_at: datetime
    not_before: datetime
    """The call is not made before this (e.g. 2 h after the guidance, FBK-1)."""
    due_at: datetime
    """The call is overdue after this."""
    dedupe_key: str
    visit_id: str | None = None
    technician_id: str | None = None
    network_id: str | None = None
    selection: dict[str, Any] | None = None
    """Why sampling picked this work (FBK-4): business type, rate, stratum."""
    status: TaskStatus = TaskStatus.OPEN
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)
    survey: Survey | None = None
    completed_at: datetime | None = None
    cancel_reason: str | None = None
    follow_up: str | None = None
    """What the answer led to (FBK-7): a revisit requested, none because work already under way
    answers it, or the revisit chain closed; None when it changed nothing."""
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @property
    def desk_clerk(self) -> str | None:
        """The clerk whose desk business this sampled call-back is about (FBK-4), or None for a
        call-back about a visit. Its survey rates the desk, not a technician or a visit."""
        if self.selection is None or "desk_work" not in self.selection:
            return None
        return str(self.selection.get("clerk") or "unknown clerk")

    @property
    def about_phone_guidance(self) -> bool:
        """A call-back after phone-only guidance (FBK-1): the centre's work, so its survey rates no
        technician and no partner network (FBK-6, FBK-11), even when the order had been assigned
        before intake resolved it by phone (INT-4)."""
        return self.reason_rule == PHONE_GUIDANCE_RULE

    @classmethod
    def schedule(
        cls,
        *,
        order_id: str,
        rule: str,
        now: datetime,
        not_before: datetime,
        due_at: datetime,
        dedupe_key: str,
        visit_id: str | None = None,
        technician_id: str | None = None,
        network_id: str | None = None,
        selection: dict[str, Any] | None = None,
    ) -> CallBackTask:
        """A new task in the queue; FollowUpScheduled is recorded."""
        task = cls(
            task_id=str(new_id()),
            order_id=order_id,
            reason_rule=rule,
            created_at=now,
            not_before=not_before,
            due_at=max(due_at, not_before),
            dedupe_key=dedupe_key,
            visit_id=visit_id,
            technician_id=technician_id,
            network_id=network_id,
            selection=selection,
        )
        task.events.append(
            FollowUpScheduled(
                order_id=order_id,
                task_id=task.task_id,
                reason_rule=rule,
                due_at=task.due_at,
                visit_id=visit_id,
                technician_id=technician_id,
            )
        )
        return task

    def reattribute(self, *, technician_id: str | None, network_id: str) -> bool:
        """Credit the call-back to the holder its visit now counts against (FBK-3, FBK-4, FBK-8,
        FBK-11): a holder heard after the visit's own events, from the other topic. Whether
        the task is open or already answered: the call asks about the visit, so a quality team
        credits its satisfaction, coverage and reconciliation to whoever did the visit, never to
        whoever the order sat with when the call was queued or made; what the customer answered
        (survey, attempts, follow-up) is a fact of the call and stays as it is. The call-back
        after phone guidance (FBK-1) and one about desk business (FBK-4) rate no visit's holder
        and never move. Whether anything changed.

        What it already published names the technician alone (scheduling routes it by that
        technician's own network), so a new network for the same technician leaves it right: once
        fieldwork placed someone at the visit (its arrival or close), a holder heard late moves
        the visit's network, never its technician (``Case._settle_holder``). Fieldwork itself
        naming another technician for the same visit later (or a holder heard before any arrival
        or close of it) re-credits the technician: when the customer was reached, the result
        already published under the earlier one is re-credited by FollowUpRecredited, naming
        both technicians and the result as it was (FBK-5, FBK-11). An unreached call rates
        nobody, and a result published later names the new technician itself; neither needs
        it. FollowUpScheduled is not corrected: it announces a call, not a figure."""
        if self.about_phone_guidance or self.desk_clerk is not None:
            return False
        if (self.technician_id, self.network_id) == (technician_id, network_id):
            return False
        previous = self.technician_id
        self.technician_id = technician_id
        self.network_id = network_id
        if previous != technician_id and self.survey is not None:
            self.events.append(
                FollowUpRecredited(
                    order_id=self.order_id,
                    task_id=self.task_id,
                    technician_id=technician_id,
                    previous_technician_id=previous,
                    reached=True,
                    problem_solved=self.survey.problem_solved,
                    satisfied=self.survey.satisfied,
                    scores=self.survey.scores,
                )
            )
        return True

    def claim_is_live(self, now: datetime, policy: FeedbackPolicy) -> bool:
        """Whether someone holds the task (claims expire)."""
        return (
            self.status is TaskStatus.CLAIMED
            and self.claimed_at is not None
            and now - self.claimed_at < timedelta(minutes=policy.claim_expires_minutes)
        )

    def is_due(self, now: datetime, policy: FeedbackPolicy) -> bool:
        """Whether an agent may take it now."""
        if self.status in FINISHED:
            return False
        return self.not_before <= now and not self.claim_is_live(now, policy)

    def claim(self, *, by: str, now: datetime, policy: FeedbackPolicy) -> None:
        """Take the task to call the customer; a live claim of someone else refuses it (409), and
        so does a call-back timed by FBK-1 or FBK-2 before its first call may be made (409)."""
        self._require_active()
        self._require_due(now)
        if self.claim_is_live(now, policy) and self.claimed_by != by:
            raise TaskClaimedByOther(self.task_id, self.claimed_by or "someone")
        self.status = TaskStatus.CLAIMED
        self.claimed_by = by
        self.claimed_at = now

    def record(
        self,
        *,
        by: str,
        now: datetime,
        reached: bool,
        survey: Survey | None,
        policy: FeedbackPolicy,
        calendar: WorkingCalendar,
    ) -> None:
        """Record a call: not reached → try again later (until the attempts run out); reached →
        the survey is kept and FollowUpCompleted recorded (FBK-5). Either way FollowUpCompleted
        names the technician the call-back is credited to (see :meth:`reattribute`)."""
        self._require_active()
        self._require_due(now)
        if self.claim_is_live(now, policy) and self.claimed_by != by:
            raise TaskClaimedByOther(self.task_id, self.claimed_by or "someone")
        self.attempts.append(Attempt(at=now, by=by, reached=reached))
        self.claimed_by = None
        self.claimed_at = None
        if not reached:
            if len(self.attempts) >= policy.max_call_attempts:
                self.status = TaskStatus.UNREACHABLE
                self.completed_at = now
            else:
                self.status = TaskStatus.OPEN
                retry = calendar.add_working_time(
                    now, timedelta(minutes=policy.retry_after_minutes)
                )
                self.not_before = retry
                self.due_at = max(self.due_at, retry)
            self.events.append(
                FollowUpCompleted(
                    order_id=self.order_id,
                    task_id=self.task_id,
                    reached=False,
                    called_by=by,
                    technician_id=self.technician_id,
                )
            )
            return
        assert survey is not None
        self.survey = survey
        self.status = TaskStatus.DONE
        self.completed_at = now
        self.events.append(
            FollowUpCompleted(
                order_id=self.order_id,
                task_id=self.task_id,
                reached=True,
                problem_solved=survey.problem_solved,
                satisfied=survey.satisfied,
                scores=survey.scores,
                called_by=by,
                technician_id=self.technician_id,
            )
        )

    def cancel(self, reason: str, now: datetime) -> bool:
        """No longer needed (order cancelled or reopened); False when already finished."""
        if self.status in FINISHED:
            return False
        self.status = TaskStatus.CANCELLED
        self.cancel_reason = reason
        self.completed_at = now
        return True

    def erase_personal_data(self, *, reason: str, now: datetime) -> bool:
        """The order's retention is over (BIL-11): the customer's survey comments are erased
        (scores, grades and the fee they named stay for the figures and the reconciliation), and
        a task still open is cancelled: nobody can call the customer any more. Whether anything
        changed; erasing again changes nothing."""
        changed = self.cancel(reason, now)
        survey = self.survey
        if survey is not None and survey.scores.comments:
            comments = erase_text(survey.scores.comments)
            if comments != survey.scores.comments:
                scores = survey.scores.model_copy(update={"comments": comments})
                self.survey = replace(survey, scores=scores)
                changed = True
        return changed

    def _require_due(self, now: datetime) -> None:
        # rule FBK-1, FBK-2: the call asks whether the problem is gone, which nobody can tell
        # before the policy's time has passed. Only the first call waits for it: once a call was
        # made that time had passed, and the retry's later not_before is the queue's pace (a
        # customer ringing back after an unanswered call is heard then, even after hours).
        # FBK-3 sets no wait: its not_before is the visit's close or the unit's return, dated by
        # fieldwork's clock (the technician's phone), which may run ahead of feedback's.
        if self.reason_rule in TIMED_RULES and not self.attempts and now < self.not_before:
            raise CallBackNotDue(self.task_id, self.not_before)

    def _require_active(self) -> None:
        if self.status in FINISHED:
            raise IllegalTransition(
                f"call-back {self.task_id}", str(self.status), allowed=[], action="record"
            )


def fee_amount(scores: FollowUpScores) -> Decimal | None:
    """What the customer says they paid: the amount, or 0 when they say nothing was charged."""
    if scores.fee_charged is False:
        return Decimal(0)
    return scores.fee_amount
