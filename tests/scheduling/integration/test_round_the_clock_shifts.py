"""Round-the-clock technicians (00:00-00:00) over the API and the store (SCH-1, SCH-3, SCH-4): a
customer's window from 23:30 is kept on the shift starting at midnight, with the jobs of that
day read and kept; a job that started before midnight is the day it started on's, not one of
the next day's jobs, and the next day's route starts after it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from scheduling_support import DONGYING, Harness, created, local, near

from contracts.common import TimeWindow
from contracts.fieldwork import TechnicianArrived
from scheduling.adapters.repository import DispatchOrderRepository
from scheduling.service_layer import handlers


async def _round_the_clock(
    harness: Harness, technician_id: str = "rtc", *, capacity: int = 8
) -> None:
    await harness.add_technician(
        technician_id,
        shift_start="00:00",
        shift_end="00:00",
        working_days=list(range(7)),
        capacity=capacity,
    )


async def test_sch_3_a_preferred_window_across_midnight_is_kept_on_the_next_shift(
    harness: Harness,
) -> None:
    await _round_the_clock(harness)
    harness.clock.now = local(20)
    across = TimeWindow(start=local(23, 30), end=local(0, 30, day=1))

    await harness.feed(created("across", preferred=[across]))

    order = await harness.order("across")
    assert order["technician_id"] == "rtc"
    # done from midnight on Tuesday's shift, not refused because Monday's ends at midnight
    assert order["appointment"] is not None, order


async def test_sch_3_a_window_across_midnight_keeps_the_jobs_held_after_midnight(
    harness: Harness,
) -> None:
    await _round_the_clock(harness)
    # Tuesday 00:00-01:00, 20 km north: the technician is there from midnight
    await harness.feed(
        created(
            "far",
            location=near(DONGYING, north_km=20),
            preferred=[TimeWindow(start=local(0, day=1), end=local(1, day=1))],
        )
    )
    assert (await harness.order("far"))["appointment"] is not None
    harness.clock.now = local(20)

    await harness.feed(
        created("across", preferred=[TimeWindow(start=local(23, 30), end=local(0, 30, day=1))])
    )

    # the job after midnight is read and kept: the window is not promised (the job is placed
    # with its time left to the contact call, SCH-2)
    assert (await harness.order("across"))["appointment"] is None


async def test_sch_1_sch_4_a_job_under_way_at_midnight_stays_out_of_the_new_days_plan(
    harness: Harness,
) -> None:
    await _round_the_clock(harness, capacity=1)
    # Monday 23:00-00:30 at home base: Monday's one job (done 23:50 at the earliest)
    await harness.feed(
        created("monday", preferred=[TimeWindow(start=local(23), end=local(0, 30, day=1))])
    )
    # Tuesday 00:30-02:30, 20 km north: Tuesday's one job
    await harness.feed(
        created(
            "tuesday",
            location=near(DONGYING, north_km=20),
            preferred=[TimeWindow(start=local(0, 30, day=1), end=local(2, 30, day=1))],
        )
    )
    assert (await harness.order("monday"))["technician_id"] == "rtc"
    assert (await harness.order("tuesday"))["technician_id"] == "rtc"
    harness.clock.now = local(0, 5, day=1)  # Monday's job is still open

    tuesday = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.3")

    assert tuesday.status_code == 200, tuesday.text
    plan = tuesday.json()
    # Monday's job is not one of Tuesday's (capacity 1 holds Tuesday's own) ...
    assert plan["unassigned"] == [], plan
    [visit] = plan["visits"]
    assert visit["order_id"] == "tuesday"
    # ... but Tuesday's route starts once it is done (00:05 + 60 minutes at the earliest)
    assert datetime.fromisoformat(visit["depart"]) >= local(1, 5, day=1), visit


async def test_sch_3_placement_reads_no_more_days_while_no_shift_reaches_the_next_day(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # day technicians only: a customer's window late in the evening (or across midnight, which
    # no day shift keeps) reads the jobs of the day before and the day itself, as before
    await harness.add_technician("t1", working_days=list(range(7)))
    await harness.add_technician("t2", shift_start="16:00", shift_end="00:00")
    read: list[tuple[datetime, datetime]] = []
    original = DispatchOrderRepository.held_starting_between

    async def spy(self: DispatchOrderRepository, start: datetime, end: datetime, **kw: Any) -> Any:
        read.append((start, end))
        return await original(self, start, end, **kw)

    monkeypatch.setattr(DispatchOrderRepository, "held_starting_between", spy)
    harness.clock.now = local(12)
    across = TimeWindow(start=local(22, 30), end=local(0, 30, day=1))

    await harness.feed(created("evening", preferred=[across]))

    assert read, "the preferred window was not checked"
    assert read[0] == (local(0, day=-1), local(0, day=1)), read


async def test_sch_9_an_emergency_after_midnight_sees_the_technician_on_last_nights_job(
    harness: Harness,
) -> None:
    x = near(DONGYING, east_km=5)
    for tid, home in (("t1", near(DONGYING, east_km=5.2)), ("t2", near(DONGYING, east_km=2))):
        await harness.add_technician(
            tid, home=home, shift_start="00:00", shift_end="00:00", working_days=list(range(7))
        )
    harness.clock.now = local(20)
    await harness.feed(
        created("x", location=x, preferred=[TimeWindow(start=local(23), end=local(0, 30, day=1))])
    )
    await harness.on_site("x", "t1", at=local(23, 50), position=x)
    harness.clock.now = local(0, 1, day=1)
    plan = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.2")
    assert plan.status_code == 200, plan.text
    harness.clock.now = local(0, 5, day=1)

    # next door to x, but t1 is busy there (Monday's job) until about 00:50; t2 is 3 km away
    await harness.feed(created("gas", emergency=True, location=near(x, north_km=0.2)))

    assert (await harness.order("gas"))["technician_id"] == "t2"


async def test_sch_3_a_job_kept_after_midnight_is_in_the_plan_of_the_shift_keeping_it(
    harness: Harness,
) -> None:
    await _round_the_clock(harness)
    harness.clock.now = local(20)
    # 23:30-00:30 is done on Tuesday's shift (Monday's ends at midnight, the job cannot)
    await harness.feed(
        created("across", preferred=[TimeWindow(start=local(23, 30), end=local(0, 30, day=1))])
    )
    assert (await harness.order("across"))["appointment"] is not None

    monday = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")
    tuesday = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.3")

    assert monday.status_code == 200 and tuesday.status_code == 200, (monday.text, tuesday.text)
    # not left out of Monday's plan as outside its shift, and so out of every plan
    assert monday.json()["visits"] == [] and monday.json()["unassigned"] == [], monday.json()
    assert [v["order_id"] for v in tuesday.json()["visits"]] == ["across"], tuesday.json()


async def test_sch_1_a_job_kept_after_midnight_leaves_the_day_before_room_for_a_window(
    harness: Harness,
) -> None:
    await _round_the_clock(harness, capacity=1)
    harness.clock.now = local(12)
    # Tuesday's one job: 23:30-00:30 is done on Tuesday's shift
    await harness.feed(
        created("across", preferred=[TimeWindow(start=local(23, 30), end=local(0, 30, day=1))])
    )
    assert (await harness.order("across"))["appointment"] is not None

    await harness.feed(created("evening", preferred=[TimeWindow(start=local(19), end=local(21))]))

    # Monday holds no job yet: its one is free for the evening window
    evening = await harness.order("evening")
    assert evening["technician_id"] == "rtc" and evening["appointment"] is not None, evening


async def test_sch_3_a_window_ruled_out_on_monday_by_travel_is_kept_and_counted_on_tuesday(
    harness: Harness,
) -> None:
    # Monday's one job, 20 km north at 22:00-22:30: after it a 60-minute job back at the home
    # base cannot end by Monday's midnight; 23:00-01:00 overlaps Tuesday's shift too: kept
    # there, not refused
    await _across_kept_on_tuesday(harness)
    assert (await harness.order("far"))["appointment"] is not None

    # it is Tuesday's one job: a Tuesday afternoon window is not promised
    await _tuesday_afternoon_is_not_promised(harness)


async def _across_kept_on_tuesday(harness: Harness) -> dict[str, Any]:
    """Monday's one job far north at 22:00, then 23:00-01:00 kept on Tuesday's shift."""
    await _round_the_clock(harness, capacity=1)
    harness.clock.now = local(12)
    await harness.feed(
        created(
            "far",
            location=near(DONGYING, north_km=20),
            preferred=[TimeWindow(start=local(22), end=local(22, 30))],
        )
    )
    await harness.feed(
        created("across", preferred=[TimeWindow(start=local(23), end=local(1, day=1))])
    )
    across = await harness.order("across")
    assert across["technician_id"] == "rtc" and across["appointment"] is not None, across
    return across


async def _tuesday_afternoon_is_not_promised(harness: Harness) -> None:
    await harness.feed(
        created("afternoon", preferred=[TimeWindow(start=local(14, day=1), end=local(15, day=1))])
    )
    assert (await harness.order("afternoon"))["appointment"] is None


async def _at_the_door_at_22_55(harness: Harness, across: dict[str, Any]) -> None:
    """Technician rtc at the door of ``across``'s visit at 22:55, as fieldwork reports it."""
    harness.clock.now = local(22, 55)
    await harness.feed(
        TechnicianArrived(
            order_id="across",
            visit_id=across["visit_id"],
            technician_id="rtc",
            arrived_at=local(22, 55),
        )
    )


