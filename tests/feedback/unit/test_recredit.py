"""A call-back result already published is re-credited when its visit moves to another technician
(FBK-3, FBK-5, FBK-8, FBK-11): the task records FollowUpRecredited naming both technicians and the
result as it was, so whoever counted it under the earlier technician can move it. Pure domain; the
calendar is a fake of the port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feedback_support import CALENDAR

from contracts.feedback import FollowUpRecredited, FollowUpScores, Grade
from feedback.domain.callbacks import CallBackTask, Survey
from feedback.domain.policy import FeedbackPolicy

POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SCORES = FollowUpScores(service_attitude=7, professional_ability=5, dress=Grade.POOR)


def task(rule: str = "FBK-3", **selection: object) -> CallBackTask:
    """The FBK-3 call-back about visit v-1, credited to the network's tech-n1."""
    made = CallBackTask.schedule(
        order_id="o-1",
        rule=rule,
        now=START,
        not_before=START,
        due_at=START + timedelta(hours=24),
        dedupe_key=f"{rule}:o-1:v-1",
        visit_id="v-1",
        technician_id="tech-n1",
        network_id="net-7",
        selection=dict(selection) or None,
    )
    made.events.clear()  # FollowUpScheduled went out with the task's creation
    return made


def called(made: CallBackTask, *, reached: bool) -> CallBackTask:
    made.record(
        by="ann",
        # an hour in, or when a retry after an unanswered call is due (FBK-1, FBK-2)
        now=max(START + timedelta(hours=1), made.not_before),
        reached=reached,
        survey=Survey(problem_solved=True, satisfied=False, scores=SCORES) if reached else None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    made.events.clear()  # FollowUpCompleted was published with that call
    return made


def test_fbk_5_fbk_11_a_result_published_then_re_credited_names_both_technicians_and_it() -> None:
    answered = called(task(), reached=True)

    assert answered.reattribute(technician_id="tech-c", network_id="centre")

    assert (answered.technician_id, answered.network_id) == ("tech-c", "centre")
    assert answered.events == [
        FollowUpRecredited(
            order_id="o-1",
            task_id=answered.task_id,
            technician_id="tech-c",
            previous_technician_id="tech-n1",
            reached=True,
            problem_solved=True,
            satisfied=False,
            scores=SCORES,
        )
    ]


def test_fbk_11_a_result_re_credited_to_no_technician_names_none() -> None:
    answered = called(task(), reached=True)

    assert answered.reattribute(technician_id=None, network_id="centre")

    [recredited] = answered.events
    assert isinstance(recredited, FollowUpRecredited)
    assert (recredited.technician_id, recredited.previous_technician_id) == (None, "tech-n1")


@pytest.mark.parametrize("calls", [[], [False]], ids=["before_any_call", "after_an_unreached_one"])
def test_fbk_11_a_call_back_re_credited_before_it_reached_the_customer_records_nothing(
    calls: list[bool],
) -> None:
    made = task()
    for reached in calls:
        called(made, reached=reached)

    assert made.reattribute(technician_id="tech-c", network_id="centre")

    assert made.technician_id == "tech-c"
    assert made.events == []
    # the result, when the customer is reached, names the new technician itself
    made.record(
        by="ann",
        now=START + timedelta(hours=3),
        reached=True,
        survey=Survey(problem_solved=True, satisfied=True, scores=SCORES),
        policy=POLICY,
        calendar=CALENDAR,
    )
    assert [getattr(e, "technician_id", None) for e in made.events] == ["tech-c"]


def test_fbk_11_a_call_back_nobody_answered_in_the_end_rates_nobody_and_records_nothing() -> None:
    made = task()
    for _ in range(POLICY.max_call_attempts):
        called(made, reached=False)

    assert made.reattribute(technician_id="tech-c", network_id="centre")

    assert made.events == []


def test_fbk_11_the_same_holder_again_records_nothing() -> None:
    answered = called(task(), reached=True)

    assert not answered.reattribute(technician_id="tech-n1", network_id="net-7")

    assert answered.events == []


def test_fbk_8_fbk_11_a_result_moving_only_to_another_network_records_nothing() -> None:
    """The published result names the technician alone (scheduling routes it by that technician's
    own network): a visit credited to another network, same technician, leaves it right."""
    answered = called(task(), reached=True)

    assert answered.reattribute(technician_id="tech-n1", network_id="centre")

    assert answered.network_id == "centre"
    assert answered.events == []


@pytest.mark.parametrize(
    "made",
    [task("FBK-1"), task("FBK-4", desk_work=True, clerk="c-1")],
    ids=["phone_guidance", "desk_business"],
)
def test_fbk_1_fbk_4_a_result_that_rates_no_visit_is_never_re_credited(made: CallBackTask) -> None:
    answered = called(made, reached=True)

    assert not answered.reattribute(technician_id="tech-c", network_id="centre")

    assert answered.events == []
