"""BIL-10: the daily reconciliation adds up: every total is the sum of its holder rows, with
payments and refunds split by method."""

from __future__ import annotations

from decimal import Decimal

import httpx

from servicekit.runtime import ServiceRuntime

from .test_billing_api import accepted_order, key, publish

METHODS = ("cash", "card", "mobile")


async def test_bil_10_the_reconciliation_totals_are_the_sums_of_the_holder_rows(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")  # 170.00
    technician = await key(runtime, "technician", technician_id="t-1")
    for method, amount in (("cash", "100.00"), ("card", "50.00"), ("mobile", "20.00")):
        paid = await client.post(
            "/v1/orders/o-1/payments", json={"method": method, "amount": amount}, headers=technician
        )
        assert paid.status_code == 201, paid.text
    waived = await client.post(
        "/v1/orders/o-1/waivers", json={"amount": "60.00", "reason": "goodwill"}
    )
    assert waived.status_code == 201, waived.text
    for method, amount in (("cash", "10.00"), ("card", "30.00"), ("mobile", "20.00")):
        body = {"method": method, "amount": amount, "refunded_by": "t-1", "reason": "goodwill"}
        refunded = await client.post("/v1/orders/o-1/refunds", json=body)
        assert refunded.status_code == 201, refunded.text

    report = (await client.get("/v1/reports/reconciliation", params={"day": "2026-04-30"})).json()
    [row] = report["holders"]
    # the existing fields keep their meaning
    assert (row["cash_collected"], row["card_collected"], row["mobile_collected"]) == (
        "100.00",
        "50.00",
        "20.00",
    )
    assert row["cash_refunded"] == "10.00"
    assert row["cash_on_hand_at_end"] == "90.00"
    assert (report["total_collected"], report["total_refunded"]) == ("170.00", "60.00")
    # refunds by card and mobile are on the holder's row too
    assert (row["card_refunded"], row["mobile_refunded"]) == ("30.00", "20.00")
    # every total is the sum of its rows
    rows = report["holders"]
    for method in METHODS:
        for kind in ("collected", "refunded"):
            column = f"{method}_{kind}"
            assert Decimal(report[f"total_{column}"]) == sum(Decimal(r[column]) for r in rows)
    for kind in ("collected", "refunded"):
        assert Decimal(report[f"total_{kind}"]) == sum(
            Decimal(report[f"total_{method}_{kind}"]) for method in METHODS
        )
