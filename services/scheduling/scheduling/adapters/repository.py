"""Maps scheduling's aggregates to its tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.common import AssigneeKind, GeoPoint, ServiceType, TimeWindow
from contracts.scheduling import LatenessAction
from scheduling.adapters.tables import (
    DayPlanRow,
    DispatchAuditRow,
    DispatchOrderRow,
    NetworkRow,
    TechnicianRow,
)
from scheduling.domain.model import (
    HELD,
    AuditEntry,
    ContactAttempt,
    ContactOutcome,
    DispatchOrder,
    DispatchStatus,
    Network,
    OfficeHours,
    Technician,
    Visit,
)
from scheduling.domain.privacy import erase_event_data
from servicekit.db import advisory_xact_lock, aware, for_change, get_row, keep_row, table_of
from servicekit.webhooks.queue import serialise
from servicekit.webhooks.tables import WebhookAttemptRow, WebhookDeliveryRow, WebhookMessageRow


def _must(moment: datetime | None) -> datetime:
    if moment is None:
        raise ValueError("a required timestamp is missing")
    return aware(moment)


def _window_json(w: TimeWindow) -> dict[str, str]:
    return {"start": w.start.isoformat(), "end": w.end.isoformat()}


def _order_from_row(row: DispatchOrderRow) -> DispatchOrder:
    appointment = None
    if row.appointment_start is not None and row.appointment_end is not None:
        appointment = TimeWindow(start=_must(row.appointment_start), end=_must(row.appointment_end))
    location = None
    if row.lat is not None and row.lon is not None:
        location = GeoPoint(lat=row.lat, lon=row.lon)
    return DispatchOrder(
        order_id=row.order_id,
        received_at=_must(row.received_at),
        product_line=row.product_line,
        emergency=row.emergency,
        needs_verification=list(row.needs_verification),
        loaner_required=row.loaner_required,
        service_type=ServiceType(row.service_type),
        status=DispatchStatus(row.status),
        location=location,
        area=row.area,
        preferred_windows=[TimeWindow.model_validate(w) for w in row.preferred_windows],
        visits=_visits(row),
        assignee_kind=AssigneeKind(row.assignee_kind) if row.assignee_kind else None,
        technician_id=row.technician_id,
        network_id=row.network_id,
        assigned_at=aware(row.assigned_at),
        network_accepted_at=aware(row.network_accepted_at),
        acceptance_due_at=aware(row.acceptance_due_at),
        appointment=appointment,
        kept_on=row.kept_on if appointment is not None else None,
        pinned=row.pinned,
        confirmed_at=aware(row.confirmed_at),
        contact_overdue_at=aware(row.contact_overdue_at),
        contact_attempts=[
            ContactAttempt(
                at=datetime.fromisoformat(a["at"]),
                by=a["by"],
                outcome=ContactOutcome(a["outcome"]),
                note=a.get("note"),
            )
            for a in row.contact_attempts
        ],
        planned_departure=aware(row.planned_departure),
        predicted_arrival=aware(row.predicted_arrival),
        late_action_sent=LatenessAction(row.late_action_sent) if row.late_action_sent else None,
        arrived_at=aware(row.arrived_at),
        anonymised_at=aware(row.anonymised_at),
        auto_placement_tried_at=aware(row.auto_placement_tried_at),
    )


def _visits(row: DispatchOrderRow) -> list[Visit]:
    if not row.visits:  # rows written before visits were recorded: their first visit
        return [
            Visit(
                visit_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"visit:{row.order_id}:1")),
                number=1,
                created_at=_must(row.received_at),
            )
        ]
    return [
        Visit(
            visit_id=v["visit_id"],
            number=v["number"],
            created_at=datetime.fromisoformat(v["created_at"]),
            reason=v.get("reason"),
            previous_visit_id=v.get("previous_visit_id"),
            manager_visit_at=datetime.fromisoformat(v["manager_visit_at"])
            if v.get("manager_visit_at")
            else None,
            supersedes_unended=bool(v.get("supersedes_unended", False)),
            late_minutes_told=v.get("late_minutes_told"),
            late_arrival_told=datetime.fromisoformat(v["late_arrival_told"])
            if v.get("late_arrival_told")
            else None,
            previous_appointment=TimeWindow.model_validate(v["previous_appointment"])
            if v.get("previous_appointment")
            else None,
            previous_under_way=bool(v.get("previous_under_way", False)),
        )
        for v in row.visits
    ]


@dataclass(frozen=True)
class OrderCursor:
    """The last order of a page of the order list: the next page starts after it."""

    received_at: datetime
    order_id: str


class DispatchOrderRepository:
    """Dispatch orders by order id; new audit entries are appended on save."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: str, *, for_update: bool = False) -> DispatchOrder | None:
        """The order, or None; ``for_update`` locks its row (PostgreSQL) until the transaction
        ends, so concurrent changes of one order take turns and none is written back stale.
        A row locked (or inserted) in this transaction is kept until it ends (the session holds
        its rows weakly; issue 9): later reads and its save do not read it again."""
        row = await get_row(self._session, DispatchOrderRow, order_id, for_update=for_update)
        if row is None:
            return None
        if for_update:
            keep_row(self._session, row)
        return _order_from_row(row)

    async def _query(
        self, *conditions: Any, for_update: bool = False, skip_locked: bool = False
    ) -> list[DispatchOrder]:
        query = select(DispatchOrderRow).where(*conditions).order_by(DispatchOrderRow.order_id)
        if for_update or skip_locked:
            query = for_change(query, skip_locked=skip_locked)  # in id order: no crossed waits
        rows = list((await self._session.execute(query)).scalars())
        if for_update or skip_locked:
            for row in rows:
                keep_row(self._session, row)
        return [_order_from_row(row) for row in rows]

    async def held(
        self, technician_id: str | None = None, *, for_update: bool = False
    ) -> list[DispatchOrder]:
        """Orders whose current visit is held by an assignee (one technician's, if given);
        ``for_update`` locks them in id order."""
        conditions: list[Any] = [DispatchOrderRow.status.in_([s.value for s in HELD])]  # type: ignore[attr-defined]
        if technician_id is not None:
            conditions.append(DispatchOrderRow.technician_id == technician_id)
        return await self._query(*conditions, for_update=for_update)

    async def kept_between(
        self, technician_id: str, *, first: date, last: date
    ) -> list[DispatchOrder]:
        """The held orders of ``technician_id`` recorded as kept on a day from ``first`` to
        ``last`` (SCH-1, SCH-3), locked in id order, passing over those another transaction
        holds (it changes them itself)."""
        return await self._query(
            DispatchOrderRow.status.in_([s.value for s in HELD]),  # type: ignore[attr-defined]
            DispatchOrderRow.technician_id == technician_id,
            col(DispatchOrderRow.kept_on) >= first,
            col(DispatchOrderRow.kept_on) <= last,
            skip_locked=True,
        )

    async def held_counts(self, *, due_before: datetime) -> dict[str, int]:
        """How many orders each technician holds that are due before ``due_before``: booked to
        start before it, or not booked yet (the time is agreed on the contact call, SCH-2).
        The workload SCH-1 balances, counted by the database: auto-assignment needs the
        counts, not every held order; jobs booked for later days do not fill today."""
        rows = await self._session.execute(
            select(col(DispatchOrderRow.technician_id), func.count())
            .where(
                col(DispatchOrderRow.status).in_([s.value for s in HELD]),
                col(DispatchOrderRow.technician_id).is_not(None),
                or_(
                    col(DispatchOrderRow.appointment_start).is_(None),
                    col(DispatchOrderRow.appointment_start) < due_before,
                ),
            )
            .group_by(col(DispatchOrderRow.technician_id))
        )
        return {str(technician_id): int(count) for technician_id, count in rows.all()}

    async def booked_windows(
        self, start: datetime, end: datetime
    ) -> list[tuple[str, TimeWindow, str, ServiceType, date | None]]:
        """(technician id, appointment, product line, service type, the day recorded as keeping
        it) of the held orders booked to start in ``[start, end)``: the jobs per day SCH-1
        balances over the booking horizon, on the day of the shift keeping each, without reading
        the orders."""
        rows = await self._session.execute(
            select(
                col(DispatchOrderRow.technician_id),
                col(DispatchOrderRow.appointment_start),
                col(DispatchOrderRow.appointment_end),
                col(DispatchOrderRow.product_line),
                col(DispatchOrderRow.service_type),
                col(DispatchOrderRow.kept_on),
            )
            .where(
                col(DispatchOrderRow.status).in_([s.value for s in HELD]),
                col(DispatchOrderRow.technician_id).is_not(None),
                col(DispatchOrderRow.appointment_start) >= start,
                col(DispatchOrderRow.appointment_start) < end,
            )
            .order_by(col(DispatchOrderRow.order_id))
        )
        return [
            (
                str(technician_id),
                TimeWindow(start=_must(opens), end=_must(closes)),
                line,
                ServiceType(kind),
                kept_on,
            )
            for technician_id, opens, closes, line, kind, kept_on in rows.all()
        ]

    async def held_starting_between(
        self, start: datetime, end: datetime, *, for_update: bool = False
    ) -> list[DispatchOrder]:
        """Held orders whose appointment starts in ``[start, end)``: the jobs of the day a
        window is checked against (SCH-3), without reading every held order; ``for_update``
        locks them in id order."""
        return await self._query(
            col(DispatchOrderRow.status).in_([s.value for s in HELD]),
            col(DispatchOrderRow.appointment_start) >= start,
            col(DispatchOrderRow.appointment_start) < end,
            for_update=for_update,
        )

    async def listed(
        self, *, network_id: str | None, after: OrderCursor | None, limit: int
    ) -> list[DispatchOrder]:
        """A page of the order list, newest received first (ties by id), after ``after``: the
        orders a partner network holds now (given to it or to one of its technicians; what it
        gave back, what was cancelled or done is no longer its) when ``network_id`` is given,
        else every order."""
        conditions: list[Any] = []
        if network_id is not None:
            conditions += [
                col(DispatchOrderRow.network_id) == network_id,
                col(DispatchOrderRow.status).in_([s.value for s in HELD]),
            ]
        if after is not None:
            received, order_id = col(DispatchOrderRow.received_at), col(DispatchOrderRow.order_id)
            at = after.received_at.astimezone(UTC)
            conditions.append(or_(received < at, and_(received == at, order_id > after.order_id)))
        rows = await self._session.execute(
            select(DispatchOrderRow)
            .where(*conditions)
            .order_by(col(DispatchOrderRow.received_at).desc(), col(DispatchOrderRow.order_id))
            .limit(limit)
        )
        return [_order_from_row(row) for row in rows.scalars()]

    async def awaiting_contact(self, *, assigned_before: datetime) -> list[DispatchOrder]:
        """Assigned orders, unconfirmed and not yet reported overdue, assigned before
        ``assigned_before`` (SCH-2), locked. Rows another transaction holds are skipped (SKIP
        LOCKED): a sweep in another replica, or a change under way, and the next sweep sees them
        again; so two sweeps never both act on one order. Never one whose personal data was
        erased (BIL-11): nobody can call a customer the order no longer names."""
        return await self._query(
            col(DispatchOrderRow.status) == DispatchStatus.ASSIGNED.value,
            col(DispatchOrderRow.contact_overdue_at).is_(None),
            col(DispatchOrderRow.assigned_at) <= assigned_before,
            col(DispatchOrderRow.anonymised_at).is_(None),
            skip_locked=True,
        )

    async def awaiting_network_answer(
        self, *, due_by: datetime, unrecorded_given_before: datetime
    ) -> list[DispatchOrder]:
        """Orders given to a network that it has neither accepted nor rejected by their
        ``acceptance_due_at``, at or before ``due_by`` (SCH-1), and those given without a
        recorded due time (by a release before it) before ``unrecorded_given_before``; locked,
        rows another transaction holds skipped, as in :meth:`awaiting_contact`; never one whose
        personal data was erased (BIL-11): the centre could not place it again."""
        due = col(DispatchOrderRow.acceptance_due_at)
        return await self._query(
            col(DispatchOrderRow.status) == DispatchStatus.ASSIGNED.value,
            col(DispatchOrderRow.assignee_kind) == AssigneeKind.NETWORK.value,
            col(DispatchOrderRow.network_accepted_at).is_(None),
            col(DispatchOrderRow.anonymised_at).is_(None),
            or_(
                due <= due_by,
                and_(
                    due.is_(None),
                    col(DispatchOrderRow.assigned_at) <= unrecorded_given_before,
                ),
            ),
            skip_locked=True,
        )

    async def awaiting_auto_placement(self, *, limit: int) -> list[str]:
        """Ids of orders awaiting assignment that the automatic placement tried and could not
        place (SCH-1), the longest untried first (emergencies before them), at most ``limit``;
        never one whose personal data was erased (BIL-11), however long ago it was tried."""
        rows = await self._session.execute(
            select(col(DispatchOrderRow.order_id))
            .where(
                col(DispatchOrderRow.status) == DispatchStatus.AWAITING_ASSIGNMENT.value,
                col(DispatchOrderRow.auto_placement_tried_at).is_not(None),
                col(DispatchOrderRow.anonymised_at).is_(None),
            )
            .order_by(
                col(DispatchOrderRow.emergency).desc(),
                col(DispatchOrderRow.auto_placement_tried_at),
                col(DispatchOrderRow.order_id),
            )
            .limit(limit)
        )
        return [str(order_id) for order_id in rows.scalars()]

    async def lock_assignment_decisions(self) -> None:
        """Serialise decisions that choose an assignee from every technician's held jobs
        (workload and daily capacity, SCH-1; clashes in a window, SCH-3) until the transaction
        ends: two of them at once would both count the same free place and overbook it."""
        await advisory_xact_lock(self._session, "scheduling:assignment")

    async def audit(self, order_id: str) -> list[AuditEntry]:
        """The audit trail of an order, oldest first."""
        rows = await self._session.execute(
            select(DispatchAuditRow)
            .where(DispatchAuditRow.order_id == order_id)  # type: ignore[arg-type]
            .order_by(DispatchAuditRow.seq)  # type: ignore[arg-type]
        )
        return [
            AuditEntry(
                at=_must(r.at), actor=r.actor, action=r.action, reason=r.reason, detail=r.detail
            )
            for r in rows.scalars()
        ]

    async def erase_audit(self, order_id: str) -> None:
        """Erase what people wrote in the order's stored audit entries (BIL-11,
        :meth:`AuditEntry.erased`); who acted, when and what stay."""
        rows = await self._session.execute(
            select(DispatchAuditRow).where(col(DispatchAuditRow.order_id) == order_id)
        )
        for row in rows.scalars():
            erased = AuditEntry(
                at=_must(row.at),
                actor=row.actor,
                action=row.action,
                reason=row.reason,
                detail=row.detail,
            ).erased()
            if (erased.reason, erased.detail) != (row.reason, row.detail):
                row.reason, row.detail = erased.reason, dict(erased.detail)
                self._session.add(row)

    async def save(self, order: DispatchOrder, *, new: bool = False) -> None:
        """Insert or update, and append the order's new audit entries. An anonymised order is
        stored erased (BIL-11): what a late event or a command brought since is erased first.
        ``new``: insert only, without reading the row first, so that an order another
        transaction created meanwhile clashes on its key instead of being overwritten. A row
        read under its lock in this transaction is updated without being read again."""
        if order.anonymised_at is not None:
            order.erase_personal_data()
        fields: dict[str, Any] = {
            "received_at": order.received_at,
            "product_line": order.product_line,
            "emergency": order.emergency,
            "needs_verification": list(order.needs_verification),
            "loaner_required": order.loaner_required,
            "service_type": order.service_type.value,
            "status": order.status.value,
            "lat": order.location.lat if order.location else None,
            "lon": order.location.lon if order.location else None,
            "area": order.area,
            "preferred_windows": [_window_json(w) for w in order.preferred_windows],
            "visits": [
                {
                    "visit_id": v.visit_id,
                    "number": v.number,
                    "created_at": v.created_at.isoformat(),
                    "reason": v.reason,
                    "previous_visit_id": v.previous_visit_id,
                    "manager_visit_at": v.manager_visit_at.isoformat()
                    if v.manager_visit_at
                    else None,
                    "supersedes_unended": v.supersedes_unended,
                    "late_minutes_told": v.late_minutes_told,
                    "late_arrival_told": v.late_arrival_told.isoformat()
                    if v.late_arrival_told
                    else None,
                    "previous_appointment": _window_json(v.previous_appointment)
                    if v.previous_appointment
                    else None,
                    "previous_under_way": v.previous_under_way,
                }
                for v in order.visits
            ],
            "assignee_kind": order.assignee_kind.value if order.assignee_kind else None,
            "technician_id": order.technician_id,
            "network_id": order.network_id,
            "assigned_at": order.assigned_at,
            "network_accepted_at": order.network_accepted_at,
            "acceptance_due_at": order.acceptance_due_at,
            "appointment_start": order.appointment.start if order.appointment else None,
            "appointment_end": order.appointment.end if order.appointment else None,
            "kept_on": order.kept_on if order.appointment else None,
            "pinned": order.pinned,
            "confirmed_at": order.confirmed_at,
            "contact_overdue_at": order.contact_overdue_at,
            "contact_attempts": [
                {"at": a.at.isoformat(), "by": a.by, "outcome": a.outcome.value, "note": a.note}
                for a in order.contact_attempts
            ],
            "planned_departure": order.planned_departure,
            "predicted_arrival": order.predicted_arrival,
            "late_action_sent": order.late_action_sent.value if order.late_action_sent else None,
            "arrived_at": order.arrived_at,
            "anonymised_at": order.anonymised_at,
            "auto_placement_tried_at": order.auto_placement_tried_at,
        }
        # a row kept in this transaction is not read again
        row = None if new else await get_row(self._session, DispatchOrderRow, order.order_id)
        if row is None:
            row = keep_row(self._session, DispatchOrderRow(order_id=order.order_id, **fields))
        else:
            for name, value in fields.items():
                setattr(row, name, value)
        self._session.add(row)
        for entry in order.audit:
            self._session.add(
                DispatchAuditRow(
                    order_id=order.order_id,
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    reason=entry.reason,
                    detail=dict(entry.detail),
                )
            )
        order.audit.clear()


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _tech_from_row(row: TechnicianRow | Row[Any]) -> Technician:
    position = None
    if row.position_lat is not None and row.position_lon is not None:
        position = GeoPoint(lat=row.position_lat, lon=row.position_lon)
    return Technician(
        technician_id=row.technician_id,
        name=row.name,
        phone=row.phone,
        skills=list(row.skills),
        areas=list(row.areas),
        home=GeoPoint(lat=row.home_lat, lon=row.home_lon),
        shift_start=time.fromisoformat(row.shift_start),
        shift_end=time.fromisoformat(row.shift_end),
        working_days=[int(d) for d in row.working_days],
        days_off=[date.fromisoformat(d) for d in row.days_off],
        daily_capacity=row.daily_capacity,
        network_id=row.network_id,
        active=row.active,
        position=position,
        position_at=aware(row.position_at),
    )


