"""Night shifts running past midnight through the API (SCH-1, SCH-2, SCH-3, SCH-4, INT-7): a
technician may work ``22:00-06:00``; their shift belongs to the day it starts on, and placement,
bookings, emergencies, the contact clock and the day plans all see it still running after
midnight."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from scheduling_support import (
    DONGYING,
    Harness,
    created,
    harness_with,
    local,
    near,
    technician_body,
)

from contracts.common import TimeWindow


def _w(w: TimeWindow, **extra: str) -> dict[str, str]:
    return {"start": w.start.isoformat(), "end": w.end.isoformat(), **extra}


async def _night_and_day(harness: Harness) -> None:
    """A night technician 8 km out and a day technician 1 km out, every day of the week."""
    every_day = list(range(7))
    await harness.add_technician(
        "night",
        home=near(DONGYING, east_km=8),
        shift_start="22:00",
        shift_end="06:00",
        working_days=every_day,
    )
    await harness.add_technician("day", home=near(DONGYING, east_km=1), working_days=every_day)


async def test_sch_3_an_overnight_shift_is_accepted_and_an_end_equal_to_its_start_refused(
    harness: Harness,
) -> None:
    night = await harness.add_technician("night", shift_start="22:00", shift_end="06:00")
    assert (night["shift_start"], night["shift_end"]) == ("22:00:00", "06:00:00")
    assert (await harness.client.get("/v1/technicians/night")).json()["shift_end"] == "06:00:00"
    await harness.add_technician("rtc", shift_start="00:00", shift_end="00:00")

    refused = await harness.client.post(
        "/v1/technicians", json=technician_body("t0", shift_start="08:00", shift_end="08:00")
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "ambiguous" in refused.text and "00:00-00:00" in refused.text


async def test_sch_3_windows_after_midnight_are_booked_for_the_night_technician_only(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with(database_url, tmp_path, default_assignment_mode="manual") as harness:
        await _night_and_day(harness)
        for order_id in ("o1", "o2", "o3", "o4"):
            await harness.feed(created(order_id, location=near(DONGYING, north_km=2)))
        across = TimeWindow(start=local(23, 30), end=local(1, day=1))
        small_hours = TimeWindow(start=local(3, day=1), end=local(4, day=1))

        for order_id, w in (("o1", across), ("o2", small_hours)):
            booked = await harness.client.post(
                f"/v1/orders/{order_id}/appointment", json=_w(w, technician_id="night")
            )
            assert booked.status_code == 200, booked.text
            assert booked.json()["technician_id"] == "night"
        for order_id, w in (("o3", across), ("o4", small_hours)):
            refused = await harness.client.post(
                f"/v1/orders/{order_id}/appointment", json=_w(w, technician_id="day")
            )
            assert refused.status_code == 409, refused.text
            reasons = refused.json()["reasons"]
            assert any("outside technician day's shift" in r for r in reasons), reasons
            assert any("(09:00-18:00)" in r for r in reasons), reasons


async def _overdue_only_after(harness: Harness, still_due: datetime, overdue: datetime) -> None:
    """SCH-2: the contact sweep finds order o1 not yet overdue at ``still_due``, overdue at
    ``overdue``."""
    harness.clock.now = still_due
    await harness.run_job("contact_overdue")
    assert await harness.published("ContactOverdue") == []
    harness.clock.now = overdue
    await harness.run_job("contact_overdue")
    assert [e.order_id for e in await harness.published("ContactOverdue")] == ["o1"]


async def test_sch_1_an_order_at_01_00_is_placed_with_the_night_technician_on_shift(
    harness: Harness,
) -> None:
    await _night_and_day(harness)
    harness.clock.now = local(1, day=1)  # Tuesday 01:00: Monday's night shift runs to 06:00

    await harness.feed(created("o1"))

    order = await harness.order("o1")
    assert order["technician_id"] == "night", order
    # SCH-2: received on shift at 01:00, the customer is called by 03:00
    await _overdue_only_after(harness, local(2, 59, day=1), local(3, 1, day=1))


async def test_sch_2_the_contact_clock_left_at_the_end_of_a_night_shift_runs_on_the_next(
    harness: Harness,
) -> None:
    await harness.add_technician(
        "night", shift_start="22:00", shift_end="06:00", working_days=list(range(7))
    )
    harness.clock.now = local(5, day=1)  # Tuesday 05:00, one hour left of Monday's night shift

    await harness.feed(created("o1"))

    assert (await harness.order("o1"))["technician_id"] == "night"
    # one hour on shift until 06:00, the second from 22:00: due at 23:00, not 07:00
    await _overdue_only_after(harness, local(7, 30, day=1), local(23, 1, day=1))


async def test_int_7_an_emergency_at_02_00_goes_to_the_night_technician_on_shift(
    harness: Harness,
) -> None:
    await _night_and_day(harness)
    harness.clock.now = local(2, day=1)

    await harness.feed(created("gas", emergency=True))

    gas = await harness.order("gas")
    assert gas["technician_id"] == "night", gas
    assigned = next(e for e in await harness.published("OrderAssigned") if e.order_id == "gas")
    assert "nearest technician on shift" in (assigned.reason or ""), assigned.reason


async def test_sch_9_an_emergency_at_02_00_is_inserted_into_the_night_shifts_plan(
    harness: Harness,
) -> None:
    await _night_and_day(harness)
    harness.clock.now = local(21)
    plan = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.2")
    assert plan.status_code == 200, plan.text
    harness.clock.now = local(2, day=1)

    # 1 km from the night technician, within the 15 minutes
    await harness.feed(created("gas", emergency=True, location=near(DONGYING, east_km=7)))

    gas = await harness.order("gas")
    assert gas["technician_id"] == "night", gas
    assert gas["planned_departure"] is not None, gas
    assigned = next(e for e in await harness.published("OrderAssigned") if e.order_id == "gas")
    assert "insertion into the plan of 2026-11-23" in (assigned.reason or ""), assigned.reason
    monday = (await harness.client.get("/v1/plans/2026-11-23")).json()
    assert [v["order_id"] for v in monday["visits"]] == ["gas"]


async def test_sch_9_an_emergency_at_02_00_is_not_inserted_for_a_shift_not_started_yet(
    harness: Harness,
) -> None:
    await _night_and_day(harness)
    harness.clock.now = local(21)
    plan = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.2")
    assert plan.status_code == 200, plan.text
    harness.clock.now = local(2, day=1)

    # 1 km from the day technician, whose Tuesday plan exists but whose shift starts at 09:00
    await harness.feed(created("gas", emergency=True))

    gas = await harness.order("gas")
    assert gas["technician_id"] == "night", gas
    assigned = next(e for e in await harness.published("OrderAssigned") if e.order_id == "gas")
    assert "nearest technician on shift" in (assigned.reason or ""), assigned.reason
    tuesday = (await harness.client.get("/v1/plans/2026-11-24")).json()
    assert tuesday["visits"] == [], tuesday


async def test_sch_4_the_plan_of_a_night_shifts_day_holds_its_job_at_02_00_next_morning(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with(database_url, tmp_path, default_assignment_mode="manual") as harness:
        await _night_and_day(harness)
        await harness.feed(created("evening", location=near(DONGYING, north_km=3)))
        await harness.feed(created("small-hours", location=near(DONGYING, east_km=4)))
        for order_id, w in (
            ("evening", TimeWindow(start=local(22, 30), end=local(23, 30))),
            ("small-hours", TimeWindow(start=local(2, day=1), end=local(3, day=1))),
        ):
            booked = await harness.client.post(
                f"/v1/orders/{order_id}/appointment", json=_w(w, technician_id="night")
            )
            assert booked.status_code == 200, booked.text
        harness.clock.now = local(20)

        monday = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")

        assert monday.status_code == 200, monday.text  # checked by the feasibility checker
        visits = {v["order_id"]: v for v in monday.json()["visits"]}
        assert set(visits) == {"evening", "small-hours"}, monday.json()
        assert {v["technician_id"] for v in visits.values()} == {"night"}
        arrive = datetime.fromisoformat(visits["small-hours"]["arrive"])
        assert local(1, 50, day=1) <= arrive <= local(2, 55, day=1)
        assert monday.json()["unassigned"] == []
        # the job at 02:00 is not Tuesday's: Tuesday's plan has neither visit nor reason for it
        tuesday = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.2")
        assert tuesday.status_code == 200, tuesday.text
        assert tuesday.json()["visits"] == [] and tuesday.json()["unassigned"] == []
        # at 01:00 on Tuesday Monday's plan is still running, so it may be re-planned
        harness.clock.now = local(1, day=1)
        again = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")
        assert again.status_code == 200, again.text
        assert [v["order_id"] for v in again.json()["visits"]] == ["small-hours"]
