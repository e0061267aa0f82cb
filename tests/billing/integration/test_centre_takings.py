"""Money the centre takes itself, by phone or at its desk, is on no partner network's monthly
statement (BIL-12): a statement's `fees_collected` is what the network's own people took from
customers and owe the centre."""

from __future__ import annotations

from typing import Any

import httpx

from servicekit.runtime import ServiceRuntime

from .test_billing_api import accepted_order, key, publish


async def _order_of_net_9(runtime: ServiceRuntime, client: httpx.AsyncClient) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", network="net-9")


async def _pay(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **payment: Any
) -> httpx.Response:
    return await client.post("/v1/orders/o-1/payments", json=payment, headers=headers)


async def _statement(client: httpx.AsyncClient) -> Any:
    return (await client.get("/v1/settlements/net-9/2026-04")).json()


async def test_bil_12_money_the_centre_takes_by_phone_is_on_no_network_statement(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _order_of_net_9(runtime, client)
    call_centre = await key(runtime, "agent", name="callcentre-1")
    dispatcher = await key(runtime, "dispatcher", name="disp-1")

    by_phone = await _pay(client, call_centre, method="card", amount="100.00")
    by_dispatcher = await _pay(client, dispatcher, method="mobile", amount="20.00")

    assert by_phone.status_code == 201, by_phone.text
    assert by_dispatcher.status_code == 201, by_dispatcher.text
    assert by_phone.json()["payment"]["network_id"] is None
    assert by_dispatcher.json()["payment"]["network_id"] is None
    statement = await _statement(client)
    assert statement["fees_collected"] == "0.00"
    assert [i for i in statement["items"] if i["kind"] == "fee_collected"] == []


async def test_bil_12_money_the_network_takes_and_the_centre_corrects_stays_on_its_statement(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _order_of_net_9(runtime, client)
    partner = await key(runtime, "partner", network_id="net-9")

    own = await _pay(client, partner, method="card", amount="100.00")
    corrected = await _pay(
        client,
        method="cash",
        amount="70.00",
        collected_by="net9-tech-1",
        correction_reason="the technician's phone was dead on site",
    )

    assert own.status_code == 201, own.text
    assert corrected.status_code == 201, corrected.text
    statement = await _statement(client)
    assert statement["fees_collected"] == "170.00"


async def test_bil_12_money_a_network_takes_at_its_own_desk_is_on_its_statement(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _order_of_net_9(runtime, client)
    partner = await key(runtime, "partner", network_id="net-9")

    paid = await _pay(client, partner, method="cash", amount="170.00", at_desk=True)

    assert paid.status_code == 201, paid.text
    assert paid.json()["payment"]["network_id"] == "net-9"
    statement = await _statement(client)
    assert statement["fees_collected"] == "170.00"


async def test_bil_12_cash_the_centre_books_for_its_desk_as_a_correction_is_no_networks(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _order_of_net_9(runtime, client)

    paid = await _pay(
        client,
        method="cash",
        amount="170.00",
        collected_by="clerk-1",
        at_desk=True,
        correction_reason="the desk's terminal was down",
    )

    assert paid.status_code == 201, paid.text
    assert paid.json()["payment"]["network_id"] is None
    statement = await _statement(client)
    assert statement["fees_collected"] == "0.00"
