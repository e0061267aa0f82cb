"""Maps billing's aggregates to its tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric, Subquery, and_, case, cast, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from billing.adapters.tables import (
    AccountRow,
    CashEntryRow,
    CashHolderRow,
    DocumentRow,
    FeeScheduleRow,
    InstallationRow,
    NumberSeriesRow,
    OrderEventRow,
    PaymentRow,
    PendingNetworkFeeRow,
    RateCardRow,
    SettlementItemRow,
)
from billing.domain.account import AccountState, BillingAccount, Payment, is_personal
from billing.domain.cash import (
    CashCarried,
    CashEntry,
    CashEntryKind,
    CashLedger,
    CashOverPeriod,
    CashPosition,
)
from billing.domain.exceptions import ConcurrentUpdate
from billing.domain.installations import Installation, serial_key
from billing.domain.model import OrderFile, RecordedEvent
from billing.domain.rate_cards import NetworkRate, RateCard
from billing.domain.reports import SettlementItem, SettlementKind
from billing.domain.schedule import FeeSchedule, ScheduleContent
from contracts.common import WarrantyStatus
from servicekit.db import (
    advisory_xact_lock,
    aware,
    for_change,
    insert_if_absent,
    insert_unless_present,
    table_of,
)

_ORDER_EVENTS = table_of(OrderEventRow)
_CASH_HOLDERS = table_of(CashHolderRow)
_PENDING_FEES = table_of(PendingNetworkFeeRow)


@dataclass(frozen=True)
class Cursor:
    """The last row of a page (its time and id): the next page starts after it."""

    at: datetime
    id: str


@dataclass(frozen=True)
class SettlementCursor:
    """The last line of a settlement page (its order, time and id)."""

    order_id: str
    at: datetime
    id: str


def _after(key: Any, row_id: Any, cursor: Cursor) -> ColumnElement[bool]:
    """Rows after ``cursor`` in ascending (key, id) order."""
    at = cursor.at.astimezone(UTC)
    return or_(key > at, and_(key == at, row_id > cursor.id))


def _cents(amount: Any) -> ColumnElement[int]:
    """An amount column in whole fen, so that a SUM is exact on PostgreSQL and SQLite alike
    (SQLite would add the stored decimal strings as floats); amounts have two decimals."""
    return cast(func.round(cast(amount, Numeric) * 100), BigInteger)


def _money(cents: Any) -> Decimal:
    """A SUM of ``_cents`` back in yuan (0.00 for the sum of no rows)."""
    return Decimal(int(cents or 0)).scaleb(-2)


def _cash_entry(r: CashEntryRow) -> CashEntry:
    return CashEntry(
        entry_id=r.entry_id,
        holder_id=r.holder_id,
        kind=CashEntryKind(r.kind),
        amount=r.amount,
        at=aware(r.at),
        order_id=r.order_id,
        by=r.by,
    )


def _settlement_item(r: SettlementItemRow) -> SettlementItem:
    return SettlementItem(
        item_id=r.item_id,
        network_id=r.network_id,
        order_id=r.order_id,
        kind=SettlementKind(r.kind),
        amount=r.amount,
        occurred_at=aware(r.occurred_at),
        description=r.description,
    )


class OrderFileRepository:
    """Order files: the recorded events of each order."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: str) -> OrderFile | None:
        """The order's file (events oldest first), or None when no event was recorded for it."""
        rows = (
            await self._session.execute(
                select(OrderEventRow)
                .where(col(OrderEventRow.order_id) == order_id)
                .order_by(col(OrderEventRow.time), col(OrderEventRow.event_id))
            )
        ).scalars()
        entries = [
            RecordedEvent(
                event_id=row.event_id,
                type=row.type,
                version=row.version,
                time=aware(row.time),
                source=row.source,
                summary=dict(row.summary),
            )
            for row in rows
        ]
        if not entries:
            return None
        return OrderFile(order_id=order_id, entries=entries)

    async def record(self, order_id: str, entry: RecordedEvent) -> bool:
        """Put ``entry`` on the order's file without reading the file: one insert that the
        table's key turns into a no-op when the event is already there (then False)."""
        # The entry's fields are the table's columns.
        return await insert_if_absent(
            self._session, _ORDER_EVENTS, {"order_id": order_id, **asdict(entry)}
        )

    async def scrub_personal_data(self, order_id: str) -> None:
        """Drop the personal fields of the order's event summaries (BIL-11)."""
        rows = (
            await self._session.execute(
                select(OrderEventRow).where(col(OrderEventRow.order_id) == order_id)
            )
        ).scalars()
        for row in rows:
            kept = {k: v for k, v in row.summary.items() if not is_personal(k)}
            if kept != row.summary:
                row.summary = kept
                self._session.add(row)


