"""Waivers, payments, refunds, invoices and remittances answer 201 Created with their
``Location``, where GET reads the created resource back (BIL-7, BIL-8, BIL-10), also when a retry
with the same ``Idempotency-Key`` is answered from the first. Whoever reads the order's charge
(or the cash ledger) reads them; an unknown id, or an order or ledger the caller may not read,
answers 404 problem+json, the latter exactly as an unknown one."""

from __future__ import annotations

from typing import Any

import httpx

from servicekit.runtime import ServiceRuntime

from .test_billing_api import accepted_order, key, publish

PROBLEM = "application/problem+json"


def _created(response: httpx.Response, prefix: str) -> str:
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith(prefix), location
    return location


async def _read(client: httpx.AsyncClient, location: str, **headers: str) -> Any:
    read = await client.get(location, headers=headers or None)
    assert read.status_code == 200, read.text
    return read.json()


def _not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_bil_7_bil_8_bil_10_each_created_resource_is_located_where_get_reads_it(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")  # 170.00, held by technician t-1
    technician = await key(runtime, "technician", technician_id="t-1")
    dispatcher = await key(runtime, "dispatcher")

    once = {**technician, "Idempotency-Key": "pay-1"}
    pay = {"method": "cash", "amount": "170.00"}
    paid = await client.post("/v1/orders/o-1/payments", json=pay, headers=once)
    payment = _created(paid, "/v1/orders/o-1/payments/")
    assert payment.endswith(paid.json()["payment"]["payment_id"])
    assert await _read(client, payment, **technician) == paid.json()
    retried = await client.post("/v1/orders/o-1/payments", json=pay, headers=once)
    assert retried.status_code == 201 and retried.headers["location"] == payment

    waive = {"amount": "20.00", "reason": "customer disputed the call-out"}
    waived = await client.post("/v1/orders/o-1/waivers", json=waive, headers=dispatcher)
    waiver = _created(waived, "/v1/orders/o-1/waivers/")
    read_waiver = await _read(client, waiver, **technician)
    waiver_id = waiver.rsplit("/", 1)[1]
    assert read_waiver["waiver_id"] == waiver_id and read_waiver["order_id"] == "o-1"
    assert read_waiver["portions"] == [
        w for w in waived.json()["waivers"] if w["waiver_id"] == waiver_id
    ]
    assert (read_waiver["approved_by"], read_waiver["reason"]) == ("dispatcher-1", waive["reason"])

    refund = {"method": "cash", "amount": "20.00", "refunded_by": "t-1", "reason": "overcharged"}
    refunded = await client.post("/v1/orders/o-1/refunds", json=refund, headers=dispatcher)
    refund_at = _created(refunded, "/v1/orders/o-1/refunds/")
    assert await _read(client, refund_at, **technician) == refunded.json()

    invoiced = await client.post(
        "/v1/orders/o-1/invoices", json={"delivery": "on_site"}, headers=technician
    )
    invoice = _created(invoiced, "/v1/orders/o-1/invoices/")
    [issued] = invoiced.json()["invoices"]
    assert invoice == f"/v1/orders/o-1/invoices/{issued['number']}"
    assert await _read(client, invoice, **technician) == issued

    remitted = await client.post("/v1/cash/t-1/remittances", json={"amount": "100.00"})
    remittance = _created(remitted, "/v1/cash/t-1/remittances/")
    [entry] = [e for e in remitted.json()["entries"] if e["kind"] == "remitted"]
    assert remittance == f"/v1/cash/t-1/remittances/{entry['entry_id']}"
    assert await _read(client, remittance, **technician) == entry


async def test_bil_7_bil_8_bil_10_unknown_ids_are_404_problems(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    paid = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "50.00"}, headers=technician
    )
    payment_id = paid.json()["payment"]["payment_id"]
    collected = (await client.get("/v1/cash/t-1")).json()["entries"][0]["entry_id"]

    for path in (
        "/v1/orders/o-1/waivers/no-such-waiver",
        "/v1/orders/o-1/payments/no-such-payment",
        f"/v1/orders/o-1/refunds/{payment_id}",  # a payment, not a refund
        "/v1/orders/o-1/invoices/F2026-999999",
        "/v1/orders/o-unknown/payments/" + payment_id,
        "/v1/cash/t-1/remittances/no-such-entry",
        f"/v1/cash/t-1/remittances/{collected}",  # a collection, not a remittance
        f"/v1/cash/t-2/remittances/{collected}",  # another holder's entry
    ):
        _not_found(await client.get(path))


async def test_sch_12_bil_10_a_caller_who_may_not_read_the_parent_gets_404_as_for_an_unknown_one(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    dispatcher = await key(runtime, "dispatcher")
    paid = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "170.00"}, headers=technician
    )
    waived = await client.post(
        "/v1/orders/o-1/waivers", json={"amount": "20.00", "reason": "goodwill"}, headers=dispatcher
    )
    refunded = await client.post(
        "/v1/orders/o-1/refunds",
        json={"method": "card", "amount": "20.00", "refunded_by": "t-1", "reason": "goodwill"},
        headers=dispatcher,
    )
    invoiced = await client.post(
        "/v1/orders/o-1/invoices", json={"delivery": "on_site"}, headers=technician
    )
    remitted = await client.post("/v1/cash/t-1/remittances", json={"amount": "100.00"})
    located = [
        r.headers["location"] for r in (paid, waived, refunded, invoiced, remitted) if r.is_success
    ]
    assert len(located) == 5, [paid.text, waived.text, refunded.text, invoiced.text, remitted.text]
    other_technician = await key(runtime, "technician", technician_id="t-7")
    other_network = await key(runtime, "partner", network_id="net-2")

    for headers in (other_technician, other_network):
        for location in located:
            owner = "o-1" if location.startswith("/v1/orders/") else "t-1"
            unknown_owner = "o-unknown" if owner == "o-1" else "nobody"
            held = await client.get(location, headers=headers)
            unknown = await client.get(location.replace(owner, unknown_owner), headers=headers)
            _not_found(held)
            _not_found(unknown)
            expected = unknown.json()
            expected["detail"] = expected["detail"].replace(unknown_owner, owner)
            expected["instance"] = expected["instance"].replace(unknown_owner, owner)
            assert held.json() == expected, location
    for location in located:  # whoever reads the parent reads them
        assert (await client.get(location, headers=technician)).status_code == 200, location
