"""How long a technician's last position ping stands for where they are (SCH-3, INT-7): a policy
setting, not a constant."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from scheduling_support import DONGYING, MONDAY_8AM, local, near

from scheduling.domain.dispatching import soonest_on_site
from scheduling.domain.model import Technician
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.travel import GreatCircleTravel

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = MONDAY_8AM.astimezone(TZ).date()
TRAVEL = GreatCircleTravel(road_factor=1.3, speed_kmh=30)
FAR_HOME = near(DONGYING, north_km=40)


def _pinged(hours_ago: float) -> Technician:
    """On shift, home far away, last seen at the customer's door ``hours_ago`` hours ago."""
    return Technician(
        technician_id="A",
        name="Tech A",
        phone="+8613900000000",
        skills=["water_heater"],
        areas=["Dongying"],
        home=FAR_HOME,
        shift_start=time(7),
        shift_end=time(20),
        position=DONGYING,
        position_at=local(12) - timedelta(hours=hours_ago),
    )


def test_sch_3_the_position_stands_for_the_policy_time_then_home_is_assumed() -> None:
    default = SchedulingPolicy()
    fresh = timedelta(minutes=default.position_stale_after_minutes)
    assert fresh == timedelta(hours=2)  # the shipped default
    assert _pinged(1.9).where(local(12), stale_after=fresh) == DONGYING
    assert _pinged(2.1).where(local(12), stale_after=fresh) == FAR_HOME
    longer = SchedulingPolicy(position_stale_after_minutes=240).position_stale_after_minutes
    assert _pinged(3).where(local(12), stale_after=timedelta(minutes=longer)) == DONGYING


@pytest.mark.parametrize("minutes", [0, -5])
def test_sch_3_a_position_that_is_never_fresh_is_refused_by_the_policy(minutes: int) -> None:
    with pytest.raises(ValidationError, match="position_stale_after_minutes"):
        SchedulingPolicy(position_stale_after_minutes=minutes)


def test_int_7_the_emergency_choice_uses_the_policy_staleness() -> None:
    tech = _pinged(3)
    for minutes, setting_off_from in ((120, FAR_HOME), (240, DONGYING)):
        choice = soonest_on_site(
            technicians=[tech],
            product_line="water_heater",
            location=DONGYING,
            now=local(12),
            tz=TZ,
            travel=TRAVEL,
            days=[MONDAY],
            stale_after=timedelta(minutes=minutes),
        )
        assert choice is not None
        assert choice.travel_seconds == TRAVEL.seconds(setting_off_from, DONGYING)