_TECHNICIANS = table_of(TechnicianRow)
_ROSTER = select(_TECHNICIANS).order_by(_TECHNICIANS.c.technician_id)
_ROSTER_KEY = select(func.count(), func.coalesce(func.sum(_TECHNICIANS.c.revision), 0))
_NEXT_REVISION = select(func.coalesce(func.max(_TECHNICIANS.c.revision), 0) + 1)


def _copy(tech: Technician) -> Technician:
    """A copy a caller may change without changing the cached one: its lists are copied, its
    other values (str, time, date, frozen GeoPoint...) are immutable."""
    # not copy.copy() or dataclasses.replace(): a third of their time, for every technician of
    # every placement
    duplicate = object.__new__(Technician)
    vars(duplicate).update(
        vars(tech),
        skills=list(tech.skills),
        areas=list(tech.areas),
        working_days=list(tech.working_days),
        days_off=list(tech.days_off),
    )
    return duplicate


async def _read_roster(session: AsyncSession) -> list[Technician]:
    # Plain rows, not ORM objects: every order placed needs the whole roster.
    return [_tech_from_row(row) for row in await session.execute(_ROSTER)]


class RosterCache:
    """One process's copy of the technician roster, kept under the key of the table state it
    was read in: ``(count(*), sum(revision))``.

    Why the key changes on every committed write, so that a matching key means the table is as
    it was read: every write sets the row's revision to the table's highest + 1
    (:meth:`TechnicianRepository.save`), read after the row is locked, hence above every
    committed revision, that row's old one included. An update thus raises the sum and an
    insert raises the count; neither ever falls, since rows are never deleted (a technician
    leaves by deactivation). A DELETE would have to keep the highest revision from ever falling
    (deleting the highest row, or the last, and inserting another could repeat a key), so none
    is allowed. The caller reads the key before the rows: under READ COMMITTED a write
    committed between the two reads leaves newer rows under an older key, which only costs a
    refill. A transaction that has written technicians neither uses nor fills the cache: its
    key counts uncommitted revisions that a rollback frees for another write.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._technicians: tuple[Technician, ...] = ()

    def get(self, key: tuple[int, int]) -> list[Technician] | None:
        """Copies of the roster read under ``key``, or None when it was read under another."""
        if key != self._key:
            return None
        return [_copy(t) for t in self._technicians]

    def put(self, key: tuple[int, int], technicians: list[Technician]) -> None:
        """Keep copies of ``technicians``, read after ``key``."""
        self._key, self._technicians = key, tuple(_copy(t) for t in technicians)


class TechnicianRepository:
    """Technicians by id. Every write of the technician table goes through :meth:`save`."""

    def __init__(self, session: AsyncSession, *, roster: RosterCache | None = None) -> None:
        self._session = session
        self._roster = roster
        self._wrote = False

    async def get(self, technician_id: str, *, for_update: bool = False) -> Technician | None:
        """The technician, or None; ``for_update`` locks the row (PostgreSQL) until the
        transaction ends, so a position report and an update of the record take turns. A row
        locked (or inserted) in this transaction is kept until it ends: saving it does not read
        it again (the session holds its rows weakly; issue 9)."""
        row = await get_row(self._session, TechnicianRow, technician_id, for_update=for_update)
        if row is None:
            return None
        if for_update:
            keep_row(self._session, row)
        return _tech_from_row(row)

    async def list(self) -> list[Technician]:
        """All technicians by id: the process's cached roster while the table is unchanged
        (:class:`RosterCache`); copies, which the caller may change."""
        if self._roster is None or self._wrote:
            return await _read_roster(self._session)
        key_row = (await self._session.execute(_ROSTER_KEY)).one()
        key = (int(key_row[0]), int(key_row[1]))
        cached = self._roster.get(key)
        if cached is not None:
            return cached
        technicians = await _read_roster(self._session)
        self._roster.put(key, technicians)
        return technicians

    async def save(self, tech: Technician, *, new: bool = False) -> None:
        """Insert or update; ``new``: insert only, so that a technician another transaction
        created meanwhile clashes on its key (409) instead of being overwritten. The row gets
        the table's next revision (:class:`RosterCache`)."""
        self._wrote = True
        fields: dict[str, Any] = {
            "name": tech.name,
            "phone": tech.phone,
            "skills": list(tech.skills),
            "areas": list(tech.areas),
            "home_lat": tech.home.lat,
            "home_lon": tech.home.lon,
            "shift_start": _hhmm(tech.shift_start),
            "shift_end": _hhmm(tech.shift_end),
            "working_days": list(tech.working_days),
            "days_off": [d.isoformat() for d in tech.days_off],
            "daily_capacity": tech.daily_capacity,
            "network_id": tech.network_id,
            "active": tech.active,
            "position_lat": tech.position.lat if tech.position else None,
            "position_lon": tech.position.lon if tech.position else None,
            "position_at": tech.position_at,
        }
        # locked before the highest revision is read: a write of this row committed meanwhile
        # is then counted in it, and the new revision is above the row's old one (a row locked
        # earlier in this transaction, and kept, has been since: it is not read again)
        row = (
            None
            if new
            else await get_row(self._session, TechnicianRow, tech.technician_id, for_update=True)
        )
        fields["revision"] = (await self._session.execute(_NEXT_REVISION)).scalar_one()
        if row is None:
            row = TechnicianRow(technician_id=tech.technician_id, **fields)
        else:
            for name, value in fields.items():
                setattr(row, name, value)
        keep_row(self._session, row)
        self._session.add(row)


