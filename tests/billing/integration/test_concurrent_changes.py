"""Concurrent changes of billing's accounts and ledgers on PostgreSQL (READ COMMITTED): the event
consumer, REST commands and the periodic jobs of several replicas lock what they change before
deciding, so no quote, payment or alert is lost or raised twice. Each race holds a real handler
at its commit while a second transaction runs (see ``support.races``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from sqlalchemy import select
from support.races import Gate, hold_at_commit, postgres_only, race

from billing.domain import commands
from billing.domain.schedule import ScheduleContent
from billing.service_layer import handlers
from billing.service_layer.unit_of_work import BillingUnitOfWork
from contracts.base import EventData
from contracts.common import (
    Channel,
    Customer,
    Fault,
    Product,
    WarrantyStatus,
    WorkItem,
    WorkItemKind,
)
from contracts.envelope import EventEnvelope
from contracts.fieldwork import QuoteAccepted, QuoteRequested
from contracts.intake import OrderCreated
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock

# Row and advisory locks are what these tests are about.
pytestmark = postgres_only

SCHEDULE = {
    "fees": [{"fee_code": "W02", "description": "疏通下水", "price": "50.0"}],
    "parts": [{"part_no": "P-IGN", "name": "点火器", "price": "120.0"}],
}


def paused(runtime: ServiceRuntime, gate: Gate) -> Callable[[], BillingUnitOfWork]:
    """Billing's units of work, each stopping before its commit at the gate (locks held)."""
    return lambda: hold_at_commit(BillingUnitOfWork(runtime.session_factory), gate)


# --- helpers --------------------------------------------------------------------------------------


async def send(runtime: ServiceRuntime, payload: EventData) -> None:
    await runtime.handle_event(EventEnvelope.wrap(payload, time=T0))


def consume(runtime: ServiceRuntime, gate: Gate, payload: EventData) -> Awaitable[None]:
    """The consumer's handler applying ``payload``, stopping at the gate."""
    return handlers.record_event(
        EventEnvelope.wrap(payload, time=T0),
        uow=paused(runtime, gate)(),
        policy=runtime.app.state.policy,
        clock=lambda: T0,
        tz=runtime.calendar.tz,
    )


def order_created(order_id: str) -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        customer=Customer.model_validate(
            {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
        ),
        product=Product(line="water_heater", model="JSQ24"),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        warranty_status=WarrantyStatus.OUT_OF_WARRANTY,
    )


def quote_requested(order_id: str) -> QuoteRequested:
    return QuoteRequested(
        order_id=order_id,
        visit_id="v-1",
        request_id=str(uuid.uuid4()),
        items=[WorkItem(kind=WorkItemKind.FEE, description="W02", fee_code="W02", handled_at=T0)],
    )


async def outbox(runtime: ServiceRuntime, name: str) -> list[EventEnvelope]:
    async with runtime.session_factory() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    envelopes = [EventEnvelope.model_validate_json(r.payload) for r in rows]
    return [e for e in envelopes if e.event_name == name]


async def accepted_order(runtime: ServiceRuntime, client: httpx.AsyncClient, order_id: str) -> None:
    """An out-of-warranty order (the schedule published) whose 50.00 quote was accepted."""
    if not (await client.get("/v1/fee-schedules/water_heater")).is_success:
        published = await client.post("/v1/fee-schedules/water_heater/versions", json=SCHEDULE)
        assert published.status_code == 201, published.text
    await send(runtime, order_created(order_id))
    await send(runtime, quote_requested(order_id))
    [issued] = [e for e in await outbox(runtime, "QuoteIssued") if e.subject == order_id]
    await send(
        runtime, QuoteAccepted(order_id=order_id, visit_id="v-1", quote_id=issued.data["quote_id"])
    )


# --- BIL-1: a fee schedule published while a quote request comes in ---------------------------


