"""The technician roster each replica caches for its automatic placements (SCH-1): as correct as
reading the table, whichever replica changed a technician, whatever a caller does with what it
was given."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from scheduling_support import (
    DONGYING,
    Harness,
    created,
    local,
    near,
    scheduling_harness,
    technician_body,
)
from sqlalchemy import event

from contracts.common import TimeWindow
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork


def _tomorrow_order(order_id: str) -> Any:
    start = local(9, day=1)
    return created(
        order_id,
        location=near(DONGYING, north_km=1, east_km=2),
        preferred=[TimeWindow(start=start, end=start + timedelta(hours=4))],
    )


async def _replace(harness: Harness, technician_id: str, **changes: Any) -> None:
    """Replace a technician's record through the API with ``changes`` to what it reads now."""
    current = (await harness.client.get(f"/v1/technicians/{technician_id}")).json()
    body = {
        key: value
        for key, value in {**technician_body(technician_id), **current, **changes}.items()
        if key in _RECORD
    }
    response = await harness.client.put(f"/v1/technicians/{technician_id}", json=body)
    assert response.status_code == 200, response.text


_RECORD = {
    "name",
    "phone",
    "skills",
    "areas",
    "home",
    "shift_start",
    "shift_end",
    "working_days",
    "days_off",
    "daily_capacity",
    "network_id",
    "active",
}


async def _report_a_next_door(harness: Harness) -> None:
    headers = await harness.key("technician", technician_id="A")
    response = await harness.client.post(
        "/v1/technicians/A/position",
        json={"position": near(DONGYING, east_km=0.2).model_dump(), "at": local(8, 54).isoformat()},
        headers=headers,
    )
    assert response.status_code == 200, response.text


CHANGES: dict[str, Callable[[Harness], Awaitable[None]]] = {
    "shift": lambda h: _replace(h, "B", shift_start="14:00"),
    "skills": lambda h: _replace(h, "B", skills=["air_conditioner"]),
    "deactivation": lambda h: _replace(h, "B", active=False),
    "position report": _report_a_next_door,
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_sch_1_a_technician_changed_through_the_api_is_seen_by_the_next_automatic_placement(
    harness: Harness, change: str
) -> None:
    # A is on shift but 40 km away; B starts in 5 minutes 1 km away: an emergency goes to B
    await harness.add_technician(
        "A", home=near(DONGYING, north_km=40), shift_start="07:00", shift_end="16:00"
    )
    await harness.add_technician(
        "B", home=near(DONGYING, east_km=1), shift_start="09:00", shift_end="18:00"
    )
    harness.clock.now = local(8, 55)
    await harness.feed(_tomorrow_order("o1"))  # the runtime reads (and caches) the roster
    assert (await harness.order("o1"))["technician_id"] is not None
    await CHANGES[change](harness)
    await harness.feed(created("gas", emergency=True))
    # B off shift until 14:00, unskilled or inactive; or A reported from next door: A is sooner
    assert (await harness.order("gas"))["technician_id"] == "A"


@pytest.fixture
async def replica(harness: Harness, database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A second scheduling runtime (another replica) on the same database, with its own cache."""
    async with scheduling_harness(
        database_url, tmp_path / "replica-policy.yaml", harness.clock
    ) as other:
        yield other


async def test_sch_1_a_technician_another_replica_deactivated_is_not_placed(
    harness: Harness, replica: Harness
) -> None:
    await harness.add_technician("A")
    await harness.feed(_tomorrow_order("o1"))
    assert (await harness.order("o1"))["technician_id"] == "A"  # this replica cached A
    await _replace(replica, "A", active=False)
    await harness.feed(_tomorrow_order("o2"))
    assert (await harness.order("o2"))["technician_id"] is None


async def test_sch_1_a_technician_another_replica_registered_is_placed(
    harness: Harness, replica: Harness
) -> None:
    await harness.add_technician("A", skills=["air_conditioner"])
    await harness.feed(_tomorrow_order("o1"))
    assert (await harness.order("o1"))["technician_id"] is None  # the roster is cached
    await replica.add_technician("B")
    await harness.feed(_tomorrow_order("o2"))
    assert (await harness.order("o2"))["technician_id"] == "B"


async def _roster(harness: Harness) -> list[Any]:
    uow: SchedulingUnitOfWork = harness.runtime.app.state.uow_factory()
    async with uow:
        return await uow.technicians.list()


async def test_sch_1_changing_a_listed_technician_leaves_the_roster_unchanged(
    harness: Harness,
) -> None:
    await harness.add_technician("A", days_off=["2026-11-25"])
    for _ in range(2):  # what the read that fills the cache hands out, then what a hit does
        (tech,) = await _roster(harness)
        tech.active = False
        tech.skills.append("air_conditioner")
        tech.areas.clear()
        tech.working_days.clear()
        tech.days_off.clear()
        tech.daily_capacity = 1
    (tech,) = await _roster(harness)
    assert (tech.active, tech.skills, tech.areas, tech.daily_capacity) == (
        True,
        ["water_heater"],
        ["Dongying"],
        8,
    )
    assert tech.working_days == [0, 1, 2, 3, 4, 5]
    assert [d.isoformat() for d in tech.days_off] == ["2026-11-25"]


async def test_sch_1_the_roster_is_read_again_only_after_a_technician_changed(
    harness: Harness,
) -> None:
    await harness.add_technician("A")
    await harness.add_technician("B")
    roster_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM technician ORDER BY" in " ".join(statement.split()):
            roster_reads.append(statement)

    engine = harness.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        first = await _roster(harness)
        second = await _roster(harness)
        assert len(roster_reads) == 1  # the second came from the cache
        assert [t.technician_id for t in first] == [t.technician_id for t in second] == ["A", "B"]
        await _replace(harness, "B", daily_capacity=3)
        third = await _roster(harness)
        assert len(roster_reads) == 2
        assert [t.daily_capacity for t in third] == [8, 3]
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_sch_1_a_roster_read_by_a_change_rolled_back_is_not_kept(harness: Harness) -> None:
    await harness.add_technician("A")
    uow: SchedulingUnitOfWork = harness.runtime.app.state.uow_factory()
    async with uow:  # never committed: X is rolled back
        (tech,) = await uow.technicians.list()
        tech.technician_id = "X"
        await uow.technicians.save(tech, new=True)
        assert [t.technician_id for t in await uow.technicians.list()] == ["A", "X"]
    # Y gets the revision X had: the table's (count, sum of revisions) is what X's read saw
    await harness.add_technician("Y")
    assert [t.technician_id for t in await _roster(harness)] == ["A", "Y"]
