"""Billing against a real database (SQLite and PostgreSQL): schedules, quotes from events,
charges, receipts, invoices, cash, retention and settlements (BIL-1..BIL-12)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billing.domain import commands
from billing.domain.policy import BillingPolicy
from billing.service_layer import handlers
from billing.service_layer.handlers import (
    apply_retention,
    price_waiting_quotes,
    sweep_cash,
    sweep_invoice_deliveries,
)
from contracts.base import EventData
from contracts.billing import PaymentMethod
from contracts.common import (
    AssigneeKind,
    Channel,
    Customer,
    Fault,
    Product,
    WarrantyStatus,
    WorkItem,
    WorkItemKind,
)
from contracts.envelope import EventEnvelope
from contracts.fieldwork import (
    CoordinationTicketOpened,
    QuoteAccepted,
    QuoteRequested,
    RepairCompleted,
    VisitClosed,
    VisitOutcome,
)
from contracts.identity import Role
from contracts.intake import OrderCreated, OrderReopened, OrderResolvedRemotely, OrderVerified
from contracts.registry import parse_data
from contracts.scheduling import OrderAssigned, OrderReassigned
from servicekit.auth import generate_key, issued_event
from servicekit.db import aware
from servicekit.idempotency import IdempotencyRecord
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock

SCHEDULE = {
    "fees": [
        {"fee_code": "W01", "description": "更换灯泡", "price": "20.0"},
        {"fee_code": "W02", "description": "疏通下水", "price": "50.0"},
        {"fee_code": "CO", "description": "上门费", "price": "30.0", "category": "call_out"},
    ],
    "parts": [{"part_no": "P-IGN", "name": "点火器", "price": "120.0", "trade_in_credit": "15.0"}],
    "materials": [{"code": "M-TAPE", "name": "生料带", "price": "2.5"}],
}


async def key(
    runtime: ServiceRuntime, role: Role, *, name: str | None = None, **binding: str
) -> dict[str, str]:
    raw = generate_key()
    issued = issued_event(
        key_id=str(uuid.uuid4()),
        raw_key=raw,
        role=role,
        name=name or f"{role}-1",
        network_id=binding.get("network_id"),
        technician_id=binding.get("technician_id"),
        expires_at=None,
    )
    await runtime.handle_event(EventEnvelope.wrap(issued))
    return {"Authorization": f"Bearer {raw}"}


async def send(runtime: ServiceRuntime, payload: EventData, at: datetime = T0) -> EventEnvelope:
    envelope = EventEnvelope.wrap(payload, time=at)
    await runtime.handle_event(envelope)
    return envelope


async def outbox(runtime: ServiceRuntime, event_type: str | None = None) -> list[EventEnvelope]:
    async with runtime.session_factory() as session:
        rows = (
            await session.execute(select(OutboxMessage).order_by(OutboxMessage.seq))  # type: ignore[arg-type]
        ).scalars()
        envelopes = [EventEnvelope.model_validate_json(r.payload) for r in rows]
    return [e for e in envelopes if event_type is None or e.event_name == event_type]


def order_created(order_id: str, status: WarrantyStatus = WarrantyStatus.OUT_OF_WARRANTY) -> Any:
    return OrderCreated(
        order_id=order_id,
        customer=Customer.model_validate(
            {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
        ),
        product=Product(line="water_heater", model="JSQ24"),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        warranty_status=status,
    )


def quote_requested(order_id: str, *items: WorkItem, request_id: str = "req-1") -> Any:
    return QuoteRequested(
        order_id=order_id, visit_id="v-1", request_id=request_id, items=list(items)
    )


def fee(code: str, minutes: int = 0) -> WorkItem:
    return WorkItem(
        kind=WorkItemKind.FEE,
        description=code,
        fee_code=code,
        handled_at=T0 + timedelta(minutes=minutes),
    )


IGNITER = WorkItem(kind=WorkItemKind.PART, description="点火器", part_no="P-IGN")


async def publish(client: httpx.AsyncClient, body: dict[str, Any] = SCHEDULE) -> httpx.Response:
    response = await client.post("/v1/fee-schedules/water_heater/versions", json=body)
    assert response.status_code == 201, response.text
    return response


async def accepted_order(
    runtime: ServiceRuntime, order_id: str, *items: WorkItem, network: str | None = None
) -> str:
    """An out-of-warranty order, assigned to the network or else to technician t-1, with a
    quote the customer accepted; returns the quote id."""
    await send(runtime, order_created(order_id))
    await send(
        runtime,
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.NETWORK if network else AssigneeKind.TECHNICIAN,
            network_id=network,
            technician_id=None if network else "t-1",
            assigned_by="disp-1",
        ),
    )
    await send(runtime, quote_requested(order_id, *(items or (fee("W02"), IGNITER))))
    issued = [e for e in await outbox(runtime, "QuoteIssued") if e.subject == order_id][-1]
    quote_id = issued.data["quote_id"]
    await send(runtime, QuoteAccepted(order_id=order_id, visit_id="v-1", quote_id=quote_id))
    return str(quote_id)


async def waived(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    amount: str,
    reason: str,
    order_id: str = "o-1",
) -> httpx.Response:
    """``amount`` of ``order_id``'s charge waived for ``reason`` by ``headers``' key (BIL-8);
    the 201 answer."""
    response = await client.post(
        f"/v1/orders/{order_id}/waivers",
        json={"amount": amount, "reason": reason},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response


async def visit_closed(
    runtime: ServiceRuntime,
    order_id: str,
    *,
    closed_at: datetime = T0,
    paid_work: bool = True,
    outcome: VisitOutcome = VisitOutcome.COMPLETED,
    at: datetime = T0,
) -> EventEnvelope:
    """Technician t-1 closed v-1 of ``order_id`` at ``closed_at`` with ``outcome``; heard ``at``."""
    return await send(
        runtime,
        VisitClosed(
            order_id=order_id,
            visit_id="v-1",
            technician_id="t-1",
            outcome=outcome,
            closed_at=closed_at,
            paid_work=paid_work,
        ),
        at=at,
    )


# --- BIL-1: fee schedules ------------------------------------------------------------------


async def test_bil_1_schedules_are_versioned_and_a_published_version_never_changes(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    first = (await publish(client)).json()
    assert first["version"] == 1 and first["label"] == "water_heater@v1"
    cheaper = {**SCHEDULE, "fees": [{"fee_code": "W02", "description": "疏通", "price": "45.0"}]}
    second = await publish(client, cheaper)
    assert second.json()["version"] == 2
    assert second.headers["Location"] == "/v1/fee-schedules/water_heater/versions/2"

    v1 = (await client.get("/v1/fee-schedules/water_heater/versions/1")).json()
    assert v1["content"] == first["content"]
    current = (await client.get("/v1/fee-schedules/water_heater")).json()
    assert current["version"] == 2
    versions = (await client.get("/v1/fee-schedules/water_heater/versions")).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]  # newest first
    assert versions["next_cursor"] is None
    for method in ("PUT", "PATCH", "DELETE"):
        changed = await client.request(method, "/v1/fee-schedules/water_heater/versions/1")
        assert changed.status_code == 405


async def test_bil_1_only_admins_publish_and_anyone_may_show_the_schedule(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    technician = await key(runtime, "technician", technician_id="t-1")
    refused = await client.post(
        "/v1/fee-schedules/water_heater/versions", json=SCHEDULE, headers=technician
    )
    assert refused.status_code == 403
    await publish(client)
    shown = await client.get("/v1/fee-schedules/water_heater", headers=technician)
    assert shown.status_code == 200
    missing = await client.get("/v1/fee-schedules/boiler")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_bil_1_a_schedule_price_that_is_not_whole_jiao_is_refused_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    bad = {"fees": [{"fee_code": "W01", "description": "x", "price": "20.05"}]}
    response = await client.post("/v1/fee-schedules/water_heater/versions", json=bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "fees.0.price"


# --- quotes from fieldwork's requests (BIL-1..BIL-6) ----------------------------------------


async def test_bil_1_quote_requested_is_answered_with_quote_issued_citing_rules_and_version(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await send(runtime, order_created("o-1"))
    await send(runtime, quote_requested("o-1", fee("W01"), fee("W02", 20), fee("CO"), IGNITER))

    [envelope] = await outbox(runtime, "QuoteIssued")
    issued = parse_data(envelope)
    assert envelope.subject == "o-1"
    assert issued.request_id == "req-1"  # type: ignore[attr-defined]
    assert issued.schedule_version == "water_heater@v1"  # type: ignore[attr-defined]
    rules = [(line.fee_code or line.part_no, line.amount, line.rule_id) for line in issued.lines]  # type: ignore[attr-defined]
    assert rules == [
        ("W01", Decimal("0.00"), "BIL-3"),
        ("W02", Decimal("50.00"), "BIL-1"),
        ("CO", Decimal("30.00"), "BIL-1"),
        ("P-IGN", Decimal("120.00"), "BIL-1"),
    ]
    assert issued.total == Decimal("200.00")  # type: ignore[attr-defined]


async def test_bil_1_in_warranty_order_is_quoted_free(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await send(runtime, order_created("o-1", WarrantyStatus.IN_WARRANTY))
    await send(runtime, quote_requested("o-1", fee("W02"), IGNITER))
    [envelope] = await outbox(runtime, "QuoteIssued")
    assert envelope.data["total"] == "0.00"
    assert envelope.data["warranty_status"] == "in_warranty"


async def test_bil_1_a_request_before_the_schedule_is_priced_when_it_is_published(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await send(runtime, order_created("o-1"))
    await send(runtime, quote_requested("o-1", fee("W02")))
    assert await outbox(runtime, "QuoteIssued") == []
    waiting = (await client.get("/v1/orders/o-1/charge")).json()
    assert waiting["pending_requests"][0]["waiting_for"].startswith("a published fee schedule")

    await publish(client)
    [envelope] = await outbox(runtime, "QuoteIssued")
    assert envelope.data["total"] == "50.00"
    assert (await client.get("/v1/orders/o-1/charge")).json()["pending_requests"] == []


async def test_bil_1_a_request_naming_another_line_is_priced_when_that_line_is_published(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await send(runtime, order_created("o-1"))  # a water heater
    request = quote_requested("o-1", fee("W02")).model_copy(update={"product_line": "gas_stove"})
    await send(runtime, request)  # the technician found a gas stove to repair
    assert await outbox(runtime, "QuoteIssued") == []

    published = await client.post("/v1/fee-schedules/gas_stove/versions", json=SCHEDULE)

    assert published.status_code == 201, published.text
    [envelope] = await outbox(runtime, "QuoteIssued")
    assert envelope.data["total"] == "50.00"


async def test_bil_1_requests_a_crash_left_waiting_after_a_publication_are_priced_by_the_sweep(
    runtime: ServiceRuntime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await send(runtime, order_created("o-1"))
    await send(runtime, quote_requested("o-1", fee("W02")))

    async def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the process died right after the schedule was committed")

    # Waiting requests are priced right after the schedule's commit, in their own transactions.
    with monkeypatch.context() as patched:
        patched.setattr(handlers, "_price_waiting", crash)
        with pytest.raises(RuntimeError):
            await publish(client)
    assert (await client.get("/v1/fee-schedules/water_heater")).status_code == 200
    assert await outbox(runtime, "QuoteIssued") == []

    def sweep() -> Awaitable[int]:
        return price_waiting_quotes(
            uow_factory=runtime.app.state.uow_factory,
            policy=BillingPolicy(),
            clock=lambda: T0,
            tz=runtime.calendar.tz,
        )

    assert await sweep() == 1
    assert await sweep() == 0
    [envelope] = await outbox(runtime, "QuoteIssued")
    assert envelope.data["total"] == "50.00"
    assert (await client.get("/v1/orders/o-1/charge")).json()["pending_requests"] == []


async def test_bil_2_the_warranty_card_total_on_the_request_caps_the_quote(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await send(runtime, order_created("o-1"))
    request = quote_requested("o-1", fee("W02"), IGNITER).model_copy(
        update={"warranty_card_amount": Decimal("150.00")}
    )
    await send(runtime, request)
    [envelope] = await outbox(runtime, "QuoteIssued")
    assert envelope.data["total"] == "150.00"
    assert envelope.data["lines"][-1]["rule_id"] == "BIL-2"


# --- charge, waivers, payments, receipts, invoices, signature (BIL-7..BIL-9) ---------------


async def test_out_of_warranty_journey_charges_the_schedule_and_shows_it_for_the_report(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    quote_id = await accepted_order(runtime, "o-1")
    await send(
        runtime,
        RepairCompleted(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            tested=True,
            sure_fixed=True,
            on_site_minutes=40,
        ),
    )
    technician = await key(runtime, "technician", technician_id="t-1")
    paid = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "170.00"}, headers=technician
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["summary"]["balance"] == "0.00"
    signed = await client.post(
        "/v1/orders/o-1/signature",
        json={"amount": "170.00", "parts": [{"part_no": "P-IGN", "name": "点火器"}]},
        headers=technician,
    )
    assert signed.status_code == 200, signed.text

    charge = (await client.get("/v1/orders/o-1/charge", headers=technician)).json()
    assert charge["accepted_quote_id"] == quote_id
    assert charge["summary"] == {
        "quoted": "170.00",
        "waived": "0.00",
        "held": "0.00",
        "charge": "170.00",
        "paid": "170.00",
        "balance": "0.00",
        "schedule_version": "water_heater@v1",
    }
    assert charge["payments"][0]["receipt_number"] == "R2026-000001"
    assert charge["signature"]["matches_charge"] is True
    types = [e.event_name for e in await outbox(runtime)]
    assert types == ["QuoteIssued", "PaymentCollected", "ReceiptIssued"]
    collected = (await outbox(runtime, "PaymentCollected"))[0].data
    assert collected["collected_by"] == "t-1" and collected["amount"] == "170.00"


async def test_sch_12_only_who_holds_an_order_takes_its_payment_signature_and_invoice(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-net", network="net-1")
    await accepted_order(runtime, "o-tech")
    other_network = await key(runtime, "partner", network_id="net-2")
    other_technician = await key(runtime, "technician", technician_id="t-7")
    holder = await key(runtime, "technician", technician_id="t-1")
    pay = {"method": "cash", "amount": "50.00"}
    attempts = [
        ("/v1/orders/o-net/payments", pay, other_network),
        ("/v1/orders/o-net/signature", {"amount": "170.00", "parts": []}, other_network),
        ("/v1/orders/o-net/invoices", {"delivery": "on_site"}, other_network),
        ("/v1/orders/o-tech/payments", pay, other_technician),
        ("/v1/orders/o-tech/signature", {"amount": "170.00", "parts": []}, other_technician),
    ]
    for path, body, headers in attempts:
        refused = await client.post(path, json=body, headers=headers)
        assert refused.status_code == 404, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    # The holder takes the cash, but only onto their own ledger (BIL-10).
    elsewhere = await client.post(
        "/v1/orders/o-tech/payments", json={**pay, "collected_by": "t-2"}, headers=holder
    )
    assert elsewhere.status_code == 403 and "collected_by" in elsewhere.json()["detail"]
    paid = await client.post("/v1/orders/o-tech/payments", json=pay, headers=holder)
    assert paid.status_code == 201, paid.text
    async with runtime.app.state.uow_factory() as uow:
        account = await uow.accounts.get("o-net", for_update=False)
    assert account is not None
    assert account.state.payments == [] and account.state.invoices == []
    assert account.state.signature is None


async def test_sch_12_an_order_another_network_holds_answers_as_an_unknown_one(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-net", network="net-1")
    await accepted_order(runtime, "o-tech")
    other_network = await key(runtime, "partner", network_id="net-2")
    other_technician = await key(runtime, "technician", technician_id="t-7")
    pay = {"method": "card", "amount": "50.00"}
    requests = [
        ("GET", "/v1/orders/{}/charge", None),
        ("POST", "/v1/orders/{}/payments", pay),
        ("POST", "/v1/orders/{}/invoices", {"delivery": "on_site"}),
        ("POST", "/v1/orders/{}/invoices/F2026-000001/delivery", {"status": "posted"}),
        ("POST", "/v1/orders/{}/signature", {"amount": "170.00", "parts": []}),
    ]
    for order_id, headers in (("o-net", other_network), ("o-tech", other_technician)):
        for method, path, body in requests:
            held = await client.request(method, path.format(order_id), json=body, headers=headers)
            unknown = await client.request(
                method, path.format("o-unknown"), json=body, headers=headers
            )
            assert held.status_code == unknown.status_code == 404, (path, held.text)
            assert held.headers["content-type"] == "application/problem+json"
            expected = unknown.json()
            expected["detail"] = expected["detail"].replace("o-unknown", order_id)
            expected["instance"] = expected["instance"].replace("o-unknown", order_id)
            assert held.json() == expected, path
    owner = await key(runtime, "partner", network_id="net-1")
    assert (await client.get("/v1/orders/o-net/charge", headers=owner)).status_code == 200


async def test_fbk_4_a_payment_taken_at_a_service_hall_desk_says_so(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    clerk = await key(runtime, "agent", name="clerk-7")
    technician = await key(runtime, "technician", technician_id="t-1")
    refused = await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "50.00", "at_desk": True},
        headers=technician,
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "desk" in refused.json()["detail"]
    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "50.00", "collected_by": "clerk-7", "at_desk": True},
        headers=clerk,
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["payment"]["at_desk"] is True
    on_site = await client.post(
        "/v1/orders/o-1/payments", json={"method": "card", "amount": "20.00"}, headers=clerk
    )
    assert on_site.status_code == 201, on_site.text
    # Feedback samples desk business for call-backs by the clerk who took it (FBK-4).
    first, second = [e.data for e in await outbox(runtime, "PaymentCollected")]
    assert (first["collected_by"], first["at_desk"]) == ("clerk-7", True)
    assert second["at_desk"] is False
    charge = (await client.get("/v1/orders/o-1/charge", headers=clerk)).json()
    assert [p["at_desk"] for p in charge["payments"]] == [True, False]


async def test_bil_10_a_call_centre_key_puts_no_cash_on_anyones_ledger(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    agent = await key(runtime, "agent")
    attempts = [
        {"method": "cash", "amount": "80.00", "collected_by": "t-1"},
        {"method": "cash", "amount": "80.00"},
        {"method": "mobile", "amount": "80.00", "collected_by": "t-1"},
    ]

    refused = [
        await client.post("/v1/orders/o-1/payments", json=body, headers=agent) for body in attempts
    ]

    for response in refused:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert "takes no cash" in refused[1].json()["detail"]
    assert "collected_by" in refused[2].json()["detail"]
    for holder in ("t-1", "agent-1"):
        assert (await client.get(f"/v1/cash/{holder}")).json()["cash_on_hand"] == "0.00"
    assert await outbox(runtime, "PaymentCollected") == []
    by_phone = await client.post(
        "/v1/orders/o-1/payments", json={"method": "mobile", "amount": "80.00"}, headers=agent
    )
    assert by_phone.status_code == 201, by_phone.text
    assert by_phone.json()["payment"]["by"] == "agent-1"


async def test_bil_10_the_centre_books_cash_for_a_technician_only_as_a_correction_saying_why(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    dispatcher = await key(runtime, "dispatcher")
    technician = await key(runtime, "technician", technician_id="t-1")
    cash = {"method": "cash", "amount": "50.00"}
    why = "t-1's phone was dead on site"

    own = await client.post("/v1/orders/o-1/payments", json=cash, headers=dispatcher)
    unexplained = await client.post(
        "/v1/orders/o-1/payments", json={**cash, "collected_by": "t-1"}, headers=dispatcher
    )
    not_the_centre = await client.post(
        "/v1/orders/o-1/payments", json={**cash, "correction_reason": why}, headers=technician
    )

    assert own.status_code == 403 and "holds no cash" in own.json()["detail"]
    assert unexplained.status_code == 422, unexplained.text
    assert unexplained.headers["content-type"] == "application/problem+json"
    assert unexplained.json()["errors"][0]["field"] == "correction_reason"
    assert not_the_centre.status_code == 403, not_the_centre.text
    assert (await client.get("/v1/cash/t-1")).json()["cash_on_hand"] == "0.00"
    corrected = await client.post(
        "/v1/orders/o-1/payments",
        json={**cash, "collected_by": "t-1", "correction_reason": why},
        headers=dispatcher,
    )
    assert corrected.status_code == 201, corrected.text
    payment = corrected.json()["payment"]
    assert (payment["by"], payment["approved_by"], payment["reason"]) == (
        "t-1",
        "dispatcher-1",
        why,
    )
    ledger = (await client.get("/v1/cash/t-1")).json()
    assert ledger["cash_on_hand"] == "50.00"
    assert ledger["entries"][0]["by"] == "dispatcher-1"
    # the event says it is a correction, by whom and why, as the payment does
    [collected] = await outbox(runtime, "PaymentCollected")
    assert (
        collected.data["collected_by"],
        collected.data["approved_by"],
        collected.data["correction_reason"],
    ) == ("t-1", "dispatcher-1", why)


async def test_bil_10_a_payment_recorded_by_whoever_took_it_is_published_as_no_correction(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")

    paid = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "50.00"}, headers=technician
    )

    assert paid.status_code == 201, paid.text
    [collected] = await outbox(runtime, "PaymentCollected")
    assert (collected.data["approved_by"], collected.data["correction_reason"]) == (None, None)


async def held_by_own_technician(
    runtime: ServiceRuntime, client: httpx.AsyncClient, order_id: str
) -> dict[str, str]:
    """``order_id``, its quote accepted, held by network net-9, whose dispatcher gave it to its
    own technician net9-tech-1; net-9's partner key headers."""
    await publish(client)
    await accepted_order(runtime, order_id, network="net-9")
    await send(
        runtime,
        OrderReassigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="net9-tech-1",
            network_id="net-9",
            previous_assignee_kind=AssigneeKind.NETWORK,
            previous_network_id="net-9",
            reassigned_by="net-9-dispatcher",
        ),
    )
    return await key(runtime, "partner", network_id="net-9")


