"""Fieldwork test fixtures: a runtime on a real database (migrated) with evidence on disk and a
clock the test moves, and an admin client; helpers to act on a visit and read the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contracts.billing import QuoteIssued, QuoteLine
from contracts.common import (
    AssigneeKind,
    Channel,
    Customer,
    Fault,
    Product,
    ServiceType,
    WarrantyStatus,
    WorkItemKind,
)
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCreated
from contracts.scheduling import OrderAssigned
from fieldwork.adapters.storage import FileEvidenceStore
from fieldwork.bootstrap import bootstrap
from fieldwork.domain.policy import DEFAULT_KIT
from fieldwork.settings import FieldworkSettings
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


class Clock:
    """The domain's clock, at ``T0`` until the test sets or advances ``now``."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[ServiceRuntime]:
    rt = bootstrap(
        FieldworkSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            data_dir=tmp_path,
        ),
        clock=clock,
        store=FileEvidenceStore(tmp_path / "evidence"),
    )
    await rt.migrate()
    yield rt
    await rt.engine.dispose()


@pytest.fixture
async def admin(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://fieldwork",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client


async def act(client: httpx.AsyncClient, visit_id: str, **action: Any) -> httpx.Response:
    """POST one action to the visit."""
    return await client.post(f"/v1/visits/{visit_id}/actions", json={"action": action})


async def ok(client: httpx.AsyncClient, visit_id: str, **action: Any) -> dict[str, Any]:
    """POST one action to the visit, which must be accepted; the visit afterwards."""
    response = await act(client, visit_id, **action)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def outbox(runtime: ServiceRuntime) -> list[EventEnvelope]:
    """Every event in the service's outbox, published or not, oldest first."""
    async with runtime.session_factory() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    envelopes = [EventEnvelope.model_validate_json(r.payload) for r in rows]
    return sorted(envelopes, key=lambda e: (e.time, str(e.id)))


def igniter_quote(request_id: str, *, order_id: str = "o-1", visit_id: str = "v-1") -> QuoteIssued:
    """Billing's answer to the visit's quote request: one igniter at 80 (quote ``q-1``)."""
    return QuoteIssued(
        order_id=order_id,
        visit_id=visit_id,
        quote_id="q-1",
        request_id=request_id,
        lines=[
            QuoteLine(
                kind=WorkItemKind.PART,
                description="点火针",
                unit_price=Decimal("80"),
                amount=Decimal("80"),
                rule_id="BIL-1",
            )
        ],
        total=Decimal("80"),
        schedule_version="2026-01",
    )


# --- orders and visits through the API ---------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
"""The smallest upload the evidence checks accept as a PNG."""


async def order(
    runtime: ServiceRuntime,
    order_id: str,
    *,
    warranty: WarrantyStatus = WarrantyStatus.IN_WARRANTY,
    loaner_required: bool = False,
    visit_id: str = "v-1",
    technician_id: str = "tech-7",
    public_area: bool = False,
    service_type: ServiceType = ServiceType.REPAIR,
    purchase_date: date | None = None,
    installation_date: date | None = None,
) -> None:
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderCreated(
                order_id=order_id,
                customer=Customer.model_validate(
                    {
                        "name": "王芳",
                        "phones": ["+8613800138000"],
                        "address": {"detail": "西四路100号", "public_area": public_area},
                    }
                ),
                product=Product(
                    line="water_heater",
                    model="JSQ24",
                    purchase_date=purchase_date,
                    installation_date=installation_date,
                ),
                fault=Fault(description="热水器打不着火"),
                channel=Channel.HOTLINE,
                warranty_status=warranty,
                loaner_required=loaner_required,
                service_type=service_type,
            ),
            time=T0 - timedelta(days=1),
        )
    )
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderAssigned(
                order_id=order_id,
                visit_id=visit_id,
                assignee_kind=AssigneeKind.TECHNICIAN,
                technician_id=technician_id,
                assigned_by="dispatcher-1",
            ),
            time=T0 - timedelta(hours=20),
        )
    )


async def upload(client: httpx.AsyncClient, visit_id: str, kind: str, data: bytes = PNG) -> str:
    response = await client.post(
        f"/v1/visits/{visit_id}/evidence",
        params={"kind": kind},
        content=data,
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 201, response.text
    ref: str = response.json()["ref"]
    return ref


async def published(runtime: ServiceRuntime) -> list[str]:
    return [e.event_name for e in await outbox(runtime)]


async def on_site(
    client: httpx.AsyncClient,
    clock: Clock,
    visit_id: str,
    kit: list[str] | None = None,
    **depart: Any,
) -> None:
    """Depart (with the kit and loaner given), arrive and go in."""
    await ok(
        client,
        visit_id,
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=kit or list(DEFAULT_KIT),
        **depart,
    )
    clock.advance(minutes=30)
    await ok(client, visit_id, type="arrive")
    await ok(
        client,
        visit_id,
        type="door_outcome",
        outcome="customer_present",
        next_step="proceed",
        id_shown=True,
    )


def offline_item(
    client_id: str, at: datetime, visit_id: str = "v-1", **action: Any
) -> dict[str, Any]:
    """One action of an offline batch (POST /v1/offline/batches), as the app records it."""
    return {
        "client_id": client_id,
        "visit_id": visit_id,
        "occurred_at": at.isoformat(),
        "action": action,
    }


def offline_departure(
    client_id: str, at: datetime, *, eta_in: timedelta = timedelta(minutes=30)
) -> dict[str, Any]:
    """The departure of v-1 at ``at`` in an offline batch, with the default kit checked and the
    arrival expected ``eta_in`` later."""
    return offline_item(
        client_id, at, type="depart", eta=(at + eta_in).isoformat(), kit_checked=list(DEFAULT_KIT)
    )


def take_back_action(photo: str, promised: Any) -> dict[str, Any]:
    """The take-back of the unit under receipt R-1 with ``photo``, its return promised for
    ``promised`` (as sent: a date, or whatever the test sends instead)."""
    return {
        "type": "take_back",
        "receipt_number": "R-1",
        "appearance": "外观完好",
        "photo_refs": [photo],
        "promised_return_date": promised,
    }
