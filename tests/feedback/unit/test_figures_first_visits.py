"""Quality figures (FBK-11) of a technician's first visit: the first visit made after phone
guidance (INT-4, FBK-1) is no repeat visit whatever reason it was booked for, and a unit taken
back to the workshop (FLD-6) and returned repaired is a repair record, fixed the first time."""

from __future__ import annotations

from datetime import datetime, timedelta

from feedback_support import (
    CALENDAR,
    MONDAY,
    apply,
    arrived,
    assigned,
    closed,
    created,
    local,
    repaired,
    resolved_remotely,
    returned,
    revisit_booked,
    taken_back,
)

from contracts.base import EventData
from contracts.feedback import FollowUpScores
from contracts.fieldwork import VisitOutcome
from contracts.scheduling import RevisitReason
from feedback.domain.callbacks import CallBackTask, Survey
from feedback.domain.case import Case, ScheduleCallBack
from feedback.domain.figures import Figures, GroupBy, compute
from feedback.domain.policy import FeedbackPolicy

POLICY = FeedbackPolicy()
TECH = "tech-1"
START = local(MONDAY, 0)
END = START + timedelta(days=14)


def at(hour: float) -> datetime:
    return local(MONDAY, 9) + timedelta(hours=hour)


def play(events: list[tuple[float, EventData]]) -> tuple[Case, list[ScheduleCallBack]]:
    case = Case(order_id="o-1")
    scheduled: list[ScheduleCallBack] = []
    for hour, event in events:
        for reaction in apply(case, event, at(hour), POLICY):
            if isinstance(reaction, ScheduleCallBack):
                scheduled.append(reaction)
    return case, scheduled


def answered(call_back: ScheduleCallBack, *, satisfied: bool = True) -> CallBackTask:
    task = CallBackTask.schedule(
        order_id="o-1",
        rule=call_back.rule,
        now=call_back.not_before,
        not_before=call_back.not_before,
        due_at=call_back.due_at,
        dedupe_key=call_back.dedupe_key,
        visit_id=call_back.visit_id,
        technician_id=call_back.technician_id,
    )
    task.record(
        by="ann",
        now=call_back.not_before,
        reached=True,
        survey=Survey(
            problem_solved=satisfied,
            satisfied=satisfied,
            scores=FollowUpScores(service_attitude=9, professional_ability=9),
        ),
        policy=POLICY,
        calendar=CALENDAR,
    )
    return task


def tech_row(case: Case, tasks: list[CallBackTask] | None = None) -> Figures:
    rows = compute(
        cases=[case],
        tasks=tasks or [],
        complaints=[],
        findings=[],
        start=START,
        end=END,
        group_by=GroupBy.TECHNICIAN,
        policy=POLICY,
    )
    return {f.key: f for f in rows}[TECH]


def first_visit_after_phone_guidance(reason: RevisitReason) -> Case:
    """Assigned v-1, resolved by phone guidance (nobody went); then v-2 is booked with
    ``reason`` (a dissatisfied FBK-1 call-back, or intake reopening the order) and repaired."""
    case, _ = play(
        [
            (0, created("o-1")),
            (0.1, assigned("o-1", "v-1", TECH)),
            (0.5, resolved_remotely("o-1", at=at(0.5))),
            (3, revisit_booked("o-1", "v-2", "v-1", TECH, reason)),
            (5, arrived("o-1", "v-2", TECH, at(5))),
            (5.5, repaired("o-1", "v-2", TECH)),
            (6, closed("o-1", "v-2", TECH, at(6))),
        ]
    )
    return case


def test_fbk_11_first_visit_after_a_dissatisfied_phone_guidance_call_back_is_no_repeat() -> None:
    case = first_visit_after_phone_guidance(RevisitReason.CUSTOMER_DISSATISFIED)

    assert not case.is_repeat(case.visits["v-2"])
    row = tech_row(case)
    assert (row.visits, row.repeat_visits, row.repeat_visit_rate) == (1, 0, 0.0)
    assert (row.first_visits, row.fixed_first_time, row.first_time_fix_rate) == (1, 1, 1.0)
    assert (row.repairs, row.repairs_passed) == (1, 1)


