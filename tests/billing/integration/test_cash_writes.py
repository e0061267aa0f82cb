"""Writes to a cash ledger (payments, refunds, remittances, the periodic check) sum the ledger in
the database and load only the cash still held, never every entry, on SQLite and PostgreSQL;
the balance, the cash held and the CashRemittanceDue raised are exactly those of the whole
ledger (BIL-10)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from billing.adapters.repository import CashRepository
from billing.adapters.tables import CashEntryRow
from billing.domain.cash import CashEntryKind, CashLedger
from billing.service_layer.handlers import sweep_cash
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import IGNITER, SCHEDULE, accepted_order, fee, key, outbox, publish
from .test_list_paging import AMOUNTS, _book, _entry

#: How many settled entries the ledger carries before the writes: far more than is held.
SETTLED = 60


@contextmanager
def _entry_rows_loaded() -> Iterator[list[int]]:
    """Counts the cash entry rows the ORM loads meanwhile (any ``select(CashEntryRow)``)."""
    loaded = [0]

    def count(target: Any, context: Any) -> None:
        loaded[0] += 1

    event.listen(CashEntryRow, "load", count)
    try:
        yield loaded
    finally:
        event.remove(CashEntryRow, "load", count)


@pytest.fixture
def ledgers_opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many entries each ledger opened for a write holds in memory."""
    sizes: list[int] = []
    opened = CashRepository.lock_or_open

    async def spy(self: CashRepository, holder_id: str, **kwargs: Any) -> CashLedger:
        ledger = await opened(self, holder_id, **kwargs)
        sizes.append(len(ledger.entries))
        return ledger

    monkeypatch.setattr(CashRepository, "lock_or_open", spy)
    return sizes


async def _whole(runtime: ServiceRuntime, holder_id: str) -> CashLedger:
    async with runtime.app.state.uow_factory() as uow:
        return await uow.cash.get(holder_id)


async def _expected_dues(
    runtime: ServiceRuntime, holder_id: str, *, amount: str, order_id: str, at: datetime
) -> list[dict[str, Any]]:
    """The CashRemittanceDue a collection raises, worked out over every entry of the ledger."""
    ledger = await _whole(runtime, holder_id)
    ledger.collected(amount=Decimal(amount), order_id=order_id, at=at)
    dues = ledger.check(
        now=at,
        policy=runtime.app.state.policy,
        add_working_days=runtime.calendar.add_working_days,
    )
    return [d.model_dump(mode="json") for d in dues]


async def _same_as_whole_ledger(
    runtime: ServiceRuntime, client: httpx.AsyncClient, holder_id: str
) -> None:
    whole = await _whole(runtime, holder_id)
    read = (await client.get(f"/v1/cash/{holder_id}")).json()
    assert read["cash_on_hand"] == format(whole.on_hand, "f")
    held = whole.held()
    since = read["held_since"]
    assert (datetime.fromisoformat(since) if since else None) == (held[0].at if held else None)


