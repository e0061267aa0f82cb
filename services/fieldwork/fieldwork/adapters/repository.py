"""Maps fieldwork's aggregates to its tables."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from contracts.common import ServiceType
from fieldwork.adapters.tables import (
    ClientActionRow,
    LoanerRow,
    OrderContextRow,
    OrderEventRow,
    TakeBackRow,
    TicketRow,
    VisitRow,
)
from fieldwork.domain.coordination import Check, Contact, CoordinationTicket
from fieldwork.domain.model import OrderContext, OrderFile, RecordedEvent
from fieldwork.domain.privacy import erase_summary
from fieldwork.domain.visit import Visit
from fieldwork.domain.workshop import Loaner, LoanerState, Progress, TakeBack
from servicekit.db import (
    advisory_xact_lock,
    aware,
    for_change,
    get_row,
    holds_xact_lock,
    insert_if_absent,
    keep_row,
    table_of,
)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Cursor:
    """The last row of a page (its sort key and id): the next page starts after it."""

    at: datetime | date
    id: str


def _after(key: Any, row_id: Any, cursor: Cursor) -> ColumnElement[bool]:
    """Rows after ``cursor`` in ascending (key, id) order."""
    at = cursor.at.astimezone(UTC) if isinstance(cursor.at, datetime) else cursor.at
    return or_(key > at, and_(key == at, row_id > cursor.id))


_ORDER_EVENTS = table_of(OrderEventRow)
_TICKETS = table_of(TicketRow)


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
        """The personal fields of the order's event summaries read "[erased]" (BIL-11)."""
        rows = (
            await self._session.execute(
                select(OrderEventRow).where(col(OrderEventRow.order_id) == order_id)
            )
        ).scalars()
        for row in rows:
            kept = erase_summary(row.type, row.summary)
            if kept != row.summary:
                row.summary = kept
                self._session.add(row)


#: The order context's dates, kept as ISO strings in its JSON document (and its anonymisation
#: time, an ISO timestamp).
_CONTEXT_DATES = ("installed_on", "purchase_date")


def _order_lock(order_id: str) -> str:
    return f"fieldwork:order:{order_id}"


class OrderContextRepository:
    """What fieldwork knows of each order."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, order_id: str) -> None:
        """Take the order's transaction lock on PostgreSQL (SQLite's single writer serialises
        anyway): what an event changes depends on the order's context and all its visits, rows
        that may not exist yet, so two events of one order are applied one after the other."""
        key = _order_lock(order_id)
        if not holds_xact_lock(self._session, key):
            await advisory_xact_lock(self._session, key)

    async def _row(self, order_id: str) -> OrderContextRow | None:
        if not holds_xact_lock(self._session, _order_lock(order_id)):
            return await get_row(self._session, OrderContextRow, order_id)
        # Under the order's lock nobody else changes the row (or inserts it) until the
        # transaction ends: it is read afresh once (a copy from before the lock may be stale)
        # and kept, absent or not, so an event's later reads and its save do not read it again.
        return await get_row(self._session, OrderContextRow, order_id, keep=True)

    async def get(self, order_id: str) -> OrderContext | None:
        """The order's context, or None."""
        row = await self._row(order_id)
        if row is None:
            return None
        doc = dict(row.doc)
        for key in _CONTEXT_DATES:
            if doc.get(key):
                doc[key] = date.fromisoformat(doc[key])
        if "service_type" in doc:
            doc["service_type"] = ServiceType(doc["service_type"])
        if doc.get("anonymised_at"):
            doc["anonymised_at"] = datetime.fromisoformat(doc["anonymised_at"])
        return OrderContext(**doc)

    async def save(self, context: OrderContext) -> None:
        """Insert or update."""
        row = await self._row(context.order_id)
        doc = asdict(context)
        for key in _CONTEXT_DATES:
            if doc.get(key) is not None:
                doc[key] = doc[key].isoformat()
        doc["anonymised_at"] = _iso(context.anonymised_at)
        if row is None:
            row = OrderContextRow(order_id=context.order_id, doc=doc)
            if holds_xact_lock(self._session, _order_lock(context.order_id)):
                keep_row(self._session, row)
        else:
            row.doc = doc
        self._session.add(row)


