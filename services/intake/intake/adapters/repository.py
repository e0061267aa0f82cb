"""Maps the order aggregate to intake's tables, and answers the order list's queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    ARRAY,
    String,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from contracts.common import (
    Channel,
    Customer,
    Fault,
    Product,
    ServiceType,
    TimeWindow,
    WarrantyStatus,
)
from contracts.envelope import EventEnvelope
from contracts.intake import SlaClock
from intake.adapters.tables import (
    OrderPhoneRow,
    OrderRow,
    SlaClockRow,
    TimelineRow,
    WarrantyPeriodRow,
)
from intake.domain.model import (
    OPEN_STATUSES,
    LinkedReport,
    Order,
    OrderStatus,
    SlaTimer,
    TimelineEntry,
)
from intake.domain.privacy import erase_event_data
from intake.domain.rules import Phone
from servicekit.db import aware, for_change, get_row, insert_if_absent, table_of
from servicekit.outbox import OutboxMessage

_WINDOWS = TypeAdapter(list[TimeWindow])


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC: SQLite stores the wall-clock digits only, so they must be UTC's."""
    return aware(moment).astimezone(UTC)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


_LOCK_PHONES = text(
    "SELECT pg_advisory_xact_lock(k) FROM ("
    " SELECT DISTINCT hashtextextended(p, 0) AS k FROM unnest(:phones) AS p"
    " ORDER BY k) AS keys"
).bindparams(bindparam("phones", type_=ARRAY(String)))

_EXTENSION = col(OrderPhoneRow.extension)
_TIMELINE_TABLE = table_of(TimelineRow)

# Built once, the reads of an order: every event heard reads them (issue 9).
_ORDER = select(OrderRow).where(col(OrderRow.id) == bindparam("order_id"))
_ORDER_TO_CHANGE = for_change(_ORDER)
_TIMELINE = (
    select(
        _TIMELINE_TABLE.c.event_id,
        _TIMELINE_TABLE.c.type,
        _TIMELINE_TABLE.c.version,
        _TIMELINE_TABLE.c.time,
        _TIMELINE_TABLE.c.source,
        _TIMELINE_TABLE.c.succeeded,
        _TIMELINE_TABLE.c.heard_at,
        _TIMELINE_TABLE.c.visit_id,
    )
    .where(_TIMELINE_TABLE.c.order_id == bindparam("order_id"))
    .order_by(_TIMELINE_TABLE.c.time, _TIMELINE_TABLE.c.event_id)
)
_CLOCKS = select(SlaClockRow).where(col(SlaClockRow.order_id) == bindparam("order_id"))
_OUTBOX = table_of(OutboxMessage)

# Built once: the busiest read of order taking (every new order asks it, INT-8).
_OPEN_ORDERS_WITH_PHONES = (
    select(col(OrderRow.id))
    .where(
        col(OrderRow.id).in_(
            select(col(OrderPhoneRow.order_id)).where(
                col(OrderPhoneRow.phone).in_(bindparam("numbers", expanding=True)),
                # rules.same_caller: no extension on one side, or the same one on both.
                or_(
                    _EXTENSION.is_(None),
                    col(OrderPhoneRow.phone).in_(bindparam("bare", expanding=True)),
                    (col(OrderPhoneRow.phone) + ";ext=" + _EXTENSION).in_(
                        bindparam("with_extension", expanding=True)
                    ),
                ),
            )
        ),
        col(OrderRow.status).in_(sorted(s.value for s in OPEN_STATUSES)),
    )
    .order_by(col(OrderRow.created_at), col(OrderRow.id))
    .limit(50)
)


