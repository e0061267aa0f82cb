"""Which call-backs wait for their time before the first call (FBK-1, FBK-2) and which may be
made as soon as they are queued (FBK-3, FBK-4, and any retry after an unanswered call). Pure
domain; the calendar is a fake of the port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feedback_support import CALENDAR

from contracts.feedback import FollowUpScores
from feedback.domain.callbacks import CallBackTask, Survey, TaskStatus
from feedback.domain.exceptions import CallBackNotDue
from feedback.domain.policy import FeedbackPolicy

POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SURVEY = Survey(
    problem_solved=True,
    satisfied=True,
    scores=FollowUpScores(service_attitude=9, professional_ability=9),
)


def task(rule: str, not_before: datetime) -> CallBackTask:
    return CallBackTask.schedule(
        order_id="o-1",
        rule=rule,
        now=START,
        not_before=not_before,
        due_at=not_before + timedelta(hours=1),
        dedupe_key=f"{rule}:o-1:v-1",
        visit_id="v-1",
        technician_id="tech-1",
        network_id="net-1",
    )


def record(made: CallBackTask, at: datetime, *, reached: bool) -> None:
    made.record(
        by="ann",
        now=at,
        reached=reached,
        survey=SURVEY if reached else None,
        policy=POLICY,
        calendar=CALENDAR,
    )


def test_fbk_2_an_untested_repair_is_not_called_before_its_two_hours() -> None:
    made = task("FBK-2", START + timedelta(hours=2))

    with pytest.raises(CallBackNotDue):
        made.claim(by="ann", now=START + timedelta(hours=1), policy=POLICY)
    with pytest.raises(CallBackNotDue):
        record(made, START + timedelta(hours=1), reached=True)
    assert (made.status, made.attempts) == (TaskStatus.OPEN, [])


@pytest.mark.parametrize("rule", ["FBK-1", "FBK-2"])
def test_fbk_1_fbk_2_a_retry_after_an_unanswered_call_is_never_refused_as_early(rule: str) -> None:
    made = task(rule, START + timedelta(hours=2))
    record(made, START + timedelta(hours=2), reached=False)
    assert made.not_before > START + timedelta(hours=2, minutes=1)  # the queue's retry time

    record(made, START + timedelta(hours=2, minutes=1), reached=True)

    assert made.status is TaskStatus.DONE


@pytest.mark.parametrize("rule", ["FBK-3", "FBK-4"])
def test_fbk_3_fbk_4_a_call_back_set_no_wait_is_made_even_before_its_not_before(rule: str) -> None:
    # FBK-3's not_before is fieldwork's close time, which the technician's phone may date
    # minutes ahead of feedback's clock.
    made = task(rule, START + timedelta(minutes=4))

    made.claim(by="ann", now=START, policy=POLICY)
    record(made, START, reached=True)

    assert made.status is TaskStatus.DONE
