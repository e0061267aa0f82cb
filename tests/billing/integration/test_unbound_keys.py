"""A partner key bound to no network, or a technician key bound to no technician, holds no
order (SCH-12): billing answers every order to it as an unknown one (404), as intake and
scheduling do, instead of taking it for the holder of the orders nobody holds."""

from __future__ import annotations

from typing import Any

import httpx

from contracts.scheduling import OrderReturnedToCentre, ReturnReason
from servicekit.runtime import ServiceRuntime

from .test_billing_api import accepted_order, key, publish, send


async def _refused_everything(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/v1/orders/o-1/charge", None),
        ("POST", "/v1/orders/o-1/payments", {"method": "card", "amount": "10.00"}),
        ("POST", "/v1/orders/o-1/invoices", {}),
        ("POST", "/v1/orders/o-1/signature", {"amount": "170.00"}),
    ]
    for method, path, body in calls:
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["payments"] == [] and charge["invoices"] == []


async def test_sch_12_a_partner_key_bound_to_no_network_holds_no_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")  # the centre's technician t-1: no network holds it

    await _refused_everything(client, await key(runtime, "partner", name="partner-x"))


async def test_sch_12_a_technician_key_bound_to_no_technician_holds_no_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", network="net-9")  # no technician named yet
    await send(
        runtime,
        OrderReturnedToCentre(
            order_id="o-1",
            visit_id="v-1",
            reason=ReturnReason.CANNOT_STAFF,
            network_id="net-9",
        ),
    )

    await _refused_everything(client, await key(runtime, "technician", name="tech-x"))