def test_fbk_11_first_visit_after_a_reopened_remote_resolution_is_no_repeat() -> None:
    case = first_visit_after_phone_guidance(RevisitReason.OTHER)

    row = tech_row(case)
    assert (row.visits, row.repeat_visits, row.repeat_visit_rate) == (1, 0, 0.0)
    assert row.first_time_fix_rate == 1.0


def test_fbk_11_a_revisit_after_a_real_visit_is_still_a_repeat() -> None:
    case, _ = play(
        [
            (0, created("o-1")),
            (0.1, assigned("o-1", "v-1", TECH)),
            (1, arrived("o-1", "v-1", TECH, at(1))),
            (2, closed("o-1", "v-1", TECH, at(2), outcome=VisitOutcome.UNFINISHED)),
            (3, revisit_booked("o-1", "v-2", "v-1", TECH, RevisitReason.WORK_UNFINISHED)),
            (5, arrived("o-1", "v-2", TECH, at(5))),
            (5.5, repaired("o-1", "v-2", TECH)),
            (6, closed("o-1", "v-2", TECH, at(6))),
        ]
    )

    assert case.is_repeat(case.visits["v-2"])
    row = tech_row(case)
    assert (row.visits, row.repeat_visits) == (2, 1)
    assert (row.first_visits, row.fixed_first_time) == (1, 0)


def test_fbk_11_a_revisit_after_a_door_nobody_opened_is_no_repeat() -> None:
    case, _ = play(
        [
            (0, created("o-1")),
            (0.1, assigned("o-1", "v-1", TECH)),
            (1, arrived("o-1", "v-1", TECH, at(1))),
            (2, closed("o-1", "v-1", TECH, at(2), outcome=VisitOutcome.CUSTOMER_NOT_HOME)),
            (3, revisit_booked("o-1", "v-2", "v-1", TECH, RevisitReason.OTHER)),
            (5, arrived("o-1", "v-2", TECH, at(5))),
            (5.5, repaired("o-1", "v-2", TECH)),
            (6, closed("o-1", "v-2", TECH, at(6))),
        ]
    )

    row = tech_row(case)
    assert (row.visits, row.repeat_visits, row.first_time_fix_rate) == (1, 0, 1.0)


def taken_back_and_returned(
    *, repaired_: bool = True, return_visit: bool = False
) -> tuple[Case, list[ScheduleCallBack]]:
    """v-1 takes the unit back to the workshop; it comes back two days later (on a visit of its
    own, v-2, when told)."""
    back = at(48)
    events: list[tuple[float, EventData]] = [
        (0, created("o-1")),
        (0.1, assigned("o-1", "v-1", TECH)),
        (1, arrived("o-1", "v-1", TECH, at(1))),
        (1.5, taken_back("o-1", "v-1", TECH)),
        (2, closed("o-1", "v-1", TECH, at(2), outcome=VisitOutcome.TAKEN_BACK)),
    ]
    if return_visit:
        events += [
            (40, revisit_booked("o-1", "v-2", "v-1", TECH, RevisitReason.UNIT_RETURN)),
            (47.5, arrived("o-1", "v-2", TECH, at(47.5))),
            (48, returned("o-1", back, visit_id="v-2", repaired=repaired_)),
            (48.2, closed("o-1", "v-2", TECH, at(48.2))),
        ]
    else:
        events.append((48, returned("o-1", back, repaired=repaired_)))
    return play(events)


def test_fbk_11_a_take_back_returned_repaired_is_a_repair_record_fixed_first_time() -> None:
    case, scheduled = taken_back_and_returned()
    after_return = [c for c in scheduled if "returned" in c.dedupe_key]

    row = tech_row(case, [answered(c) for c in after_return])
    assert (row.repairs, row.repairs_passed, row.repair_pass_rate) == (1, 1, 1.0)
    assert (row.repairs_surveyed, row.coverage_percent) == (1, 100.0)
    assert (row.first_visits, row.fixed_first_time, row.first_time_fix_rate) == (1, 1, 1.0)
    assert (row.visits, row.repeat_visits) == (1, 0)


def test_fbk_11_a_take_back_returned_on_a_visit_of_its_own_is_one_repair_record() -> None:
    case, scheduled = taken_back_and_returned(return_visit=True)
    about_return = [c for c in scheduled if c.visit_id == "v-2"]
    assert about_return

    row = tech_row(case, [answered(c) for c in about_return])
    assert (row.repairs, row.repairs_passed, row.repairs_surveyed) == (1, 1, 1)
    assert (row.first_visits, row.fixed_first_time) == (1, 1)
    assert (row.visits, row.repeat_visits) == (2, 0)