async def test_bil_10_a_partner_books_cash_to_itself_or_its_own_technician_on_the_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    partner = await held_by_own_technician(runtime, client, "o-1")
    cash = {"method": "cash", "amount": "50.00"}

    elsewhere = await client.post(
        "/v1/orders/o-1/payments", json={**cash, "collected_by": "t-1"}, headers=partner
    )
    own_technician = await client.post(
        "/v1/orders/o-1/payments", json={**cash, "collected_by": "net9-tech-1"}, headers=partner
    )
    itself = await client.post("/v1/orders/o-1/payments", json=cash, headers=partner)

    assert elsewhere.status_code == 403, elsewhere.text
    assert own_technician.status_code == 201, own_technician.text
    assert itself.status_code == 201, itself.text
    assert itself.json()["payment"]["by"] == "partner-1"
    assert (await client.get("/v1/cash/t-1")).json()["cash_on_hand"] == "0.00"
    assert (await client.get("/v1/cash/net9-tech-1")).json()["cash_on_hand"] == "50.00"


async def test_bil_7_a_payment_retried_with_its_idempotency_key_is_taken_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    headers = {"Idempotency-Key": "pay-1"}
    body = {"method": "card", "amount": "100.00"}
    first = await client.post("/v1/orders/o-1/payments", json=body, headers=headers)
    again = await client.post("/v1/orders/o-1/payments", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(await outbox(runtime, "PaymentCollected")) == 1
    over = await client.post("/v1/orders/o-1/payments", json={"method": "card", "amount": "70.01"})
    assert over.status_code == 422
    assert over.json()["errors"][0]["field"] == "amount"


async def test_bil_7_no_payment_without_an_accepted_quote(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await send(runtime, order_created("o-1"))
    response = await client.post("/v1/orders/o-1/payments", json={"method": "card", "amount": 1})
    assert response.status_code == 409
    unknown = await client.post("/v1/orders/nope/payments", json={"method": "card", "amount": 1})
    assert unknown.status_code == 404


async def test_bil_7_invoice_on_request_is_numbered_and_tracked_until_delivered(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "170.00"})
    issued = await client.post(
        "/v1/orders/o-1/invoices",
        json={"buyer_name": "东营某公司", "delivery": "post", "promised_by": "2026-05-08"},
    )
    assert issued.status_code == 201, issued.text
    invoice = issued.json()["invoices"][0]
    assert (invoice["number"], invoice["status"]) == ("F2026-000001", "to_deliver")
    [event] = await outbox(runtime, "InvoiceIssued")
    assert event.data["delivery"] == "post" and event.data["amount"] == "170.00"

    url = "/v1/orders/o-1/invoices/F2026-000001/delivery"
    posted = await client.post(url, json={"status": "posted", "tracking_number": "SF123"})
    assert posted.json()["invoices"][0]["status"] == "posted"
    backwards = await client.post(url, json={"status": "to_deliver"})
    assert backwards.status_code == 409
    assert backwards.json()["allowed"] == ["delivered"]
    delivered = await client.post(url, json={"status": "delivered"})
    assert delivered.json()["invoices"][0]["status"] == "delivered"


async def test_a_retried_schedule_publication_or_delivery_step_with_its_key_is_done_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    once = {"Idempotency-Key": "publish-1"}
    first = await client.post(
        "/v1/fee-schedules/water_heater/versions", json=SCHEDULE, headers=once
    )
    retried = await client.post(
        "/v1/fee-schedules/water_heater/versions", json=SCHEDULE, headers=once
    )
    assert (first.status_code, retried.status_code) == (201, 201), retried.text
    assert retried.json()["version"] == first.json()["version"] == 1
    assert retried.headers["location"] == "/v1/fee-schedules/water_heater/versions/1"
    assert (await client.get("/v1/fee-schedules/water_heater")).json()["version"] == 1
    assert (await publish(client)).json()["version"] == 2  # a new request publishes

    await accepted_order(runtime, "o-1")
    await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "170.00"})
    issued = await client.post("/v1/orders/o-1/invoices", json={"delivery": "post"})
    assert issued.status_code == 201, issued.text
    url = f"/v1/orders/o-1/invoices/{issued.json()['invoices'][0]['number']}/delivery"
    step = {"Idempotency-Key": "delivered-1"}
    delivered = await client.post(url, json={"status": "delivered"}, headers=step)
    again = await client.post(url, json={"status": "delivered"}, headers=step)
    assert (delivered.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == delivered.json()


async def test_bil_7_an_invoice_still_undelivered_after_its_date_is_reported_once_by_the_sweep(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "100.00"})
    promised = await client.post(
        "/v1/orders/o-1/invoices", json={"delivery": "post", "promised_by": "2026-05-08"}
    )
    assert promised.status_code == 201, promised.text
    await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "70.00"})
    unpromised = await client.post("/v1/orders/o-1/invoices", json={"delivery": "later_visit"})
    assert unpromised.status_code == 201, unpromised.text
    # No date promised: the policy's 7 days from issue (30 April in Shanghai).
    assert unpromised.json()["invoices"][1]["promised_by"] == "2026-05-07"
    factory = runtime.app.state.uow_factory

    async def sweep() -> int:
        return await sweep_invoice_deliveries(
            uow_factory=factory, calendar=runtime.calendar, clock=clock
        )

    clock.now = datetime(2026, 5, 7, 15, 59, tzinfo=UTC)  # 7 May 23:59 in Shanghai
    assert await sweep() == 0  # the whole promised day counts
    clock.now = datetime(2026, 5, 7, 16, 0, tzinfo=UTC)  # 8 May 00:00 in Shanghai
    assert await sweep() == 1  # the unpromised one, due 7 May
    clock.now = datetime(2026, 5, 8, 16, 0, tzinfo=UTC)  # 9 May 00:00 in Shanghai
    assert await sweep() == 1  # the one promised for 8 May
    assert await sweep() == 0  # once per invoice
    overdue = await outbox(runtime, "InvoiceDeliveryOverdue")
    assert [(e.data["invoice_number"], e.data["promised_by"]) for e in overdue] == [
        ("F2026-000002", "2026-05-07"),
        ("F2026-000001", "2026-05-08"),
    ]
    account = (await client.get("/v1/orders/o-1/charge")).json()
    assert all(i["overdue_reported_at"] for i in account["invoices"])