@dataclass(frozen=True)
class OrderFilter:
    """What the order list is narrowed to (every field optional)."""

    statuses: Sequence[OrderStatus] = ()
    phone: str | None = None
    """An E.164 number of the customer."""
    phone_extension: str | None = None
    """With ``phone``: that extension, or the number without one (``rules.same_caller``)."""
    created_from: datetime | None = None
    created_to: datetime | None = None
    network_id: str | None = None
    technician_id: str | None = None
    emergency: bool | None = None
    needs_verification: bool | None = None


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts after it in the chosen order."""

    emergency: bool
    created_at: datetime
    id: str


@dataclass
class _Tracked:
    """What the database holds of an order read in this unit of work; ``row`` is None for an
    order added in it and not written yet."""

    row: OrderRow | None
    inserted: bool = False
    entry_ids: set[str] = field(default_factory=set)
    clocks_read: bool = True
    """False for an order read without its clocks (``OrderRepository.get``)."""
    clock_rows: dict[SlaClock, SlaClockRow] = field(default_factory=dict)
    phones: dict[str, str | None] = field(default_factory=dict)
    """The phone rows: E.164 number -> extension."""


class OrderRepository:
    """Orders with their timelines, phones and SLA clocks.

    Orders read or added through it are tracked; the unit of work saves them on commit.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._tracked: dict[str, tuple[Order, _Tracked]] = {}

    @property
    def seen(self) -> list[Order]:
        """Orders added or loaded in this unit of work."""
        return [order for order, _ in self._tracked.values()]

    async def add(self, order: Order) -> None:
        """Insert a new order (written on commit)."""
        self._tracked[order.id] = (order, _Tracked(row=None))

    async def get(
        self, order_id: str, *, for_update: bool = False, clocks: bool = True
    ) -> Order | None:
        """The order with its timeline and clocks, or None; ``for_update`` locks its row
        (PostgreSQL) so concurrent commands on one order take turns.

        ``clocks=False`` leaves the SLA clocks unread, for a change that stops none (an event
        heard that ``model.CLOCK_STOPPING_EVENTS`` does not list, issue 9): the order comes with
        none, and saving it leaves the stored ones as they are. A later ``get`` asking for them
        reads them then (under the lock the first one took)."""
        if order_id in self._tracked:
            order, tracked = self._tracked[order_id]
            if clocks and not tracked.clocks_read:
                await self._read_clocks(order, tracked)
            return order
        loaded = await self._load(order_id, for_update=for_update, clocks=clocks)
        if loaded is None:
            return None
        row, timeline, tracked = loaded
        order = self._to_domain(row, timeline, tracked.clock_rows)
        self._tracked[order_id] = (order, tracked)
        return order

    async def _load(
        self, order_id: str, *, for_update: bool = False, clocks: bool = True
    ) -> tuple[OrderRow, list[TimelineEntry], _Tracked] | None:
        """The order's row (locked with ``for_update``), then what the lock guards: its whole
        timeline and, with ``clocks``, its clock rows. Every row is read after the lock, so
        nothing a transaction that held it committed is missed (READ COMMITTED: each statement
        sees what was committed when it started)."""
        params = {"order_id": order_id}
        query = _ORDER_TO_CHANGE if for_update else _ORDER
        row = (await self._session.execute(query, params)).scalar_one_or_none()
        if row is None:
            return None
        # The whole timeline: the status is derived again from it in story order whenever an
        # event is heard (``model.status_from``, ``model.in_story_order``: a late event sorts in
        # before others, a fact the app dated is placed after the dispatch steps heard before
        # it), and the close needs its latest event, last call-back and complaints
        # (``Order.closable_since``). Plain rows: they are only ever inserted, never changed.
        timeline = [
            TimelineEntry(
                event_id=event_id,
                type=type_,
                version=version,
                time=aware(time),
                source=source,
                succeeded=succeeded,
                heard_at=aware(heard_at),
                visit_id=visit_id,
            )
            for event_id, type_, version, time, source, succeeded, heard_at, visit_id in (
                await self._session.execute(_TIMELINE, params)
            )
        ]
        tracked = _Tracked(
            row=row,
            entry_ids={e.event_id for e in timeline},
            clocks_read=clocks,
            clock_rows=await self._clock_rows(order_id) if clocks else {},
            # The phone rows are the stored customer's phones: every save writes both, and
            # migration 0006 completed the rows of older orders. No query needed.
            phones=_phone_rows(
                row.customer.get("phones") or [], row.customer.get("phone_extensions") or {}
            ),
        )
        return row, timeline, tracked

    async def _clock_rows(self, order_id: str) -> dict[SlaClock, SlaClockRow]:
        rows = (await self._session.execute(_CLOCKS, {"order_id": order_id})).scalars()
        return {SlaClock(r.clock): r for r in rows}

    async def _read_clocks(self, order: Order, tracked: _Tracked) -> None:
        """Read the clocks of an order read without them; the order's own (started since)
        replace the stored ones, as a save would."""
        tracked.clock_rows = await self._clock_rows(order.id)
        tracked.clocks_read = True
        stored = self._to_domain_clocks(tracked.clock_rows)
        order.clocks = {**stored, **order.clocks}

    async def save(self, order: Order) -> None:
        """Stage the order's state, new timeline entries, phones and clocks in the session (an
        erased customer's phone rows go with its phones, BIL-11)."""
        if order.id not in self._tracked:
            raise LookupError(order.id)
        _, tracked = self._tracked[order.id]
        if tracked.row is None and not tracked.inserted:
            await self._insert(order)
            tracked.inserted = True
            return
        if tracked.row is None:
            # Saved again in the unit of work that inserted it: update the rows written.
            loaded = await self._load(order.id)
            if loaded is None:
                raise LookupError(order.id)
            tracked = loaded[2]
            self._tracked[order.id] = (order, tracked)
        assert tracked.row is not None
        row = tracked.row
        for name, value in self._row_fields(order).items():
            # Only what changed: the UPDATE is the same (the session sends the changed columns),
            # setting an attribute of a table model costs more than comparing it.
            if getattr(row, name) != value:
                setattr(row, name, value)
        self._session.add(row)
        new_entries = [e for e in order.timeline if e.event_id not in tracked.entry_ids]
        if new_entries:
            # A Core insert: a table model object per entry costs more CPU than the insert.
            await self._session.execute(
                insert(_TIMELINE_TABLE),
                [self._entry_fields(order.id, entry) for entry in new_entries],
            )
            tracked.entry_ids.update(e.event_id for e in new_entries)
        phones = _phone_rows(order.customer.phones, order.phone_extensions)
        if phones != tracked.phones:
            removed = sorted(tracked.phones.keys() - phones.keys())
            if removed:
                await self._session.execute(
                    delete(OrderPhoneRow).where(
                        col(OrderPhoneRow.order_id) == order.id,
                        col(OrderPhoneRow.phone).in_(removed),
                    )
                )
            for phone in sorted(phones.keys() & tracked.phones.keys()):
                if phones[phone] != tracked.phones[phone]:
                    await self._session.execute(
                        update(OrderPhoneRow)
                        .where(
                            col(OrderPhoneRow.order_id) == order.id,
                            col(OrderPhoneRow.phone) == phone,
                        )
                        .values(extension=phones[phone])
                    )
            added = sorted(phones.keys() - tracked.phones.keys())
            if added:
                await self._session.execute(
                    insert(table_of(OrderPhoneRow)),
                    [{"order_id": order.id, "phone": p, "extension": phones[p]} for p in added],
                )
            tracked.phones = phones
        if order.clocks and not tracked.clocks_read:
            # Clocks started on an order read without its clocks: the stored rows get them.
            tracked.clock_rows = await self._clock_rows(order.id)
            tracked.clocks_read = True
        for clock, timer in order.clocks.items():
            fields = self._clock_fields(order.id, timer)
            clock_row = tracked.clock_rows.get(clock)
            if clock_row is None:
                clock_row = tracked.clock_rows[clock] = SlaClockRow(**fields)
            else:
                for name, value in fields.items():
                    if getattr(clock_row, name) != value:
                        setattr(clock_row, name, value)
            self._session.add(clock_row)

    async def _insert(self, order: Order) -> None:
        """Write a new order with Core inserts, one statement per table (an ORM object per row
        costs more CPU than the inserts: this is the busiest write of the call centre)."""
        await self._session.execute(
            insert(table_of(OrderRow)), {"id": order.id, "version": 1, **self._row_fields(order)}
        )
        phones = _phone_rows(order.customer.phones, order.phone_extensions)
        if phones:
            await self._session.execute(
                insert(table_of(OrderPhoneRow)),
                [
                    {"order_id": order.id, "phone": phone, "extension": extension}
                    for phone, extension in sorted(phones.items())
                ],
            )
        if order.clocks:
            await self._session.execute(
                insert(table_of(SlaClockRow)),
                [self._clock_fields(order.id, timer) for timer in order.clocks.values()],
            )
        if order.timeline:
            await self._session.execute(
                insert(_TIMELINE_TABLE),
                [self._entry_fields(order.id, entry) for entry in order.timeline],
            )

    async def erase_event_payloads(self, order_id: str) -> int:
        """Erase the customer's personal data from the order's events in the outbox (BIL-11,
        ``privacy.erase_event_data``): OrderCreated's customer, a report's caller, reasons and
        guidance. A published one waits there for the kit's purge; one not yet published goes out
        erased, still valid for its contract. Returns how many were changed."""
        rows = await self._session.execute(
            select(_OUTBOX.c.seq, _OUTBOX.c.payload).where(_OUTBOX.c.key == order_id)
        )
        changed = 0
        for seq, payload in rows.all():
            envelope = EventEnvelope.model_validate_json(payload)
            data = erase_event_data(envelope.data)
            if data == envelope.data:
                continue
            await self._session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.seq == seq)
                .values(payload=envelope.model_copy(update={"data": data}).model_dump_json())
            )
            changed += 1
        return changed

    async def open_orders_with_phones(self, phones: Sequence[Phone]) -> list[Order]:
        """Open orders of a customer reachable on one of ``phones`` (INT-8), oldest first.

        A phone finds the orders with the same number and the same extension or none on either
        side (``rules.same_caller``): another extension of a switchboard is another customer.

        On PostgreSQL this first takes a transaction lock per phone, so two reports of the same
        customer arriving at once are taken one after the other and the second one is linked as a
        duplicate (SQLite's single writer does the same by construction).
        """
        if not phones:
            return []
        numbers = sorted({phone.number for phone in phones})
        if self._session.bind is not None and self._session.bind.dialect.name == "postgresql":
            # One round trip for every phone's lock, taken in key order so two callers never
            # lock in crossed order. Per number: a switchboard's extensions take turns too.
            await self._session.execute(
                _LOCK_PHONES, {"phones": [f"intake:phone:{number}" for number in numbers]}
            )
        params = {
            "numbers": numbers,
            "bare": sorted({p.number for p in phones if p.extension is None}),
            "with_extension": sorted({str(p) for p in phones if p.extension is not None}),
        }
        ids = (await self._session.execute(_OPEN_ORDERS_WITH_PHONES, params)).scalars()
        found = [await self.get(order_id, for_update=True) for order_id in list(ids)]
        # Re-checked on the locked row: an order closed (e.g. cancelled) while we waited for its
        # lock no longer takes the report; the customer then gets a new order.
        return [o for o in found if o is not None and o.is_open]

    async def lock_orders_with_due_clocks(self, now: datetime, *, limit: int = 200) -> list[str]:
        """Lock and return (by id) orders with an SLA clock past its due time (the due time itself
        is in time, ``SlaTimer.is_breached_by``) that was not reported yet (INT-3).

        Orders another transaction holds (a command, the consumer, another replica's check) are
        skipped, not waited for: a later check picks them up. The caller re-checks the clocks on
        the locked order before acting.
        """
        due = select(col(SlaClockRow.order_id)).where(
            col(SlaClockRow.settled).is_(False),
            col(SlaClockRow.due_at) < utc(now),
        )
        query = (
            select(col(OrderRow.id))
            .where(col(OrderRow.id).in_(due))
            .order_by(col(OrderRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True, of=OrderRow)
        )
        return list((await self._session.execute(query)).scalars())

    async def lock_orders_closable_since(self, before: datetime, *, limit: int = 200) -> list[str]:
        """Lock and return (by id) orders closable since ``before`` or earlier.

        Orders another transaction holds are skipped, not waited for: a later sweep picks them
        up. The caller re-checks the order, locked, before closing it.
        """
        query = (
            select(col(OrderRow.id))
            .where(col(OrderRow.closable_since) <= utc(before))
            .order_by(col(OrderRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self._session.execute(query)).scalars())

    async def search(
        self, filters: OrderFilter, *, sort: str, after: Cursor | None, limit: int
    ) -> list[OrderRow]:
        """Rows of the orders matching ``filters`` in ``sort`` order, after ``after``."""
        conditions: list[ColumnElement[bool]] = []
        if filters.statuses:
            conditions.append(col(OrderRow.status).in_([s.value for s in filters.statuses]))
        if filters.phone:
            phone = col(OrderPhoneRow.phone) == filters.phone
            if filters.phone_extension is not None:
                # rules.same_caller: that extension, or the number without any.
                extension = col(OrderPhoneRow.extension)
                phone = and_(phone, or_(extension.is_(None), extension == filters.phone_extension))
            conditions.append(
                col(OrderRow.id).in_(select(col(OrderPhoneRow.order_id)).where(phone))
            )
        if filters.created_from is not None:
            conditions.append(col(OrderRow.created_at) >= utc(filters.created_from))
        if filters.created_to is not None:
            conditions.append(col(OrderRow.created_at) < utc(filters.created_to))
        if filters.network_id is not None:
            conditions.append(col(OrderRow.network_id) == filters.network_id)
        if filters.technician_id is not None:
            conditions.append(col(OrderRow.technician_id) == filters.technician_id)
        if filters.emergency is not None:
            conditions.append(col(OrderRow.emergency).is_(filters.emergency))
        if filters.needs_verification is not None:
            conditions.append(col(OrderRow.awaiting_verification).is_(filters.needs_verification))
        if after is not None:
            conditions.append(_after(sort, after))
        query = select(OrderRow).where(*conditions).order_by(*_order_by(sort)).limit(limit)
        return list((await self._session.execute(query)).scalars())

    @classmethod
    def summary(cls, row: OrderRow) -> Order:
        """The order of a list row, without timeline or clocks."""
        return cls._to_domain(row, [], {})

    @staticmethod
    def _to_domain(
        row: OrderRow, timeline: list[TimelineEntry], clock_rows: dict[SlaClock, SlaClockRow]
    ) -> Order:
        return Order(
            id=row.id,
            customer=Customer.model_validate(row.customer),
            phone_extensions=dict(row.customer.get("phone_extensions") or {}),
            product=Product.model_validate(row.product),
            fault=Fault.model_validate(row.fault),
            channel=Channel(row.channel),
            created_at=aware(row.created_at),
            requests=row.requests,
            preferred_windows=_WINDOWS.validate_python(row.preferred_windows),
            emergency=row.emergency,
            needs_verification=list(row.needs_verification),
            confirmed_details=list(row.confirmed_details or []),
            dispatch_override=row.dispatch_override,
            warranty_status=WarrantyStatus(row.warranty_status),
            loaner_required=row.loaner_required,
            service_type=ServiceType(row.service_type),
            status=OrderStatus(row.status),
            network_id=row.network_id,
            technician_id=row.technician_id,
            assignment_seen_at=None
            if row.assignment_seen_at is None
            else aware(row.assignment_seen_at),
            clocks=OrderRepository._to_domain_clocks(clock_rows),
            linked_reports=[_report(r) for r in row.linked_reports or []],
            timeline=timeline,
            anonymised_at=None if row.anonymised_at is None else aware(row.anonymised_at),
        )

    @staticmethod
    def _to_domain_clocks(clock_rows: dict[SlaClock, SlaClockRow]) -> dict[SlaClock, SlaTimer]:
        return {
            clock: SlaTimer(
                clock=clock,
                started_at=aware(r.started_at),
                due_at=aware(r.due_at),
                stopped_at=None if r.stopped_at is None else aware(r.stopped_at),
                breached_at=None if r.breached_at is None else aware(r.breached_at),
            )
            for clock, r in clock_rows.items()
        }

    @staticmethod
    def _row_fields(order: Order) -> dict[str, Any]:
        return {
            "created_at": utc(order.created_at),
            "status": order.status.value,
            "channel": order.channel.value,
            "emergency": order.emergency,
            "primary_phone": order.customer.phones[0] if order.customer.phones else "",
            "customer": {
                **order.customer.model_dump(mode="json"),
                "phone_extensions": dict(order.phone_extensions),
            },
            "product": order.product.model_dump(mode="json"),
            "fault": order.fault.model_dump(mode="json"),
            "requests": order.requests,
            "preferred_windows": _WINDOWS.dump_python(order.preferred_windows, mode="json"),
            "needs_verification": list(order.needs_verification),
            "confirmed_details": list(order.confirmed_details),
            "awaiting_verification": order.awaiting_verification,
            "dispatch_override": order.dispatch_override,
            "warranty_status": order.warranty_status.value,
            "loaner_required": order.loaner_required,
            "service_type": order.service_type.value,
            "network_id": order.network_id,
            "technician_id": order.technician_id,
            "assignment_seen_at": _maybe(order.assignment_seen_at),
            "closable_since": _maybe(order.closable_since),
            "anonymised_at": _maybe(order.anonymised_at),
            "linked_reports": [
                {
                    "reported_at": utc(r.reported_at).isoformat(),
                    "channel": r.channel.value,
                    "caller_phone": r.caller_phone,
                    "caller_phone_extension": r.caller_phone_extension,
                    "fault_description": r.fault_description,
                    "linked_by": r.linked_by,
                }
                for r in order.linked_reports
            ],
        }

    @staticmethod
    def _clock_fields(order_id: str, timer: SlaTimer) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "clock": timer.clock.value,
            "started_at": utc(timer.started_at),
            "due_at": utc(timer.due_at),
            "stopped_at": _maybe(timer.stopped_at),
            "breached_at": _maybe(timer.breached_at),
            "settled": timer.settled,
        }

    @staticmethod
    def _entry_fields(order_id: str, entry: TimelineEntry) -> dict[str, Any]:
        return {
            "event_id": entry.event_id,
            "order_id": order_id,
            "type": entry.type,
            "version": entry.version,
            "time": utc(entry.time),
            "source": entry.source,
            "succeeded": entry.succeeded,
            "heard_at": _maybe(entry.heard_at),
            "visit_id": entry.visit_id,
        }


def _report(raw: dict[str, Any]) -> LinkedReport:
    return LinkedReport(
        reported_at=aware(datetime.fromisoformat(raw["reported_at"])),
        channel=Channel(raw["channel"]),
        caller_phone=raw.get("caller_phone"),
        fault_description=raw.get("fault_description"),
        linked_by=raw.get("linked_by"),
        caller_phone_extension=raw.get("caller_phone_extension"),
    )


def _phone_rows(phones: Sequence[str], extensions: Mapping[str, str]) -> dict[str, str | None]:
    return {phone: extensions.get(phone) for phone in phones}


#: The orders of the list: newest first, oldest first, or the dispatch queue (emergencies first).
SORTS = ("-created_at", "created_at", "priority")


def _order_by(sort: str) -> list[Any]:
    if sort == "created_at":
        return [col(OrderRow.created_at).asc(), col(OrderRow.id).asc()]
    if sort == "priority":
        return [
            col(OrderRow.emergency).desc(),
            col(OrderRow.created_at).asc(),
            col(OrderRow.id).asc(),
        ]
    return [col(OrderRow.created_at).desc(), col(OrderRow.id).desc()]


def _after(sort: str, cursor: Cursor) -> ColumnElement[bool]:
    created, oid = col(OrderRow.created_at), col(OrderRow.id)
    at = utc(cursor.created_at)
    if sort == "-created_at":
        return or_(created < at, and_(created == at, oid < cursor.id))
    later = or_(created > at, and_(created == at, oid > cursor.id))
    if sort == "created_at":
        return later
    emergency = col(OrderRow.emergency)
    if cursor.emergency:
        return or_(emergency.is_(False), and_(emergency.is_(True), later))
    return and_(emergency.is_(False), later)


class WarrantyPeriodRepository:
    """Warranty periods admins set per product line (INT-5); the policy's are the seed."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[WarrantyPeriodRow]:
        """Every period an admin set, by product line."""
        query = select(WarrantyPeriodRow).order_by(col(WarrantyPeriodRow.product_line))
        return list((await self._session.execute(query)).scalars())

    async def get(self, product_line: str, *, for_update: bool = False) -> WarrantyPeriodRow | None:
        """The period an admin set for ``product_line``, if any; ``for_update`` locks its row
        (PostgreSQL) until the transaction ends."""
        return await get_row(self._session, WarrantyPeriodRow, product_line, for_update=for_update)

    async def put(self, product_line: str, *, months: int, by: str, now: datetime) -> None:
        """Set (or replace) the period of ``product_line``.

        Insert-or-lock first, so two admins setting a new line at once take turns (the second
        replaces the first) instead of one failing on the duplicate key.
        """
        new_row = {
            "product_line": product_line,
            "months": months,
            "updated_at": utc(now),
            "updated_by": by,
        }
        if await insert_if_absent(self._session, table_of(WarrantyPeriodRow), new_row):
            return
        row = await self.get(product_line, for_update=True)
        if row is None:  # removed meanwhile: write it afresh
            row = WarrantyPeriodRow(
                product_line=product_line, months=months, updated_at=utc(now), updated_by=by
            )
        row.months, row.updated_at, row.updated_by = months, utc(now), by
        self._session.add(row)

    async def remove(self, row: WarrantyPeriodRow) -> None:
        """Forget an admin's period (the policy's applies again)."""
        await self._session.delete(row)
