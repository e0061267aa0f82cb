"""Fixtures of intake's integration tests: a runtime on a real database with a clock the test
moves, clients per role, and helpers to read what was staged in the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from contracts.registry import parse_data
from intake.adapters.tables import OrderRow
from intake.bootstrap import bootstrap
from intake.entrypoints.consumer import make_handler
from intake.settings import IntakeSettings
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

ADMIN = "intake-admin-key-0123456789"


class FakeClock:
    """The domain's clock; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Intake:
    """A runtime with clients per role."""

    runtime: ServiceRuntime
    clock: FakeClock
    admin: httpx.AsyncClient
    clients: dict[str, httpx.AsyncClient]

    async def as_role(self, role: str, **binding: str) -> httpx.AsyncClient:
        """A client with a new key of ``role`` (partner: network_id=...)."""
        issued = await self.admin.post(
            "/v1/api-keys", json={"name": f"{role} {len(self.clients)}", "role": role, **binding}
        )
        assert issued.status_code == 201, issued.text
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.runtime.app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {issued.json()['key']}"},
        )
        self.clients[f"{role}-{len(self.clients)}"] = client
        return client

    async def events(self, event_type: str | None = None) -> list[EventData]:
        """The payloads staged in the outbox, oldest first (optionally one type)."""
        async with self.runtime.session_factory() as session:
            rows = (
                await session.execute(select(OutboxMessage).order_by(OutboxMessage.seq))  # type: ignore[arg-type]
            ).scalars()
            envelopes = [EventEnvelope.model_validate_json(r.payload) for r in rows]
        return [
            parse_data(e) for e in envelopes if event_type is None or e.event_name == event_type
        ]

    async def order_count(self) -> int:
        async with self.runtime.session_factory() as session:
            return int(
                (await session.execute(select(func.count()).select_from(OrderRow))).scalar_one()
            )

    async def deliver(self, payload: EventData, *, at: datetime | None = None) -> None:
        """Hand an event of another service to intake's consumer handler."""
        handle = make_handler(self.runtime.app.state.uow_factory, clock=self.clock)
        await handle(EventEnvelope.wrap(payload, time=at or self.clock()))


@pytest.fixture
def clock() -> FakeClock:
    """Friday 2025-05-30 10:00 in Shanghai (Dragon Boat holiday from Saturday to Monday)."""
    return FakeClock(datetime(2025, 5, 30, 2, 0, tzinfo=UTC))


@pytest.fixture
async def intake(database_url: str, clock: FakeClock) -> AsyncIterator[Intake]:
    runtime = bootstrap(
        IntakeSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN,
            run_consumer=False,
            run_relay=False,
            run_periodic_jobs=False,
        ),
        clock=clock,
    )
    await runtime.migrate()
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://intake",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    box = Intake(runtime=runtime, clock=clock, admin=admin, clients={})
    try:
        yield box
    finally:
        for client in [admin, *box.clients.values()]:
            await client.aclose()
        await runtime.engine.dispose()


def order_body(**changes: Any) -> dict[str, Any]:
    """A complete order body; ``changes`` replace top-level parts."""
    body: dict[str, Any] = {
        "customer": {
            "name": "王芳",
            "phone": "13800138000",
            "address": "山东省东营市东营区西四路100号3单元502",
        },
        "product": {
            "line": "water_heater",
            "model": "JSQ24-12",
            "serial": "SN-0001",
            "purchase_date": "2025-03-01",
        },
        "fault": {"description": "热水器打不着火"},
        "channel": "hotline",
    }
    body.update(changes)
    return body


Mutator = Callable[[dict[str, Any]], None]


@pytest.fixture
def make_order() -> Callable[..., dict[str, Any]]:
    """``order_body`` for the tests (importlib mode keeps test modules from importing here)."""
    return order_body