class VisitRepository:
    """Visits: state, technician and network as columns, the aggregate as a JSON document."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, visit_id: str, *, for_update: bool = False) -> Visit | None:
        """The visit (row-locked on PostgreSQL when ``for_update``), or None. A visit read to
        change is kept for the rest of the transaction, or its absence (a visit not stored yet:
        one inserted meanwhile clashes on its key), so saving it does not read it again."""
        row = await get_row(
            self._session, VisitRow, visit_id, for_update=for_update, keep=for_update
        )
        return None if row is None else Visit.model_validate(row.doc)

    async def for_order(self, order_id: str, *, for_update: bool = False) -> list[Visit]:
        """The order's visits, oldest first; ``for_update`` row-locks them all on PostgreSQL,
        in id order so that two lockers of the same visits never wait for each other crosswise.
        """
        query = select(VisitRow).where(col(VisitRow.order_id) == order_id)
        if for_update:
            query = for_change(query.order_by(col(VisitRow.visit_id)))
        else:
            query = query.order_by(col(VisitRow.updated_at))
        rows = list((await self._session.execute(query)).scalars())
        if for_update:
            for row in rows:
                keep_row(self._session, row)
        visits = [Visit.model_validate(r.doc) for r in rows]
        return sorted(visits, key=lambda v: v.created_at)

    async def search(
        self,
        *,
        technician_id: str | None = None,
        network_id: str | None = None,
        order_id: str | None = None,
        ended_states: Collection[str] = (),
        after: Cursor | None = None,
        limit: int,
    ) -> list[Visit]:
        """Up to ``limit`` visits matching every filter given, none in ``ended_states``, oldest
        first (by creation, then id), after ``after`` (a creation time and visit id)."""
        query = select(VisitRow)
        if technician_id is not None:
            query = query.where(col(VisitRow.technician_id) == technician_id)
        if network_id is not None:
            query = query.where(col(VisitRow.network_id) == network_id)
        if order_id is not None:
            query = query.where(col(VisitRow.order_id) == order_id)
        if ended_states:
            query = query.where(col(VisitRow.state).not_in(list(ended_states)))
        created_at, visit_id = col(VisitRow.created_at), col(VisitRow.visit_id)
        if after is not None:
            query = query.where(_after(created_at, visit_id, after))
        query = query.order_by(created_at, visit_id).limit(limit)
        rows = (await self._session.execute(query)).scalars()
        return [Visit.model_validate(r.doc) for r in rows]

    async def orders_with_arrivals(self) -> list[str]:
        """Orders where some visit arrived (candidates for coordination tickets, FLD-15)."""
        rows = await self._session.execute(
            select(VisitRow.order_id).where(col(VisitRow.arrived_at).is_not(None)).distinct()
        )
        return [r[0] for r in rows]

    async def save(self, visit: Visit, *, now: datetime) -> None:
        """Insert or update the visit."""
        doc = visit.model_dump(mode="json")
        row = await get_row(self._session, VisitRow, visit.visit_id)  # kept: not read again
        if row is None:
            row = VisitRow(
                visit_id=visit.visit_id,
                order_id=visit.order_id,
                state=visit.state.value,
                updated_at=now,
                created_at=visit.created_at.astimezone(UTC),
                doc=doc,
            )
            keep_row(self._session, row)  # inserted by this transaction: its own till it ends
        row.technician_id = visit.technician_id
        row.network_id = visit.network_id
        row.state = visit.state.value
        row.arrived_at = visit.arrived_at
        row.updated_at = now
        row.doc = doc
        self._session.add(row)


class LoanerRepository:
    """The loaner inventory (FLD-6)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _from_row(row: LoanerRow) -> Loaner:
        return Loaner(
            serial=row.serial,
            product_line=row.product_line,
            state=LoanerState(row.state),
            condition=row.condition,
            order_id=row.order_id,
            visit_id=row.visit_id,
            receipt_number=row.receipt_number,
            due_back=row.due_back,
            updated_at=aware(row.updated_at),
        )

    async def get(self, serial: str, *, for_update: bool = True) -> Loaner | None:
        """The loaner (row-locked on PostgreSQL unless ``for_update`` is False), or None."""
        row = await get_row(self._session, LoanerRow, serial, for_update=for_update)
        return None if row is None else self._from_row(row)

    async def list(
        self,
        *,
        state: LoanerState | None = None,
        after_serial: str | None = None,
        limit: int | None = None,
    ) -> list[Loaner]:
        """Loaners (of ``state``) by serial, after ``after_serial``, up to ``limit`` (all)."""
        query = select(LoanerRow).order_by(col(LoanerRow.serial))
        if state is not None:
            query = query.where(col(LoanerRow.state) == state.value)
        if after_serial is not None:
            query = query.where(col(LoanerRow.serial) > after_serial)
        if limit is not None:
            query = query.limit(limit)
        return [self._from_row(r) for r in (await self._session.execute(query)).scalars()]

    async def save(self, loaner: Loaner) -> None:
        """Insert or update."""
        row = await self._session.get(LoanerRow, loaner.serial)
        if row is None:
            row = LoanerRow(
                serial=loaner.serial,
                product_line=loaner.product_line,
                state=loaner.state.value,
                condition=loaner.condition,
            )
        row.product_line = loaner.product_line
        row.state = loaner.state.value
        row.condition = loaner.condition
        row.order_id = loaner.order_id
        row.visit_id = loaner.visit_id
        row.receipt_number = loaner.receipt_number
        row.due_back = loaner.due_back
        row.updated_at = loaner.updated_at
        self._session.add(row)


