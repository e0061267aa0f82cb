"""Read models of billing (queries go here, not through the command bus)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from billing.adapters.repository import Cursor, SettlementCursor
from billing.domain.account import BillingAccount
from billing.domain.cash import CashEntry, CashPosition
from billing.domain.exceptions import OrderNotFound, RateCardNotFound, ScheduleNotFound
from billing.domain.model import OrderFile
from billing.domain.money import ZERO
from billing.domain.rate_cards import RateCard
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


async def holding_unapproved(
    *, uow: BillingUnitOfWork, after: Cursor | None = None, limit: int
) -> list[tuple[Cursor, BillingAccount]]:
    """Up to ``limit`` orders whose quotes hold a reduction the centre has not approved
    (BIL-8), the longest waiting first, after ``after``; each with its place in the list."""
    async with uow:
        return await uow.accounts.holding_unapproved(after=after, limit=limit)


async def with_pending_network_fees(
    *,
    uow: BillingUnitOfWork,
    network_id: str | None = None,
    after: Cursor | None = None,
    limit: int,
) -> list[tuple[Cursor, BillingAccount]]:
    """Up to ``limit`` orders whose networks' fees wait for the product line (BIL-12), the
    earliest work first, after ``after``; each with its place in the list. With
    ``network_id``, the orders holding that network's fees, by its own earliest work."""
    async with uow:
        return await uow.accounts.with_pending_network_fees(
            network_id=network_id, after=after, limit=limit
        )


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


async def schedule_versions(
    product_line: str, *, uow: BillingUnitOfWork, before: int | None = None, limit: int
) -> list[FeeSchedule]:
    """Up to ``limit`` published versions of a product line's schedule, newest first, those
    numbered below ``before`` when given; ScheduleNotFound when the line has none at all."""
    async with uow:
        found = await uow.schedules.versions(product_line, before=before, limit=limit)
        if not found and (before is None or await uow.schedules.latest(product_line) is None):
            raise ScheduleNotFound(product_line)
        return found


async def rate_card(
    network_id: str, *, uow: BillingUnitOfWork, version: int | None = None, now: datetime
) -> RateCard:
    """A given version of the network's rate card, or the one in force at ``now`` (BIL-12)."""
    async with uow:
        found = (
            await uow.rate_cards.in_force(network_id, now)
            if version is None
            else await uow.rate_cards.get(network_id, version)
        )
        if found is None:
            published = version is None and await uow.rate_cards.latest(network_id) is not None
            raise RateCardNotFound(network_id, version, now=published)
        return found


async def rate_card_versions(
    network_id: str, *, uow: BillingUnitOfWork, before: int | None = None, limit: int
) -> list[RateCard]:
    """Up to ``limit`` published versions of the network's rate card, newest first, those
    numbered below ``before`` when given; RateCardNotFound when it has none at all."""
    async with uow:
        found = await uow.rate_cards.versions(network_id, before=before, limit=limit)
        if not found and (before is None or await uow.rate_cards.latest(network_id) is None):
            raise RateCardNotFound(network_id)
        return found


def _local_midnight(day: date, calendar: BusinessCalendar) -> datetime:
    return datetime.combine(day, time(0), tzinfo=calendar.tz)


def _month(year: int, month: int, calendar: BusinessCalendar) -> tuple[datetime, datetime]:
    start = _local_midnight(date(year, month, 1), calendar)
    return start, _local_midnight(date(year + month // 12, month % 12 + 1, 1), calendar)


async def settlement(
    network_id: str,
    year: int,
    month: int,
    *,
    uow: BillingUnitOfWork,
    calendar: BusinessCalendar,
    after: SettlementCursor | None = None,
    limit: int | None = None,
) -> Statement:
    """The network's settlement statement of a calendar month, local time (BIL-12): the totals
    over the whole month, summed in the database, and up to ``limit`` of its lines (all without
    one) by order, after ``after``."""
    start, end = _month(year, month, calendar)
    async with uow:
        totals = await uow.settlements.totals(network_id, start, end)
        items = await uow.settlements.lines(network_id, start, end, after=after, limit=limit)
    return statement(network_id, f"{year:04d}-{month:02d}", items, totals=totals)


@dataclass(frozen=True)
class CashLedgerPage:
    """A holder's cash on hand over its whole ledger, and one page of the ledger's entries."""

    position: CashPosition
    entries: list[CashEntry]


async def cash_ledger(
    holder_id: str, *, uow: BillingUnitOfWork, after: Cursor | None = None, limit: int
) -> CashLedgerPage:
    """A holder's cash on hand (summed over every entry) and up to ``limit`` of its entries in
    booking order after ``after`` (empty when it never held cash) (BIL-10)."""
    async with uow:
        position = await uow.cash.position(holder_id)
        entries = await uow.cash.entries(holder_id, after=after, limit=limit)
    return CashLedgerPage(position=position, entries=entries)


async def cash_entry(holder_id: str, entry_id: str, *, uow: BillingUnitOfWork) -> CashEntry | None:
    """One entry of a holder's cash ledger, or None."""
    async with uow:
        return await uow.cash.entry(holder_id, entry_id)


async def holder_networks(
    holder_id: str, *, uow: BillingUnitOfWork
) -> dict[str, str | None] | None:
    """On each order a holder's cash was taken or refunded on, the network the holder worked
    for there (None: the centre's or unknown); None when its ledger names no order."""
    async with uow:
        return await uow.cash.holder_networks(holder_id)


async def reconciliation(
    day: date, *, uow: BillingUnitOfWork, calendar: BusinessCalendar
) -> Reconciliation:
    """Takings of one local day per technician or desk, and cash on hand at its end (BIL-10):
    every figure summed in the database over the day's payments and the cash entries up to its
    end, never by loading a ledger."""
    start = _local_midnight(day, calendar)
    end = start + timedelta(days=1)
    async with uow:
        totals = await uow.payments.totals(start, end)
        receipts = await uow.payments.receipts(start, end)
        cash = {c.holder_id: c for c in await uow.cash.over_period(start, end)}
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for t in totals:
        sums[t.holder_id][f"{t.kind}:{t.method}"] += t.amount
    rows: list[HolderReconciliation] = []
    for holder_id in sorted(set(cash) | set(receipts)):
        held = cash.get(holder_id)
        remitted = held.remitted if held else ZERO
        on_hand = held.on_hand_at_end if held else ZERO
        if not (receipts.get(holder_id) or remitted or on_hand):
            continue
        s = sums[holder_id]
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
                receipts=receipts.get(holder_id, []),
                cash_on_hand_at_end=on_hand,
            )
        )
    # The totals are the sums of the rows, by method: they add up (BIL-10).
    return build_reconciliation(day, rows)
