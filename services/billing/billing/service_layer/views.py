"""Read models of billing (queries go here, not through the command bus)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from billing.domain.account import BillingAccount
from billing.domain.cash import CashEntryKind, CashLedger
from billing.domain.exceptions import OrderNotFound, ScheduleNotFound
from billing.domain.model import OrderFile
from billing.domain.money import ZERO
from billing.domain.reports import (
    HolderReconciliation,
    Reconciliation,
    Statement,
    statement,
)
from billing.domain.reports import reconciliation as build_reconciliation
from billing.domain.schedule import FeeSchedule
from billing.service_layer.unit_of_work import BillingUnitOfWork
from servicekit.calendar import BusinessCalendar


async def order_file(order_id: str, *, uow: BillingUnitOfWork) -> OrderFile:
    """The order's file, events oldest first; OrderNotFound when nothing is known about it."""
    async with uow:
        found = await uow.order_files.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        return found


async def account(order_id: str, *, uow: BillingUnitOfWork) -> BillingAccount:
    """The order's billing account (quotes, charge, payments, receipts, invoices)."""
    async with uow:
        found = await uow.accounts.get(order_id, for_update=False)
        if found is None:
            raise OrderNotFound(order_id)
        return found


async def schedule(
    product_line: str, *, uow: BillingUnitOfWork, version: int | None = None
) -> FeeSchedule:
    """The current (or a given) version of a product line's fee schedule."""
    async with uow:
        found = (
            await uow.schedules.latest(product_line)
            if version is None
            else await uow.schedules.get(product_line, version)
        )
        if found is None:
            raise ScheduleNotFound(product_line, version)
        return found


async def schedule_versions(product_line: str, *, uow: BillingUnitOfWork) -> list[FeeSchedule]:
    """Every published version of a product line's schedule."""
    async with uow:
        found = await uow.schedules.versions(product_line)
        if not found:
            raise ScheduleNotFound(product_line)
        return found


def _local_midnight(day: date, calendar: BusinessCalendar) -> datetime:
    return datetime.combine(day, time(0), tzinfo=calendar.tz)


async def settlement(
    network_id: str, year: int, month: int, *, uow: BillingUnitOfWork, calendar: BusinessCalendar
) -> Statement:
    """The network's settlement statement of a calendar month, local time (BIL-12)."""
    start = _local_midnight(date(year, month, 1), calendar)
    end = _local_midnight(date(year + month // 12, month % 12 + 1, 1), calendar)
    async with uow:
        items = await uow.settlements.between(network_id, start, end)
    return statement(network_id, f"{year:04d}-{month:02d}", items)


async def cash_ledger(holder_id: str, *, uow: BillingUnitOfWork) -> CashLedger:
    """A holder's cash ledger (empty when it never held cash)."""
    async with uow:
        return await uow.cash.get(holder_id)


async def reconciliation(
    day: date, *, uow: BillingUnitOfWork, calendar: BusinessCalendar
) -> Reconciliation:
    """Takings of one local day per technician or desk, and cash on hand at its end (BIL-10)."""
    start = _local_midnight(day, calendar)
    end = start + timedelta(days=1)
    async with uow:
        payments = await uow.payments.between(start, end)
        holders = set(await uow.cash.holders()) | {p.holder_id for p in payments}
        ledgers = {h: await uow.cash.get(h) for h in holders}
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    receipts: dict[str, list[str]] = defaultdict(list)
    for p in payments:
        key = f"{p.kind}:{p.method}"
        sums[p.holder_id][key] += p.amount
        receipts[p.holder_id].append(p.receipt_number)
    rows: list[HolderReconciliation] = []
    for holder_id in sorted(holders):
        ledger = ledgers[holder_id]
        remitted = sum(
            (
                e.amount
                for e in ledger.entries
                if e.kind is CashEntryKind.REMITTED and start <= e.at < end
            ),
            ZERO,
        )
        on_hand = ZERO
        for e in ledger.entries:
            if e.at < end:
                on_hand += e.amount if e.kind is CashEntryKind.COLLECTED else -e.amount
        s = sums[holder_id]
        if not (receipts[holder_id] or remitted or on_hand):
            continue
        rows.append(
            HolderReconciliation(
                holder_id=holder_id,
                cash_collected=s["payment:cash"],
                cash_refunded=s["refund:cash"],
                cash_remitted=remitted,
                card_collected=s["payment:card"],
                card_refunded=s["refund:card"],
                mobile_collected=s["payment:mobile"],
                mobile_refunded=s["refund:mobile"],
                receipts=receipts[holder_id],
                cash_on_hand_at_end=on_hand,
            )
        )
    # The totals are the sums of the rows, by method: they add up (BIL-10).
    return build_reconciliation(day, rows)
