"""Billing records the events that concern it, once, and shows them per order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from billing.bootstrap import PRODUCERS, SPEC, bootstrap
from billing.domain.model import EVENTS_OF_INTEREST
from billing.settings import BillingSettings
from contracts.common import Channel, Customer, Fault, Product
from contracts.envelope import EventEnvelope
from contracts.fieldwork import DiagnosisRecorded
from contracts.identity import Role
from contracts.intake import OrderCreated
from contracts.registry import REGISTRY
from contracts.topics import events_topic
from servicekit.auth import generate_key, issued_event
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    runtime = bootstrap(
        BillingSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db",
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
        )
    )
    await runtime.migrate()
    yield runtime
    await runtime.engine.dispose()


@pytest.fixture
async def client(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=runtime.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def diagnosed(order_id: str) -> EventEnvelope:
    return EventEnvelope.wrap(
        DiagnosisRecorded(
            order_id=order_id,
            visit_id="visit-1",
            technician_id="tech-7",
            cause="igniter worn out",
            chargeable=True,
        )
    )


def created(order_id: str) -> EventEnvelope:
    return EventEnvelope.wrap(
        OrderCreated(
            order_id=order_id,
            customer=Customer.model_validate(
                {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
            ),
            product=Product.model_validate({"line": "water_heater"}),
            fault=Fault(description="热水器打不着火"),
            channel=Channel.HOTLINE,
        )
    )


async def test_a_diagnosis_is_recorded_once_and_shown_for_its_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    handle = runtime.handle_event
    envelope = diagnosed("order-1")

    await handle(envelope)
    await handle(envelope)

    response = await client.get("/v1/orders/order-1/events", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["order_id"] == "order-1"
    assert [e["event_id"] for e in body["events"]] == [str(envelope.id)]
    entry = body["events"][0]
    assert entry["type"] == "DiagnosisRecorded"
    assert entry["version"] == 1
    assert entry["source"] == "/fsm/fieldwork"
    assert entry["summary"]["technician_id"] == "tech-7"
    assert "order_id" not in entry["summary"]


async def test_events_are_listed_oldest_first(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    handle = runtime.handle_event
    first, second = created("order-2"), diagnosed("order-2")

    await handle(second)
    await handle(first)

    response = await client.get("/v1/orders/order-2/events", headers=AUTH)
    assert [e["type"] for e in response.json()["events"]] == ["OrderCreated", "DiagnosisRecorded"]


async def test_events_of_no_interest_are_not_recorded(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    handle = runtime.handle_event
    # Built by hand: the handler relies on the envelope alone, never on parsing its data.
    envelope = diagnosed("order-3").model_copy(update={"type": "fsm.SlaBreached.v1"})

    await handle(envelope)

    response = await client.get("/v1/orders/order-3/events", headers=AUTH)
    assert response.status_code == 404


async def test_an_unknown_order_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/orders/nobody-knows/events", headers=AUTH)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


async def test_reading_needs_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/orders/order-1/events")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def issue_key(runtime: ServiceRuntime, role: Role) -> str:
    """A key of ``role``, applied the way every service learns keys: from ApiKeyIssued."""
    raw = generate_key()
    issued = issued_event(
        key_id=str(uuid.uuid4()),
        raw_key=raw,
        role=role,
        name=f"a {role}",
        network_id=None,
        technician_id="tech-7" if role == "technician" else None,
        expires_at=None,
    )
    await runtime.handle_event(EventEnvelope.wrap(issued))
    return raw


async def test_agents_may_read_and_technicians_may_not(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await runtime.handle_event(created("order-4"))
    agent, technician = await issue_key(runtime, "agent"), await issue_key(runtime, "technician")

    as_agent = await client.get(
        "/v1/orders/order-4/events", headers={"Authorization": f"Bearer {agent}"}
    )
    as_technician = await client.get(
        "/v1/orders/order-4/events", headers={"Authorization": f"Bearer {technician}"}
    )

    assert as_agent.status_code == 200
    assert as_technician.status_code == 403
    assert as_technician.headers["content-type"].startswith("application/problem+json")


def test_it_subscribes_to_the_producers_of_every_event_of_interest() -> None:
    producers = {m.event_type: m.producer for m in REGISTRY.values()}
    assert {producers[name] for name in EVENTS_OF_INTEREST} == set(PRODUCERS)
    assert list(SPEC.subscribe) == [events_topic(p) for p in PRODUCERS]
