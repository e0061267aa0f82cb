"""SCH-1 / INT-7 on the domain alone: the time a partner network has to accept or reject an order
given to it counts working time on the business calendar (nobody answers at night, on a weekend
or a public holiday), an emergency's counts wall-clock minutes (someone must go now)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from scheduling_support import DONGYING, dongying_order, local, window

from contracts.scheduling import (
    AnswerDueChange,
    NetworkAnswerDueChanged,
    OrderAssigned,
    OrderReturnedToCentre,
    ReturnReason,
)
from scheduling.domain.model import DispatchOrder, DispatchStatus, Network, Technician
from scheduling.domain.policy import SchedulingPolicy
from servicekit.calendar import BusinessCalendar

POLICY = SchedulingPolicy()
CALENDAR = BusinessCalendar(timezone="Asia/Shanghai", country="CN")
N1 = Network(network_id="n1", name="网点", skills=["*"], areas=["*"])


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CALENDAR.tz)


def order(*, emergency: bool = False) -> DispatchOrder:
    return dongying_order(emergency=emergency)


def given_to_network(o: DispatchOrder, at: datetime) -> DispatchOrder:
    """The order given to network n1 at ``at``, with the time it has to answer (SCH-1)."""
    o.assign(
        network=N1,
        by="scheduling:auto",
        reason="no own technician free",
        now=at,
        acceptance_due_at=o.network_answer_due(
            network=N1, given_at=at, policy=POLICY, calendar=CALENDAR
        ),
    )
    return o


def returned(o: DispatchOrder) -> list[OrderReturnedToCentre]:
    return [e for e in o.events if isinstance(e, OrderReturnedToCentre)]


def told_sooner(o: DispatchOrder) -> list[NetworkAnswerDueChanged]:
    return [e for e in o.events if isinstance(e, NetworkAnswerDueChanged)]


def escalated(o: DispatchOrder, at: datetime) -> DispatchOrder:
    """The order reported again, now as an emergency (INT-7, INT-8)."""
    o.escalate_to_emergency(
        by="agent-1",
        now=at,
        emergency_minutes=POLICY.emergency_response_minutes,
        network_accept_minutes=POLICY.network_accept_minutes,
    )
    return o


def test_sch_1_an_order_given_at_23_is_due_at_09_30_the_next_working_day() -> None:
    o = given_to_network(order(), local(23))
    assert o.acceptance_due_at == local(9, 30, day=1)

    assert not o.acceptance_overdue(now=local(23, 45), policy=POLICY)
    assert not o.acceptance_overdue(now=local(9, 29, day=1), policy=POLICY)
    assert o.status is DispatchStatus.ASSIGNED and returned(o) == []

    assert o.acceptance_overdue(now=local(9, 30, day=1), policy=POLICY)
    [back] = returned(o)
    assert back.reason is ReturnReason.OTHER and back.network_id == "n1"
    assert back.detail == (
        "network n1 neither accepted nor rejected the order within 30 working minutes (SCH-1)"
    )
    assert o.status is DispatchStatus.AWAITING_ASSIGNMENT and o.acceptance_due_at is None


def test_sch_1_the_network_is_told_by_when_to_answer_in_order_assigned() -> None:
    o = given_to_network(order(), local(23))
    [given] = [e for e in o.events if isinstance(e, OrderAssigned)]
    assert given.network_id == "n1"
    assert given.acceptance_due_at == local(9, 30, day=1)


def test_sch_1_a_technician_given_the_order_has_no_time_to_answer_by() -> None:
    o = order()
    tech = Technician(
        technician_id="t1", name="李师傅", phone=None, skills=["*"], areas=["*"], home=DONGYING
    )
    o.assign(technician=tech, by="dispatcher", reason="manual", now=local(10))
    [given] = [e for e in o.events if isinstance(e, OrderAssigned)]
    assert given.technician_id == "t1" and given.acceptance_due_at is None


def test_sch_1_minutes_left_at_the_end_of_the_working_day_run_on_the_next_morning() -> None:
    o = given_to_network(order(), local(17, 50))
    assert o.acceptance_due_at == local(9, 20, day=1)
    assert not o.acceptance_overdue(now=local(18, 20), policy=POLICY)


def test_sch_1_given_during_working_hours_the_network_has_30_minutes() -> None:
    o = given_to_network(order(), local(10))
    assert o.acceptance_due_at == local(10, 30)
    assert not o.acceptance_overdue(now=local(10, 29), policy=POLICY)
    assert o.acceptance_overdue(now=local(10, 30), policy=POLICY)


@pytest.mark.parametrize(
    ("given", "due"),
    [
        # Friday 27 November 2026 evening: Monday morning
        (shanghai(date(2026, 11, 27), 20), shanghai(date(2026, 11, 30), 9, 30)),
        # Saturday: Monday morning
        (shanghai(date(2026, 11, 28), 11), shanghai(date(2026, 11, 30), 9, 30)),
        # the evening before National Day: the first working day after the holiday week
        (shanghai(date(2026, 9, 30), 20), shanghai(date(2026, 10, 8), 9, 30)),
        # Friday 13 February 2026: Saturday the 14th is a make-up workday (调休) before the
        # Spring Festival
        (shanghai(date(2026, 2, 13), 20), shanghai(date(2026, 2, 14), 9, 30)),
    ],
    ids=["friday-evening", "saturday", "national-day", "make-up-saturday"],
)
def test_sch_1_the_time_to_answer_runs_on_the_next_working_day_of_the_cn_calendar(
    given: datetime, due: datetime
) -> None:
    o = given_to_network(order(), given)
    assert o.acceptance_due_at == due
    assert not o.acceptance_overdue(now=due - timedelta(minutes=1), policy=POLICY)
    assert o.acceptance_overdue(now=due, policy=POLICY)


def test_int_7_an_emergency_given_to_a_network_at_night_is_overdue_after_30_wall_minutes() -> None:
    o = given_to_network(order(emergency=True), local(23))
    assert o.acceptance_due_at == local(23, 30)
    assert not o.acceptance_overdue(now=local(23, 29), policy=POLICY)

    assert o.acceptance_overdue(now=local(23, 30), policy=POLICY)
    [back] = returned(o)
    assert back.detail == (
        "network n1 neither accepted nor rejected the emergency (INT-7) within 30 minutes (SCH-1)"
    )


def test_int_7_an_order_escalated_while_the_network_is_silent_counts_wall_minutes() -> None:
    o = order()
    o.appointment = window(23, 5)  # kept by the network: on site within the emergency time
    given_to_network(o, local(23))
    assert o.acceptance_due_at == local(9, 30, day=1)

    o.escalate_to_emergency(
        by="agent-1",
        now=local(23, 2),
        emergency_minutes=POLICY.emergency_response_minutes,
        network_accept_minutes=POLICY.network_accept_minutes,
    )

    assert o.awaiting_network_acceptance and o.acceptance_due_at == local(23, 32)
    assert o.acceptance_overdue(now=local(23, 32), policy=POLICY)


def test_sch_1_int_7_a_network_whose_time_to_answer_an_escalation_shortens_is_told() -> None:
    o = order()
    o.appointment = window(23, 5)  # kept by the network: on site within the emergency time
    given_to_network(o, local(23))

    escalated(o, local(23, 2))

    [sooner] = told_sooner(o)
    assert sooner == NetworkAnswerDueChanged(
        order_id="o1",
        visit_id=o.visit_id,
        network_id="n1",
        acceptance_due_at=local(23, 32),
        previous_acceptance_due_at=local(9, 30, day=1),
        why=AnswerDueChange.EMERGENCY,
    )
    assert o.acceptance_due_at == sooner.acceptance_due_at


def test_sch_1_int_7_an_escalation_leaving_the_network_less_pressed_tells_it_nothing() -> None:
    o = order()
    o.appointment = window(10, 15)
    given_to_network(o, local(10))  # working hours: due 10:30
    escalated(o, local(10, 10))  # 30 minutes from now would be 10:40, later than it has
    assert o.acceptance_due_at == local(10, 30) and told_sooner(o) == []


def test_sch_1_int_7_a_network_that_has_accepted_is_not_told_of_a_time_to_answer() -> None:
    o = order()
    o.appointment = window(23, 5)
    given_to_network(o, local(23))
    o.accept_by_network(by="partner:n1", now=local(23, 1))
    escalated(o, local(23, 2))
    assert told_sooner(o) == [] and o.acceptance_due_at is None


def test_int_7_an_escalation_never_extends_the_time_of_an_order_given_before_it_was_kept() -> None:
    o = order()
    o.appointment = window(10, 15)
    given_to_network(o, local(10))
    o.acceptance_due_at = None  # stored by a release that did not record it: 10:30, as told
    escalated(o, local(10, 10))
    assert told_sooner(o) == [] and o.acceptance_due_at is None
    assert o.acceptance_overdue(now=local(10, 30), policy=POLICY)


def test_sch_1_a_network_that_accepts_has_no_time_left_to_answer() -> None:
    o = given_to_network(order(), local(23))
    o.accept_by_network(by="partner:n1", now=local(23, 10))
    assert o.acceptance_due_at is None
    assert not o.acceptance_overdue(now=local(12, day=1), policy=POLICY)


def test_sch_1_a_network_placing_its_order_with_its_own_technician_has_answered() -> None:
    o = given_to_network(order(), local(23))
    own = Technician(
        technician_id="t-n1",
        name="Tech",
        phone=None,
        skills=["*"],
        areas=["*"],
        home=DONGYING,
        network_id="n1",
    )
    o.assign(technician=own, by="partner:n1", reason="ours", now=local(23, 5))
    assert o.network_accepted_at == local(23, 5) and o.acceptance_due_at is None


def test_sch_1_an_order_is_not_given_to_a_network_without_a_time_to_answer() -> None:
    with pytest.raises(ValueError, match="SCH-1"):
        order().assign(network=N1, by="d", reason="r", now=local(23))


def test_sch_1_an_order_given_before_due_times_were_stored_keeps_30_wall_minutes() -> None:
    o = given_to_network(order(), local(23))
    o.acceptance_due_at = None  # stored by a release that did not record it
    assert not o.acceptance_overdue(now=local(23, 29), policy=POLICY)
    assert o.acceptance_overdue(now=local(23, 30), policy=POLICY)
