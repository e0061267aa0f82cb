"""Quote requests against a real database (SQLite and PostgreSQL): the schedule version in
force when the technician asked prices the quote (BIL-1); a request too large to price is
answered as refused (QuoteRefused, once), not dropped; material lines round once (BIL-4)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from billing.domain.policy import BillingPolicy
from billing.domain.schedule import FeeSchedule, ScheduleContent
from billing.service_layer.handlers import price_waiting_quotes
from contracts.common import AssigneeKind, WorkItem, WorkItemKind
from contracts.fieldwork import QuoteAccepted
from contracts.scheduling import OrderAssigned
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock
from .test_billing_api import SCHEDULE, fee, order_created, outbox, publish, quote_requested, send

V2 = {**SCHEDULE, "fees": [{"fee_code": "W02", "description": "疏通下水", "price": "80.0"}]}


async def _order(runtime: ServiceRuntime, order_id: str) -> None:
    await send(runtime, order_created(order_id))
    await send(
        runtime,
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            network_id=None,
            technician_id="t-1",
            assigned_by="disp-1",
        ),
    )


async def _issued(runtime: ServiceRuntime, order_id: str) -> list[dict[str, Any]]:
    return [e.data for e in await outbox(runtime, "QuoteIssued") if e.subject == order_id]


async def test_bil_1_a_request_is_priced_by_the_version_in_force_when_it_was_made(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)  # v1 at T0: W02 50
    await _order(runtime, "o-1")
    clock.now = T0 + timedelta(minutes=10)
    await publish(client, V2)  # v2 at T0+10 min: W02 80
    clock.now = T0 + timedelta(minutes=12)
    # asked at T0+1 min (v1 in force), heard by billing after v2 was published
    await send(runtime, quote_requested("o-1", fee("W02")), at=T0 + timedelta(minutes=1))

    [issued] = await _issued(runtime, "o-1")
    assert issued["schedule_version"] == "water_heater@v1"
    assert issued["total"] == "50.00"


async def test_bil_1_a_request_made_after_a_new_version_is_priced_by_it(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await _order(runtime, "o-1")
    clock.now = T0 + timedelta(minutes=10)
    await publish(client, V2)
    await send(runtime, quote_requested("o-1", fee("W02")), at=T0 + timedelta(minutes=11))

    [issued] = await _issued(runtime, "o-1")
    assert issued["schedule_version"] == "water_heater@v2"
    assert issued["total"] == "80.00"


async def test_bil_1_a_supplement_is_priced_by_the_version_in_force_at_its_request(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await _order(runtime, "o-1")
    await send(runtime, quote_requested("o-1", fee("W02")))
    [first] = await _issued(runtime, "o-1")
    await send(runtime, QuoteAccepted(order_id="o-1", visit_id="v-1", quote_id=first["quote_id"]))
    clock.now = T0 + timedelta(minutes=20)
    await publish(client, V2)
    # the supplement was asked for at T0+5 min, before v2
    supplement = quote_requested("o-1", fee("W02"), request_id="req-2")
    await send(runtime, supplement, at=T0 + timedelta(minutes=5))

    second = (await _issued(runtime, "o-1"))[-1]
    assert second["request_id"] == "req-2"
    assert second["schedule_version"] == "water_heater@v1"
    assert second["total"] == "50.00"


async def test_bil_1_a_request_waiting_for_a_schedule_is_priced_by_the_first_one_published(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await _order(runtime, "o-1")
    await send(runtime, quote_requested("o-1", fee("W02")))  # at T0, no schedule yet
    clock.now = T0 + timedelta(minutes=5)
    await publish(client)
    [issued] = await _issued(runtime, "o-1")
    assert issued["schedule_version"] == "water_heater@v1"
    assert issued["total"] == "50.00"


async def test_bil_1_the_sweep_prices_a_waiting_request_by_the_first_version_after_it(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await _order(runtime, "o-1")
    await send(runtime, quote_requested("o-1", fee("W02")))
    async with runtime.app.state.uow_factory() as uow:  # published without pricing (a crash)
        for version, body, minutes in ((1, SCHEDULE, 5), (2, V2, 10)):
            await uow.schedules.add(
                FeeSchedule.publish(
                    product_line="water_heater",
                    previous_version=version - 1 or None,
                    content=ScheduleContent.model_validate(body),
                    published_by="ops",
                    now=T0 + timedelta(minutes=minutes),
                )
            )
        await uow.commit()
    priced = await price_waiting_quotes(
        uow_factory=runtime.app.state.uow_factory,
        policy=BillingPolicy(),
        clock=lambda: T0 + timedelta(minutes=15),
        tz=runtime.calendar.tz,
    )
    assert priced == 1
    [issued] = await _issued(runtime, "o-1")
    assert issued["schedule_version"] == "water_heater@v1"


async def test_bil_4_ten_cheap_units_off_the_schedule_are_marked_up_and_rounded_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await _order(runtime, "o-1")
    item = _material("0.35", quantity="10")
    await send(runtime, quote_requested("o-1", item))
    [issued] = await _issued(runtime, "o-1")
    assert issued["total"] == "4.60"
    assert issued["lines"][0]["unit_price"] == "0.46"


async def test_a_request_too_large_to_price_is_recorded_as_refused_not_dropped(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await _order(runtime, "o-1")
    huge = _material("99999.99", quantity="999999999.999")
    clock.now = T0 + timedelta(minutes=1)
    await send(runtime, quote_requested("o-1", huge))  # handled: no exception, no dead letter

    assert await _issued(runtime, "o-1") == []
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["pending_requests"] == []
    [refused] = charge["refused_requests"]
    assert refused["request_id"] == "req-1"
    assert refused["visit_id"] == "v-1"
    assert "too large" in refused["reason"]
    assert refused["refused_at"] == "2026-04-30T02:01:00Z"

    # the same request heard again is not refused twice; a priceable one is still quoted
    await send(runtime, quote_requested("o-1", huge))
    await send(runtime, quote_requested("o-1", fee("W02"), request_id="req-2"))
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert len(charge["refused_requests"]) == 1
    [issued] = await _issued(runtime, "o-1")
    assert issued["request_id"] == "req-2"


async def test_bil_1_a_refused_request_publishes_quote_refused_once_for_fieldwork(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await publish(client)
    await _order(runtime, "o-1")
    huge = _material("99999.99", quantity="999999999.999")
    clock.now = T0 + timedelta(minutes=1)
    heard = await send(runtime, quote_requested("o-1", huge))

    [refused] = await outbox(runtime, "QuoteRefused")
    [recorded] = (await client.get("/v1/orders/o-1/charge")).json()["refused_requests"]
    assert refused.subject == "o-1"
    assert refused.data == {
        "order_id": "o-1",
        "visit_id": "v-1",
        "request_id": "req-1",
        "reason": recorded["reason"],
        "refused_at": "2026-04-30T02:01:00Z",
    }

    # redelivered (the same event again, or the same request in another one): told once
    await runtime.handle_event(heard)
    await send(runtime, quote_requested("o-1", huge))
    assert len(await outbox(runtime, "QuoteRefused")) == 1

    # the technician's corrected request (a new request id) is priced
    await send(runtime, quote_requested("o-1", fee("W02"), request_id="req-2"))
    [issued] = await _issued(runtime, "o-1")
    assert issued["request_id"] == "req-2"
    assert len(await outbox(runtime, "QuoteRefused")) == 1


async def test_a_stock_price_too_large_for_a_quote_line_is_refused(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await _order(runtime, "o-1")
    item = _material("999999999999.99")
    await send(runtime, quote_requested("o-1", item))
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [r["request_id"] for r in charge["refused_requests"]] == ["req-1"]
    assert await _issued(runtime, "o-1") == []


def _material(stock_price: str, *, quantity: str = "1") -> WorkItem:
    """A material off the schedule, priced from its stock price (BIL-4)."""
    return WorkItem(
        kind=WorkItemKind.MATERIAL,
        description="垫圈",
        part_no="M-X",
        stock_price=Decimal(stock_price),
        quantity=Decimal(quantity),
    )
