"""Who goes to an emergency and who keeps a window, on the domain alone (INT-7, SCH-1)."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from scheduling_support import DONGYING, MONDAY_8AM, local, near, window

from scheduling.domain.dispatching import HeldJob, feasible_slots, soonest_on_site
from scheduling.domain.model import Technician
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.travel import GreatCircleTravel

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = MONDAY_8AM.astimezone(TZ).date()
POLICY = SchedulingPolicy()
STALE_AFTER = timedelta(minutes=POLICY.position_stale_after_minutes)
TRAVEL = GreatCircleTravel(road_factor=1.3, speed_kmh=30)


def tech(tid: str, *, home=DONGYING, **kw) -> Technician:
    return Technician(
        technician_id=tid,
        name=f"Tech {tid}",
        phone="+8613900000000",
        skills=["water_heater"],
        areas=["Dongying"],
        home=home,
        **kw,
    )


def test_int_7_one_starting_in_five_minutes_nearby_beats_one_on_shift_far_away() -> None:
    techs = [
        tech("A", home=near(DONGYING, north_km=40), shift_start=time(7), shift_end=time(16)),
        tech("B", home=near(DONGYING, east_km=1), shift_start=time(9), shift_end=time(18)),
    ]
    choice = soonest_on_site(
        technicians=techs,
        product_line="water_heater",
        location=DONGYING,
        now=local(8, 55),
        tz=TZ,
        travel=TRAVEL,
        days=[MONDAY],
        stale_after=STALE_AFTER,
    )
    assert choice is not None and choice.technician.technician_id == "B"
    assert choice.sets_off == local(9)
    assert choice.on_site < local(9, 10)


def test_int_7_someone_on_shift_nearby_sets_off_now() -> None:
    techs = [
        tech("A", home=near(DONGYING, north_km=2), shift_start=time(7), shift_end=time(16)),
        tech("B", home=DONGYING, shift_start=time(9), shift_end=time(18)),
    ]
    choice = soonest_on_site(
        technicians=techs,
        product_line="water_heater",
        location=DONGYING,
        now=local(8),
        tz=TZ,
        travel=TRAVEL,
        days=[MONDAY],
        stale_after=STALE_AFTER,
    )
    assert choice is not None and choice.technician.technician_id == "A"
    assert choice.sets_off == local(8)


def test_int_7_nobody_with_the_skill_means_no_choice() -> None:
    choice = soonest_on_site(
        technicians=[tech("A")],
        product_line="boiler",
        location=DONGYING,
        now=local(8),
        tz=TZ,
        travel=TRAVEL,
        days=[MONDAY],
        stale_after=STALE_AFTER,
    )
    assert choice is None


def test_sch_1_near_equal_detours_go_to_the_less_loaded_technician() -> None:
    place = near(DONGYING, north_km=2, east_km=2)
    busy = [
        HeldJob(order_id=f"h{i}", location=place, window=window(9 + 2 * i), minutes=60)
        for i in range(2)
    ]
    kw = dict(
        location=place,
        product_line="water_heater",
        area="Dongying",
        minutes=60,
        technicians=[tech("A"), tech("B")],
        held={"A": busy},
        windows=[window(14)],
        travel=TRAVEL,
        tz=TZ,
    )
    # A already drives there (next to no detour); B's round trip from home is a few km
    (slot,) = feasible_slots(policy=POLICY, **kw)
    assert slot.technician_id == "B"
    # with no tolerance the least detour wins, as before
    (slot,) = feasible_slots(policy=SchedulingPolicy(workload_balance_metres=0), **kw)
    assert slot.technician_id == "A"