async def test_bil_7_an_invoice_promised_for_a_past_day_or_beyond_the_horizon_is_refused(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "170.00"})
    clock.now = datetime(2026, 4, 30, 17, 0, tzinfo=UTC)  # 1 May 01:00 in Shanghai

    refused = [
        await client.post(
            "/v1/orders/o-1/invoices", json={"delivery": "post", "promised_by": promised}
        )
        for promised in ("2026-04-30", "2026-06-01", "9999-12-31")
    ]

    for response in refused:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "promised_by"
    assert "before today (2026-05-01, Asia/Shanghai)" in refused[0].json()["detail"]
    assert "2026-05-31 at the latest" in refused[2].json()["detail"]
    assert await outbox(runtime, "InvoiceIssued") == []
    issued = await client.post(
        "/v1/orders/o-1/invoices", json={"delivery": "post", "promised_by": "2026-05-31"}
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["invoices"][0]["number"] == "F2026-000001"


async def test_bil_8_only_the_centre_waives_and_who_and_why_are_recorded(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    quote_id = await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    dispatcher = await key(runtime, "dispatcher")
    body = {"amount": "20.00", "reason": "customer disputed the call-out"}
    refused = await client.post("/v1/orders/o-1/waivers", json=body, headers=technician)
    assert refused.status_code == 403
    assert await outbox(runtime, "ChargeWaived") == []

    approved = await client.post("/v1/orders/o-1/waivers", json=body, headers=dispatcher)
    assert approved.status_code == 201, approved.text
    assert approved.json()["summary"]["charge"] == "150.00"
    [waived] = await outbox(runtime, "ChargeWaived")
    assert waived.data["quote_id"] == quote_id
    assert waived.data["approved_by"] == "dispatcher-1"
    assert waived.data["reason"] == body["reason"]
    too_much = await client.post(
        "/v1/orders/o-1/waivers", json={"amount": "150.01", "reason": "all"}, headers=dispatcher
    )
    assert too_much.status_code == 422


async def test_bil_8_a_refund_needs_the_centre_and_gets_its_own_receipt(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "170.00"},
        headers=technician,
    )
    await client.post("/v1/orders/o-1/waivers", json={"amount": "20.00", "reason": "overcharged"})
    body = {"method": "cash", "amount": "20.00", "refunded_by": "t-1", "reason": "overcharged"}
    assert (
        await client.post("/v1/orders/o-1/refunds", json=body, headers=technician)
    ).status_code == 403
    refunded = await client.post("/v1/orders/o-1/refunds", json=body)
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["receipt_number"] == "R2026-000002"
    assert refunded.json()["summary"]["paid"] == "150.00"
    assert (await outbox(runtime, "PaymentRefunded"))[0].data["approved_by"] == "bootstrap admin"
    cash = (await client.get("/v1/cash/t-1")).json()
    assert cash["cash_on_hand"] == "150.00"


async def test_bil_8_money_still_charged_is_refunded_only_after_a_waiver_reduces_the_charge(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    dispatcher = await key(runtime, "dispatcher")
    cash = {"method": "cash", "amount": "30.00"}
    paid = await client.post(
        "/v1/orders/o-1/payments", json={**cash, "amount": "170.00"}, headers=technician
    )
    assert paid.status_code == 201, paid.text
    refund = {**cash, "refunded_by": "t-1", "reason": "多收了 30 元"}

    refused = await client.post("/v1/orders/o-1/refunds", json=refund, headers=dispatcher)

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["refund_due"], problem["allowed"]) == ("0.00", ["waivers"])
    assert "waiver" in problem["detail"]
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert (charge["summary"]["paid"], charge["summary"]["balance"]) == ("170.00", "0.00")
    again = await client.post("/v1/orders/o-1/payments", json=cash, headers=technician)
    assert again.status_code == 422, again.text
    waived = await client.post(
        "/v1/orders/o-1/waivers",
        json={"amount": "30.00", "reason": "多收了 30 元"},
        headers=dispatcher,
    )
    assert waived.status_code == 201, waived.text
    assert waived.json()["refund_due"] == "30.00"
    refunded = await client.post("/v1/orders/o-1/refunds", json=refund, headers=dispatcher)
    assert refunded.status_code == 201, refunded.text
    summary = refunded.json()["summary"]
    assert (summary["charge"], summary["paid"], summary["balance"]) == (
        "140.00",
        "140.00",
        "0.00",
    )
    assert (await client.get("/v1/cash/t-1")).json()["cash_on_hand"] == "140.00"


async def test_bil_10_cash_is_paid_back_only_by_someone_holding_that_much(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "170.00"},
        headers=await key(runtime, "technician", technician_id="t-1"),
    )
    await client.post("/v1/orders/o-1/waivers", json={"amount": "170.00", "reason": "undone"})
    body = {"method": "cash", "amount": "170.00", "reason": "repair undone"}

    refused = await client.post("/v1/orders/o-1/refunds", json={**body, "refunded_by": "t-9"})
    by_mobile = await client.post(
        "/v1/orders/o-1/refunds", json={**body, "method": "mobile", "refunded_by": "t-9"}
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "holds 0.00" in refused.json()["detail"]
    assert by_mobile.status_code == 201, by_mobile.text
    assert (await client.get("/v1/cash/t-9")).json()["cash_on_hand"] == "0.00"
    assert [r.data["amount"] for r in await outbox(runtime, "ReceiptIssued")] == [
        "170.00",
        "-170.00",
    ]


async def test_bil_7_an_invoice_names_a_well_formed_tax_id_and_its_buyer(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    paid = await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "50"})
    assert paid.status_code == 201, paid.text

    wrong_check = await client.post(
        "/v1/orders/o-1/invoices",
        json={"buyer_name": "东营某公司", "buyer_tax_id": "91350100M000100Y44"},
    )
    nameless = await client.post(
        "/v1/orders/o-1/invoices", json={"buyer_tax_id": "91350100M000100Y43"}
    )
    issued = await client.post(
        "/v1/orders/o-1/invoices",
        json={"buyer_name": "东营某公司", "buyer_tax_id": "91350100m000100y43 "},
    )

    for refused in (wrong_check, nameless):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert issued.status_code == 201, issued.text
    assert issued.json()["invoices"][0]["buyer_tax_id"] == "91350100M000100Y43"


