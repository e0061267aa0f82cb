"""Billing reads a day only as ``YYYY-MM-DD``: a number is not a Unix timestamp (an invoice
promised by 0 was promised by 1 January 1970, BIL-7; ``?day=0`` reconciled 1970, BIL-10)."""

from __future__ import annotations

import httpx

from servicekit.runtime import ServiceRuntime

from .test_billing_api import accepted_order, publish

PROMISED = 1778198400  # 2026-05-08 as a Unix timestamp


def _fields(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return sorted(e["field"] for e in answer.json()["errors"])


async def test_bil_7_an_invoice_promised_by_a_number_is_a_422_naming_the_field(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    paid = await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "170"})
    assert paid.status_code == 201, paid.text
    for promised in (PROMISED, str(PROMISED), PROMISED + 0.5):
        issued = await client.post(
            "/v1/orders/o-1/invoices", json={"delivery": "post", "promised_by": promised}
        )
        assert _fields(issued) == ["promised_by"]
    assert (await client.get("/v1/orders/o-1/charge")).json()["invoices"] == []
    reconciled = await client.get("/v1/reports/reconciliation", params={"day": "0"})
    assert _fields(reconciled) == ["day"]

    issued = await client.post(
        "/v1/orders/o-1/invoices", json={"delivery": "post", "promised_by": "2026-05-08"}
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["invoices"][0]["promised_by"] == "2026-05-08"
    reconciled = await client.get("/v1/reports/reconciliation", params={"day": "2026-04-30"})
    assert reconciled.status_code == 200, reconciled.text