class NetworkRepository:
    """Partner networks by id."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, network_id: str) -> Network | None:
        """The network, or None."""
        row = await self._session.get(NetworkRow, network_id)
        return None if row is None else _network(row)

    async def list(self) -> list[Network]:
        """All networks by id."""
        rows = await self._session.execute(select(NetworkRow).order_by(NetworkRow.network_id))
        return [_network(r) for r in rows.scalars()]

    async def save(self, network: Network, *, new: bool = False) -> None:
        """Insert or update; ``new``: insert only, so that a network another transaction created
        meanwhile clashes on its key (409) instead of being overwritten."""
        row = None if new else await self._session.get(NetworkRow, network.network_id)
        if row is None:
            row = NetworkRow(network_id=network.network_id, name=network.name)
        row.name = network.name
        row.skills = list(network.skills)
        row.areas = list(network.areas)
        row.active = network.active
        hours = network.office_hours
        if hours is None:
            row.office_opens = row.office_closes = None
            row.office_weekdays = row.office_open_on_public_holidays = None
        else:
            row.office_opens = _hhmm(hours.opens)
            row.office_closes = _hhmm(hours.closes)
            row.office_weekdays = list(hours.weekdays)
            row.office_open_on_public_holidays = hours.open_on_public_holidays
        self._session.add(row)


def _network(row: NetworkRow) -> Network:
    hours = None
    if row.office_opens is not None and row.office_closes is not None:
        hours = OfficeHours(
            opens=time.fromisoformat(row.office_opens),
            closes=time.fromisoformat(row.office_closes),
            weekdays=tuple(row.office_weekdays or ()),
            open_on_public_holidays=bool(row.office_open_on_public_holidays),
        )
    return Network(
        network_id=row.network_id,
        name=row.name,
        skills=list(row.skills),
        areas=list(row.areas),
        active=row.active,
        office_hours=hours,
    )


class DayPlanRepository:
    """Applied day plans by local date."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, day: date, *, for_update: bool = False) -> DayPlanRow | None:
        """The plan row of ``day``, or None; ``for_update`` locks it (PostgreSQL) until the
        transaction ends, so an urgent insertion and a re-optimisation take turns."""
        return await get_row(self._session, DayPlanRow, day.isoformat(), for_update=for_update)

    async def lock_planning(self, day: date) -> None:
        """One optimisation of ``day`` at a time (every replica runs the re-plan job): waits
        until another one has committed or rolled back."""
        await advisory_xact_lock(self._session, f"scheduling:plan:{day.isoformat()}")

    async def mark_dirty(self, days: Iterable[date]) -> None:
        """Leave the stored plans of ``days`` (those there are) to be optimised again: what they
        were made from changed besides an urgent insertion (a job now counting on another day,
        SCH-1, SCH-3)."""
        wanted = sorted({day.isoformat() for day in days})
        if wanted:
            await self._session.execute(
                update(DayPlanRow).where(col(DayPlanRow.plan_date).in_(wanted)).values(dirty=True)
            )

    async def dirty(self) -> list[DayPlanRow]:
        """Plans changed by urgent insertions since their last optimisation."""
        rows = await self._session.execute(select(DayPlanRow).where(DayPlanRow.dirty == True))  # type: ignore[arg-type]  # noqa: E712
        return list(rows.scalars())

    async def save(
        self,
        day: date,
        *,
        visits: list[dict[str, Any]],
        unassigned: list[str],
        unassigned_reasons: dict[str, dict[str, str]],
        now: datetime,
        dirty: bool,
    ) -> None:
        """Insert or replace the plan of ``day``."""
        row = await self._session.get(DayPlanRow, day.isoformat())
        if row is None:
            row = DayPlanRow(plan_date=day.isoformat(), created_at=now)
        row.created_at = now
        row.visits = visits
        row.unassigned = unassigned
        row.unassigned_reasons = unassigned_reasons
        row.dirty = dirty
        self._session.add(row)


