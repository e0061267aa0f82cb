"""Fieldwork and billing together over their contracts, without a broker (FLD-4, BIL-1..BIL-9).

Both services run in-process on their own database; a tiny in-test bus moves the envelopes each
one staged in its outbox to the other's event handler until both are quiet. The technician works
through fieldwork's REST API; the quote, the charge, the payment come from billing's.
"""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support.db import create_database, drop_database
from support.db import database_url as postgres_url

from billing.bootstrap import bootstrap as bootstrap_billing
from billing.settings import BillingSettings
from contracts.common import AssigneeKind, Channel, Customer, Fault, Product, WarrantyStatus
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCreated
from contracts.scheduling import OrderAssigned
from fieldwork.adapters.report import find_cjk_font
from fieldwork.adapters.storage import FileEvidenceStore
from fieldwork.bootstrap import bootstrap as bootstrap_fieldwork
from fieldwork.domain.policy import DEFAULT_KIT
from fieldwork.settings import FieldworkSettings
from servicekit.auth import generate_key, issued_event
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def _png() -> bytes:
    """A real 1×1 white PNG (the report embeds the signature image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()
LINE = "water_heater"
SCHEDULE = {
    "fees": [
        {"fee_code": "W01", "description": "更换点火器", "price": "60.0"},
        {"fee_code": "W02", "description": "清洗燃烧器", "price": "40.0"},
        {"fee_code": "CO", "description": "上门费", "price": "30.0", "category": "call_out"},
    ],
    "parts": [{"part_no": "P-IGN", "name": "点火器", "price": "120.0", "trade_in_credit": "15.0"}],
    "materials": [{"code": "M-TAPE", "name": "生料带", "price": "2.5"}],
}
FONT = find_cjk_font()


class Clock:
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
async def billing_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second, empty database of the same kind for billing (each service owns its own)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{(tmp_path / 'billing.db').as_posix()}"
        return
    name = await create_database()
    try:
        yield postgres_url(name)
    finally:
        await drop_database(name)


@pytest.fixture
async def fieldwork(
    database_url: str, tmp_path: Path, clock: Clock
) -> AsyncIterator[ServiceRuntime]:
    rt = bootstrap_fieldwork(
        FieldworkSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            run_periodic_jobs=False,
            data_dir=tmp_path / "fieldwork",
        ),
        clock=clock,
        store=FileEvidenceStore(tmp_path / "evidence"),
    )
    await rt.migrate()
    yield rt
    await rt.engine.dispose()


@pytest.fixture
async def billing(billing_database_url: str, clock: Clock) -> AsyncIterator[ServiceRuntime]:
    rt = bootstrap_billing(
        BillingSettings(
            database_url=billing_database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            run_periodic_jobs=False,
        ),
        clock=clock,
    )
    await rt.migrate()
    yield rt
    await rt.engine.dispose()


@dataclass
class Bus:
    """Moves each service's staged events (its outbox rows) to the other, once each."""

    fieldwork: ServiceRuntime
    billing: ServiceRuntime
    moved: set[str] = field(default_factory=set)
    delivered: list[str] = field(default_factory=list)

    async def _staged(self, runtime: ServiceRuntime) -> list[EventEnvelope]:
        async with runtime.session_factory() as session:
            rows = (
                await session.execute(select(OutboxMessage).order_by(OutboxMessage.seq))  # type: ignore[arg-type]
            ).scalars()
            return [EventEnvelope.model_validate_json(r.payload) for r in rows]

    async def pump(self, *, max_rounds: int = 10) -> None:
        """Deliver until neither service stages anything new."""
        for _ in range(max_rounds):
            moved = 0
            for source, target in (
                (self.fieldwork, self.billing),
                (self.billing, self.fieldwork),
            ):
                for envelope in await self._staged(source):
                    if str(envelope.id) in self.moved:
                        continue
                    self.moved.add(str(envelope.id))
                    await target.handle_event(envelope)
                    self.delivered.append(envelope.event_name)
                    moved += 1
            if moved == 0:
                return
        raise AssertionError("the services kept producing events")

    async def staged(self, runtime: ServiceRuntime, name: str) -> list[EventEnvelope]:
        return [e for e in await self._staged(runtime) if e.event_name == name]