async def test_bil_1_a_quote_requested_while_the_first_schedule_is_published_is_priced(
    runtime: ServiceRuntime,
) -> None:
    await send(runtime, order_created("o-1"))
    publish = commands.PublishFeeSchedule(
        product_line="water_heater",
        content=ScheduleContent.model_validate(SCHEDULE),
        published_by="admin",
    )

    # The consumer finds no schedule yet and keeps the request waiting; meanwhile it is published.
    gate = Gate()
    await race(
        runtime.engine,
        gate,
        consume(runtime, gate, quote_requested("o-1")),
        lambda: runtime.app.state.bus.handle(publish),
    )

    issued = [e for e in await outbox(runtime, "QuoteIssued") if e.subject == "o-1"]
    assert len(issued) == 1
    async with runtime.app.state.uow_factory() as uow:
        account = await uow.accounts.get("o-1", for_update=False)
    assert account is not None and not account.pending


# --- the money sweeps of two replicas at once (each row locked, then re-checked) ---------------


async def test_bil_7_two_replicas_sweeping_at_once_report_an_overdue_invoice_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await accepted_order(runtime, client, "o-1")
    paid = await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "50"})
    assert paid.status_code == 201, paid.text
    invoiced = await client.post("/v1/orders/o-1/invoices", json={"delivery": "later_visit"})
    assert invoiced.status_code == 201, invoiced.text
    clock.now = datetime(2026, 5, 7, 16, 0, tzinfo=UTC)  # 8 May in Shanghai: due 7 May

    def sweep(uow_factory: Callable[[], BillingUnitOfWork]) -> Awaitable[int]:
        return handlers.sweep_invoice_deliveries(
            uow_factory=uow_factory, calendar=runtime.calendar, clock=clock
        )

    gate = Gate()
    first, second, _ = await race(
        runtime.engine,
        gate,
        sweep(paused(runtime, gate)),
        lambda: sweep(runtime.app.state.uow_factory),
    )

    assert first + second == 1
    assert len(await outbox(runtime, "InvoiceDeliveryOverdue")) == 1


async def test_bil_10_two_replicas_sweeping_at_once_raise_cash_remittance_due_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await accepted_order(runtime, client, "o-1")
    collected = await client.post(
        "/v1/orders/o-1/payments",
        json={
            "method": "cash",
            "amount": "50.00",
            "collected_by": "t-1",
            "correction_reason": "t-1's phone was dead on site",
        },
    )
    assert collected.status_code == 201, collected.text
    clock.now = datetime(2026, 5, 7, 2, 1, tzinfo=UTC)  # over 2 working days (1-5 May off)

    def sweep(uow_factory: Callable[[], BillingUnitOfWork]) -> Awaitable[int]:
        return handlers.sweep_cash(
            uow_factory=uow_factory,
            policy=runtime.app.state.policy,
            calendar=runtime.calendar,
            clock=clock,
        )

    gate = Gate()
    first, second, _ = await race(
        runtime.engine,
        gate,
        sweep(paused(runtime, gate)),
        lambda: sweep(runtime.app.state.uow_factory),
    )

    assert first + second == 1
    [due] = await outbox(runtime, "CashRemittanceDue")
    assert due.data["reason"] == "held_too_long" and Decimal(due.data["cash_on_hand"]) == 50


async def test_bil_10_the_first_two_cash_movements_of_a_new_holder_at_once_both_count(
    runtime: ServiceRuntime,
) -> None:
    async def collect(uow: BillingUnitOfWork, order_id: str) -> None:
        async with uow:
            ledger = uow.track(await uow.cash.lock_or_open("t-new"))
            ledger.collected(amount=Decimal("50.00"), order_id=order_id, at=T0)
            await uow.cash.save(ledger)
            await uow.commit()

    gate = Gate()
    outcome = await race(
        runtime.engine,
        gate,
        collect(paused(runtime, gate)(), "o-1"),
        lambda: collect(runtime.app.state.uow_factory(), "o-2"),
    )

    assert outcome.waited
    async with runtime.app.state.uow_factory() as uow:
        ledger = await uow.cash.get("t-new")
    assert ledger.on_hand == Decimal("100.00")