class TakeBackRepository:
    """Units at the workshop (FLD-6)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _from_row(row: TakeBackRow) -> TakeBack:
        d: dict[str, Any] = row.doc
        return TakeBack(
            receipt_number=row.receipt_number,
            order_id=row.order_id,
            visit_id=d["visit_id"],
            promised_return_date=row.promised_return_date,
            taken_at=aware(datetime.fromisoformat(d["taken_at"])),
            unit_serial=d.get("unit_serial"),
            appearance=d.get("appearance"),
            loaner_serial=d.get("loaner_serial"),
            progress=[
                Progress(at=datetime.fromisoformat(p["at"]), stage=p["stage"], note=p.get("note"))
                for p in d.get("progress", [])
            ],
            returned_at=aware(row.returned_at),
            returned_visit_id=d.get("returned_visit_id"),
            repaired=d.get("repaired"),
            loaner_collected_at=(
                _dt(d["loaner_collected_at"])
                if "loaner_collected_at" in d
                # Recorded before collections were: a return then always took the loaner back.
                else (aware(row.returned_at) if d.get("loaner_serial") else None)
            ),
            overdue_reported_at=_dt(d.get("overdue_reported_at")),
            loaner_overdue_reported_at=aware(row.loaner_overdue_reported_at),
        )

    async def get(self, receipt_number: str) -> TakeBack | None:
        """The take-back, or None."""
        row = await get_row(self._session, TakeBackRow, receipt_number, for_update=True)
        return None if row is None else self._from_row(row)

    async def for_order(self, order_id: str) -> list[TakeBack]:
        """The order's take-backs."""
        rows = (
            await self._session.execute(
                select(TakeBackRow).where(col(TakeBackRow.order_id) == order_id)
            )
        ).scalars()
        return [self._from_row(r) for r in rows]

    async def lock_overdue_candidates(self, *, before: date) -> list[TakeBack]:
        """Units not back whose promised date is before ``before``, row-locked on PostgreSQL;
        a row another transaction holds is skipped (a later sweep gets it), so two sweeps never
        act on one take-back. The caller re-checks each one: it is the fresh, locked row."""
        rows = (
            await self._session.execute(
                for_change(
                    select(TakeBackRow)
                    .where(col(TakeBackRow.returned_at).is_(None))
                    .where(col(TakeBackRow.promised_return_date) < before)
                    .order_by(col(TakeBackRow.receipt_number)),
                    skip_locked=True,
                )
            )
        ).scalars()
        return [self._from_row(r) for r in rows]

    async def lock_kept_loaner_candidates(self, *, returned_before: datetime) -> list[TakeBack]:
        """Units back with their customer before ``returned_before`` whose loaner is still lent
        for them and not reported yet (FLD-6), row-locked and skipped when another transaction
        holds them, like :meth:`lock_overdue_candidates`. The caller re-checks each one."""
        loaner_still_lent = (
            select(LoanerRow.serial)
            .where(col(LoanerRow.receipt_number) == col(TakeBackRow.receipt_number))
            .where(col(LoanerRow.state) == LoanerState.LENT.value)
            .exists()
        )
        rows = (
            await self._session.execute(
                for_change(
                    select(TakeBackRow)
                    .where(col(TakeBackRow.returned_at).is_not(None))
                    .where(col(TakeBackRow.returned_at) < returned_before)
                    .where(col(TakeBackRow.loaner_overdue_reported_at).is_(None))
                    .where(loaner_still_lent)
                    .order_by(col(TakeBackRow.receipt_number)),
                    skip_locked=True,
                )
            )
        ).scalars()
        return [self._from_row(r) for r in rows]

    async def save(self, take_back: TakeBack) -> None:
        """Insert or update."""
        doc = {
            "visit_id": take_back.visit_id,
            "taken_at": take_back.taken_at.isoformat(),
            "unit_serial": take_back.unit_serial,
            "appearance": take_back.appearance,
            "loaner_serial": take_back.loaner_serial,
            "progress": [
                {"at": p.at.isoformat(), "stage": p.stage, "note": p.note}
                for p in take_back.progress
            ],
            "returned_visit_id": take_back.returned_visit_id,
            "repaired": take_back.repaired,
            "loaner_collected_at": _iso(take_back.loaner_collected_at),
            "overdue_reported_at": _iso(take_back.overdue_reported_at),
        }
        row = await self._session.get(TakeBackRow, take_back.receipt_number)
        if row is None:
            row = TakeBackRow(
                receipt_number=take_back.receipt_number,
                order_id=take_back.order_id,
                promised_return_date=take_back.promised_return_date,
            )
        row.promised_return_date = take_back.promised_return_date
        row.returned_at = take_back.returned_at
        row.loaner_overdue_reported_at = take_back.loaner_overdue_reported_at
        row.doc = doc
        self._session.add(row)


