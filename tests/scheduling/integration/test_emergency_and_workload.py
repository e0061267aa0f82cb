"""Emergency placement into a running day, re-plans of a day under way and workload balance
(SCH-1, SCH-3, SCH-9, INT-7)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from scheduling_support import DONGYING, Harness, created, local, near

from contracts.common import TimeWindow
from contracts.fieldwork import TechnicianArrived
from scheduling.service_layer import handlers


async def test_sch_9_emergency_insertion_counts_jobs_booked_after_the_plan(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=DONGYING)
    await harness.add_technician("t2", home=near(DONGYING, north_km=3))
    harness.clock.now = local(8)
    plan = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.2")
    assert plan.status_code == 200 and plan.json()["visits"] == []
    harness.clock.now = local(8, 30)
    await harness.feed(
        created(
            "o1",
            location=near(DONGYING, east_km=0.5),
            preferred=[TimeWindow(start=local(10), end=local(10, 30))],
        )
    )
    assert (await harness.order("o1"))["technician_id"] == "t1"
    harness.clock.now = local(9, 55)
    await harness.feed(created("gas", emergency=True, location=near(DONGYING, east_km=-1)))
    gas = await harness.order("gas")
    # SCH-3: t1 would break o1's 10:00-10:30 window; t2, 3 km away, is free
    assert gas["technician_id"] == "t2", gas
    assert gas["planned_departure"] is not None, gas
    o1 = await harness.order("o1")
    assert o1["technician_id"] == "t1"
    assert o1["appointment"]["start"] == local(10).isoformat().replace("+00:00", "Z")


async def test_int_7_emergency_goes_to_whoever_is_on_site_soonest(harness: Harness) -> None:
    # A is on shift but ~40 km away; B starts in 5 minutes 1 km away
    await harness.add_technician(
        "A", home=near(DONGYING, north_km=40), shift_start="07:00", shift_end="16:00"
    )
    await harness.add_technician(
        "B", home=near(DONGYING, east_km=1), shift_start="09:00", shift_end="18:00"
    )
    harness.clock.now = local(8, 55)
    await harness.feed(created("gas", emergency=True))
    gas = await harness.order("gas")
    assert gas["technician_id"] == "B", gas
    assigned = next(e for e in await harness.published("OrderAssigned") if e.order_id == "gas")
    assert "soonest" in (assigned.reason or ""), assigned.reason


async def test_sch_3_a_running_day_replan_keeps_a_technician_on_site_busy(
    harness: Harness,
) -> None:
    x = near(DONGYING, east_km=5)
    await harness.add_technician("A", home=near(DONGYING, east_km=5.2))
    await harness.add_technician("B", home=near(DONGYING, east_km=2))
    harness.clock.now = local(8)
    await harness.feed(
        created("x", location=x, preferred=[TimeWindow(start=local(10), end=local(10, 30))])
    )
    await harness.feed(
        created(
            "y",
            location=near(x, north_km=0.2),
            preferred=[TimeWindow(start=local(10, 15), end=local(10, 45))],
        )
    )
    xo = await harness.order("x")
    if xo["technician_id"] != "A":
        moved = await harness.client.post(
            "/v1/orders/x/assignment", json={"technician_id": "A", "reason": "setup"}
        )
        assert moved.status_code == 200, moved.text
        xo = await harness.order("x")
    harness.clock.now = local(10)
    await harness.feed(
        TechnicianArrived(
            order_id="x",
            visit_id=xo["visit_id"],
            technician_id="A",
            arrived_at=local(10),
            position=x,
        )
    )
    harness.clock.now = local(10, 5)
    response = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")
    assert response.status_code == 200, response.text
    visits = {v["order_id"]: v for v in response.json()["visits"]}
    # A is busy at x until about 11:00: y (10:15-10:45) stays with the free B
    assert visits["y"]["technician_id"] == "B", visits


async def test_sch_3_after_midnight_a_technician_on_a_job_since_last_night_stays_busy(
    harness: Harness,
) -> None:
    x = near(DONGYING, east_km=5)
    round_the_clock = {"shift_start": "00:00", "shift_end": "00:00"}
    await harness.add_technician("A", home=near(DONGYING, east_km=5.2), **round_the_clock)
    await harness.add_technician("B", home=near(DONGYING, east_km=2), **round_the_clock)
    harness.clock.now = local(8)
    await harness.feed(
        created(
            "x", location=x, preferred=[TimeWindow(start=local(22, 30), end=local(0, 30, day=1))]
        )
    )
    await harness.feed(
        created(
            "y",
            location=near(x, north_km=0.2),
            preferred=[TimeWindow(start=local(0, 15, day=1), end=local(0, 45, day=1))],
        )
    )
    assert (await harness.order("x"))["appointment"] is not None
    await harness.on_site("x", "A", at=local(23, 50), position=x)
    harness.clock.now = local(0, 5, day=1)
    response = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.3")
    assert response.status_code == 200, response.text
    visits = {v["order_id"]: v for v in response.json()["visits"]}
    # x opened on Monday and is still open: A is on site there until about 00:50, so y
    # (00:15-00:45) goes to the free B
    assert visits["y"]["technician_id"] == "B", visits


async def _eight_orders(harness: Harness) -> None:
    await harness.add_technician("A")
    await harness.add_technician("B")
    for i in range(8):
        start = local(9 if i < 4 else 13, day=1)
        await harness.feed(
            created(
                f"o{i}",
                location=near(DONGYING, north_km=1 + 0.4 * i, east_km=2),
                preferred=[TimeWindow(start=start, end=start + timedelta(hours=4))],
            )
        )


async def test_sch_1_automatic_placement_balances_workload_between_equal_technicians(
    harness: Harness,
) -> None:
    await _eight_orders(harness)
    holders = Counter([(await harness.order(f"o{i}"))["technician_id"] for i in range(8)])
    assert holders == Counter({"A": 4, "B": 4}), holders


async def test_sch_9_emergency_insertion_keeps_a_technician_on_site_busy(
    harness: Harness,
) -> None:
    x = near(DONGYING, east_km=5)
    await harness.add_technician("t1", home=near(DONGYING, east_km=5.2))
    await harness.add_technician("t2", home=near(DONGYING, east_km=2))
    harness.clock.now = local(8)
    await harness.feed(
        created("x", location=x, preferred=[TimeWindow(start=local(9, 30), end=local(10))])
    )
    xo = await harness.order("x")
    if xo["technician_id"] != "t1":
        moved = await harness.client.post(
            "/v1/orders/x/assignment", json={"technician_id": "t1", "reason": "setup"}
        )
        assert moved.status_code == 200, moved.text
        xo = await harness.order("x")
    harness.clock.now = local(9, 30)
    plan = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.2")
    assert plan.status_code == 200, plan.text
    await harness.feed(
        TechnicianArrived(
            order_id="x",
            visit_id=xo["visit_id"],
            technician_id="t1",
            arrived_at=local(9, 30),
            position=x,
        )
    )
    harness.clock.now = local(9, 55)
    # next door to x, but t1 is busy there until about 10:30; t2 is 3 km away and free
    await harness.feed(created("gas", emergency=True, location=near(x, north_km=0.2)))
    gas = await harness.order("gas")
    assert gas["technician_id"] == "t2", gas


async def test_sch_1_the_day_plan_keeps_a_balanced_placement(harness: Harness) -> None:
    await _eight_orders(harness)
    response = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.5")
    assert response.status_code == 200, response.text
    moves = [
        e for e in await harness.published("OrderReassigned") if e.reassigned_by == handlers.PLANNER
    ]
    holders = Counter(v["technician_id"] for v in response.json()["visits"])
    assert not moves and holders == Counter({"A": 4, "B": 4}), (moves, holders)
