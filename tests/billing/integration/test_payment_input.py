"""What a payment's body may say: an amount is kept in yuan and fen however it was written, and
whose cash it is names someone (BIL-7, BIL-10)."""

from __future__ import annotations

import httpx

from servicekit.runtime import ServiceRuntime

from .test_billing_api import key, publish
from .test_holders import _held_by_technician_of


async def test_bil_7_an_amount_written_with_an_exponent_or_one_decimal_is_kept_in_fen(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    _, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")

    exponent = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "1E+1"}, headers=technician
    )
    one_decimal = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": 0.5}, headers=technician
    )

    assert exponent.status_code == 201, exponent.text
    assert exponent.json()["payment"]["amount"] == "10.00"
    assert one_decimal.json()["payment"]["amount"] == "0.50"
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [p["amount"] for p in charge["payments"]] == ["10.00", "0.50"]
    assert charge["summary"]["paid"] == "10.50"
    ledger = (await client.get("/v1/cash/net-1-tech", headers=technician)).json()
    assert [e["amount"] for e in ledger["entries"]] == ["10.00", "0.50"]


async def test_bil_10_the_centre_books_no_money_to_a_blank_collector(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await _held_by_technician_of(runtime, client, "o-1", "net-1")
    dispatcher = await key(runtime, "dispatcher")

    answers = [
        await client.post(
            "/v1/orders/o-1/payments",
            json={"method": "card", "amount": "1.00", "collected_by": ""},
            headers=dispatcher,
        ),
        await client.post(
            "/v1/orders/o-1/payments",
            json={
                "method": "cash",
                "amount": "1.00",
                "collected_by": "   ",
                "correction_reason": "手机没电",
            },
            headers=dispatcher,
        ),
    ]

    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == ["collected_by"]
    assert (await client.get("/v1/orders/o-1/charge")).json()["payments"] == []
    assert (await client.get("/v1/cash/%20%20%20")).json()["entries"] == []