async def test_sch_3_sch_12_a_dispatchers_assignment_records_the_shift_keeping_the_window(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)

    moved = await harness.client.post(
        "/v1/orders/across/assignment", json={"technician_id": "rtc", "reason": "by hand"}
    )
    assert moved.status_code == 200, moved.text

    # still Tuesday's one job, not counted back on Monday
    await _tuesday_afternoon_is_not_promised(harness)


async def test_sch_10_a_superseded_visit_coming_back_counts_on_the_shift_keeping_it(
    harness: Harness,
) -> None:
    across = await _across_kept_on_tuesday(harness)
    postponed = await harness.client.post(
        "/v1/orders/across/postponement", json={"reason": "customer called"}
    )
    assert postponed.status_code == 200, postponed.text

    # fieldwork had the technician at the door before it heard of the postponement
    await _at_the_door_at_22_55(harness, across)
    back = await harness.order("across")
    assert (back["visit_id"], back["technician_id"]) == (across["visit_id"], "rtc"), back

    await _tuesday_afternoon_is_not_promised(harness)


async def test_sch_12_a_visit_kept_by_the_technician_on_site_counts_on_the_shift_keeping_it(
    harness: Harness,
) -> None:
    across = await _across_kept_on_tuesday(harness)
    cancelled = await harness.client.post(
        "/v1/orders/across/assignment/cancellation", json={"reason": "by hand"}
    )
    assert cancelled.status_code == 200, cancelled.text

    await _at_the_door_at_22_55(harness, across)
    assert (await harness.order("across"))["technician_id"] == "rtc"

    await _tuesday_afternoon_is_not_promised(harness)


