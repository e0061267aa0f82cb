"""BIL-10: the daily reconciliation adds up: every total is the sum of its holder rows, with
payments and refunds split by method."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn

import httpx
import pytest

from billing.adapters.repository import CashRepository
from billing.domain.account import Payment, PaymentKind
from billing.domain.cash import CashLedger
from contracts.billing import PaymentMethod
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import accepted_order, key, publish

METHODS = ("cash", "card", "mobile")


async def test_bil_10_the_reconciliation_totals_are_the_sums_of_the_holder_rows(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")  # 170.00
    technician = await key(runtime, "technician", technician_id="t-1")
    for method, amount in (("cash", "100.00"), ("card", "50.00"), ("mobile", "20.00")):
        paid = await client.post(
            "/v1/orders/o-1/payments", json={"method": method, "amount": amount}, headers=technician
        )
        assert paid.status_code == 201, paid.text
    waived = await client.post(
        "/v1/orders/o-1/waivers", json={"amount": "60.00", "reason": "goodwill"}
    )
    assert waived.status_code == 201, waived.text
    for method, amount in (("cash", "10.00"), ("card", "30.00"), ("mobile", "20.00")):
        body = {"method": method, "amount": amount, "refunded_by": "t-1", "reason": "goodwill"}
        refunded = await client.post("/v1/orders/o-1/refunds", json=body)
        assert refunded.status_code == 201, refunded.text

    report = (await client.get("/v1/reports/reconciliation", params={"day": "2026-04-30"})).json()
    [row] = report["holders"]
    # the existing fields keep their meaning
    assert (row["cash_collected"], row["card_collected"], row["mobile_collected"]) == (
        "100.00",
        "50.00",
        "20.00",
    )
    assert row["cash_refunded"] == "10.00"
    assert row["cash_on_hand_at_end"] == "90.00"
    assert (report["total_collected"], report["total_refunded"]) == ("170.00", "60.00")
    # refunds by card and mobile are on the holder's row too
    assert (row["card_refunded"], row["mobile_refunded"]) == ("30.00", "20.00")
    # every total is the sum of its rows
    rows = report["holders"]
    for method in METHODS:
        for kind in ("collected", "refunded"):
            column = f"{method}_{kind}"
            assert Decimal(report[f"total_{column}"]) == sum(Decimal(r[column]) for r in rows)
    for kind in ("collected", "refunded"):
        assert Decimal(report[f"total_{kind}"]) == sum(
            Decimal(report[f"total_{method}_{kind}"]) for method in METHODS
        )


# -- the report over a varied history (BIL-10) ----------------------------------------------------

# 2026-04-30 in Shanghai is [2026-04-29 16:00Z, 2026-04-30 16:00Z).
DAY_START = datetime(2026, 4, 29, 16, 0, tzinfo=UTC)
DAY_END = datetime(2026, 4, 30, 16, 0, tzinfo=UTC)

# (holder, at, movement, method, amount, receipt): a payment or refund (with its cash entry when
# by cash), or a remittance of cash to finance.
HISTORY: list[tuple[str, datetime, str, str, str, str]] = [
    # t-1: takings before, inside (from the first instant) and after (from the last) the day
    ("t-1", datetime(2026, 4, 28, 3, 0, tzinfo=UTC), "payment", "cash", "0.10", "R2026-000001"),
    ("t-1", DAY_START - timedelta(seconds=1), "payment", "cash", "0.20", "R2026-000002"),
    ("t-1", DAY_START, "payment", "cash", "0.10", "R2026-000003"),
    ("t-1", T0, "payment", "cash", "0.20", "R2026-000004"),
    ("t-1", T0 + timedelta(hours=1), "payment", "card", "0.10", "R2026-000012"),
    ("t-1", T0 + timedelta(hours=1), "payment", "mobile", "0.20", "R2026-000011"),
    ("t-1", T0 + timedelta(hours=2), "refund", "cash", "0.10", "R2026-000013"),
    ("t-1", T0 + timedelta(hours=3), "refund", "card", "0.10", "R2026-000014"),
    ("t-1", T0 + timedelta(hours=4), "remit", "cash", "0.30", ""),
    ("t-1", DAY_END, "payment", "cash", "5.00", "R2026-000020"),
    ("t-1", DAY_END + timedelta(hours=2), "remit", "cash", "5.00", ""),
    # t-2: cash all handed over long ago; mobile takings and a refund today
    ("t-2", datetime(2026, 4, 20, 2, 0, tzinfo=UTC), "payment", "cash", "100.10", "R2026-000005"),
    ("t-2", datetime(2026, 4, 21, 2, 0, tzinfo=UTC), "remit", "cash", "100.10", ""),
    ("t-2", T0, "payment", "mobile", "0.10", "R2026-000006"),
    ("t-2", T0 + timedelta(minutes=5), "payment", "mobile", "0.20", "R2026-000007"),
    ("t-2", T0 + timedelta(minutes=9), "refund", "mobile", "0.30", "R2026-000008"),
    # t-3: still holds cash from weeks ago, nothing today
    ("t-3", datetime(2026, 4, 1, 2, 0, tzinfo=UTC), "payment", "cash", "33.33", "R2026-000009"),
    ("t-3", datetime(2026, 4, 2, 2, 0, tzinfo=UTC), "remit", "cash", "11.11", ""),
    # t-4: nothing until after the day
    ("t-4", datetime(2026, 5, 2, 2, 0, tzinfo=UTC), "payment", "cash", "7.70", "R2026-000021"),
    # t-5: all handed over before the day
    ("t-5", datetime(2026, 4, 3, 2, 0, tzinfo=UTC), "payment", "cash", "0.30", "R2026-000010"),
    ("t-5", datetime(2026, 4, 4, 2, 0, tzinfo=UTC), "remit", "cash", "0.30", ""),
    # desk-1: three times 0.10 in cash today, all of it handed over today
    ("desk-1", T0, "payment", "cash", "0.10", "R2026-000015"),
    ("desk-1", T0 + timedelta(minutes=1), "payment", "cash", "0.10", "R2026-000016"),
    ("desk-1", T0 + timedelta(minutes=2), "payment", "cash", "0.10", "R2026-000017"),
    ("desk-1", DAY_END - timedelta(microseconds=1), "remit", "cash", "0.30", ""),
    # t-7: only a remittance today, of cash taken before
    ("t-7", datetime(2026, 4, 10, 2, 0, tzinfo=UTC), "payment", "cash", "50.00", "R2026-000018"),
    ("t-7", T0, "remit", "cash", "20.00", ""),
]


async def _record_history(runtime: ServiceRuntime) -> None:
    async with runtime.app.state.uow_factory() as uow:
        await uow.cash.lock_or_open("t-6")  # a holder never given cash
        ledgers: dict[str, CashLedger] = {}
        for n, (holder, at, movement, method, amount, receipt) in enumerate(HISTORY):
            ledger = ledgers.setdefault(holder, await uow.cash.lock_or_open(holder))
            value = Decimal(amount)
            if movement == "remit":
                ledger.remit(amount=value, received_by="fin-1", at=at)
                continue
            uow.payments.add(
                f"o-{n}",
                Payment(
                    payment_id=f"p-{n:02d}",
                    kind=PaymentKind(movement),
                    method=PaymentMethod(method),
                    amount=value,
                    by=holder,
                    at=at,
                    receipt_number=receipt,
                ),
            )
            if method == "cash" and movement == "payment":
                ledger.collected(amount=value, order_id=f"o-{n}", at=at)
            elif method == "cash":
                ledger.refunded(amount=value, order_id=f"o-{n}", at=at)
        for ledger in ledgers.values():
            await uow.cash.save(ledger)
        await uow.commit()


def _holder(holder_id: str, receipts: list[str], **figures: str) -> dict[str, Any]:
    columns = ("cash", "card", "mobile")
    row: dict[str, Any] = {f"{m}_{k}": "0.00" for m in columns for k in ("collected", "refunded")}
    row |= {"holder_id": holder_id, "cash_remitted": "0.00", "cash_on_hand_at_end": "0.00"}
    return row | {"receipts": receipts} | figures


EXPECTED_REPORT = {
    "day": "2026-04-30",
    "holders": [
        _holder(
            "desk-1",
            ["R2026-000015", "R2026-000016", "R2026-000017"],
            cash_collected="0.30",
            cash_remitted="0.30",
        ),
        _holder(
            "t-1",
            [f"R2026-0000{n:02d}" for n in (3, 4, 11, 12, 13, 14)],
            cash_collected="0.30",
            cash_refunded="0.10",
            cash_remitted="0.30",
            card_collected="0.10",
            card_refunded="0.10",
            mobile_collected="0.20",
            cash_on_hand_at_end="0.20",
        ),
        _holder(
            "t-2",
            ["R2026-000006", "R2026-000007", "R2026-000008"],
            mobile_collected="0.30",
            mobile_refunded="0.30",
        ),
        _holder("t-3", [], cash_on_hand_at_end="22.22"),
        _holder("t-7", [], cash_remitted="20.00", cash_on_hand_at_end="30.00"),
    ],
    "total_collected": "1.20",
    "total_refunded": "0.50",
    "total_remitted": "20.60",
    "total_cash_collected": "0.60",
    "total_card_collected": "0.10",
    "total_mobile_collected": "0.50",
    "total_cash_refunded": "0.10",
    "total_card_refunded": "0.10",
    "total_mobile_refunded": "0.30",
}


async def test_bil_10_the_reconciliation_of_a_day_over_a_varied_history(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    """Several holders and methods, refunds and remittances, before, inside and after the day
    (its first instant in, its end out), amounts whose float sums go wrong: the exact figures."""
    await _record_history(runtime)
    report = await client.get("/v1/reports/reconciliation", params={"day": "2026-04-30"})
    assert report.status_code == 200, report.text
    assert report.json() == EXPECTED_REPORT


async def test_bil_10_the_reconciliation_sums_in_the_database_without_loading_ledgers(
    runtime: ServiceRuntime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report costs what the day's figures cost, not the holders' whole histories: it never
    loads a cash ledger, and its answer is the same."""
    await _record_history(runtime)

    async def no_ledger(self: CashRepository, holder_id: str) -> NoReturn:
        raise AssertionError(f"the reconciliation loaded the ledger of {holder_id}")

    monkeypatch.setattr(CashRepository, "get", no_ledger)
    report = await client.get("/v1/reports/reconciliation", params={"day": "2026-04-30"})
    assert report.status_code == 200, report.text
    assert report.json() == EXPECTED_REPORT