class FeeScheduleRepository:
    """Published fee schedules; rows are inserted, never updated."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _domain(row: FeeScheduleRow) -> FeeSchedule:
        return FeeSchedule(
            product_line=row.product_line,
            version=row.version,
            published_at=aware(row.published_at),
            published_by=row.published_by,
            content=ScheduleContent.model_validate(row.content),
        )

    async def lock_lines(self, product_lines: list[str], *, shared: bool) -> None:
        """Take the transaction locks of ``product_lines`` on PostgreSQL (SQLite's single writer
        serialises anyway): exclusive to publish a version, shared to price by the latest one.
        A quote request priced against "no schedule yet" is then either seen waiting by the
        publisher, or prices against the new version (BIL-1)."""
        for line in sorted(set(product_lines)):
            await advisory_xact_lock(self._session, f"billing:schedule:{line}", shared=shared)

    async def latest(self, product_line: str) -> FeeSchedule | None:
        """The newest published version of ``product_line``'s schedule."""
        row = (
            await self._session.execute(
                select(FeeScheduleRow)
                .where(col(FeeScheduleRow.product_line) == product_line)
                .order_by(col(FeeScheduleRow.version).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return None if row is None else self._domain(row)

    async def in_force(self, product_line: str, at: datetime) -> FeeSchedule | None:
        """The version of ``product_line``'s schedule in force at ``at``: the newest published
        at or before it; when none was yet, the first published after it (a request that
        waited for a schedule is priced by the one it waited for) (BIL-1)."""
        moment = at.astimezone(UTC)  # stored in UTC; SQLite compares the text
        published = col(FeeScheduleRow.published_at)
        query = select(FeeScheduleRow).where(col(FeeScheduleRow.product_line) == product_line)
        row = (
            await self._session.execute(
                query.where(published <= moment)
                .order_by(col(FeeScheduleRow.version).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            row = (
                await self._session.execute(query.order_by(col(FeeScheduleRow.version)).limit(1))
            ).scalar_one_or_none()
        return None if row is None else self._domain(row)

    async def get(self, product_line: str, version: int) -> FeeSchedule | None:
        """One version of ``product_line``'s schedule."""
        row = await self._session.get(FeeScheduleRow, (product_line, version))
        return None if row is None else self._domain(row)

    async def versions(
        self, product_line: str, *, before: int | None = None, limit: int
    ) -> list[FeeSchedule]:
        """Up to ``limit`` versions of ``product_line``'s schedule, newest (highest number)
        first, those numbered below ``before`` when given."""
        version = col(FeeScheduleRow.version)
        query = select(FeeScheduleRow).where(col(FeeScheduleRow.product_line) == product_line)
        if before is not None:
            query = query.where(version < before)
        rows = (await self._session.execute(query.order_by(version.desc()).limit(limit))).scalars()
        return [self._domain(r) for r in rows]

    async def add(self, schedule: FeeSchedule) -> None:
        """Insert a new version (a clash on the version is an IntegrityError at flush)."""
        self._session.add(
            FeeScheduleRow(
                product_line=schedule.product_line,
                version=schedule.version,
                published_at=schedule.published_at,
                published_by=schedule.published_by,
                content=schedule.content.model_dump(mode="json"),
            )
        )
        await self._session.flush()


class RateCardRepository:
    """Published versions of the networks' rate cards; rows are inserted, never updated
    (BIL-12)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _domain(row: RateCardRow) -> RateCard:
        return RateCard(
            network_id=row.network_id,
            version=row.version,
            effective_from=aware(row.effective_from),
            published_at=aware(row.published_at),
            published_by=row.published_by,
            rates=[NetworkRate.model_validate(r) for r in row.rates],
        )

    async def lock_network(self, network_id: str, *, shared: bool) -> None:
        """Take the network's card lock to the end of the transaction on PostgreSQL (SQLite's
        single writer serialises anyway): exclusive to publish a version, shared to price work
        by the card. Work is then priced either before a version commits, or after it with it
        seen; the publisher reads the clock once it holds the lock, so a version never takes
        effect before work already priced without it (BIL-12)."""
        await advisory_xact_lock(self._session, f"billing:rate-card:{network_id}", shared=shared)

    async def latest(self, network_id: str) -> RateCard | None:
        """The newest published version of the network's card (whenever it takes effect)."""
        row = (
            await self._session.execute(
                select(RateCardRow)
                .where(col(RateCardRow.network_id) == network_id)
                .order_by(col(RateCardRow.version).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return None if row is None else self._domain(row)

    async def in_force(self, network_id: str, at: datetime) -> RateCard | None:
        """The version of the network's card in force at ``at``, as ``card_in_force`` picks it:
        of those effective at or before it, the last to take effect, the newest of a tie."""
        effective = col(RateCardRow.effective_from)
        row = (
            await self._session.execute(
                select(RateCardRow)
                .where(
                    col(RateCardRow.network_id) == network_id,
                    effective <= at.astimezone(UTC),  # stored in UTC; SQLite compares the text
                )
                .order_by(effective.desc(), col(RateCardRow.version).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return None if row is None else self._domain(row)

    async def get(self, network_id: str, version: int) -> RateCard | None:
        """One version of the network's card."""
        row = await self._session.get(RateCardRow, (network_id, version))
        return None if row is None else self._domain(row)

    async def versions(
        self, network_id: str, *, before: int | None = None, limit: int
    ) -> list[RateCard]:
        """Up to ``limit`` versions of the network's card, newest (highest number) first, those
        numbered below ``before`` when given."""
        version = col(RateCardRow.version)
        query = select(RateCardRow).where(col(RateCardRow.network_id) == network_id)
        if before is not None:
            query = query.where(version < before)
        rows = (await self._session.execute(query.order_by(version.desc()).limit(limit))).scalars()
        return [self._domain(r) for r in rows]

    async def add(self, card: RateCard) -> None:
        """Insert a new version (a clash on the version is an IntegrityError at flush)."""
        self._session.add(
            RateCardRow(
                network_id=card.network_id,
                version=card.version,
                effective_from=card.effective_from,
                published_at=card.published_at,
                published_by=card.published_by,
                rates=[r.model_dump(mode="json") for r in card.rates],
            )
        )
        await self._session.flush()


class AccountRepository:
    """Billing accounts, one per order; loaded FOR UPDATE so changes of one order serialise."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._seen: dict[str, int] = {}
        self._listed_fees: dict[str, dict[str, datetime]] = {}
        """Per order loaded or saved, the rows its network fees waiting for the product line
        have in the table listing them by network (network -> pending_since)."""

    async def get(self, order_id: str, *, for_update: bool = True) -> BillingAccount | None:
        """The account of ``order_id`` (row-locked on PostgreSQL), or None."""
        query = select(AccountRow).where(col(AccountRow.order_id) == order_id)
        if for_update:
            query = for_change(query)
        row = (await self._session.execute(query)).scalar_one_or_none()
        if row is None:
            return None
        self._seen[order_id] = row.version
        account = self._domain(row)
        # the rows were written with the state in the same transaction: they are its image
        self._listed_fees[order_id] = account.network_fees_pending_by_network
        return account

    @staticmethod
    def _domain(row: AccountRow) -> BillingAccount:
        return BillingAccount(
            order_id=row.order_id,
            product_line=row.product_line,
            warranty_status=WarrantyStatus(row.warranty_status),
            network_id=row.network_id,
            technician_id=row.technician_id,
            paid_work=row.paid_work,
            coordination_ticket=row.coordination_ticket,
            ended_at=aware(row.ended_at),
            anonymised_at=aware(row.anonymised_at),
            state=AccountState.model_validate(row.state),
            version=row.version,
        )

    @staticmethod
    def _fields(account: BillingAccount) -> dict[str, Any]:
        return {
            "product_line": account.product_line,
            "warranty_status": account.warranty_status.value,
            "network_id": account.network_id,
            "technician_id": account.technician_id,
            "paid_work": account.paid_work,
            "coordination_ticket": account.coordination_ticket,
            "pending": account.pending,
            "invoice_due_on": account.invoice_due_on,
            # in UTC: SQLite compares the stored text when the list pages on it
            "held_unapproved_since": (
                None if (since := account.held_unapproved_since) is None else since.astimezone(UTC)
            ),
            "network_fees_pending_since": (
                None
                if (pending := account.network_fees_pending_since) is None
                else pending.astimezone(UTC)
            ),
            "ended_at": account.ended_at,
            "anonymised_at": account.anonymised_at,
            "state": account.state.model_dump(mode="json"),
        }

    async def save(self, account: BillingAccount) -> None:
        """Insert or update the account; a concurrent change of it is ConcurrentUpdate."""
        seen = self._seen.get(account.order_id)
        if seen is None:
            self._session.add(AccountRow(order_id=account.order_id, **self._fields(account)))
            self._seen[account.order_id] = 0
            await self._save_pending_fees(account)
            return
        result = await self._session.execute(
            update(table_of(AccountRow))
            .where(
                table_of(AccountRow).c.order_id == account.order_id,
                table_of(AccountRow).c.version == seen,
            )
            .values(version=seen + 1, **self._fields(account))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"Order {account.order_id} was changed meanwhile; retry.")
        self._seen[account.order_id] = seen + 1
        account.version = seen + 1
        await self._save_pending_fees(account)

    async def _save_pending_fees(self, account: BillingAccount) -> None:
        """Keep each network's waiting fees of the order in the table listing them by network
        (BIL-12), in the account's transaction: only the networks whose row changed are
        written, so a save that leaves them as they were issues no statement on the table."""
        order_id = account.order_id
        wanted = account.network_fees_pending_by_network
        listed = self._listed_fees.get(order_id, {})
        if wanted == listed:
            return
        stale = sorted(n for n, at in listed.items() if wanted.get(n) != at)
        fresh = sorted(n for n, at in wanted.items() if listed.get(n) != at)
        if stale:
            await self._session.execute(
                _PENDING_FEES.delete().where(
                    _PENDING_FEES.c.order_id == order_id, _PENDING_FEES.c.network_id.in_(stale)
                )
            )
        if fresh:
            await self._session.execute(
                _PENDING_FEES.insert(),
                [
                    {
                        "order_id": order_id,
                        "network_id": network,
                        "pending_since": wanted[network].astimezone(UTC),
                    }
                    for network in fresh
                ],
            )
        self._listed_fees[order_id] = dict(wanted)

    async def pending(self) -> list[str]:
        """Orders with quote requests waiting for a schedule, by id: all of them, since a
        request may name another product line than its order's."""
        rows = await self._session.execute(
            select(AccountRow.order_id)
            .where(col(AccountRow.pending).is_(True))
            .order_by(col(AccountRow.order_id))
        )
        return list(rows.scalars())

    async def with_invoices_due_before(self, day: date, limit: int) -> list[str]:
        """Orders with an undelivered, unreported invoice promised before ``day`` (BIL-7)."""
        rows = await self._session.execute(
            select(AccountRow.order_id)
            .where(col(AccountRow.invoice_due_on) < day)
            .order_by(col(AccountRow.invoice_due_on))
            .limit(limit)
        )
        return list(rows.scalars())

    async def holding_unapproved(
        self, *, after: Cursor | None = None, limit: int
    ) -> list[tuple[Cursor, BillingAccount]]:
        """Up to ``limit`` accounts whose quotes hold a reduction the centre has not approved
        (BIL-8), the longest waiting first (then by order id), those after ``after`` (its time
        and order id) when given; each with its place in that order. Read only, not locked."""
        since, order_id = col(AccountRow.held_unapproved_since), col(AccountRow.order_id)
        query = select(AccountRow).where(since.is_not(None))
        if after is not None:
            query = query.where(_after(since, order_id, after))
        rows = (await self._session.execute(query.order_by(since, order_id).limit(limit))).scalars()
        return [
            (Cursor(at=aware(r.held_unapproved_since), id=r.order_id), self._domain(r))
            for r in rows
            if r.held_unapproved_since is not None
        ]

    async def with_pending_network_fees(
        self, *, network_id: str | None = None, after: Cursor | None = None, limit: int
    ) -> list[tuple[Cursor, BillingAccount]]:
        """Up to ``limit`` accounts holding network fees that wait for the order's product line
        (BIL-12), the earliest work first (then by order id), those after ``after`` when given;
        each with its place in that order. With ``network_id``, the accounts holding that
        network's fees only, selected by its index, each placed by the network's own earliest
        waiting work. Read only, not locked."""
        if network_id is not None:
            return await self._with_network_fees_pending(network_id, after=after, limit=limit)
        since, order_id = col(AccountRow.network_fees_pending_since), col(AccountRow.order_id)
        query = select(AccountRow).where(since.is_not(None))
        if after is not None:
            query = query.where(_after(since, order_id, after))
        rows = (await self._session.execute(query.order_by(since, order_id).limit(limit))).scalars()
        return [
            (Cursor(at=aware(r.network_fees_pending_since), id=r.order_id), self._domain(r))
            for r in rows
            if r.network_fees_pending_since is not None
        ]

    async def _with_network_fees_pending(
        self, network_id: str, *, after: Cursor | None, limit: int
    ) -> list[tuple[Cursor, BillingAccount]]:
        since = col(PendingNetworkFeeRow.pending_since)
        order_id = col(PendingNetworkFeeRow.order_id)
        query = (
            select(AccountRow, since)
            .join(PendingNetworkFeeRow, order_id == col(AccountRow.order_id))
            .where(col(PendingNetworkFeeRow.network_id) == network_id)
        )
        if after is not None:
            query = query.where(_after(since, order_id, after))
        rows = await self._session.execute(query.order_by(since, order_id).limit(limit))
        return [(Cursor(at=aware(at), id=row.order_id), self._domain(row)) for row, at in rows]

    async def retention_candidates(
        self, *, paid_ended_before: datetime, free_ended_before: datetime, limit: int
    ) -> list[str]:
        """Orders that still hold personal data and ended before the cutoff of their kind, paid
        work or free (BIL-11), up to ``limit`` of each kind, the earliest ended first. Each kind
        is read on its own: the paid orders near their cutoff but not due yet (the cutoffs run
        a little early) never crowd the due free ones out of the batch, sweep after sweep."""
        found: list[str] = []
        for paid, ended_before in ((True, paid_ended_before), (False, free_ended_before)):
            rows = await self._session.execute(
                select(AccountRow.order_id)
                .where(
                    col(AccountRow.anonymised_at).is_(None),
                    col(AccountRow.ended_at).is_not(None),
                    col(AccountRow.coordination_ticket).is_(False),
                    col(AccountRow.paid_work).is_(paid),
                    col(AccountRow.ended_at) <= ended_before,
                )
                .order_by(col(AccountRow.ended_at), col(AccountRow.order_id))
                .limit(limit)
            )
            found.extend(rows.scalars())
        return found


class NumberSeries:
    """Gapless document numbers: the counter row is bumped in the issuing transaction, so a
    rollback gives the number back and concurrent issuers queue on the row lock."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def take(
        self, series: str, *, kind: str, order_id: str, amount: Any, at: datetime
    ) -> str:
        """The next number of ``series`` (e.g. ``R2026-000042``), entered in the register."""
        table = table_of(NumberSeriesRow)
        await self._session.execute(
            insert_unless_present(self._session, table).values(series=series, last_number=0)
        )
        seq = (
            await self._session.execute(
                update(table)
                .where(table.c.series == series)
                .values(last_number=table.c.last_number + 1)
                .returning(table.c.last_number)
            )
        ).scalar_one()
        number = f"{series}-{seq:06d}"
        self._session.add(
            DocumentRow(
                number=number,
                series=series,
                seq=seq,
                kind=kind,
                order_id=order_id,
                amount=amount,
                issued_at=at,
            )
        )
        return number

    async def register(self, series: str) -> list[DocumentRow]:
        """Every document of ``series`` in number order."""
        rows = await self._session.execute(
            select(DocumentRow)
            .where(col(DocumentRow.series) == series)
            .order_by(col(DocumentRow.seq))
        )
        return list(rows.scalars())


@dataclass(frozen=True)
class PaymentTotal:
    """What one holder took (or paid back) by one method in a period, summed in the database."""

    holder_id: str
    kind: str
    method: str
    amount: Decimal


class PaymentRepository:
    """Payments and refunds, for reconciliation."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, order_id: str, payment: Payment) -> None:
        """Record a payment or refund."""
        self._session.add(
            PaymentRow(
                payment_id=payment.payment_id,
                order_id=order_id,
                kind=payment.kind.value,
                method=payment.method.value,
                amount=payment.amount,
                holder_id=payment.by,
                at=payment.at,
                receipt_number=payment.receipt_number,
            )
        )

    @staticmethod
    def _between(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        at = col(PaymentRow.at)
        return [at >= start.astimezone(UTC), at < end.astimezone(UTC)]

    async def totals(self, start: datetime, end: datetime) -> list[PaymentTotal]:
        """The sums of the payments and refunds made in [start, end) per holder, kind and
        method, summed in the database over that period's rows only."""
        holder, kind, method = (
            col(PaymentRow.holder_id),
            col(PaymentRow.kind),
            col(PaymentRow.method),
        )
        rows = await self._session.execute(
            select(holder, kind, method, func.sum(_cents(col(PaymentRow.amount))))
            .where(*self._between(start, end))
            .group_by(holder, kind, method)
        )
        return [
            PaymentTotal(holder_id=h, kind=k, method=m, amount=_money(cents))
            for h, k, m, cents in rows.all()
        ]

    async def receipts(self, start: datetime, end: datetime) -> dict[str, list[str]]:
        """The receipt numbers of the payments and refunds made in [start, end) per holder, in
        the order they were made (then by number)."""
        rows = await self._session.execute(
            select(col(PaymentRow.holder_id), col(PaymentRow.receipt_number))
            .where(*self._between(start, end))
            .order_by(col(PaymentRow.at), col(PaymentRow.receipt_number))
        )
        receipts: dict[str, list[str]] = {}
        for holder_id, number in rows.all():
            receipts.setdefault(holder_id, []).append(number)
        return receipts


class CashRepository:
    """Cash ledgers per technician or desk."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_or_open(
        self, holder_id: str, *, adding_at: datetime | None = None
    ) -> CashLedger:
        """The ledger of ``holder_id`` for a change, its holder row locked; the row is opened
        first for a holder never seen, so the first two cash movements of a holder at once take
        turns on it instead of one failing on its key (BIL-10).

        Only the ledger's tail is loaded: the collections still (partly) held, and those at or
        after ``adding_at`` when a collection is to be booked then (it may sort before them);
        the other entries are summed in the database (``CashLedger.carried``), so a write costs
        the same however long the ledger grows."""
        await insert_if_absent(
            self._session,
            _CASH_HOLDERS,
            {"holder_id": holder_id, "holds_cash": False, "alerts": {}},
        )
        holder = (
            await self._session.execute(
                for_change(select(CashHolderRow).where(col(CashHolderRow.holder_id) == holder_id))
            )
        ).scalar_one()
        collected_cents, paid_out_cents = await self._sums(holder_id)
        tail = self._collections(holder_id)
        keep = tail.c.running > paid_out_cents
        if adding_at is not None:
            keep = or_(keep, tail.c.at >= adding_at.astimezone(UTC))
        rows = await self._session.execute(
            sa_select(tail).where(keep).order_by(tail.c.at, tail.c.entry_id)
        )
        entries = [
            CashEntry(
                entry_id=r.entry_id,
                holder_id=holder_id,
                kind=CashEntryKind.COLLECTED,
                amount=r.amount,
                at=aware(r.at),
                order_id=r.order_id,
                by=r.by,
            )
            for r in rows.all()
        ]
        loaded = sum((e.amount for e in entries), Decimal(0))
        carried = CashCarried(
            collected=_money(collected_cents) - loaded, paid_out=_money(paid_out_cents)
        )
        return CashLedger(
            holder_id=holder_id, entries=entries, alerts=dict(holder.alerts), carried=carried
        )

    async def _sums(self, holder_id: str) -> tuple[int, int]:
        """The cash ``holder_id``'s ledger collected, and paid out (refunded, remitted), in
        whole fen, summed in the database."""
        cents = _cents(col(CashEntryRow.amount))
        collected = col(CashEntryRow.kind) == CashEntryKind.COLLECTED.value
        totals = (
            await self._session.execute(
                select(
                    func.sum(case((collected, cents), else_=0)),
                    func.sum(case((collected, 0), else_=cents)),
                ).where(col(CashEntryRow.holder_id) == holder_id)
            )
        ).one()
        return int(totals[0] or 0), int(totals[1] or 0)

    @staticmethod
    def _collections(holder_id: str) -> Subquery:
        """The collections of ``holder_id``'s ledger with their running total in booking order
        (fen): outflows settle the oldest cash first, so a collection is still (partly) held
        when its running total exceeds all that went out (``CashLedger.held``)."""
        at, entry_id = col(CashEntryRow.at), col(CashEntryRow.entry_id)
        cents = _cents(col(CashEntryRow.amount))
        # SQLAlchemy's select: SQLModel's types at most four columns.
        return (
            sa_select(
                at.label("at"),
                entry_id.label("entry_id"),
                col(CashEntryRow.amount).label("amount"),
                col(CashEntryRow.order_id).label("order_id"),
                col(CashEntryRow.by).label("by"),
                func.sum(cents).over(order_by=(at, entry_id), rows=(None, 0)).label("running"),
            )
            .where(
                col(CashEntryRow.holder_id) == holder_id,
                col(CashEntryRow.kind) == CashEntryKind.COLLECTED.value,
            )
            .subquery()
        )

    async def get(self, holder_id: str) -> CashLedger:
        """The whole ledger of ``holder_id``, every entry loaded (empty when it never held
        cash): for checks and reports that need each entry; reads and writes sum instead."""
        holder = (
            await self._session.execute(
                select(CashHolderRow).where(col(CashHolderRow.holder_id) == holder_id)
            )
        ).scalar_one_or_none()
        rows = (
            await self._session.execute(
                select(CashEntryRow).where(col(CashEntryRow.holder_id) == holder_id)
            )
        ).scalars()
        entries = [_cash_entry(r) for r in rows]
        return CashLedger(
            holder_id=holder_id, entries=entries, alerts=dict(holder.alerts) if holder else {}
        )

    async def position(self, holder_id: str) -> CashPosition:
        """The cash ``holder_id`` has on hand and since when, summed in the database over every
        entry of its ledger without loading them (BIL-10)."""
        collected_cents, paid_out_cents = await self._sums(holder_id)
        collections = self._collections(holder_id)
        held_since = (
            await self._session.execute(
                select(collections.c.at)
                .where(collections.c.running > paid_out_cents)
                .order_by(collections.c.at, collections.c.entry_id)
                .limit(1)
            )
        ).scalar_one_or_none()
        return CashPosition(
            holder_id=holder_id,
            on_hand=_money(collected_cents - paid_out_cents),
            held_since=aware(held_since),
        )

    async def over_period(self, start: datetime, end: datetime) -> list[CashOverPeriod]:
        """Every holder's cash remitted in [start, end) and on hand at ``end``, summed in the
        database over the entries before ``end`` without loading them (BIL-10); holders with
        no entry before ``end`` are left out."""
        holder_id, kind, at = (
            col(CashEntryRow.holder_id),
            col(CashEntryRow.kind),
            col(CashEntryRow.at),
        )
        cents = _cents(col(CashEntryRow.amount))
        remitted_in_period = and_(kind == CashEntryKind.REMITTED.value, at >= start.astimezone(UTC))
        signed = case((kind == CashEntryKind.COLLECTED.value, cents), else_=-cents)
        rows = await self._session.execute(
            select(
                holder_id,
                func.sum(case((remitted_in_period, cents), else_=0)),
                func.sum(signed),
            )
            .join(CashHolderRow, col(CashHolderRow.holder_id) == holder_id)
            .where(at < end.astimezone(UTC))
            .group_by(holder_id)
        )
        return [
            CashOverPeriod(holder_id=h, remitted=_money(remitted), on_hand_at_end=_money(on_hand))
            for h, remitted, on_hand in rows.all()
        ]

    async def entries(
        self, holder_id: str, *, after: Cursor | None = None, limit: int
    ) -> list[CashEntry]:
        """Up to ``limit`` entries of ``holder_id``'s ledger in booking order (time, then id),
        after ``after``."""
        at, entry_id = col(CashEntryRow.at), col(CashEntryRow.entry_id)
        query = select(CashEntryRow).where(col(CashEntryRow.holder_id) == holder_id)
        if after is not None:
            query = query.where(_after(at, entry_id, after))
        rows = await self._session.execute(query.order_by(at, entry_id).limit(limit))
        return [_cash_entry(r) for r in rows.scalars()]

    async def entry(self, holder_id: str, entry_id: str) -> CashEntry | None:
        """One entry of ``holder_id``'s ledger, or None."""
        row = await self._session.get(CashEntryRow, entry_id)
        return None if row is None or row.holder_id != holder_id else _cash_entry(row)

    async def holder_networks(self, holder_id: str) -> dict[str, str | None] | None:
        """On each order the cash of ``holder_id``'s ledger was taken or refunded on, the
        network an assignment recorded the holder as working for (None: the centre's, or not
        recorded, or the order unknown), in one query whatever the number of orders (BIL-10,
        BIL-12); None when the ledger names no order."""
        entry_order = col(CashEntryRow.order_id)
        orders = (
            sa_select(entry_order.label("order_id"))
            .where(col(CashEntryRow.holder_id) == holder_id, entry_order.is_not(None))
            .distinct()
            .subquery()
        )
        networks = col(AccountRow.state)["technician_networks"]
        rows = (
            await self._session.execute(
                sa_select(orders.c.order_id, networks).outerjoin(
                    AccountRow, col(AccountRow.order_id) == orders.c.order_id
                )
            )
        ).all()
        if not rows:
            return None
        return {
            order_id: held.get(holder_id) if isinstance(held, dict) else None
            for order_id, held in rows
        }

    async def save(self, ledger: CashLedger) -> None:
        """Write new entries and the holder's alert state."""
        for e in ledger.new_entries:
            self._session.add(
                CashEntryRow(
                    entry_id=e.entry_id,
                    holder_id=e.holder_id,
                    kind=e.kind.value,
                    amount=e.amount,
                    at=e.at,
                    order_id=e.order_id,
                    by=e.by,
                )
            )
        ledger.new_entries = []
        holder = await self._session.get(CashHolderRow, ledger.holder_id)
        if holder is None:
            holder = CashHolderRow(holder_id=ledger.holder_id)
        holder.holds_cash = ledger.on_hand > 0
        holder.alerts = dict(ledger.alerts)
        self._session.add(holder)

    async def holders_with_cash(self) -> list[str]:
        """Holders with cash on hand."""
        rows = await self._session.execute(
            select(CashHolderRow.holder_id).where(col(CashHolderRow.holds_cash).is_(True))
        )
        return list(rows.scalars())

    async def holders(self) -> list[str]:
        """Every holder that ever held cash."""
        return list((await self._session.execute(select(CashHolderRow.holder_id))).scalars())


class SettlementRepository:
    """Settlement items per network (BIL-12)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, item: SettlementItem) -> None:
        """Record an item once (its id derives from the event or payment that caused it)."""
        if await self._session.get(SettlementItemRow, item.item_id) is not None:
            return
        self._session.add(
            SettlementItemRow(
                item_id=item.item_id,
                network_id=item.network_id,
                order_id=item.order_id,
                kind=item.kind.value,
                amount=item.amount,
                occurred_at=item.occurred_at,
                description=item.description,
            )
        )

    async def of_order(self, order_id: str, kind: SettlementKind) -> list[SettlementItem]:
        """The order's items of ``kind``, oldest first."""
        rows = (
            await self._session.execute(
                select(SettlementItemRow)
                .where(
                    col(SettlementItemRow.order_id) == order_id,
                    col(SettlementItemRow.kind) == kind.value,
                )
                .order_by(col(SettlementItemRow.occurred_at), col(SettlementItemRow.item_id))
            )
        ).scalars()
        return [_settlement_item(r) for r in rows]

    @staticmethod
    def _of_month(network_id: str, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        occurred = col(SettlementItemRow.occurred_at)
        return [
            col(SettlementItemRow.network_id) == network_id,
            occurred >= start.astimezone(UTC),
            occurred < end.astimezone(UTC),
        ]

    async def totals(
        self, network_id: str, start: datetime, end: datetime
    ) -> dict[SettlementKind, Decimal]:
        """The sums per kind of the network's items in [start, end), summed in the database."""
        kind = col(SettlementItemRow.kind)
        rows = await self._session.execute(
            select(kind, func.sum(_cents(col(SettlementItemRow.amount))))
            .where(*self._of_month(network_id, start, end))
            .group_by(kind)
        )
        return {SettlementKind(k): _money(cents) for k, cents in rows.all()}

    async def lines(
        self,
        network_id: str,
        start: datetime,
        end: datetime,
        *,
        after: SettlementCursor | None = None,
        limit: int | None = None,
    ) -> list[SettlementItem]:
        """The network's items in [start, end) by order, then time and id: up to ``limit``
        (all without one) after ``after``."""
        order_id, at = col(SettlementItemRow.order_id), col(SettlementItemRow.occurred_at)
        item_id = col(SettlementItemRow.item_id)
        query = select(SettlementItemRow).where(*self._of_month(network_id, start, end))
        if after is not None:
            query = query.where(
                or_(
                    order_id > after.order_id,
                    and_(
                        order_id == after.order_id, _after(at, item_id, Cursor(after.at, after.id))
                    ),
                )
            )
        query = query.order_by(order_id, at, item_id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self._session.execute(query)).scalars()
        return [_settlement_item(r) for r in rows]


class InstallationRepository:
    """Installations the platform completed, by the unit's serial (BIL-5)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, installation: Installation) -> None:
        """Record the installation of its order, or correct it (a serial or date corrected)."""
        row = await self._session.get(InstallationRow, installation.order_id)
        if row is None:
            row = InstallationRow(
                order_id=installation.order_id,
                product_line=installation.product_line,
                serial=installation.serial,
                serial_key=installation.serial_key,
                installed_on=installation.installed_on,
            )
        else:
            row.product_line = installation.product_line
            row.serial = installation.serial
            row.serial_key = installation.serial_key
            row.installed_on = installation.installed_on
        self._session.add(row)

    async def of_unit(self, *, serial: str, product_lines: list[str]) -> list[Installation]:
        """The installations of the unit ``serial`` (compared as intake does, INT-8) in any of
        ``product_lines``."""
        rows = (
            await self._session.execute(
                select(InstallationRow).where(
                    col(InstallationRow.serial_key) == serial_key(serial),
                    col(InstallationRow.product_line).in_(product_lines),
                )
            )
        ).scalars()
        return [
            Installation(
                order_id=r.order_id,
                product_line=r.product_line,
                serial=r.serial,
                installed_on=r.installed_on,
            )
            for r in rows
        ]