class TicketRepository:
    """Coordination tickets (FLD-15)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _from_row(row: TicketRow) -> CoordinationTicket:
        d: dict[str, Any] = row.doc
        return CoordinationTicket(
            ticket_id=row.ticket_id,
            order_id=row.order_id,
            owner=row.owner,
            reason=d["reason"],
            opened_at=aware(datetime.fromisoformat(d["opened_at"])),
            next_check_due=row.next_check_due,
            contacts=[
                Contact(
                    at=datetime.fromisoformat(c["at"]),
                    by=c["by"],
                    channel=c["channel"],
                    note=c["note"],
                )
                for c in d.get("contacts", [])
            ],
            checks=[
                Check(at=datetime.fromisoformat(c["at"]), by=c["by"], note=c.get("note"))
                for c in d.get("checks", [])
            ],
            check_due_reported_on=(
                date.fromisoformat(d["check_due_reported_on"])
                if d.get("check_due_reported_on")
                else None
            ),
            closed_at=aware(row.closed_at),
            resolution=d.get("resolution"),
        )

    async def get(self, ticket_id: str) -> CoordinationTicket | None:
        """The ticket, or None."""
        row = await get_row(self._session, TicketRow, ticket_id, for_update=True)
        return None if row is None else self._from_row(row)

    async def for_order(self, order_id: str) -> CoordinationTicket | None:
        """The order's ticket, or None."""
        row = (
            await self._session.execute(
                select(TicketRow).where(col(TicketRow.order_id) == order_id)
            )
        ).scalar_one_or_none()
        return None if row is None else self._from_row(row)

    async def lock_due_for_check(self, *, today: date) -> list[CoordinationTicket]:
        """Open tickets whose check is due by ``today``, row-locked on PostgreSQL; a row another
        transaction holds is skipped (a later sweep gets it). The caller re-checks each one."""
        rows = (
            await self._session.execute(
                for_change(
                    select(TicketRow)
                    .where(col(TicketRow.closed_at).is_(None))
                    .where(col(TicketRow.next_check_due) <= today)
                    .order_by(col(TicketRow.ticket_id)),
                    skip_locked=True,
                )
            )
        ).scalars()
        return [self._from_row(r) for r in rows]

    async def list(
        self,
        *,
        open_only: bool,
        owner: str | None = None,
        after: Cursor | None = None,
        limit: int,
    ) -> list[CoordinationTicket]:
        """Up to ``limit`` tickets (of ``owner``), the next check due first (then by id), after
        ``after`` (a check day and ticket id)."""
        query = select(TicketRow)
        if open_only:
            query = query.where(col(TicketRow.closed_at).is_(None))
        if owner is not None:
            query = query.where(col(TicketRow.owner) == owner)
        check_due, ticket_id = col(TicketRow.next_check_due), col(TicketRow.ticket_id)
        if after is not None:
            query = query.where(_after(check_due, ticket_id, after))
        query = query.order_by(check_due, ticket_id).limit(limit)
        return [self._from_row(r) for r in (await self._session.execute(query)).scalars()]

    async def add(self, ticket: CoordinationTicket) -> bool:
        """Insert a new ticket unless its order already has one (then False): one statement on
        the order's unique key, so two sweeps opening the same order's ticket at once make one.
        """
        return await insert_if_absent(
            self._session,
            _TICKETS,
            {
                "ticket_id": ticket.ticket_id,
                "order_id": ticket.order_id,
                "owner": ticket.owner,
                "next_check_due": ticket.next_check_due,
                "closed_at": ticket.closed_at,
                "doc": self._doc(ticket),
            },
        )

    @staticmethod
    def _doc(ticket: CoordinationTicket) -> dict[str, Any]:
        return {
            "reason": ticket.reason,
            "opened_at": ticket.opened_at.isoformat(),
            "contacts": [
                {"at": c.at.isoformat(), "by": c.by, "channel": c.channel, "note": c.note}
                for c in ticket.contacts
            ],
            "checks": [{"at": c.at.isoformat(), "by": c.by, "note": c.note} for c in ticket.checks],
            "check_due_reported_on": (
                ticket.check_due_reported_on.isoformat() if ticket.check_due_reported_on else None
            ),
            "resolution": ticket.resolution,
        }

    async def save(self, ticket: CoordinationTicket) -> None:
        """Insert or update."""
        doc = self._doc(ticket)
        row = await self._session.get(TicketRow, ticket.ticket_id)
        if row is None:
            row = TicketRow(
                ticket_id=ticket.ticket_id,
                order_id=ticket.order_id,
                owner=ticket.owner,
                next_check_due=ticket.next_check_due,
            )
        row.owner = ticket.owner
        row.next_check_due = ticket.next_check_due
        row.closed_at = ticket.closed_at
        row.doc = doc
        self._session.add(row)