def test_fbk_11_a_take_back_returned_unrepaired_is_no_repair_record_nor_first_time_fix() -> None:
    case, _ = taken_back_and_returned(repaired_=False)

    row = tech_row(case)
    assert (row.repairs, row.repair_pass_rate) == (0, None)
    assert (row.first_visits, row.fixed_first_time) == (1, 0)


def test_fbk_11_a_take_back_still_in_the_workshop_is_not_fixed_yet() -> None:
    case, _ = play(
        [
            (0, created("o-1")),
            (0.1, assigned("o-1", "v-1", TECH)),
            (1, arrived("o-1", "v-1", TECH, at(1))),
            (1.5, taken_back("o-1", "v-1", TECH)),
            (2, closed("o-1", "v-1", TECH, at(2), outcome=VisitOutcome.TAKEN_BACK)),
        ]
    )

    row = tech_row(case)
    assert (row.repairs, row.first_visits, row.fixed_first_time) == (0, 1, 0)


def test_fbk_11_a_returned_take_back_revisited_within_the_window_did_not_pass() -> None:
    case, _ = taken_back_and_returned()
    apply(
        case,
        revisit_booked("o-1", "v-3", "v-1", TECH, RevisitReason.OTHER),
        at(72),
        POLICY,
    )

    row = tech_row(case)
    assert (row.repairs, row.repairs_passed) == (1, 0)
    assert (row.first_visits, row.fixed_first_time) == (1, 0)


def test_fbk_11_a_revisit_rebooked_after_nobody_was_home_is_the_repeat_visit_counted_once() -> None:
    """v-1 repaired; the customer is dissatisfied and v-2 is booked (FBK-7), but nobody is home
    (FLD-2): v-3 is booked for that, and it is the repeat attempt at the problem, counted once."""
    case, _ = play(
        [
            (0, created("o-1")),
            (0.1, assigned("o-1", "v-1", TECH)),
            (1, arrived("o-1", "v-1", TECH, at(1))),
            (1.5, repaired("o-1", "v-1", TECH)),
            (2, closed("o-1", "v-1", TECH, at(2))),
            (24, revisit_booked("o-1", "v-2", "v-1", TECH, RevisitReason.CUSTOMER_DISSATISFIED)),
            (26, closed("o-1", "v-2", TECH, at(26), outcome=VisitOutcome.CUSTOMER_NOT_HOME)),
            (27, revisit_booked("o-1", "v-3", "v-2", TECH, RevisitReason.CUSTOMER_NOT_HOME)),
            (30, arrived("o-1", "v-3", TECH, at(30))),
            (30.5, repaired("o-1", "v-3", TECH)),
            (31, closed("o-1", "v-3", TECH, at(31))),
        ]
    )

    assert case.is_repeat(case.visits["v-3"])
    row = tech_row(case)
    assert (row.visits, row.repeat_visits) == (2, 1)
    assert (row.first_visits, row.fixed_first_time) == (1, 0)


def test_fbk_11_a_first_visit_rebooked_after_nobody_was_home_is_no_repeat() -> None:
    """Nobody was home at the first trip (FLD-2): the visit rebooked for it is the first real
    visit, no repeat."""
    case, _ = play(
        [
            (0, created("o-1")),
            (0.1, assigned("o-1", "v-1", TECH)),
            (2, closed("o-1", "v-1", TECH, at(2), outcome=VisitOutcome.CUSTOMER_NOT_HOME)),
            (3, revisit_booked("o-1", "v-2", "v-1", TECH, RevisitReason.CUSTOMER_NOT_HOME)),
            (5, arrived("o-1", "v-2", TECH, at(5))),
            (5.5, repaired("o-1", "v-2", TECH)),
            (6, closed("o-1", "v-2", TECH, at(6))),
        ]
    )

    assert not case.is_repeat(case.visits["v-2"])
    row = tech_row(case)
    assert (row.visits, row.repeat_visits, row.first_visits, row.fixed_first_time) == (1, 0, 1, 1)
