"""An order past its retention (BIL-11), against a real database (SQLite and PostgreSQL): billing
erased its customer's personal data and told the other services (OrderRetentionExpired), which
refuse every command on it with 409 `Personal data erased`; billing does the same for every
command on the order (waiver, payment, refund, invoice, invoice delivery, signature), changing
nothing, while reads still answer it, events heard of it later are still applied, and the
periodic jobs keep working."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billing.domain.policy import BillingPolicy
from billing.service_layer import handlers
from billing.service_layer.handlers import (
    apply_retention,
    price_waiting_quotes,
    sweep_cash,
    sweep_invoice_deliveries,
)
from contracts.fieldwork import CustomerSignedOff, SignOff
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock
from .test_billing_api import (
    SCHEDULE,
    accepted_order,
    fee,
    key,
    order_created,
    outbox,
    publish,
    quote_requested,
    send,
    visit_closed,
)

ERASED_TYPE = "https://fsm.example/problems/personal-data-erased"
ERASED_AT = T0.replace(year=2028)  # paid work is kept 2 years after the order ended


async def _erase(runtime: ServiceRuntime, clock: Clock) -> None:
    """The retention job, once the orders' retention ran out."""
    clock.now = ERASED_AT
    erased = await apply_retention(
        uow_factory=runtime.app.state.uow_factory, policy=BillingPolicy(), clock=clock
    )
    assert erased >= 1


async def erased_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> dict[str, str]:
    """o-1: 170.00 charged, 100.00 paid and invoiced by post (still to deliver), 50.00 paid
    since in cash to the technician, 5.00 waived, the visit closed; then erased by the
    retention job. Every command below would be taken on it but for the erasure. Returns the
    ids of what it holds."""
    await publish(client)
    await accepted_order(runtime, "o-1")
    paid = await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "100"})
    assert paid.status_code == 201, paid.text
    invoiced = await client.post("/v1/orders/o-1/invoices", json={"delivery": "post"})
    assert invoiced.status_code == 201, invoiced.text
    technician = await key(runtime, "technician", technician_id="t-1")
    more = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "50"}, headers=technician
    )
    assert more.status_code == 201, more.text
    waived = await client.post(
        "/v1/orders/o-1/waivers", json={"amount": "5.00", "reason": "late arrival"}
    )
    assert waived.status_code == 201, waived.text
    await visit_closed(runtime, "o-1")
    await _erase(runtime, clock)
    return {
        "payment": paid.json()["payment"]["payment_id"],
        "invoice": invoiced.json()["invoices"][0]["number"],
        "waiver": waived.headers["location"].rsplit("/", 1)[-1],
    }


COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "waive": ("/v1/orders/o-1/waivers", {"amount": "10.00", "reason": "disputed"}),
    "collect": ("/v1/orders/o-1/payments", {"method": "mobile", "amount": "10.00"}),
    "refund": (
        "/v1/orders/o-1/refunds",
        {"method": "mobile", "amount": "10.00", "refunded_by": "disp-1", "reason": "overpaid"},
    ),
    "invoice": ("/v1/orders/o-1/invoices", {"delivery": "electronic"}),
    "track_invoice": ("/v1/orders/o-1/invoices/{invoice}/delivery", {"status": "posted"}),
    "signature": ("/v1/orders/o-1/signature", {"amount": "165.00", "signature_ref": "sig-1"}),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_bil_11_an_erased_order_refuses_every_command_with_409_and_changes_nothing(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock, command: str
) -> None:
    ids = await erased_order(runtime, client, clock)
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    published = await outbox(runtime)
    url, body = COMMANDS[command]

    refused = await client.post(url.format(**ids), json=body)

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert (problem["type"], problem["title"], problem["status"]) == (
        ERASED_TYPE,
        "Personal data erased",
        409,
    )
    assert problem["anonymised_at"] == ERASED_AT.isoformat()
    assert "BIL-11" in problem["detail"]
    assert (await client.get("/v1/orders/o-1/charge")).json() == charge
    assert len(await outbox(runtime)) == len(published)