class PartnerMessageRepository:
    """What partner networks were sent about orders (the kit's webhook tables): the stored,
    signed bodies of the messages, and what the networks' endpoints answered to them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def erase_personal_data(self, order_id: str) -> int:
        """Erase the customer's personal data from the stored bodies of the order's messages
        (BIL-11, :func:`erase_event_data`), and drop the excerpts of the endpoints' answers to
        them, which may quote those bodies; statuses, times and error codes stay. Returns how
        many bodies changed; erasing twice changes nothing."""
        messages = (
            await self._session.execute(
                select(WebhookMessageRow).where(col(WebhookMessageRow.subject) == order_id)
            )
        ).scalars()
        of_order: list[str] = []
        changed = 0
        for message in messages:
            body = json.loads(message.payload)
            of_order.append(message.id)
            erased = {**body, "data": erase_event_data(body.get("data", {}))}
            if erased != body:
                message.payload = serialise(erased)
                self._session.add(message)
                changed += 1
        if of_order:
            deliveries = select(col(WebhookDeliveryRow.id)).where(
                col(WebhookDeliveryRow.message_ref).in_(of_order)
            )
            await self._session.execute(
                update(WebhookAttemptRow)
                .where(
                    col(WebhookAttemptRow.delivery_id).in_(deliveries),
                    col(WebhookAttemptRow.response_excerpt).is_not(None),
                )
                .values(response_excerpt=None)
                .execution_options(synchronize_session=False)
            )
        return changed
