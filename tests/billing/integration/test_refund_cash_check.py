"""A cash refund reruns the BIL-10 check on the holder's cash, as a payment and a remittance
do: a holder taken back under the limit by a refund and over it again later is told again."""

from __future__ import annotations

import httpx

from servicekit.runtime import ServiceRuntime

from .test_billing_api import IGNITER, SCHEDULE, accepted_order, fee, key, outbox, publish

EXPENSIVE = {**SCHEDULE, "parts": [{"part_no": "P-IGN", "name": "主板", "price": "5000.0"}]}


async def test_bil_10_over_the_limit_again_after_a_cash_refund_raises_remittance_due_again(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client, EXPENSIVE)
    await accepted_order(runtime, "o-1", fee("W02"), IGNITER)  # 5050.00
    await accepted_order(runtime, "o-2", fee("W02"), IGNITER)
    technician = await key(runtime, "technician", technician_id="t-1")
    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "5050.00"},
        headers=technician,
    )
    assert paid.status_code == 201, paid.text
    waived = await client.post(
        "/v1/orders/o-1/waivers", json={"amount": "100.00", "reason": "overcharged"}
    )
    assert waived.status_code == 201, waived.text
    refunded = await client.post(
        "/v1/orders/o-1/refunds",
        json={"method": "cash", "amount": "100.00", "refunded_by": "t-1", "reason": "overcharged"},
    )
    assert refunded.status_code == 201, refunded.text
    assert (await client.get("/v1/cash/t-1")).json()["cash_on_hand"] == "4950.00"

    again = await client.post(
        "/v1/orders/o-2/payments",
        json={"method": "cash", "amount": "100.00"},
        headers=technician,
    )

    assert again.status_code == 201, again.text
    dues = [e.data for e in await outbox(runtime, "CashRemittanceDue")]
    assert [(d["reason"], d["cash_on_hand"]) for d in dues] == [
        ("over_amount", "5050.00"),
        ("over_amount", "5050.00"),
    ]
    assert dues[1]["order_ids"] == ["o-1", "o-2"]