async def test_bil_10_writes_to_a_long_ledger_load_only_the_cash_still_held(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    ledgers_opened: list[int],
) -> None:
    # A long history, all handed to finance, then cash still held for over two working days
    # in amounts whose float sums are not exact.
    start = T0 - timedelta(days=40)
    history = [
        _entry(n, CashEntryKind.COLLECTED, "10.10", start + timedelta(hours=n), "t-1")
        for n in range(SETTLED)
    ]
    history.append(
        _entry(SETTLED, CashEntryKind.REMITTED, "606.00", start + timedelta(days=5), "t-1")
    )
    held = [
        _entry(SETTLED + 1 + n, CashEntryKind.COLLECTED, a, T0 - timedelta(days=10, hours=n), "t-1")
        for n, a in enumerate(AMOUNTS[:3])
    ]
    await _book(runtime, "t-1", history + held)
    await publish(client)
    await accepted_order(runtime, "o-1")  # 170.00, held by technician t-1
    technician = await key(runtime, "technician", technician_id="t-1")
    expected = await _expected_dues(runtime, "t-1", amount="170.00", order_id="o-1", at=T0)
    ledgers_opened.clear()

    with _entry_rows_loaded() as loaded:
        paid = await client.post(
            "/v1/orders/o-1/payments",
            json={"method": "cash", "amount": "170.00"},
            headers=technician,
        )
        waived = await client.post(
            "/v1/orders/o-1/waivers", json={"amount": "20.00", "reason": "overcharged"}
        )
        refunded = await client.post(
            "/v1/orders/o-1/refunds",
            json={"method": "cash", "amount": "20.00", "refunded_by": "t-1", "reason": "over"},
        )
    # The remittance answers the ledger's first page, one bounded query of entries.
    with _entry_rows_loaded() as paged:
        remitted = await client.post("/v1/cash/t-1/remittances", json={"amount": "12.50"})
    with _entry_rows_loaded() as swept_loaded:
        swept = await sweep_cash(
            uow_factory=runtime.app.state.uow_factory,
            policy=runtime.app.state.policy,
            calendar=runtime.calendar,
            clock=lambda: T0 + timedelta(days=30),
        )

    for response in (paid, waived, refunded, remitted):
        assert response.status_code == 201, response.text
    assert loaded == swept_loaded == [0], "a write loaded cash entries one by one"
    assert paged == [runtime.app.state.policy.list_page_default + 1]
    # payment, refund, remittance, sweep: each held at most the cash still held and the new one
    assert len(ledgers_opened) == 4 and max(ledgers_opened) <= len(held) + 1, ledgers_opened
    dues = [e.data for e in await outbox(runtime, "CashRemittanceDue")]
    assert dues[0] == expected[0] and len(expected) == 1
    assert dues[0]["reason"] == "held_too_long" and dues[0]["order_ids"] == [
        "o-1",
        "o-61",
        "o-62",
        "o-63",
    ]
    assert swept == 1 and dues[1]["reason"] == "held_too_long"  # the payment, now old too
    on_hand = sum((Decimal(a) for a in AMOUNTS[:3]), Decimal("170.00") - Decimal("32.50"))
    assert remitted.json()["cash_on_hand"] == format(on_hand, "f")
    await _same_as_whole_ledger(runtime, client, "t-1")


async def test_bil_10_cash_collected_before_settled_later_cash_stays_exact(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    ledgers_opened: list[int],
) -> None:
    # Cash booked for a moment after the payment below (a clock behind), all of it settled:
    # outflows settle the oldest cash first, so the payment is settled in its place and that
    # later cash is held again, as the whole ledger says.
    later = T0 + timedelta(hours=1)
    booked = [
        _entry(n, CashEntryKind.COLLECTED, "10.00", T0 - timedelta(days=3, hours=n), "t-1")
        for n in range(10)
    ]
    booked.append(_entry(10, CashEntryKind.COLLECTED, "30.00", later, "t-1"))
    booked.append(_entry(11, CashEntryKind.REMITTED, "130.00", later, "t-1"))
    await _book(runtime, "t-1", booked)
    expensive = {**SCHEDULE, "parts": [{"part_no": "P-IGN", "name": "主板", "price": "5000.0"}]}
    await publish(client, expensive)
    await accepted_order(runtime, "o-1", fee("W02"), IGNITER)  # 5050.00
    expected = await _expected_dues(runtime, "t-1", amount="5050.00", order_id="o-1", at=T0)
    ledgers_opened.clear()

    paid = await client.post(
        "/v1/orders/o-1/payments",
        json={"method": "cash", "amount": "5050.00"},
        headers=await key(runtime, "technician", technician_id="t-1"),
    )

    assert paid.status_code == 201, paid.text
    [due] = [e.data for e in await outbox(runtime, "CashRemittanceDue")]
    assert [due] == expected
    assert due["reason"] == "over_amount" and due["order_ids"] == ["o-1", "o-10"]
    assert ledgers_opened == [1]  # the later cash, not the ten settled before the payment
    await _same_as_whole_ledger(runtime, client, "t-1")