@pytest.fixture
def bus(fieldwork: ServiceRuntime, billing: ServiceRuntime) -> Bus:
    return Bus(fieldwork=fieldwork, billing=billing)


def client(runtime: ServiceRuntime, key: str, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url=f"http://{name}",
        headers={"Authorization": f"Bearer {key}"},
    )


async def technician_key(runtime: ServiceRuntime, technician_id: str) -> str:
    raw = generate_key()
    await runtime.handle_event(
        EventEnvelope.wrap(
            issued_event(
                key_id=str(uuid.uuid4()),
                raw_key=raw,
                role="technician",
                name=technician_id,
                network_id=None,
                technician_id=technician_id,
                expires_at=None,
            )
        )
    )
    return raw


async def new_order(bus: Bus, order_id: str, *, warranty: WarrantyStatus, age_days: int) -> None:
    """Intake's and scheduling's events, fed to both services."""
    bought = (T0 - timedelta(days=age_days)).date()
    created = EventEnvelope.wrap(
        OrderCreated(
            order_id=order_id,
            customer=Customer.model_validate(
                {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
            ),
            product=Product(
                line=LINE,
                model="JSQ24",
                purchase_date=bought,
                installation_date=bought + timedelta(days=2),
            ),
            fault=Fault(description="热水器打不着火"),
            channel=Channel.HOTLINE,
            warranty_status=warranty,
        ),
        time=T0 - timedelta(days=1),
    )
    assigned = EventEnvelope.wrap(
        OrderAssigned(
            order_id=order_id,
            visit_id=f"{order_id}-v1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="tech-7",
            assigned_by="dispatcher-1",
        ),
        time=T0 - timedelta(hours=20),
    )
    for envelope in (created, assigned):
        await bus.fieldwork.handle_event(envelope)
        await bus.billing.handle_event(envelope)


async def act(tech: httpx.AsyncClient, visit_id: str, **action: Any) -> httpx.Response:
    return await tech.post(f"/v1/visits/{visit_id}/actions", json={"action": action})


async def ok(tech: httpx.AsyncClient, visit_id: str, **action: Any) -> dict[str, Any]:
    response = await act(tech, visit_id, **action)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(tech: httpx.AsyncClient, visit_id: str, kind: str) -> str:
    response = await tech.post(
        f"/v1/visits/{visit_id}/evidence",
        params={"kind": kind},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 201, response.text
    ref: str = response.json()["ref"]
    return ref


async def go_in(tech: httpx.AsyncClient, clock: Clock, visit_id: str) -> datetime:
    """Depart, arrive and go in; the arrival time."""
    await ok(
        tech,
        visit_id,
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )
    clock.advance(minutes=30)
    arrived = clock.now
    await ok(tech, visit_id, type="arrive")
    await ok(
        tech,
        visit_id,
        type="door_outcome",
        outcome="customer_present",
        next_step="proceed",
        id_shown=True,
    )
    return arrived


async def publish_schedule(billing: ServiceRuntime) -> str:
    async with client(billing, ADMIN_KEY, "billing") as admin:
        response = await admin.post(f"/v1/fee-schedules/{LINE}/versions", json=SCHEDULE)
    assert response.status_code == 201, response.text
    label: str = response.json()["label"]
    return label


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def amounts(lines: list[dict[str, Any]]) -> dict[str, tuple[Decimal, str]]:
    return {
        (x["fee_code"] or x["part_no"]): (Decimal(x["amount"]), x["rule_id"])
        for x in lines
        if x["fee_code"] or x["part_no"]
    }


@pytest.mark.skipif(FONT is None, reason="no CJK font installed (make install-fonts)")
async def test_fld_4_bil_1_to_9_an_out_of_warranty_repair_is_charged_exactly_by_the_schedule(
    fieldwork: ServiceRuntime, billing: ServiceRuntime, bus: Bus, clock: Clock
) -> None:
    label = await publish_schedule(billing)
    await new_order(bus, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY, age_days=3 * 365)
    key = await technician_key(fieldwork, "tech-7")
    async with (
        client(fieldwork, key, "fieldwork") as tech,
        client(billing, ADMIN_KEY, "billing") as desk,
    ):
        arrived = await go_in(tech, clock, "o-1-v1")
        clock.advance(minutes=10)
        diagnosed = await ok(
            tech,
            "o-1-v1",
            type="diagnose",
            cause="点火器损坏",
            parts=[{"part_no": "P-IGN", "name": "点火器"}],
            work_items=[
                {
                    "kind": "fee",
                    "fee_code": "W01",
                    "description": "更换点火器",
                    "handled_at": (arrived + timedelta(minutes=10)).isoformat(),
                },
                {
                    "kind": "fee",
                    "fee_code": "W02",
                    "description": "清洗燃烧器",
                    "handled_at": (arrived + timedelta(minutes=35)).isoformat(),
                },
                {"kind": "fee", "fee_code": "CO", "description": "上门费"},
                {"kind": "part", "part_no": "P-IGN", "description": "点火器"},
                {
                    "kind": "material",
                    "part_no": "M-GLUE",
                    "description": "耐高温密封胶",
                    "stock_price": "8.35",
                },
            ],
        )
        assert diagnosed["state"] == "awaiting_consent"
        requested = (await bus.staged(fieldwork, "QuoteRequested"))[0].data
        assert requested["product_line"] == LINE
        assert requested["installed_on"] == str((T0 - timedelta(days=3 * 365 - 2)).date())
        assert all(item["handled_at"] for item in requested["items"])

        await bus.pump()

        charge = (await desk.get("/v1/orders/o-1/charge")).json()
        [quote] = charge["quotes"]
        assert quote["schedule_version"] == label == f"{LINE}@v1"
        assert amounts(quote["lines"]) == {
            "W01": (Decimal("60.00"), "BIL-1"),
            "W02": (Decimal("0.00"), "BIL-3"),  # within 30 minutes of W01: only the highest
            "CO": (Decimal("30.00"), "BIL-1"),
            "P-IGN": (Decimal("120.00"), "BIL-1"),
            "M-GLUE": (Decimal("10.90"), "BIL-4"),  # 8.35 + 30 % = 10.855, to the jiao
        }
        assert Decimal(quote["total"]) == Decimal("220.90")
        assert charge["accepted_quote_id"] is None

        visit = (await tech.get("/v1/visits/o-1-v1")).json()
        assert visit["quote"]["status"] == "issued"
        assert visit["quote"]["quote_id"] == quote["quote_id"]
        assert Decimal(visit["quote"]["total"]) == Decimal("220.90")

        refused = await act(tech, "o-1-v1", type="start_repair")
        assert refused.status_code == 409 and refused.json()["rule"] == "FLD-4"

        consent = await upload(tech, "o-1-v1", "signature")
        await ok(
            tech, "o-1-v1", type="accept_quote", quote_id=quote["quote_id"], signature_ref=consent
        )
        await bus.pump()
        accepted = (await bus.staged(fieldwork, "QuoteAccepted"))[0].data
        assert accepted["quote_id"] == quote["quote_id"]

        await ok(tech, "o-1-v1", type="start_test")
        clock.advance(minutes=40)
        done = await ok(tech, "o-1-v1", type="complete_repair", tested=True, sure_fixed=True)
        assert done["state"] == "completed"

        signature = await upload(tech, "o-1-v1", "signature")
        wrong = await act(
            tech, "o-1-v1", type="sign_off", signed=True, signature_ref=signature,
            amount_acknowledged="200.00",
        )  # fmt: skip
        assert wrong.status_code == 409 and wrong.json()["rule"] == "BIL-9"
        await ok(
            tech,
            "o-1-v1",
            type="sign_off",
            signed=True,
            signature_ref=signature,
            repair_quality="very_satisfied",
            service_attitude="satisfied",
        )
        await bus.pump()
        signed = (await bus.staged(fieldwork, "CustomerSignedOff"))[0].data
        assert Decimal(signed["amount_acknowledged"]) == Decimal("220.90")

        charge = (await desk.get("/v1/orders/o-1/charge")).json()
        assert charge["accepted_quote_id"] == quote["quote_id"]
        assert Decimal(charge["summary"]["charge"]) == Decimal("220.90")
        assert charge["summary"]["schedule_version"] == label
        assert Decimal(charge["signature"]["amount"]) == Decimal("220.90")
        assert charge["signature"]["matches_charge"] is True

        paid = await desk.post(
            "/v1/orders/o-1/payments",
            json={"method": "mobile", "amount": "220.90", "collected_by": "tech-7"},
        )
        assert paid.status_code == 201, paid.text
        receipt = paid.json()["receipt_number"]
        assert receipt.startswith("R2026-")
        await bus.pump()
        assert Decimal((await desk.get("/v1/orders/o-1/charge")).json()["summary"]["balance"]) == 0

        report = await tech.get("/v1/visits/o-1-v1/report.pdf")
        assert report.status_code == 200, report.text
        text = pdf_text(report.content)
        for expected in ("220.90", label, "10.90", "BIL-3", "BIL-4", "客户签字确认金额"):
            assert expected in text, expected

    closed = (await bus.staged(fieldwork, "VisitClosed"))[0].data
    assert closed["paid_work"] is True
    assert bus.delivered.count("QuoteIssued") == 1


@pytest.mark.skipif(FONT is None, reason="no CJK font installed (make install-fonts)")
async def test_bil_1_in_warranty_work_is_quoted_free_and_needs_no_consent(
    fieldwork: ServiceRuntime, billing: ServiceRuntime, bus: Bus, clock: Clock
) -> None:
    label = await publish_schedule(billing)
    await new_order(bus, "o-2", warranty=WarrantyStatus.IN_WARRANTY, age_days=180)
    key = await technician_key(fieldwork, "tech-7")
    async with (
        client(fieldwork, key, "fieldwork") as tech,
        client(billing, ADMIN_KEY, "billing") as desk,
    ):
        await go_in(tech, clock, "o-2-v1")
        diagnosed = await ok(
            tech,
            "o-2-v1",
            type="diagnose",
            cause="点火器损坏",
            work_items=[
                {"kind": "fee", "fee_code": "W01", "description": "更换点火器"},
                {"kind": "part", "part_no": "P-IGN", "description": "点火器"},
            ],
        )
        assert diagnosed["state"] == "diagnosing"  # free work: no consent to wait for
        await bus.pump()

        [quote] = (await desk.get("/v1/orders/o-2/charge")).json()["quotes"]
        assert Decimal(quote["total"]) == 0
        assert {x["rule_id"] for x in quote["lines"]} == {"BIL-1"}
        assert all(x["covered_by_warranty"] for x in quote["lines"])
        assert quote["schedule_version"] == label

        await ok(tech, "o-2-v1", type="start_repair")
        clock.advance(minutes=30)
        await ok(tech, "o-2-v1", type="complete_repair", tested=False, sure_fixed=True)
        signature = await upload(tech, "o-2-v1", "signature")
        await ok(tech, "o-2-v1", type="sign_off", signed=True, signature_ref=signature)
        await bus.pump()

        signed = (await bus.staged(fieldwork, "CustomerSignedOff"))[0].data
        assert Decimal(signed["amount_acknowledged"]) == 0
        charge = (await desk.get("/v1/orders/o-2/charge")).json()
        assert Decimal(charge["summary"]["charge"]) == 0
        assert charge["signature"]["matches_charge"] is True
        nothing = await desk.post(
            "/v1/orders/o-2/payments", json={"method": "cash", "amount": "1.00"}
        )
        assert nothing.status_code == 409

        text = pdf_text((await tech.get("/v1/visits/o-2-v1/report.pdf")).content)
        for expected in ("合计：0.00 元", label, "保修免费"):
            assert expected in text, expected

    closed = (await bus.staged(fieldwork, "VisitClosed"))[0].data
    assert closed["paid_work"] is False


async def test_fld_4_work_items_are_validated_before_billing_sees_them(
    fieldwork: ServiceRuntime, bus: Bus, clock: Clock
) -> None:
    await new_order(bus, "o-3", warranty=WarrantyStatus.OUT_OF_WARRANTY, age_days=3 * 365)
    key = await technician_key(fieldwork, "tech-7")
    async with client(fieldwork, key, "fieldwork") as tech:
        await go_in(tech, clock, "o-3-v1")
        for bad in (
            {"kind": "fee", "description": "no fee code"},
            {"kind": "part", "description": "no part number"},
            {"kind": "fee", "fee_code": "W01", "description": "x", "stock_price": "3.00"},
            {"kind": "material", "description": "x", "part_no": "M", "stock_price": "-1"},
            {"kind": "material", "description": "x", "part_no": "M", "stock_price": 1.5},
            {"kind": "fee", "fee_code": "W01", "description": "x", "upgrade": True},
            {"kind": "fee", "fee_code": "W01", "description": "x", "handled_at": "2026-03-02"},
            {"kind": "fee", "fee_code": "W01", "description": "x", "colour": "red"},
        ):
            response = await act(tech, "o-3-v1", type="diagnose", cause="c", work_items=[bad])
            assert response.status_code == 422, (bad, response.text)
        card = await act(
            tech,
            "o-3-v1",
            type="diagnose",
            cause="c",
            warranty_card_amount="12.345",
            work_items=[{"kind": "fee", "fee_code": "W01", "description": "x"}],
        )
        assert card.status_code == 422

        await ok(
            tech,
            "o-3-v1",
            type="diagnose",
            cause="c",
            warranty_card_amount="50.00",
            installed_on=str(date(2025, 12, 1)),
            work_items=[
                {
                    "kind": "part",
                    "part_no": "P-IGN",
                    "description": "点火器",
                    "warranty_card_price": "99.50",
                    "trade_in": True,
                },
                {"kind": "part", "part_no": "P-UP", "description": "升级款", "upgrade": True},
            ],
        )
    [requested] = await bus.staged(fieldwork, "QuoteRequested")
    assert requested.data["warranty_card_amount"] == "50.00"
    assert requested.data["installed_on"] == "2025-12-01"  # the technician's word wins
    first, second = requested.data["items"]
    assert first["warranty_card_price"] == "99.50" and first["trade_in"] is True
    assert second["upgrade"] is True


async def test_fld_4_bil_1_a_request_billing_cannot_price_is_shown_refused_and_asked_again(
    fieldwork: ServiceRuntime, billing: ServiceRuntime, bus: Bus, clock: Clock
) -> None:
    await publish_schedule(billing)
    await new_order(bus, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY, age_days=3 * 365)
    key = await technician_key(fieldwork, "tech-7")
    glue = {"kind": "material", "part_no": "M-GLUE", "description": "耐高温密封胶"}
    async with (
        client(fieldwork, key, "fieldwork") as tech,
        client(billing, ADMIN_KEY, "billing") as desk,
    ):
        await go_in(tech, clock, "o-1-v1")
        clock.advance(minutes=10)
        mistyped = {**glue, "stock_price": "99999.99", "quantity": "999999999.999"}
        await ok(tech, "o-1-v1", type="diagnose", cause="密封不良", work_items=[mistyped])
        await bus.pump()

        [refusal] = (await desk.get("/v1/orders/o-1/charge")).json()["refused_requests"]
        visit = (await tech.get("/v1/visits/o-1-v1")).json()
        assert visit["quote"]["status"] == "refused"
        assert visit["quote"]["request_id"] == refusal["request_id"]
        assert visit["quote"]["refusal"]["reason"] == refusal["reason"]
        assert visit["state"] == "diagnosing"

        clock.advance(minutes=2)
        corrected = {**glue, "stock_price": "8.35", "quantity": "1"}
        await ok(tech, "o-1-v1", type="diagnose", cause="密封不良", work_items=[corrected])
        await bus.pump()

        visit = (await tech.get("/v1/visits/o-1-v1")).json()
        [quote] = (await desk.get("/v1/orders/o-1/charge")).json()["quotes"]
        assert quote["request_id"] != refusal["request_id"]
        assert (visit["quote"]["status"], visit["quote"]["quote_id"]) == (
            "issued",
            quote["quote_id"],
        )
        assert Decimal(visit["quote"]["total"]) == Decimal("10.90")
        assert len(await bus.staged(billing, "QuoteRefused")) == 1
