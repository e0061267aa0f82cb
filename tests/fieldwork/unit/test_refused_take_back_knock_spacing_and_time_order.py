"""A refused take-back stays refused (FLD-6), knocks are spaced by the interval, not per slot
(FLD-2), and a visit's actions never go back in time (FLD-11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldwork.domain.exceptions import RuleViolation
from fieldwork.domain.visit import AttemptKind, VisitState

from .test_visit import (
    PART,
    POLICY,
    arrived,
    at,
    departed,
    inside,
    knock_through_the_wait,
    take_unit_back,
)


def test_fld_6_a_customer_who_refused_take_back_keeps_the_unit() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="主板故障", take_back_needed=True)
    visit.refuse_take_back(at=at(41))

    assert "take_back" not in visit.allowed_actions()
    with pytest.raises(RuleViolation) as refused:
        take_unit_back(visit)

    assert refused.value.rule == "FLD-6"
    assert visit.state is VisitState.DIAGNOSING and visit.take_back is None
    assert "UnitTakenBack" not in [type(e).__name__ for e in visit.events]


def test_fld_2_knocks_a_minute_apart_are_not_every_30_s_whatever_slot_they_fall_in() -> None:
    visit = arrived()
    interval = POLICY.door_knock_interval_seconds
    wait = POLICY.not_home_after_minutes * 60
    # Pairs of knocks astride each slot boundary: one knock in every slot of the wait, yet
    # nearly two intervals of silence between the pairs.
    seconds = sorted(
        {s for edge in range(interval, wait, 2 * interval) for s in (edge - 1, edge + 1)}
    )
    for second in seconds:
        visit.log_attempt(at=at(30 + second / 60), kind=AttemptKind.DOOR)
    end = 30 + POLICY.not_home_after_minutes
    visit.log_attempt(at=at(end), kind=AttemptKind.PHONE)

    with pytest.raises(RuleViolation) as refused:
        visit.record_not_home(at=at(end + 1), policy=POLICY, note="请回电")

    assert refused.value.rule == "FLD-2" and "Knock again" in str(refused.value)
    assert at(30 + (interval + 1) / 60).isoformat() in refused.value.extensions["unknocked_from"]
    assert visit.state is VisitState.ARRIVED


def test_fld_2_knocks_every_interval_from_any_moment_are_enough() -> None:
    visit = arrived()
    # Knocks every interval, each a little after a slot's start: the spacing is what counts.
    knocked_until = knock_through_the_wait(visit, start=30 + 10 / 3600)
    visit.log_attempt(at=at(knocked_until), kind=AttemptKind.PHONE)

    visit.record_not_home(at=at(knocked_until + 1), policy=POLICY, note="请回电")

    assert visit.state is VisitState.NOT_HOME


def test_fld_11_an_action_dated_before_the_visits_latest_is_refused() -> None:
    visit = arrived()  # arrived at minute 30
    visit.log_attempt(at=at(40), kind=AttemptKind.DOOR)

    with pytest.raises(RuleViolation) as refused:
        visit.log_attempt(at=at(39), kind=AttemptKind.DOOR)

    assert refused.value.extensions["last_action_at"] == at(40).isoformat()
    assert [a.at for a in visit.attempts] == [at(40)]


def test_fld_11_an_arrival_is_never_before_the_departure() -> None:
    visit = departed()  # departed at minute 0
    with pytest.raises(RuleViolation):
        visit.arrive(at=at(0) - timedelta(seconds=1))
    assert visit.state is VisitState.DEPARTED and visit.arrived_at is None


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_fld_6_a_blank_part_serial_is_not_a_serial_noted(blank: str) -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.refuse_take_back(at=at(41))
    visit.start_repair(at=at(42))
    visit.record_work(
        at=at(50), description="换件", parts=[PART.model_copy(update={"serial": blank})]
    )

    with pytest.raises(RuleViolation) as refused:
        visit.complete_repair(at=at(60), tested=False, sure_fixed=True)

    assert refused.value.rule == "FLD-6"
    assert visit.state is VisitState.REPAIRING
