"""SCH-1 / INT-7 over the API and the store: a partner network registers its own office hours,
reads them back, and the time it has to answer an order given to it (automatically or by a
dispatcher) counts working minutes within them; a network without them keeps the business
calendar's; bad hours are a 422 problem, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from scheduling_support import Harness, created, local

SUNDAY = 6  # local(..., day=SUNDAY): Sunday 29 November 2026
NETWORK = {"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]}
EIGHT_TO_EIGHT = {"opens": "08:00", "closes": "20:00"}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _network(h: Harness, office_hours: dict[str, Any] | None) -> dict[str, Any]:
    response = await h.client.post("/v1/networks", json={**NETWORK, "office_hours": office_hours})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_sch_1_a_network_s_office_hours_are_stored_and_read_back(harness: Harness) -> None:
    h = harness
    body = await _network(h, EIGHT_TO_EIGHT)
    every_day = {
        "opens": "08:00:00",
        "closes": "20:00:00",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "open_on_public_holidays": False,
    }
    assert body["office_hours"] == every_day
    assert (await h.client.get("/v1/networks/n1")).json()["office_hours"] == every_day

    earlier = {"opens": "09:00", "closes": "17:00", "weekdays": [4, 0, 1, 2, 3, 0]}
    update = {k: v for k, v in NETWORK.items() if k != "network_id"}
    changed = await h.client.put("/v1/networks/n1", json={**update, "office_hours": earlier})
    assert changed.status_code == 200, changed.text
    read = (await h.client.get("/v1/networks/n1")).json()["office_hours"]
    assert read["closes"] == "17:00:00" and read["weekdays"] == [0, 1, 2, 3, 4]

    cleared = await h.client.put("/v1/networks/n1", json=update)
    assert cleared.status_code == 200 and cleared.json()["office_hours"] is None
    [listed] = (await h.client.get("/v1/networks")).json()
    assert listed["office_hours"] is None


async def test_sch_1_an_order_placed_with_a_network_at_19_50_on_sunday_is_due_08_20_monday(
    harness: Harness,
) -> None:
    h = harness
    await _network(h, EIGHT_TO_EIGHT)
    h.clock.now = local(19, 50, day=SUNDAY)
    await h.feed(created("o1"))  # no own technician: given to the network (SCH-1)
    order = await h.order("o1")
    assert order["network_id"] == "n1"
    assert _at(order["acceptance_due_at"]) == local(8, 20, day=SUNDAY + 1)
    [given] = await h.published("OrderAssigned")
    assert given.acceptance_due_at == local(8, 20, day=SUNDAY + 1)

    h.clock.now = local(8, 19, day=SUNDAY + 1)
    assert await h.run_job("network_acceptance") == 0
    h.clock.now = local(8, 20, day=SUNDAY + 1)
    assert await h.run_job("network_acceptance") == 1


async def test_sch_1_a_network_open_overnight_answers_within_its_night_past_midnight(
    harness: Harness,
) -> None:
    h = harness
    body = await _network(h, {"opens": "20:00", "closes": "02:00"})
    assert body["office_hours"]["closes"] == "02:00:00"
    h.clock.now = local(23, 50, day=SUNDAY)  # Sunday's night runs on to 02:00 on Monday
    await h.feed(created("o1"))
    order = await h.order("o1")
    assert order["network_id"] == "n1"
    assert _at(order["acceptance_due_at"]) == local(0, 20, day=SUNDAY + 1)


async def test_sch_1_a_network_without_office_hours_keeps_the_business_calendar(
    harness: Harness,
) -> None:
    h = harness
    assert (await _network(h, None))["office_hours"] is None
    h.clock.now = local(19, 50, day=SUNDAY)
    await h.feed(created("o1"))
    order = await h.order("o1")
    assert _at(order["acceptance_due_at"]) == local(9, 30, day=SUNDAY + 1)


async def test_sch_1_a_dispatcher_giving_an_order_counts_the_network_s_hours(
    harness: Harness,
) -> None:
    h = harness
    await h.feed(created("o1"))  # nobody to take it: it waits for the dispatcher
    await _network(h, {"opens": "09:00", "closes": "17:00", "weekdays": [0, 1, 2, 3, 4]})
    h.clock.now = local(16, 50, day=4)  # Friday 27 November 2026
    response = await h.client.post(
        "/v1/orders/o1/assignment", json={"network_id": "n1", "reason": "end of the week"}
    )
    assert response.status_code == 200, response.text
    assert _at(response.json()["acceptance_due_at"]) == local(9, 20, day=7)  # Monday


async def test_int_7_an_emergency_given_to_a_network_counts_wall_minutes_whatever_its_hours(
    harness: Harness,
) -> None:
    h = harness
    await _network(h, EIGHT_TO_EIGHT)
    h.clock.now = local(23, day=SUNDAY)
    await h.feed(created("o1", emergency=True, location=None))
    order = await h.order("o1")
    assert order["network_id"] == "n1"
    assert _at(order["acceptance_due_at"]) == local(23, 30, day=SUNDAY)


@pytest.mark.parametrize(
    ("office_hours", "field"),
    [
        ({"opens": "08:00", "closes": "08:00"}, "office_hours"),
        ({"opens": "08:00", "closes": "20:00", "weekdays": [0, 7]}, "office_hours"),
        ({"opens": "08:00", "closes": "20:00", "weekdays": []}, "office_hours.weekdays"),
        ({"opens": "8am", "closes": "20:00"}, "office_hours.opens"),
        ({"opens": "08:00", "closes": "25:00"}, "office_hours.closes"),
        ({"opens": "08:00:30", "closes": "20:00"}, "office_hours.opens"),
        ({"opens": "08:00+08:00", "closes": "20:00"}, "office_hours.opens"),
        ({"closes": "20:00"}, "office_hours.opens"),
        ({"opens": "08:00", "closes": "20:00", "tz": "UTC"}, "office_hours.tz"),
    ],
    ids=[
        "empty",
        "weekday-7",
        "no-weekday",
        "malformed",
        "hour-25",
        "seconds",
        "offset",
        "missing",
        "unknown-field",
    ],
)
async def test_sch_1_bad_office_hours_are_a_422_problem(
    harness: Harness, office_hours: dict[str, Any], field: str
) -> None:
    h = harness
    created_ = await h.client.post("/v1/networks", json={**NETWORK, "office_hours": office_hours})
    assert created_.status_code == 422, created_.text
    assert created_.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in created_.json()["errors"]}

    await _network(h, None)
    update = {k: v for k, v in NETWORK.items() if k != "network_id"}
    replaced = await h.client.put("/v1/networks/n1", json={**update, "office_hours": office_hours})
    assert replaced.status_code == 422, replaced.text
    assert (await h.client.get("/v1/networks/n1")).json()["office_hours"] is None
