"""Placing an order with no time agreed yet on the earliest day a technician can do it (SCH-1,
SCH-3), emergencies with whoever is on site soonest when nobody is on shift (INT-7), and when
the technician has to call the customer (SCH-2): the domain alone, with a fake of the travel
port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from scheduling_support import DONGYING, MONDAY_8AM, dongying_order, local, near, window

from contracts.common import GeoPoint
from scheduling.domain.dispatching import (
    HeldJob,
    can_fit_on,
    earliest_placement,
    soonest_on_site,
    workload_by_day,
)
from scheduling.domain.model import DispatchOrder, Network, Technician
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.travel import TravelTimes

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = MONDAY_8AM.astimezone(TZ).date()
POLICY = SchedulingPolicy()
STALE_AFTER = timedelta(minutes=POLICY.position_stale_after_minutes)
MONDAY_TO_FRIDAY = [0, 1, 2, 3, 4]


class FakeTravel(TravelTimes):
    """Travel times of the test: ``minutes_per_km`` of the points' straight-line distance on
    a flat grid (1 degree = 100 km), distances in metres."""

    def __init__(self, minutes_per_km: float = 2.0) -> None:
        self.minutes_per_km = minutes_per_km

    def matrices(self, points: Sequence[GeoPoint]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        xy = np.array([[p.lat, p.lon] for p in points]) * 100_000
        metres = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
        seconds = metres / 1000 * self.minutes_per_km * 60
        return np.ceil(seconds).astype(np.int64), np.ceil(metres).astype(np.int64)


TRAVEL = FakeTravel()


def tech(tid: str, **kw: object) -> Technician:
    fields: dict[str, object] = {
        "technician_id": tid,
        "name": f"Tech {tid}",
        "phone": None,
        "skills": ["water_heater"],
        "areas": ["Dongying"],
        "home": DONGYING,
    }
    fields.update(kw)
    return Technician(**fields)


def day(n: int) -> date:
    return MONDAY + timedelta(days=n)


def place(
    techs: list[Technician],
    *,
    now_day: int = 0,
    now_hour: int = 8,
    days: int = 14,
    held: dict[str, list[HeldJob]] | None = None,
    workload: dict[tuple[str, date], int] | None = None,
    location: GeoPoint | None = DONGYING,
) -> tuple[str, date] | None:
    now = local(now_hour, day=now_day)
    found = earliest_placement(
        technicians=techs,
        product_line="water_heater",
        area="Dongying",
        location=location,
        minutes=60,
        days=[day(now_day + d) for d in range(days + 1)],
        held=held or {},
        workload=workload or {},
        policy=POLICY,
        travel=TRAVEL,
        tz=TZ,
        now=now,
    )
    return None if found is None else (found.technician.technician_id, found.day)


# -- the earliest day (SCH-1, SCH-3) -----------------------------------------------------------


def test_sch_1_on_a_saturday_evening_the_order_goes_to_the_first_technician_working_after() -> None:
    techs = [tech("tue", working_days=[1]), tech("mon", working_days=MONDAY_TO_FRIDAY)]
    assert place(techs, now_day=5, now_hour=20) == ("mon", day(7))


def test_sch_1_skill_and_area_still_decide_on_a_later_day() -> None:
    techs = [
        tech("other-skill", skills=["air_conditioner"]),
        tech("other-area", areas=["Binzhou"]),
        tech("wed", working_days=[2]),
    ]
    assert place(techs) == ("wed", day(2))


def test_sch_3_a_shift_over_or_too_nearly_over_for_the_job_moves_it_to_the_next_day() -> None:
    techs = [tech("t1")]
    assert place(techs, now_hour=16) == ("t1", day(0))  # 17:00 arrival, done by 18:00
    assert place(techs, now_hour=17) == ("t1", day(1))  # only 60 minutes left: none to call
    assert place(techs, now_hour=23) == ("t1", day(1))


def test_sch_3_a_day_filled_by_held_jobs_or_at_capacity_is_skipped() -> None:
    t1 = tech("t1", shift_start=time(9), shift_end=time(12))
    all_morning = [
        HeldJob(order_id="h", location=DONGYING, window=window(9, hours=0.5), minutes=150)
    ]
    assert place([t1], held={"t1": all_morning}) == ("t1", day(1))
    assert place([t1], workload={("t1", day(0)): 8, ("t1", day(1)): 8}) == ("t1", day(2))


def test_sch_3_the_earliest_day_wins_over_a_lighter_later_one_then_the_least_loaded() -> None:
    techs = [tech("busy"), tech("idle", working_days=[1]), tech("less", home=near(DONGYING))]
    assert place(techs, workload={("busy", day(0)): 5, ("less", day(0)): 2}) == ("less", day(0))


class CountingTravel(FakeTravel):
    """FakeTravel that counts the route checks asked of it (one per technician checked)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def matrices(self, points: Sequence[GeoPoint]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        self.asked += 1
        return super().matrices(points)


def test_sch_1_only_technicians_preferred_over_the_chosen_one_have_their_day_checked() -> None:
    # the route check is the costly part of a placement: with 20 technicians able, the least
    # loaded who fits is found without checking the other 19 days
    others = [tech(f"t{n:02d}") for n in range(19)]
    full_day = [HeldJob(order_id="h", location=DONGYING, window=window(9, hours=0.5), minutes=600)]
    workload = {(t.technician_id, day(0)): 3 for t in others}
    workload[("idle", day(0))] = 0
    workload[("full", day(0))] = 0
    counting = CountingTravel()
    found = earliest_placement(
        technicians=[*others, tech("full"), tech("idle", home=near(DONGYING))],
        product_line="water_heater",
        area="Dongying",
        location=DONGYING,
        minutes=60,
        days=[day(0)],
        held={"full": full_day},
        workload=workload,
        policy=POLICY,
        travel=counting,
        tz=TZ,
        now=local(8),
    )
    assert found is not None
    # "full" is as idle and nearer, but its day is taken: "idle" is next in preference
    assert (found.technician.technician_id, found.reason) == (
        "idle",
        "skill water_heater, area Dongying, workload 0/8",
    )
    assert counting.asked == 2


def test_sch_3_nobody_within_the_days_searched_places_nothing() -> None:
    assert place([tech("t1", working_days=[3])], days=2) is None
    assert place([tech("t1", active=False)]) is None


def test_sch_3_without_a_map_location_the_shift_and_the_held_jobs_still_decide() -> None:
    assert place([tech("t1")], now_hour=23, location=None) == ("t1", day(1))


def test_sch_3_today_leaves_time_to_call_the_customer_first() -> None:
    t1 = tech("t1")
    kw = dict(
        technician=t1,
        held=[],
        location=DONGYING,
        minutes=60,
        policy=POLICY,
        travel=TRAVEL,
        tz=TZ,
    )
    # at 16:30 the earliest start is 17:30 (slot_lead_minutes): the job would end after 18:00
    assert not can_fit_on(day=day(0), now=local(16, 30), **kw)
    assert can_fit_on(day=day(0), now=local(16), **kw)
    assert can_fit_on(day=day(1), now=local(16, 30), **kw)


# -- workload per day (SCH-1) ------------------------------------------------------------------


def test_sch_1_jobs_with_no_time_yet_count_on_the_first_day_the_technician_still_works() -> None:
    techs = [tech("t1", working_days=MONDAY_TO_FRIDAY), tech("t2")]
    counts = workload_by_day(
        technicians=techs,
        booked=[
            ("t1", window(10, day=7), 60, None),
            ("t1", window(14, day=7), 60, None),
            ("t2", window(10, day=6), 60, None),
        ],
        pending={"t1": 3, "t2": 1},
        now=local(20, day=5),  # Saturday evening: t2's Saturday shift is over
        tz=TZ,
        until=day(14),
        policy=POLICY,
    )
    assert counts == {("t1", day(7)): 5, ("t2", day(6)): 1, ("t2", day(7)): 1}


def test_sch_1_jobs_with_no_time_yet_beyond_a_days_capacity_fill_the_next_days() -> None:
    counts = workload_by_day(
        technicians=[tech("t1", daily_capacity=2)],
        booked=[("t1", window(10, day=1), 60, None)],
        pending={"t1": 4},
        now=local(8),
        tz=TZ,
        until=day(14),
        policy=POLICY,
    )
    assert counts == {("t1", day(0)): 2, ("t1", day(1)): 2, ("t1", day(2)): 1}


# -- emergencies when nobody is on shift (INT-7) -----------------------------------------------


def test_int_7_at_night_the_emergency_goes_to_who_is_on_site_soonest_once_on_shift() -> None:
    techs = [
        # starts at 08:00 but 20 km away: there at 08:40
        tech("early-far", shift_start=time(8), home=near(DONGYING, north_km=20)),
        # starts at 08:30, 2 km away: there at 08:34
        tech("near", shift_start=time(8, 30), home=near(DONGYING, north_km=2)),
        tech("no-skill", shift_start=time(6), skills=["air_conditioner"]),
    ]
    found = soonest_on_site(
        technicians=techs,
        product_line="water_heater",
        location=DONGYING,
        now=local(2, day=1),
        tz=TZ,
        travel=TRAVEL,
        days=[day(1), day(2)],
        stale_after=STALE_AFTER,
    )
    assert found is not None
    assert (found.technician.technician_id, found.sets_off) == ("near", local(8, 30, day=1))


def test_int_7_a_day_nobody_with_the_skill_works_is_passed_over() -> None:
    found = soonest_on_site(
        technicians=[tech("mon", working_days=[0])],
        product_line="water_heater",
        location=DONGYING,
        now=local(20, day=5),
        tz=TZ,
        travel=TRAVEL,
        days=[day(5), day(6), day(7)],
        stale_after=STALE_AFTER,
    )
    assert found is not None and found.sets_off == local(9, day=7)


# -- the contact call (SCH-2) ------------------------------------------------------------------


def _assigned_at(hour: int, minute: int = 0, *, on: int = 0) -> DispatchOrder:
    order = dongying_order(received_at=local(hour, minute, day=on))
    order.assign(
        technician=tech("t1"), by="scheduling:auto", reason="r", now=local(hour, minute, day=on)
    )
    return order


def test_sch_2_the_call_is_due_2_hours_into_the_technicians_time_on_shift() -> None:
    weekdays = tech("t1", working_days=MONDAY_TO_FRIDAY)

    def due(order: DispatchOrder, technician: Technician | None = weekdays) -> object:
        return order.contact_due(policy=POLICY, technician=technician, tz=TZ)

    assert due(_assigned_at(10)) == local(12)  # on shift: 2 hours from now
    assert due(_assigned_at(8)) == local(11)  # before the shift: from its start
    assert due(_assigned_at(17, 30)) == local(10, 30, day=1)  # 30 minutes today, 90 tomorrow
    assert due(_assigned_at(20, on=5)) == local(11, day=7)  # Saturday evening: Monday 11:00
    assert due(_assigned_at(20, on=5), None) == local(22, day=5)  # no shift known: from then
    assert due(_assigned_at(10), tech("t1", active=False)) == local(12)


def test_sch_2_contact_overdue_on_a_weekend_waits_for_the_technicians_monday() -> None:
    order = _assigned_at(20, on=5)
    t1 = tech("t1", working_days=MONDAY_TO_FRIDAY)
    kw = dict(policy=POLICY, technician=t1, tz=TZ)

    assert not order.contact_overdue(now=local(22, day=5), **kw)
    assert not order.contact_overdue(now=local(10, 59, day=7), **kw)
    assert order.contact_overdue(now=local(11, day=7), **kw)
    assert order.events[-1].due_at == local(11, day=7)


def test_sch_2_a_network_holding_the_order_has_2_hours_from_the_assignment() -> None:
    order = _assigned_at(10)
    order.assign(
        network=Network("n1", "Net", ["*"], ["*"]),
        by="d",
        reason="r",
        now=local(20),
        acceptance_due_at=local(9, 30, day=1),
    )
    assert order.contact_due(policy=POLICY, technician=None, tz=TZ) == local(22)
