"""SCH-1 / INT-7 against the store (SQLite and PostgreSQL): the time a network has to answer is
fixed when the order is given to it, shown on the order, and the acceptance sweep returns to the
centre exactly the orders past it: an ordinary order given at night is the network's until 30
working minutes into the next working day, an emergency's 30 minutes run on the wall clock."""

from __future__ import annotations

from datetime import datetime

from scheduling_support import Harness, created, local

from contracts.scheduling import ReturnReason


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _network(h: Harness) -> None:
    response = await h.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]},
    )
    assert response.status_code == 201, response.text


async def test_sch_1_an_order_given_to_a_network_at_23_is_swept_at_09_30_the_next_working_day(
    harness: Harness,
) -> None:
    h = harness
    await _network(h)
    h.clock.now = local(23)
    await h.feed(created("o1"))  # no own technician: given to the network (SCH-1)
    order = await h.order("o1")
    assert order["assignee_kind"] == "network" and order["network_id"] == "n1"
    assert _at(order["acceptance_due_at"]) == local(9, 30, day=1)

    for now in (local(23, 45), local(3, day=1), local(9, 29, day=1)):
        h.clock.now = now
        assert await h.run_job("network_acceptance") == 0
    assert (await h.order("o1"))["network_id"] == "n1"

    h.clock.now = local(9, 30, day=1)
    assert await h.run_job("network_acceptance") == 1
    [back] = await h.published("OrderReturnedToCentre")
    assert back.reason is ReturnReason.OTHER and back.network_id == "n1"
    assert back.detail == (
        "network n1 neither accepted nor rejected the order within 30 working minutes (SCH-1)"
    )
    order = await h.order("o1")
    assert order["status"] == "awaiting_assignment" and order["acceptance_due_at"] is None


async def test_int_7_an_emergency_given_to_a_network_at_night_is_swept_after_30_minutes(
    harness: Harness,
) -> None:
    h = harness
    await _network(h)
    h.clock.now = local(23)
    # no location: not the nearest-technician path, the network serving it takes it
    await h.feed(created("o1", emergency=True, location=None))
    order = await h.order("o1")
    assert order["network_id"] == "n1" and order["emergency"] is True
    assert _at(order["acceptance_due_at"]) == local(23, 30)

    h.clock.now = local(23, 29)
    assert await h.run_job("network_acceptance") == 0
    h.clock.now = local(23, 30)
    assert await h.run_job("network_acceptance") == 1
    [back] = await h.published("OrderReturnedToCentre")
    assert back.detail is not None and "within 30 minutes" in back.detail


async def test_sch_1_a_network_given_an_order_by_a_dispatcher_on_friday_evening_answers_by_monday(
    harness: Harness,
) -> None:
    h = harness
    await h.feed(created("o1"))  # nobody to take it: it waits for the dispatcher
    await _network(h)
    h.clock.now = local(20, day=4)  # Friday 27 November 2026, 20:00
    response = await h.client.post(
        "/v1/orders/o1/assignment", json={"network_id": "n1", "reason": "evening"}
    )
    assert response.status_code == 200, response.text
    assert _at(response.json()["acceptance_due_at"]) == local(9, 30, day=7)  # Monday

    h.clock.now = local(9, 29, day=7)
    assert await h.run_job("network_acceptance") == 0
    h.clock.now = local(9, 30, day=7)
    assert await h.run_job("network_acceptance") == 1
