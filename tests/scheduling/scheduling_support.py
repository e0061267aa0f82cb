"""Scheduling test helpers: a harness around a runtime on a real database with an injected clock,
API keys of every role, ready-made events, and a reader of what the outbox staged."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select

from contracts.base import EventData
from contracts.common import (
    Address,
    Channel,
    Customer,
    Fault,
    GeoPoint,
    Product,
    ServiceType,
    TimeWindow,
)
from contracts.envelope import EventEnvelope
from contracts.fieldwork import RepairCompleted, TechnicianArrived
from contracts.intake import OrderCreated
from contracts.registry import parse_data
from scheduling.domain.model import DispatchOrder
from servicekit.auth import generate_key, issued_event
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
#: Monday 23 November 2026, 08:00 in Shanghai (00:00 UTC).
MONDAY_8AM = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
DONGYING = GeoPoint(lat=37.4340, lon=118.6750)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


def near(point: GeoPoint, *, north_km: float = 0.0, east_km: float = 0.0) -> GeoPoint:
    """A point a few km from ``point``."""
    return GeoPoint(lat=point.lat + north_km / 111.0, lon=point.lon + east_km / 88.0)


def local(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    """Shanghai wall-clock time on the test Monday (+ ``day``), as aware UTC."""
    return MONDAY_8AM + timedelta(days=day, hours=hour - 8, minutes=minute)


def window(hour: int, minute: int = 0, *, hours: float = 2, day: int = 0) -> TimeWindow:
    """A window starting at a local time."""
    start = local(hour, minute, day=day)
    return TimeWindow(start=start, end=start + timedelta(hours=hours))


def created(
    order_id: str | None = None,
    *,
    line: str = "water_heater",
    location: GeoPoint | None = DONGYING,
    district: str | None = "Dongying",
    emergency: bool = False,
    needs_verification: list[str] | None = None,
    preferred: list[TimeWindow] | None = None,
    service_type: ServiceType = ServiceType.REPAIR,
) -> OrderCreated:
    """An OrderCreated with a located address."""
    return OrderCreated(
        order_id=order_id or f"ord-{uuid.uuid4().hex[:8]}",
        customer=Customer(
            name="王芳",
            phones=["+8613800138000"],
            address=Address(
                city="东营市", district=district, detail="西四路100号", location=location
            ),
        ),
        product=Product(line=line, model="JSQ24-12"),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        emergency=emergency,
        needs_verification=needs_verification or [],
        preferred_windows=preferred or [],
        service_type=service_type,
    )


def repaired(order_id: str, *, visit_id: str, technician_id: str) -> RepairCompleted:
    """A RepairCompleted of ``visit_id``: tested and surely fixed, after 40 minutes on site."""
    return RepairCompleted(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        tested=True,
        sure_fixed=True,
        on_site_minutes=40,
    )


def dongying_order(
    order_id: str = "o1", *, received_at: datetime = MONDAY_8AM, **fields: Any
) -> DispatchOrder:
    """A water-heater order in Dongying as intake hands it over (nothing to verify, no loaner),
    but for ``fields``."""
    return DispatchOrder.from_intake(
        **{
            "order_id": order_id,
            "received_at": received_at,
            "product_line": "water_heater",
            "emergency": False,
            "needs_verification": [],
            "loaner_required": False,
            "location": DONGYING,
            "area": "Dongying",
            **fields,
        }
    )


def technician_body(
    technician_id: str,
    *,
    home: GeoPoint = DONGYING,
    skills: list[str] | None = None,
    areas: list[str] | None = None,
    capacity: int = 8,
    **extra: Any,
) -> dict[str, Any]:
    """JSON of a technician registration."""
    return {
        "technician_id": technician_id,
        "name": f"Tech {technician_id}",
        "phone": "+8613900000000",
        "skills": skills or ["water_heater"],
        "areas": areas or ["Dongying"],
        "home": home.model_dump(),
        "shift_start": "09:00",
        "shift_end": "18:00",
        "daily_capacity": capacity,
        **extra,
    }


@dataclass
class Harness:
    """The runtime, its clock and an admin client; helpers for keys, events and the outbox."""

    runtime: ServiceRuntime
    clock: Clock
    client: httpx.AsyncClient

    async def feed(self, payload: EventData) -> None:
        """Deliver an event of another service to scheduling's consumer handler."""
        await self.runtime.handle_event(EventEnvelope.wrap(payload))

    async def key(
        self, role: str, *, technician_id: str | None = None, network_id: str | None = None
    ) -> dict[str, str]:
        """Headers of a new API key of ``role``."""
        raw = generate_key()
        issued = issued_event(
            key_id=str(uuid.uuid4()),
            raw_key=raw,
            role=role,  # type: ignore[arg-type]
            name=f"a {role}",
            network_id=network_id,
            technician_id=technician_id,
            expires_at=None,
        )
        await self.runtime.handle_event(EventEnvelope.wrap(issued))
        return {"Authorization": f"Bearer {raw}"}

    async def published(self, event_type: str | None = None) -> list[Any]:
        """Payloads staged in the outbox (oldest first), optionally of one type."""
        async with self.runtime.session_factory() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.seq)  # type: ignore[arg-type]
            rows = (await session.execute(query)).scalars()
            payloads = [parse_data(EventEnvelope.model_validate_json(r.payload)) for r in rows]
        return [p for p in payloads if event_type is None or p.event_type == event_type]

    async def add_technician(self, technician_id: str, **kwargs: Any) -> dict[str, Any]:
        """Register a technician through the API."""
        response = await self.client.post(
            "/v1/technicians", json=technician_body(technician_id, **kwargs)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def order(self, order_id: str) -> dict[str, Any]:
        """The order's dispatch state."""
        response = await self.client.get(f"/v1/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def on_site(
        self, order_id: str, technician_id: str, *, at: datetime, position: GeoPoint
    ) -> None:
        """Give ``order_id`` to ``technician_id`` (by hand unless placed with them) and have
        them arrive there ``at`` that time (the clock is set to it)."""
        order = await self.order(order_id)
        if order["technician_id"] != technician_id:
            moved = await self.client.post(
                f"/v1/orders/{order_id}/assignment",
                json={"technician_id": technician_id, "reason": "setup"},
            )
            assert moved.status_code == 200, moved.text
            order = await self.order(order_id)
        self.clock.now = at
        await self.feed(
            TechnicianArrived(
                order_id=order_id,
                visit_id=order["visit_id"],
                technician_id=technician_id,
                arrived_at=at,
                position=position,
            )
        )

    async def run_job(self, name: str) -> object:
        """Run one of the periodic jobs once (as the timer would)."""
        return await self.runtime.app.state.jobs[name]()


def _write_test_policy(path: Path, policy: Any) -> None:
    path.write_text(yaml.safe_dump({"scheduling": policy.model_dump(mode="json")}))


@asynccontextmanager
async def scheduling_harness(
    database_url: str, policy_file: Path, clock: Clock, *, policy: Any = None
) -> AsyncIterator[Harness]:
    """A scheduling runtime on ``database_url`` (consumer and relay not running, events fed by
    hand), its policy ``policy`` (default: the shipped defaults but day plans solved for a
    fraction of a second, so tests stay fast), written to ``policy_file``; with an admin
    client. Each is its own replica: a second one on the same database has its own process
    state (e.g. its roster cache)."""
    from scheduling.bootstrap import bootstrap
    from scheduling.domain.policy import SchedulingPolicy
    from scheduling.settings import SchedulingSettings

    _write_test_policy(policy_file, policy or SchedulingPolicy(plan_time_limit_seconds=0.3))
    runtime = bootstrap(
        SchedulingSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            policy_file=policy_file,
        ),
        clock=clock,
    )
    await runtime.migrate()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtime.app),
            base_url="http://scheduling",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as client:
            yield Harness(runtime=runtime, clock=clock, client=client)
    finally:
        await runtime.engine.dispose()


@asynccontextmanager
async def harness_with(database_url: str, tmp_path: Path, **policy: Any) -> AsyncIterator[Harness]:
    """A harness at Monday 08:00 whose policy differs from the shipped defaults by ``policy``
    (day plans solved for a fraction of a second)."""
    from scheduling.domain.policy import SchedulingPolicy

    async with scheduling_harness(
        database_url,
        tmp_path / "policy.yaml",
        Clock(MONDAY_8AM),
        policy=SchedulingPolicy(plan_time_limit_seconds=0.3, **policy),
    ) as harness:
        yield harness
