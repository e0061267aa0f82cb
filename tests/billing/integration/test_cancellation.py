"""A cancelled order against a real database (SQLite and PostgreSQL): no more money taken, no
quote priced, only work done charged and invoiced, the refund due paid back the usual way
(BIL-1, BIL-7, BIL-8); and the network fee of the work to whoever did it (BIL-12)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx

from billing.service_layer.handlers import price_waiting_quotes
from contracts.common import AssigneeKind
from contracts.fieldwork import (
    QuoteRequested,
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    VisitOutcome,
)
from contracts.intake import OrderCancelled
from contracts.scheduling import OrderAssigned, OrderReassigned
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import (
    IGNITER,
    accepted_order,
    fee,
    key,
    order_created,
    outbox,
    publish,
    send,
    visit_closed,
)

CANCELLED_AT = T0 + timedelta(hours=2)


def cancelled(order_id: str) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id, reason="客户不修了", cancelled_by="agent-1", requested_by_customer=True
    )


def repaired(order_id: str, technician_id: str = "t-1", visit_id: str = "v-1") -> RepairCompleted:
    return RepairCompleted(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        tested=True,
        sure_fixed=True,
        on_site_minutes=40,
    )


async def test_bil_1_bil_8_a_cancelled_order_takes_no_more_money_and_shows_the_refund_due(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    quote_id = await accepted_order(runtime, "o-1")  # 170.00 accepted on v-1
    technician = await key(runtime, "technician", technician_id="t-1")
    deposit = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "100.00"}, headers=technician
    )
    assert deposit.status_code == 201, deposit.text
    invoiced = await client.post("/v1/orders/o-1/invoices", json={"delivery": "on_site"})
    assert invoiced.status_code == 201, invoiced.text
    # the part was missing: the visit is rebooked, then the customer cancels the order
    await send(
        runtime,
        RepairFailed(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            reason=RepairFailureReason.MISSING_PART,
            next_visit_agreed=True,
        ),
        at=T0 + timedelta(hours=1),
    )
    await visit_closed(
        runtime,
        "o-1",
        outcome=VisitOutcome.UNFINISHED,
        closed_at=T0 + timedelta(hours=1),
        at=T0 + timedelta(hours=1),
    )
    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["cancelled_at"] is not None
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [(quote_id, "voided")]
    assert charge["accepted_quote_id"] is None
    assert (charge["summary"]["charge"], charge["summary"]["paid"]) == ("0.00", "100.00")
    assert charge["refund_due"] == "100.00"

    more = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "130.00"}, headers=technician
    )
    assert more.status_code == 409, more.text
    assert more.headers["content-type"] == "application/problem+json"
    problem = more.json()
    assert problem["title"] == "Order cancelled" and "cancelled" in problem["detail"]
    assert (problem["refund_due"], problem["allowed"]) == ("100.00", ["refunds"])
    again = await client.post("/v1/orders/o-1/invoices", json={"delivery": "post"})
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/cash/t-1")).json()["cash_on_hand"] == "100.00"
    assert len(await outbox(runtime, "PaymentCollected")) == 1

    # the refund due is paid back the usual way: approved by the centre, with its receipt,
    # reversing the invoice of the money
    dispatcher = await key(runtime, "dispatcher")
    refunded = await client.post(
        "/v1/orders/o-1/refunds",
        json={"method": "cash", "amount": "100.00", "refunded_by": "t-1", "reason": "订单取消"},
        headers=dispatcher,
    )
    assert refunded.status_code == 201, refunded.text
    after = (await client.get("/v1/orders/o-1/charge")).json()
    assert after["refund_due"] == "0.00"
    assert [(p["kind"], p["receipt_number"]) for p in after["payments"]] == [
        ("payment", "R2026-000001"),
        ("refund", "R2026-000002"),
    ]
    assert [(i["amount"], i["credits"]) for i in after["invoices"]] == [
        ("100.00", None),
        ("-100.00", "F2026-000001"),
    ]


async def test_bil_1_a_quote_request_heard_after_the_cancellation_is_never_priced(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await send(runtime, order_created("o-1"))
    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)
    # the technician asked on site before hearing of it; the request reaches billing after
    await send(
        runtime,
        QuoteRequested(order_id="o-1", visit_id="v-1", request_id="req-1", items=[fee("W02")]),
        at=CANCELLED_AT - timedelta(minutes=5),
    )

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["quotes"] == [] and charge["pending_requests"] == []
    assert await outbox(runtime, "QuoteIssued") == []


async def test_bil_1_a_request_waiting_for_its_schedule_is_dropped_by_the_cancellation(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await send(runtime, order_created("o-1"))
    await send(
        runtime,
        QuoteRequested(order_id="o-1", visit_id="v-1", request_id="req-1", items=[fee("W02")]),
    )
    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)

    await publish(client)
    priced = await price_waiting_quotes(
        uow_factory=runtime.app.state.uow_factory,
        policy=runtime.app.state.policy,
        clock=lambda: CANCELLED_AT,
        tz=runtime.calendar.tz,
    )

    assert priced == 0
    assert await outbox(runtime, "QuoteIssued") == []
    assert (await client.get("/v1/orders/o-1/charge")).json()["pending_requests"] == []


async def test_bil_1_work_done_before_the_cancellation_but_heard_after_stays_charged(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    quote_id = await accepted_order(runtime, "o-1")
    paid = await client.post("/v1/orders/o-1/payments", json={"method": "card", "amount": "170"})
    assert paid.status_code == 201, paid.text
    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)
    assert (await client.get("/v1/orders/o-1/charge")).json()["refund_due"] == "170.00"

    # fieldwork's topic lagged: the repair was finished an hour before the cancellation
    await send(runtime, repaired("o-1"), at=CANCELLED_AT - timedelta(hours=1))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["accepted_quote_id"] == quote_id
    assert (charge["summary"]["charge"], charge["refund_due"]) == ("170.00", "0.00")
    invoiced = await client.post("/v1/orders/o-1/invoices", json={"delivery": "electronic"})
    assert invoiced.status_code == 201, invoiced.text
    assert invoiced.json()["invoices"][0]["amount"] == "170.00"
    refused = await client.post("/v1/orders/o-1/payments", json={"method": "card", "amount": "1"})
    assert refused.status_code == 409


async def test_bil_1_fld_4_fieldwork_is_told_of_a_void_quote_and_of_its_reinstatement(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    quote_id = await accepted_order(runtime, "o-1")

    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)
    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)  # the same cancellation heard twice
    [voided] = await outbox(runtime, "QuoteVoided")
    assert (voided.subject, voided.data["quote_id"], voided.data["visit_id"]) == (
        "o-1",
        quote_id,
        "v-1",
    )
    assert (voided.data["answer"], voided.data["reason"]) == ("accepted", "order_cancelled")

    await send(runtime, repaired("o-1"), at=CANCELLED_AT - timedelta(hours=1))

    [reinstated] = await outbox(runtime, "QuoteReinstated")
    assert (reinstated.data["quote_id"], reinstated.data["status"]) == (quote_id, "accepted")
    assert len(await outbox(runtime, "QuoteVoided")) == 1


async def test_bil_12_the_repair_fee_goes_to_the_network_whose_technician_did_the_repair(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await send(runtime, order_created("o-1"))
    await send(
        runtime,
        OrderAssigned(
            order_id="o-1",
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="ta-1",
            network_id="net-a",
            assigned_by="disp-1",
        ),
    )
    # the revisit went to another network, and billing hears of it before net-a's repair
    await send(
        runtime,
        OrderReassigned(
            order_id="o-1",
            visit_id="v-2",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="tb-1",
            network_id="net-b",
            previous_assignee_kind=AssigneeKind.TECHNICIAN,
            previous_technician_id="ta-1",
            previous_network_id="net-a",
            reassigned_by="disp-1",
        ),
    )
    await send(runtime, repaired("o-1", technician_id="ta-1", visit_id="v-1"))

    net_a = (await client.get("/v1/settlements/net-a/2026-04")).json()
    net_b = (await client.get("/v1/settlements/net-b/2026-04")).json()

    assert [(i["kind"], Decimal(i["amount"])) for i in net_a["items"]] == [
        ("service_fee", runtime.app.state.policy.network_repair_fee)
    ]
    assert net_b["items"] == []


async def test_bil_12_a_cancellation_leaves_the_fee_of_work_done_and_money_paid_for_it(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", fee("W02"), IGNITER, network="net-9")
    await send(runtime, repaired("o-1", technician_id="t9-1"), at=T0 + timedelta(hours=1))
    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={
            "method": "cash",
            "amount": "170.00",
            "collected_by": "t9-1",
            "correction_reason": "t9-1's phone was dead on site",
        },
    )
    assert paid.status_code == 201, paid.text

    await send(runtime, cancelled("o-1"), at=CANCELLED_AT)

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert (charge["summary"]["charge"], charge["refund_due"]) == ("170.00", "0.00")
    statement = (await client.get("/v1/settlements/net-9/2026-04")).json()
    assert (statement["fees_collected"], statement["service_fees_owed"]) == ("170.00", "50.00")