async def test_bil_11_an_erased_order_still_answers_reads_and_hears_events(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    ids = await erased_order(runtime, client, clock)

    for url in (
        "/v1/orders/o-1/charge",
        "/v1/orders/o-1/events",
        f"/v1/orders/o-1/payments/{ids['payment']}",
        f"/v1/orders/o-1/invoices/{ids['invoice']}",
        f"/v1/orders/o-1/waivers/{ids['waiver']}",
    ):
        read = await client.get(url)
        assert read.status_code == 200, (url, read.text)
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["summary"]["paid"] == "150.00"
    assert charge["invoices"][0]["buyer_name"] is None
    # A signature fieldwork reports afterwards is recorded, without what would identify anyone.
    await send(
        runtime,
        CustomerSignedOff(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            sign_off=SignOff.SIGNED,
            signature_ref="sig-late",
            amount_acknowledged=Decimal("165.00"),
        ),
        at=ERASED_AT + timedelta(hours=1),
    )
    after = (await client.get("/v1/orders/o-1/charge")).json()
    [signature] = after["signatures"]
    assert (signature["visit_id"], signature["amount"]) == ("v-1", "165.00")
    assert signature["signature_ref"] is None
    events = (await client.get("/v1/orders/o-1/events")).json()["events"]
    assert events[-1]["type"] == "CustomerSignedOff"
    assert "signature_ref" not in events[-1]["summary"]


async def test_bil_11_the_periodic_jobs_keep_working_on_an_erased_order(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await send(runtime, order_created("o-2"))
    await visit_closed(runtime, "o-2", paid_work=False)
    await erased_order(runtime, client, clock)  # o-1 and o-2 erased; o-1's invoice not reported
    # A quote request heard of o-2 afterwards is applied as ever: it waits for a boiler schedule.
    late = quote_requested("o-2", fee("W02")).model_copy(
        update={"product_line": "boiler", "visit_id": "v-2"}
    )
    await send(runtime, late, at=ERASED_AT)
    assert (await client.get("/v1/orders/o-2/charge")).json()["pending_requests"]

    # The invoice sweep reports the invoice that never arrived (nothing personal in it).
    swept = await sweep_invoice_deliveries(
        uow_factory=runtime.app.state.uow_factory, calendar=runtime.calendar, clock=clock
    )
    assert swept == 1
    [overdue] = await outbox(runtime, "InvoiceDeliveryOverdue")
    assert overdue.subject == "o-1"
    assert set(overdue.data) >= {"invoice_number", "promised_by"}
    assert not {"buyer_name", "buyer_tax_id"} & set(overdue.data)
    # The cash sweep is per holder, not per order: the cash t-1 took on o-1 is long overdue.
    cash = await sweep_cash(
        uow_factory=runtime.app.state.uow_factory,
        policy=BillingPolicy(),
        calendar=runtime.calendar,
        clock=clock,
    )
    assert cash >= 1
    assert [e.data["holder_id"] for e in await outbox(runtime, "CashRemittanceDue")][-1] == "t-1"
    # A quote request left waiting by a crash after a publication is priced as the consumer
    # would price one heard after the erasure (QuoteIssued carries no personal data).
    quotes_before = len(await outbox(runtime, "QuoteIssued"))

    async def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the process died right after the schedule was committed")

    with monkeypatch.context() as patched:
        patched.setattr(handlers, "_price_waiting", crash)
        with pytest.raises(RuntimeError):
            await client.post("/v1/fee-schedules/boiler/versions", json=SCHEDULE)
    priced = await price_waiting_quotes(
        uow_factory=runtime.app.state.uow_factory,
        policy=BillingPolicy(),
        clock=clock,
        tz=runtime.calendar.tz,
    )
    assert priced == 1
    issued = (await outbox(runtime, "QuoteIssued"))[quotes_before:]
    assert [e.subject for e in issued] == ["o-2"]
    assert (await client.get("/v1/orders/o-2/charge")).json()["pending_requests"] == []
