"""Night shifts over the API and the store (SCH-1, SCH-3, SCH-4): the workload of a night shift
still running after midnight counts each of its jobs once, and tonight's route starts from home,
not from where last night's shift left the technician."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from scheduling_support import DONGYING, Harness, created, harness_with, local, near

from contracts.common import TimeWindow


async def test_sch_1_a_job_of_last_nights_shift_counts_once_towards_its_capacity(
    harness: Harness,
) -> None:
    await harness.add_technician(
        "night",
        shift_start="22:00",
        shift_end="06:00",
        working_days=list(range(7)),
        capacity=2,
    )
    harness.clock.now = local(20)
    await harness.feed(
        created(
            "late",
            location=near(DONGYING, north_km=1),
            preferred=[TimeWindow(start=local(23), end=local(23, 59))],
        )
    )
    assert (await harness.order("late"))["technician_id"] == "night"
    harness.clock.now = local(1, day=1)  # Tuesday 01:00: Monday's night shift runs to 06:00

    await harness.feed(created("o2"))

    assert (await harness.order("o2"))["technician_id"] == "night"
    assigned = next(e for e in await harness.published("OrderAssigned") if e.order_id == "o2")
    # "late" (Monday 23:00) is one of the two jobs of Monday's shift, not two of them
    assert "workload 1/2" in (assigned.reason or ""), assigned.reason


async def test_sch_4_tonights_route_starts_from_home_not_from_last_nights_job(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with(database_url, tmp_path, default_assignment_mode="manual") as harness:
        await harness.add_technician(
            "night", shift_start="22:00", shift_end="06:00", working_days=list(range(7))
        )
        await harness.feed(created("tonight", location=near(DONGYING, north_km=1)))
        tuesday_night = TimeWindow(start=local(22, 30, day=1), end=local(23, 30, day=1))
        booked = await harness.client.post(
            "/v1/orders/tonight/appointment",
            json={
                "start": tuesday_night.start.isoformat(),
                "end": tuesday_night.end.isoformat(),
                "technician_id": "night",
            },
        )
        assert booked.status_code == 200, booked.text
        # Tuesday 01:00: on Monday's night shift, 40 km out; home by 06:00
        harness.clock.now = local(1, day=1)
        ping = {
            "position": near(DONGYING, north_km=40).model_dump(),
            "at": harness.clock.now.isoformat(),
        }
        headers = await harness.key("technician", technician_id="night")
        moved = await harness.client.post(
            "/v1/technicians/night/position", json=ping, headers=headers
        )
        assert moved.status_code == 200, moved.text

        tuesday = await harness.client.post("/v1/plans/2026-11-24/optimisation?time_limit=0.3")

        assert tuesday.status_code == 200, tuesday.text
        assert tuesday.json()["unassigned"] == [], tuesday.json()
        [visit] = tuesday.json()["visits"]
        # from home (1 km), not from 40 km away (about 100 minutes): set off after 22:00
        assert datetime.fromisoformat(visit["depart"]) > local(22, 5, day=1), visit