async def _monday_dirty_with_a_job_under_way_past_midnight(harness: Harness) -> None:
    """Round the clock: Monday 23:00-01:00 at home base is Monday's job (done 23:50 at the
    earliest), under way from 22:55; an emergency at 22:00 left Monday's plan dirty."""
    await _round_the_clock(harness)
    await _round_the_clock(harness, "rtc2")
    harness.clock.now = local(20)
    await harness.feed(
        created("late", preferred=[TimeWindow(start=local(23), end=local(1, day=1))])
    )
    assert (await harness.order("late"))["appointment"] is not None
    planned = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")
    assert planned.status_code == 200, planned.text
    harness.clock.now = local(22)
    await harness.feed(created("gas", emergency=True, location=near(DONGYING, east_km=3)))
    assert (await harness.client.get("/v1/plans/2026-11-23")).json()["dirty"] is True
    late = await harness.order("late")
    await harness.on_site("late", late["technician_id"], at=local(22, 55), position=DONGYING)


async def test_sch_4_a_day_whose_job_is_still_under_way_after_midnight_is_not_over(
    harness: Harness,
) -> None:
    await _monday_dirty_with_a_job_under_way_past_midnight(harness)
    holder = (await harness.order("late"))["technician_id"]
    harness.clock.now = local(0, 5, day=1)  # Monday's job may run until 01:00 + 60 minutes

    monday = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")

    assert monday.status_code == 200, monday.text
    # the job under way is not moved (not the planner's once started, SCH-4)
    assert (await harness.order("late"))["technician_id"] == holder


async def test_sch_9_the_background_replan_replans_a_day_whose_job_is_still_under_way(
    harness: Harness,
) -> None:
    await _monday_dirty_with_a_job_under_way_past_midnight(harness)
    harness.clock.now = local(0, 5, day=1)
    deps = dict(harness.runtime.app.state.deps)
    solved: list[str] = []
    real = deps["solver"]

    class _Spy:
        def solve(self, problem: Any, **kw: Any) -> Any:
            solved.append("monday")
            return real.solve(problem, **kw)

    deps["solver"] = _Spy()
    await handlers.reoptimise_dirty_plans(uow_factory=harness.runtime.app.state.uow_factory, **deps)

    # re-planned, not marked clean unplanned
    assert solved == ["monday"]
    assert (await harness.client.get("/v1/plans/2026-11-23")).json()["dirty"] is False

    # once the job cannot be running any more, the day is over
    harness.clock.now = local(2, 5, day=1)
    monday = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")
    assert monday.status_code == 409, monday.text


async def test_sch_2_sch_3_the_customer_confirming_the_time_keeps_the_shift_keeping_it(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)
    key = await harness.key("technician", technician_id="rtc")

    # the technician's confirming call: the same window, heard for the first time
    call = await harness.client.post(
        "/v1/orders/across/contact-attempts", json={"outcome": "confirmed"}, headers=key
    )
    assert call.status_code == 200, call.text

    # still Tuesday's one job, not counted back on Monday
    await _tuesday_afternoon_is_not_promised(harness)