async def test_bil_7_bil_8_refunding_invoiced_money_issues_a_credit_invoice(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    pay = {"method": "mobile", "amount": "170.00"}
    assert (await client.post("/v1/orders/o-1/payments", json=pay)).status_code == 201
    invoiced = await client.post(
        "/v1/orders/o-1/invoices", json={"buyer_name": "王芳", "delivery": "on_site"}
    )
    assert invoiced.status_code == 201, invoiced.text
    refund = {"method": "mobile", "refunded_by": "clerk-1", "reason": "part not fitted"}

    for amount in ("70.00", "100.00"):
        waived = await client.post(
            "/v1/orders/o-1/waivers", json={"amount": amount, "reason": "part not fitted"}
        )
        assert waived.status_code == 201, waived.text
        done = await client.post("/v1/orders/o-1/refunds", json={**refund, "amount": amount})
        assert done.status_code == 201, done.text

    invoices = (await client.get("/v1/orders/o-1/charge")).json()["invoices"]
    assert [(i["number"], i["amount"], i["credits"]) for i in invoices] == [
        ("F2026-000001", "170.00", None),
        ("F2026-000002", "-70.00", "F2026-000001"),
        ("F2026-000003", "-100.00", "F2026-000001"),
    ]
    issued = await outbox(runtime, "InvoiceIssued")
    assert [(e.data["amount"], e.data.get("credits"), e.data["status"]) for e in issued] == [
        ("170.00", None, "delivered"),
        ("-70.00", "F2026-000001", "delivered"),
        ("-100.00", "F2026-000001", "delivered"),
    ]
    # all paid back, nothing is left to invoice
    again = await client.post("/v1/orders/o-1/invoices", json={"delivery": "electronic"})
    assert again.status_code == 409, again.text


async def test_bil_7_an_invoice_credited_in_full_is_not_chased_one_credited_in_part_still_is(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    for order_id in ("full", "part"):
        await accepted_order(runtime, order_id)
        paid = await client.post(
            f"/v1/orders/{order_id}/payments", json={"method": "mobile", "amount": "170.00"}
        )
        assert paid.status_code == 201, paid.text
        invoiced = await client.post(
            f"/v1/orders/{order_id}/invoices",
            json={"buyer_name": "王芳", "delivery": "post", "promised_by": "2026-05-08"},
        )
        assert invoiced.status_code == 201, invoiced.text
    for order_id, amount in (("full", "170.00"), ("part", "70.00")):
        waived = await client.post(
            f"/v1/orders/{order_id}/waivers", json={"amount": amount, "reason": "客户投诉"}
        )
        assert waived.status_code == 201, waived.text
        refunded = await client.post(
            f"/v1/orders/{order_id}/refunds",
            json={
                "method": "mobile",
                "amount": amount,
                "refunded_by": "t-1",
                "reason": "客户投诉退款",
            },
        )
        assert refunded.status_code == 201, refunded.text

    full = (await client.get("/v1/orders/full/charge")).json()["invoices"]
    part = (await client.get("/v1/orders/part/charge")).json()["invoices"]
    assert [(i["amount"], i["status"]) for i in full] == [
        ("170.00", "withdrawn"),
        ("-170.00", "withdrawn"),
    ]
    assert full[0]["not_chased_because"].startswith("reversed in full by credit invoice")
    assert [(i["amount"], i["status"]) for i in part] == [
        ("170.00", "to_deliver"),
        ("-70.00", "delivered"),
    ]
    # published as they stand: the credit invoice withdrawn with the invoice it reverses is not
    # announced as delivered electronically
    issued = await outbox(runtime, "InvoiceIssued")
    assert [(e.subject, e.data["amount"], e.data["status"]) for e in issued] == [
        ("full", "170.00", "to_deliver"),
        ("part", "170.00", "to_deliver"),
        ("full", "-170.00", "withdrawn"),
        ("part", "-70.00", "delivered"),
    ]
    clock.now = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)
    swept = await sweep_invoice_deliveries(
        uow_factory=runtime.app.state.uow_factory, calendar=runtime.calendar, clock=clock
    )
    assert swept == 1
    [overdue] = await outbox(runtime, "InvoiceDeliveryOverdue")
    assert (overdue.subject, overdue.data["invoice_number"]) == ("part", part[0]["number"])


async def test_bil_9_a_signature_that_does_not_match_the_charge_is_refused(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    wrong = await client.post("/v1/orders/o-1/signature", json={"amount": "100.00"})
    assert wrong.status_code == 409
    assert wrong.json()["charge"] == "170.00"
    assert wrong.json()["parts"] == {"P-IGN": "1"}


# --- gapless numbering under concurrency (BIL-7) ---------------------------------------------


async def test_bil_7_receipt_numbers_are_gapless_under_concurrent_payments(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    orders = [f"o-{i}" for i in range(12)]
    for order_id in orders:
        await accepted_order(runtime, order_id, fee("W02"))
    bus = runtime.app.state.bus

    async def pay(order_id: str, amount: str) -> str:
        _, payment = await bus.handle(
            commands.CollectPayment(
                order_id=order_id,
                method=PaymentMethod.CARD,
                amount=Decimal(amount),
                collected_by="desk-1",
            )
        )
        return str(payment.receipt_number)

    # Two partial payments per order, all at once; some overpay and are refused (rolled back).
    results = await asyncio.gather(
        *(pay(o, a) for o in orders for a in ("20.00", "30.00", "0.10")),
        return_exceptions=True,
    )
    numbers = sorted(r for r in results if isinstance(r, str))
    refused = [r for r in results if not isinstance(r, str)]
    assert len(numbers) == 24 and len(refused) == 12
    assert numbers == [f"R2026-{n:06d}" for n in range(1, 25)]

    async with runtime.session_factory() as session:
        from billing.adapters.repository import NumberSeries

        register = await NumberSeries(session).register("R2026")
    assert [d.seq for d in register] == list(range(1, 25))


async def test_bil_7_a_number_taken_in_a_rolled_back_transaction_is_given_back(
    runtime: ServiceRuntime,
) -> None:
    uow_factory = runtime.app.state.uow_factory
    async with uow_factory() as uow:
        first = await uow.numbers.take("F2026", kind="invoice", order_id="o", amount=1, at=T0)
        await uow.rollback()
    async with uow_factory() as uow:
        again = await uow.numbers.take("F2026", kind="invoice", order_id="o", amount=1, at=T0)
        await uow.commit()
    assert first == again == "F2026-000001"


# --- cash on hand (BIL-10) -----------------------------------------------------------------


async def test_bil_10_cash_over_the_limit_raises_remittance_due_at_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    expensive = {**SCHEDULE, "parts": [{"part_no": "P-IGN", "name": "主板", "price": "5000.0"}]}
    await publish(client, expensive)
    await accepted_order(runtime, "o-1", fee("W02"), IGNITER)
    await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "5050.00"},
        headers=await key(runtime, "technician", technician_id="t-1"),
    )
    [due] = await outbox(runtime, "CashRemittanceDue")
    assert due.subject == "t-1"
    assert due.data["reason"] == "over_amount" and due.data["cash_on_hand"] == "5050.00"
    assert due.data["order_ids"] == ["o-1"]

    remitted = await client.post("/v1/cash/t-1/remittances", json={"amount": "5050.00"})
    assert remitted.status_code == 201, remitted.text
    assert remitted.json()["cash_on_hand"] == "0.00"
    over = await client.post("/v1/cash/t-1/remittances", json={"amount": "0.10"})
    assert over.status_code == 422


async def test_bil_10_cash_held_over_two_working_days_is_found_by_the_periodic_check(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "170.00"},
        headers=await key(runtime, "technician", technician_id="t-1"),
    )
    policy, calendar = BillingPolicy(), runtime.calendar
    factory = runtime.app.state.uow_factory

    async def sweep() -> int:
        return await sweep_cash(uow_factory=factory, policy=policy, calendar=calendar, clock=clock)

    clock.now = datetime(2026, 5, 7, 2, 0, tzinfo=UTC)  # 2 working days later (1-5 May off)
    assert await sweep() == 0
    clock.now += timedelta(minutes=1)
    assert await sweep() == 1
    assert await sweep() == 0  # once per occasion
    [due] = await outbox(runtime, "CashRemittanceDue")
    assert due.data["reason"] == "held_too_long"


