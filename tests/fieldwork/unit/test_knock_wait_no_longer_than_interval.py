"""FLD-2 edge cases of the knock spacing: a wait no longer than the knock interval still needs
a knock (nobody answered one), as a wait of zero does."""

from __future__ import annotations

import pytest

from fieldwork.domain.exceptions import RuleViolation
from fieldwork.domain.policy import FieldworkPolicy
from fieldwork.domain.visit import AttemptKind, VisitState

from .test_visit import arrived, at

# One knock interval as long as the whole wait (5 min).
LONG_INTERVAL = FieldworkPolicy(door_knock_interval_seconds=300, not_home_after_minutes=5)


@pytest.mark.parametrize("interval_seconds", [300, 600])
def test_fld_2_a_wait_no_longer_than_the_interval_still_needs_a_knock(
    interval_seconds: int,
) -> None:
    policy = FieldworkPolicy(door_knock_interval_seconds=interval_seconds, not_home_after_minutes=5)
    visit = arrived()  # minute 30
    visit.log_attempt(at=at(35), kind=AttemptKind.PHONE)

    with pytest.raises(RuleViolation) as refused:
        visit.record_not_home(at=at(36), policy=policy, note="请回电")

    assert refused.value.rule == "FLD-2" and "Knock again" in str(refused.value)
    assert refused.value.extensions["unknocked_from"] == [at(30).isoformat()]
    assert visit.state is VisitState.ARRIVED


@pytest.mark.parametrize("knock_minute", [30, 32.5, 35])  # at arrival, midway, at the wait's end
def test_fld_2_one_knock_in_a_wait_no_longer_than_the_interval_is_enough(
    knock_minute: float,
) -> None:
    visit = arrived()
    visit.log_attempt(at=at(knock_minute), kind=AttemptKind.DOOR)
    visit.log_attempt(at=at(35), kind=AttemptKind.PHONE)

    visit.record_not_home(at=at(36), policy=LONG_INTERVAL, note="请回电")

    assert visit.state is VisitState.NOT_HOME
