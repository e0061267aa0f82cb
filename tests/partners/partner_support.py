"""Helpers of the partner-network tests: networks, their technicians, orders given to them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from scheduling_support import Harness, created, technician_body

from scheduling.domain.policy import SchedulingPolicy

MakeHarness = Callable[[SchedulingPolicy], Awaitable[Harness]]
"""Builds a scheduling runtime with the given policy (the `make_harness` fixture)."""

AREAS = {"n1": "Dongying", "n2": "Binzhou"}
"""Each test network serves one district, so automatic dispatch gives it that district's orders."""


async def add_network(h: Harness, network_id: str) -> None:
    """Register a partner network serving water heaters in its district."""
    response = await h.client.post(
        "/v1/networks",
        json={
            "network_id": network_id,
            "name": f"网点 {network_id}",
            "skills": ["water_heater"],
            "areas": [AREAS[network_id]],
        },
    )
    assert response.status_code == 201, response.text


async def add_network_technician(h: Harness, technician_id: str, network_id: str) -> None:
    """A technician employed by a network (only the network's dispatcher gives them work)."""
    body = technician_body(technician_id, areas=[AREAS[network_id]], network_id=network_id)
    response = await h.client.post("/v1/technicians", json=body)
    assert response.status_code == 201, response.text


async def order_for(h: Harness, order_id: str, network_id: str) -> dict[str, Any]:
    """An order in the network's district; with no in-house technician it is given to the
    network automatically (SCH-1)."""
    await h.feed(created(order_id, district=AREAS[network_id]))
    order = await h.order(order_id)
    assert order["assignee_kind"] == "network" and order["network_id"] == network_id, order
    return order