async def test_bil_10_daily_reconciliation_report(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    for method, amount in (("cash", "100.00"), ("card", "70.00")):
        paid = await client.post(
            "/v1/orders/o-1/payments",
            json={"method": method, "amount": amount},
            headers=technician,
        )
        assert paid.status_code == 201, paid.text
    report = (await client.get("/v1/reports/reconciliation", params={"day": "2026-04-30"})).json()
    [row] = report["holders"]
    assert row["holder_id"] == "t-1"
    assert (row["cash_collected"], row["card_collected"]) == ("100.00", "70.00")
    assert row["receipts"] == ["R2026-000001", "R2026-000002"]
    assert row["cash_on_hand_at_end"] == "100.00"
    assert report["total_collected"] == "170.00"
    empty = (await client.get("/v1/reports/reconciliation", params={"day": "2026-05-01"})).json()
    assert empty["total_collected"] == "0.00"


# --- retention (BIL-11) --------------------------------------------------------------------


async def test_bil_11_retention_anonymises_free_orders_after_one_year_paid_after_two(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    for order_id, paid, ticket in (
        ("free", False, False),
        ("paid", True, False),
        ("ticket", False, True),
    ):
        await send(runtime, order_created(order_id))
        await visit_closed(runtime, order_id, paid_work=paid)
        if ticket:  # fieldwork's sweep opens it the day after the visit closed (FLD-15)
            await send(
                runtime,
                CoordinationTicketOpened(
                    order_id=order_id,
                    ticket_id="ct-1",
                    owner="coordinator-1",
                    reason="not finished the same day",
                    opened_at=T0 + timedelta(days=1),
                    next_check_due=(T0 + timedelta(days=15)).date(),
                ),
            )
    policy, factory = BillingPolicy(), runtime.app.state.uow_factory

    async def retain() -> int:
        return await apply_retention(uow_factory=factory, policy=policy, clock=clock)

    clock.now = T0.replace(year=2027) - timedelta(minutes=1)
    assert await retain() == 0
    clock.now = T0.replace(year=2027)
    assert await retain() == 1
    events = (await client.get("/v1/orders/free/events")).json()["events"]
    assert not any(k.startswith("customer.") for e in events for k in e["summary"])
    kept = (await client.get("/v1/orders/paid/events")).json()["events"]
    assert kept[0]["summary"]["customer.name"] == "王芳"
    # An event after the retention (a reopened order's corrected details) keeps no personal data.
    await send(
        runtime,
        OrderVerified(
            order_id="free", verified=["customer.phones"], customer=order_created("x").customer
        ),
    )
    late = (await client.get("/v1/orders/free/events")).json()["events"]
    assert [e["type"] for e in late][-1] == "OrderVerified"
    assert not any(k.startswith("customer.") for e in late for k in e["summary"])
    clock.now = T0.replace(year=2028)
    assert await retain() == 1
    clock.now = T0.replace(year=2040)
    assert await retain() == 0  # coordination tickets are kept
    ticket = (await client.get("/v1/orders/ticket/events")).json()["events"]
    assert ticket[0]["summary"]["customer.name"] == "王芳"
    # every other service is told to erase its copy, once per order, never for the ticket
    expired = await outbox(runtime, "OrderRetentionExpired")
    assert [(e.subject, e.data["retention_class"]) for e in expired] == [
        ("free", "free"),
        ("paid", "paid_work"),
    ]
    assert expired[0].data["ended_at"] == T0.isoformat().replace("+00:00", "Z")


async def test_bil_11_paid_orders_not_due_yet_never_crowd_a_due_free_order_out_of_the_batch(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    for order_id, paid in (("paid-1", True), ("paid-2", True), ("free", False)):
        await send(runtime, order_created(order_id))
        await visit_closed(
            runtime,
            order_id,
            closed_at=T0 + timedelta(minutes=1 if order_id == "free" else 0),
            paid_work=paid,
        )
    clock.now = T0 + timedelta(days=500)  # free ones are due (1 year), paid ones not (2)

    anonymised = await apply_retention(
        uow_factory=runtime.app.state.uow_factory, policy=BillingPolicy(), clock=clock, batch=2
    )

    assert anonymised == 1
    events = (await client.get("/v1/orders/free/events")).json()["events"]
    assert not any(k.startswith("customer.") for e in events for k in e["summary"])


async def test_bil_11_an_order_resolved_by_phone_is_anonymised_a_year_later_unless_reopened(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    for order_id in ("remote", "reopened"):
        await send(runtime, order_created(order_id))
        await send(
            runtime,
            OrderResolvedRemotely(order_id=order_id, guidance="指导复位", resolved_by="agent-1"),
        )
    await send(
        runtime,
        OrderReopened(order_id="reopened", reason="电话指导无效", reopened_by="agent-1"),
        at=T0 + timedelta(hours=3),
    )
    policy, factory = BillingPolicy(), runtime.app.state.uow_factory

    async def retain() -> int:
        return await apply_retention(uow_factory=factory, policy=policy, clock=clock)

    clock.now = T0.replace(year=2027) - timedelta(minutes=1)
    assert await retain() == 0
    clock.now = T0.replace(year=2027)
    assert await retain() == 1
    remote = (await client.get("/v1/orders/remote/events")).json()["events"]
    assert [e["type"] for e in remote] == ["OrderCreated", "OrderResolvedRemotely"]
    assert not any(k.startswith("customer.") for e in remote for k in e["summary"])
    clock.now = T0.replace(year=2040)
    assert await retain() == 0  # open again: kept
    kept = (await client.get("/v1/orders/reopened/events")).json()["events"]
    assert kept[0]["summary"]["customer.name"] == "王芳"
    # the reopened order ends with its visit, and is kept a year from then
    await visit_closed(runtime, "reopened", closed_at=T0 + timedelta(days=2), paid_work=False)
    assert await retain() == 1


# --- settlements (BIL-12) ------------------------------------------------------------------


async def test_bil_12_monthly_settlement_per_network_as_json_and_csv(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", network="net-9")
    await send(
        runtime,
        RepairCompleted(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            tested=True,
            sure_fixed=True,
            on_site_minutes=40,
        ),
    )
    partner = await key(runtime, "partner", network_id="net-9")
    other = await key(runtime, "partner", network_id="net-1")
    paid = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "170.00"}, headers=partner
    )
    assert paid.status_code == 201, paid.text

    statement = await client.get("/v1/settlements/net-9/2026-04", headers=partner)
    assert statement.status_code == 200, statement.text
    body = statement.json()
    assert (body["fees_collected"], body["service_fees_owed"]) == ("170.00", "50.00")
    assert body["net_payable_to_network"] == "-120.00"
    as_csv = await client.get(
        "/v1/settlements/net-9/2026-04", params={"format": "csv"}, headers=partner
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert {r[3] for r in rows[1:3]} == {"service_fee", "fee_collected"}
    assert (await client.get("/v1/settlements/net-9/2026-04", headers=other)).status_code == 403
    assert (await client.get("/v1/settlements/net-9/2026-05")).json()["items"] == []
    assert (await client.get("/v1/settlements/net-9/2026-13")).status_code == 422
    assert (await client.get("/v1/orders/o-1/charge", headers=other)).status_code == 404
    assert (await client.get("/v1/orders/o-1/charge", headers=partner)).status_code == 200


async def test_bil_12_money_taken_at_the_centre_desk_is_not_on_the_network_statement(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", network="net-9")
    clerk = await key(runtime, "agent", name="clerk-1")
    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "170.00", "collected_by": "clerk-1", "at_desk": True},
        headers=clerk,
    )
    assert paid.status_code == 201, paid.text
    await client.post("/v1/orders/o-1/waivers", json={"amount": "20.00", "reason": "goodwill"})
    refunded = await client.post(
        "/v1/orders/o-1/refunds",
        json={"method": "cash", "amount": "20.00", "refunded_by": "clerk-1", "reason": "goodwill"},
    )
    assert refunded.status_code == 201, refunded.text

    body = (await client.get("/v1/settlements/net-9/2026-04")).json()

    assert body["fees_collected"] == "0.00"
    assert [i["kind"] for i in body["items"]].count("fee_collected") == 0
    ledger = (await client.get("/v1/cash/clerk-1")).json()
    assert ledger["cash_on_hand"] == "150.00"


async def test_bil_12_odd_months_ids_and_holders_are_4xx_problems_and_csv_names_are_safe(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    for month in ("0000-01", "9999-12"):
        odd = await client.get(f"/v1/settlements/net-9/{month}")
        assert odd.status_code == 422, odd.text
        assert odd.headers["content-type"] == "application/problem+json"
    # a Chinese or quoted id is no network's (test_settlement_network_ids): 422, not a file name
    chinese = await client.get('/v1/settlements/网点"1/2026-04', params={"format": "csv"})
    assert chinese.status_code == 422, chinese.text
    assert chinese.headers["content-type"] == "application/problem+json"
    named = await client.get("/v1/settlements/net-9:a.b_c/2026-04", params={"format": "csv"})
    assert named.status_code == 200, named.text
    disposition = named.headers["content-disposition"]
    assert 'filename="settlement-net-9_a.b_c-2026-04.csv"' in disposition
    assert "filename*=UTF-8''settlement-net-9%3Aa.b_c-2026-04.csv" in disposition
    long_holder = await client.post(f"/v1/cash/{'t' * 201}/remittances", json={"amount": "1.00"})
    assert long_holder.status_code == 422
    assert long_holder.headers["content-type"] == "application/problem+json"


async def test_bil_12_a_refund_comes_off_the_statement_of_the_network_that_took_the_money(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", network="net-a")
    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={
            "method": "cash",
            "amount": "170.00",
            "collected_by": "ta-1",
            "correction_reason": "ta-1's phone was dead on site",
        },
    )
    assert paid.status_code == 201, paid.text
    await send(
        runtime,
        OrderReassigned(
            order_id="o-1",
            visit_id="v-2",
            assignee_kind=AssigneeKind.NETWORK,
            network_id="net-b",
            previous_assignee_kind=AssigneeKind.NETWORK,
            previous_network_id="net-a",
            reassigned_by="disp-1",
        ),
    )
    await client.post("/v1/orders/o-1/waivers", json={"amount": "170.00", "reason": "undone"})
    refunded = await client.post(
        "/v1/orders/o-1/refunds",
        json={"method": "cash", "amount": "170.00", "refunded_by": "ta-1", "reason": "undone"},
    )
    assert refunded.status_code == 201, refunded.text

    net_a = (await client.get("/v1/settlements/net-a/2026-04")).json()
    net_b = (await client.get("/v1/settlements/net-b/2026-04")).json()

    assert net_a["fees_collected"] == "0.00"
    # booked at one instant by the test clock: their order on the statement is the ids'
    assert sorted(i["amount"] for i in net_a["items"] if i["kind"] == "fee_collected") == [
        "-170.00",
        "170.00",
    ]
    assert net_b["fees_collected"] == "0.00" and net_b["items"] == []


async def test_bil_10_a_partner_reads_its_own_and_its_technicians_cash_not_anyone_elses(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    partner = await held_by_own_technician(runtime, client, "o-1")
    cash = {"method": "cash", "amount": "50.00"}
    for named in ("net9-tech-1", None):
        body = cash if named is None else {**cash, "collected_by": named}
        paid = await client.post("/v1/orders/o-1/payments", json=body, headers=partner)
        assert paid.status_code == 201, paid.text
    await accepted_order(runtime, "o-2")  # the centre's technician t-1
    technician = await key(runtime, "technician", technician_id="t-1")
    paid = await client.post("/v1/orders/o-2/payments", json=cash, headers=technician)
    assert paid.status_code == 201, paid.text
    other_network = await key(runtime, "partner", network_id="net-2")

    own = await client.get("/v1/cash/partner-1", headers=partner)
    own_technician = await client.get("/v1/cash/net9-tech-1", headers=partner)
    centre_technician = await client.get("/v1/cash/t-1", headers=partner)
    never_held_cash = await client.get("/v1/cash/desk-7", headers=partner)
    another_network = await client.get("/v1/cash/net9-tech-1", headers=other_network)

    assert own.status_code == 200 and own.json()["cash_on_hand"] == "50.00", own.text
    assert own_technician.status_code == 200, own_technician.text
    assert own_technician.json()["cash_on_hand"] == "50.00"
    for refused in (centre_technician, never_held_cash, another_network):
        assert refused.status_code == 404, refused.text  # as an unknown ledger
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/cash/t-1")).json()["cash_on_hand"] == "50.00"  # the centre


async def test_bil_12_a_network_that_names_its_own_technician_still_holds_the_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # The network's dispatcher gives the order to one of its own technicians.
    partner = await held_by_own_technician(runtime, client, "o-7")
    charge = await client.get("/v1/orders/o-7/charge", headers=partner)
    assert charge.status_code == 200, charge.text


async def test_idempotency_keys_are_kept_as_long_as_the_policy_says(
    runtime: ServiceRuntime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    policy = runtime.app.state.policy.model_copy(update={"idempotency_key_ttl_hours": 2})
    monkeypatch.setattr(runtime.app.state, "policy", policy)
    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "mobile", "amount": "50.00"},
        headers={"Idempotency-Key": "pay-1"},
    )
    assert paid.status_code == 201, paid.text
    async with runtime.session_factory() as session:
        [record] = (await session.execute(select(IdempotencyRecord))).scalars().all()
    assert aware(record.expires_at) - aware(record.created_at) == timedelta(hours=2)


async def test_bil_11_paid_orders_just_short_of_their_retention_never_crowd_a_due_free_order_out(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    # The sweep's database cutoff runs a little early (leap days); paid orders inside that margin
    # but not due come first by their end and must not take the whole batch every sweep.
    for order_id, paid, closed_at in (
        ("paid-1", True, T0),
        ("paid-2", True, T0),
        ("free", False, T0 + timedelta(days=1)),
    ):
        await send(runtime, order_created(order_id))
        await visit_closed(runtime, order_id, closed_at=closed_at, paid_work=paid)
    clock.now = T0 + timedelta(days=729)  # paid ones due at T0 + 731 days, the free one long since

    anonymised = await apply_retention(
        uow_factory=runtime.app.state.uow_factory, policy=BillingPolicy(), clock=clock, batch=2
    )

    assert anonymised == 1
    events = (await client.get("/v1/orders/free/events")).json()["events"]
    assert not any(k.startswith("customer.") for e in events for k in e["summary"])
    kept = (await client.get("/v1/orders/paid-1/events")).json()["events"]
    assert kept[0]["summary"]["customer.name"] == "王芳"