_FINGERPRINT = "fingerprint"
"""Kept in the stored result (its JSON column), not sent back with it."""


@dataclass(frozen=True)
class AppliedClientAction:
    """An offline action already applied: its result, and the fingerprint of what it was (None
    for one stored before fingerprints were kept)."""

    result: dict[str, Any]
    fingerprint: str | None


class ClientActionRepository:
    """Offline actions already applied, by client id."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, scope: str, client_id: str) -> AppliedClientAction | None:
        """The applied action of this client id, or None."""
        row = await self._session.get(ClientActionRow, (scope, client_id))
        if row is None:
            return None
        result = dict(row.result)
        fingerprint = result.pop(_FINGERPRINT, None)
        return AppliedClientAction(result=result, fingerprint=fingerprint)

    async def add(
        self,
        *,
        scope: str,
        client_id: str,
        visit_id: str,
        occurred_at: datetime,
        result: dict[str, Any],
        fingerprint: str,
    ) -> None:
        """Remember an applied action and its fingerprint (same transaction as its effects)."""
        self._session.add(
            ClientActionRow(
                scope=scope,
                client_id=client_id,
                visit_id=visit_id,
                occurred_at=occurred_at,
                status=str(result.get("status", "applied")),
                result={**result, _FINGERPRINT: fingerprint},
            )
        )
