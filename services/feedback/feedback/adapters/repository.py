"""Maps feedback's aggregates to its tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from contracts.common import Channel
from contracts.feedback import FollowUpScores, FraudSignal, Grade
from feedback.adapters.tables import (
    CallBackRow,
    CaseRow,
    ComplaintRow,
    ConductFindingRow,
    DeskWorkRow,
    FraudRow,
    IssueRow,
    OrderEventRow,
    SamplingRunRow,
    VisitRow,
)
from feedback.domain.callbacks import Attempt, CallBackTask, Survey, TaskStatus
from feedback.domain.case import CENTRE, Case, DeskWork, DeskWorkKind, Visit
from feedback.domain.complaints import Closure, Complaint, StageRecord
from feedback.domain.findings import ConductFinding, FindingStatus, FraudCase, OpenIssueRecord
from feedback.domain.model import OrderFile, RecordedEvent
from feedback.domain.policy import ComplaintStage
from feedback.domain.privacy import erase_summary
from feedback.domain.sampling import UNASSIGNED, SamplingRun
from servicekit.db import (
    advisory_xact_lock,
    aware,
    for_change,
    get_row,
    insert_if_absent,
    insert_row_if_absent,
    keep_row,
    kept_row,
    table_of,
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else aware(datetime.fromisoformat(text))


@dataclass(frozen=True)
class Cursor:
    """The last row of a page (its sort time and id): the next page starts after it."""

    at: datetime
    id: str


def _after(at: Any, row_id: Any, cursor: Cursor, *, descending: bool) -> ColumnElement[bool]:
    moment = _utc(cursor.at)
    if descending:
        return or_(at < moment, and_(at == moment, row_id < cursor.id))
    return or_(at > moment, and_(at == moment, row_id > cursor.id))


_ORDER_EVENTS = table_of(OrderEventRow)


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
        """Erase the personal data of the order's event summaries (BIL-11)."""
        rows = (
            await self._session.execute(
                select(OrderEventRow).where(col(OrderEventRow.order_id) == order_id)
            )
        ).scalars()
        for row in rows:
            erased = erase_summary(row.type, row.summary)
            if erased != row.summary:
                row.summary = erased
                self._session.add(row)


# -- cases and visits ----------------------------------------------------------------------------


class CaseRepository:
    """Cases with their visits.

    A case's row is the lock of everything feedback keeps about its order: whoever changes the
    case, its visits, call-backs or open issues loads it ``for_update`` first (then the task or
    issue rows), so commands, the consumer and the sweep on one order take turns.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: str, *, for_update: bool = False) -> Case | None:
        """The case of the order, or None; ``for_update`` locks its row (PostgreSQL) until the
        transaction ends and reads the latest committed state.

        A case locked is kept for the rest of the transaction with all its visits (the session
        holds its rows weakly, issue 9): saving them does not read them again, and a visit of
        the case not kept is known to be new (:meth:`save`)."""
        row = await get_row(self._session, CaseRow, order_id, for_update=for_update)
        if row is None:
            return None
        visits = list(
            (
                await self._session.execute(
                    select(VisitRow)
                    .where(col(VisitRow.order_id) == order_id)
                    .execution_options(populate_existing=for_update)
                )
            ).scalars()
        )
        if for_update:
            self._keep(row, visits)
        return _case(row, visits)

    def _keep(self, row: CaseRow, visits: list[VisitRow]) -> None:
        """Keep a case locked with all its visits: a visit of the case not kept is new."""
        for visit in visits:
            keep_row(self._session, visit)
        keep_row(self._session, row)

    async def lock_or_open(self, order_id: str) -> Case:
        """The order's case, locked for a change (PostgreSQL); an empty one is opened first
        when feedback knows nothing of the order yet, so two first events of one order at once
        (on two replicas) take turns on the new row instead of one failing on its key.

        The case opened is not read again: inserted, it is this transaction's own until it
        ends (another opener waits on its key, then finds it), and it has no visits, which are
        only ever stored with their case."""
        case = await self.get(order_id, for_update=True)
        if case is not None:
            return case
        blank = Case(order_id=order_id)
        opened = await insert_row_if_absent(
            self._session,
            CaseRow,
            {
                "order_id": order_id,
                "network_id": None,
                "technician_id": None,
                "data": blank.model_dump(mode="json", exclude={"visits"}),
            },
        )
        if opened is not None:
            self._keep(opened, [])
            return _case(opened, [])
        # opened by a transaction that committed it meanwhile: read it under its lock
        case = await self.get(order_id, for_update=True)
        assert case is not None  # its row, once stored, is never deleted
        return case

    async def many(self, order_ids: Sequence[str], *, for_update: bool = False) -> list[Case]:
        """The cases of these orders (those that exist); ``for_update`` locks their rows, in
        order id order, and waits for those another transaction holds."""
        if not order_ids:
            return []
        unique = sorted(set(order_ids))
        cases: list[Case] = []
        for chunk_start in range(0, len(unique), 500):
            chunk = unique[chunk_start : chunk_start + 500]
            query = select(CaseRow).where(col(CaseRow.order_id).in_(chunk))
            if for_update:
                query = for_change(query.order_by(col(CaseRow.order_id)))
            rows = (await self._session.execute(query)).scalars()
            visits = (
                await self._session.execute(
                    select(VisitRow)
                    .where(col(VisitRow.order_id).in_(chunk))
                    .execution_options(populate_existing=for_update)
                )
            ).scalars()
            by_order: dict[str, list[VisitRow]] = {}
            for visit in visits:
                by_order.setdefault(visit.order_id, []).append(visit)
            for row in rows:
                of_case = by_order.get(row.order_id, [])
                if for_update:
                    self._keep(row, of_case)
                cases.append(_case(row, of_case))
        return cases

    async def save(self, case: Case) -> None:
        """Insert or update the case and its visits (sampling and sheet marks are kept)."""
        data = case.model_dump(mode="json", exclude={"visits"})
        # a case locked in this transaction is kept with all its visits (_keep): not read again
        row = kept_row(self._session, CaseRow, case.order_id)
        locked = row is not None
        if row is None:
            row = await self._session.get(CaseRow, case.order_id)
        if row is None:
            self._session.add(
                CaseRow(
                    order_id=case.order_id,
                    network_id=case.network_id,
                    technician_id=case.technician_id,
                    data=data,
                )
            )
        else:
            row.network_id = case.network_id
            row.technician_id = case.technician_id
            row.data = data
            self._session.add(row)
        for visit in case.visits.values():
            key = (case.order_id, visit.visit_id)
            if locked:
                visit_row = kept_row(self._session, VisitRow, key)  # none kept: a new visit
            else:
                visit_row = await self._session.get(VisitRow, key)
            if visit_row is None:
                visit_row = VisitRow(order_id=case.order_id, visit_id=visit.visit_id)
                if locked:
                    keep_row(self._session, visit_row)
            visit_row.technician_id = visit.technician_id
            # the visit's own network, never another visit's holder; the centre's own visits are
            # reconciled under `centre`, like their call-backs and suspicions (FBK-8)
            visit_row.network_id = visit.network_id or CENTRE
            visit_row.outcome = str(visit.outcome) if visit.outcome else None
            visit_row.sign_off = str(visit.sign_off) if visit.sign_off else None
            visit_row.arrived_at = _utc_or_none(visit.arrived_at)
            visit_row.closed_at = _utc_or_none(visit.closed_at)
            visit_row.completed_at = _utc_or_none(visit.work_done_at)
            visit_row.data = visit.model_dump(mode="json")
            self._session.add(visit_row)

    async def order_ids_active_between(self, start: datetime, end: datetime) -> list[str]:
        """Orders with a visit that ended, arrived or had its work done (a taken-back unit came
        back, FBK-11) in [start, end)."""
        rows = await self._session.execute(
            select(VisitRow.order_id)
            .where(
                or_(
                    (col(VisitRow.closed_at) >= start) & (col(VisitRow.closed_at) < end),
                    (col(VisitRow.arrived_at) >= start) & (col(VisitRow.arrived_at) < end),
                    (col(VisitRow.completed_at) >= start) & (col(VisitRow.completed_at) < end),
                )
            )
            .distinct()
        )
        return [r for (r,) in rows]

    async def unsampled_completed_between(
        self, start: datetime, end: datetime
    ) -> list[tuple[str, str]]:
        """(order, visit) of visits whose work was done in [start, end) (a taken-back unit: when
        it came back, FBK-4) that no draw considered yet."""
        rows = await self._session.execute(
            select(VisitRow.order_id, VisitRow.visit_id).where(
                col(VisitRow.sampled_on).is_(None),
                col(VisitRow.completed_at) >= start,
                col(VisitRow.completed_at) < end,
            )
        )
        return [(o, v) for o, v in rows]

    async def mark_sampled(
        self, keys: Sequence[tuple[str, str]], *, run_day: date, selected: set[tuple[str, str]]
    ) -> None:
        """Record that the draw of ``run_day`` considered these visits."""
        for key in keys:
            row = await self._session.get(VisitRow, key)
            if row is not None:
                row.sampled_on = run_day
                row.sample_selected = key in selected
                self._session.add(row)

    async def unsigned_completed_before(
        self, moment: datetime, *, order_ids: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        """(order, visit) of visits whose work was done before ``moment`` (see
        :meth:`unsampled_completed_between`) with no sign-off sheet and not flagged yet (FBK-8), of
        ``order_ids`` only when given."""
        query = select(VisitRow.order_id, VisitRow.visit_id).where(*_unsigned(moment))
        if order_ids is not None:
            query = query.where(col(VisitRow.order_id).in_(sorted(order_ids)))
        rows = await self._session.execute(query.order_by(VisitRow.order_id, VisitRow.visit_id))
        return [(o, v) for o, v in rows]

    async def lock_with_unsigned_visits(self, moment: datetime) -> list[str]:
        """Lock and return (by id) the cases with a visit :meth:`unsigned_completed_before`
        ``moment`` would list.

        Cases another transaction holds (the consumer, a command, another replica's sweep) are
        skipped, not waited for: a later sweep picks them up. Re-read the visits once locked.
        """
        unsigned = select(VisitRow.order_id).where(*_unsigned(moment))
        query = for_change(
            select(CaseRow.order_id)
            .where(col(CaseRow.order_id).in_(unsigned))
            .order_by(col(CaseRow.order_id)),
            skip_locked=True,
        )
        return list((await self._session.execute(query)).scalars())

    async def mark_sheet_flagged(self, order_id: str, visit_id: str) -> None:
        """The missing sheet of this visit was flagged."""
        row = await self._session.get(VisitRow, (order_id, visit_id))
        if row is not None:
            row.sheet_flagged = True
            self._session.add(row)

    async def unsigned_for_network(self, network_id: str, before: datetime) -> list[VisitRow]:
        """Visits of a network whose work was done before ``before`` with no sheet back."""
        rows = await self._session.execute(
            select(VisitRow).where(
                col(VisitRow.network_id) == network_id,
                col(VisitRow.sign_off).is_(None),
                col(VisitRow.completed_at) < before,
            )
        )
        return list(rows.scalars())


def _unsigned(moment: datetime) -> tuple[Any, ...]:
    # Work done (a completed visit, or a taken-back unit returned repaired) with no sheet (FBK-8).
    return (
        col(VisitRow.sign_off).is_(None),
        col(VisitRow.sheet_flagged).is_(False),
        col(VisitRow.completed_at) < moment,
    )


def _case(row: CaseRow, visits: list[VisitRow]) -> Case:
    data: dict[str, Any] = dict(row.data)
    data["visits"] = {v.visit_id: v.data for v in visits}
    case = Case.model_validate(data)
    for visit in case.visits.values():
        _aware_visit(visit)
    for chain in case.chains:
        chain.opened_at = aware(chain.opened_at)
        chain.closed_at = aware(chain.closed_at)
    for holding in case.holdings:
        holding.since = aware(holding.since)
    case.cancelled_at = aware(case.cancelled_at)
    case.anonymised_at = aware(case.anonymised_at)
    return case


def _aware_visit(visit: Visit) -> None:
    visit.arrived_at = aware(visit.arrived_at)
    visit.closed_at = aware(visit.closed_at)
    visit.booked_at = aware(visit.booked_at)
    visit.repaired_at = aware(visit.repaired_at)


# -- desk work (FBK-4) -------------------------------------------------------------------------


_DESK_WORK = table_of(DeskWorkRow)


class DeskWorkRepository:
    """Business done at service-hall desks, for call-back sampling (FBK-4)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, work: DeskWork) -> None:
        """Record the work once (a redelivered event adds nothing)."""
        await insert_if_absent(
            self._session,
            _DESK_WORK,
            {
                "work_id": work.work_id,
                "order_id": work.order_id,
                "kind": str(work.kind),
                "clerk": work.clerk,
                "done_at": work.done_at.astimezone(UTC),
                "sampled_on": None,
                "sample_selected": None,
            },
        )

    async def unsampled_between(self, start: datetime, end: datetime) -> list[DeskWork]:
        """Desk work done in [start, end) that no draw considered yet."""
        rows = await self._session.execute(
            select(DeskWorkRow).where(
                col(DeskWorkRow.sampled_on).is_(None),
                col(DeskWorkRow.done_at) >= start,
                col(DeskWorkRow.done_at) < end,
            )
        )
        return [
            DeskWork(
                order_id=r.order_id,
                work_id=r.work_id,
                kind=DeskWorkKind(r.kind),
                clerk=r.clerk,
                done_at=aware(r.done_at),
            )
            for r in rows.scalars()
        ]

    async def mark_sampled(
        self, work_ids: Sequence[str], *, run_day: date, selected: set[str]
    ) -> None:
        """Record that the draw of ``run_day`` considered this work."""
        for work_id in work_ids:
            row = await self._session.get(DeskWorkRow, work_id)
            if row is not None:
                row.sampled_on = run_day
                row.sample_selected = work_id in selected
                self._session.add(row)


# -- call-backs --------------------------------------------------------------------------------


class CallBackRepository:
    """Call-back tasks."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, task_id: str, *, for_update: bool = False) -> CallBackTask | None:
        """The task, or None; ``for_update`` locks its row (PostgreSQL) until the transaction
        ends and reads the latest committed state."""
        row = await get_row(self._session, CallBackRow, task_id, for_update=for_update)
        return None if row is None else _task(row)

    async def order_of(self, task_id: str) -> str | None:
        """The order of the task (to lock its case first), or None when there is no such task."""
        found = await self._session.execute(
            select(CallBackRow.order_id).where(col(CallBackRow.task_id) == task_id)
        )
        return found.scalar_one_or_none()

    async def exists(self, dedupe_key: str) -> bool:
        """Whether a task with this key was created already."""
        found = await self._session.execute(
            select(CallBackRow.task_id).where(col(CallBackRow.dedupe_key) == dedupe_key)
        )
        return found.first() is not None

    async def for_order(self, order_id: str, *, for_update: bool = False) -> list[CallBackTask]:
        """Every task of the order, oldest first; ``for_update`` locks their rows."""
        query = (
            select(CallBackRow)
            .where(col(CallBackRow.order_id) == order_id)
            .order_by(col(CallBackRow.created_at), col(CallBackRow.task_id))
        )
        if for_update:
            query = for_change(query)
        return [_task(r) for r in (await self._session.execute(query)).scalars()]

    async def search(
        self,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        not_before_until: datetime | None = None,
        rule: str | None = None,
        order_id: str | None = None,
        technician_id: str | None = None,
        network_id: str | None = None,
        after: Cursor | None = None,
        limit: int,
    ) -> list[CallBackTask]:
        """Up to ``limit`` tasks matching the filters, soonest due first (then by id), after
        ``after`` (a due time and task id)."""
        query = select(CallBackRow)
        if statuses:
            query = query.where(col(CallBackRow.status).in_([str(s) for s in statuses]))
        if not_before_until is not None:
            query = query.where(col(CallBackRow.not_before) <= not_before_until)
        if rule:
            query = query.where(col(CallBackRow.reason_rule) == rule)
        if order_id:
            query = query.where(col(CallBackRow.order_id) == order_id)
        if technician_id:
            query = query.where(col(CallBackRow.technician_id) == technician_id)
        if network_id:
            query = query.where(col(CallBackRow.network_id) == network_id)
        due_at, task_id = col(CallBackRow.due_at), col(CallBackRow.task_id)
        if after is not None:
            query = query.where(_after(due_at, task_id, after, descending=False))
        query = query.order_by(due_at, task_id).limit(limit)
        return [_task(r) for r in (await self._session.execute(query)).scalars()]

    async def completed_between(self, start: datetime, end: datetime) -> list[CallBackTask]:
        """Tasks finished in [start, end)."""
        rows = await self._session.execute(
            select(CallBackRow).where(
                col(CallBackRow.completed_at) >= start, col(CallBackRow.completed_at) < end
            )
        )
        return [_task(r) for r in rows.scalars()]

    async def done_for_orders(self, order_ids: Sequence[str]) -> list[CallBackTask]:
        """Finished surveys of these orders."""
        tasks: list[CallBackTask] = []
        unique = sorted(set(order_ids))
        for start in range(0, len(unique), 500):
            rows = await self._session.execute(
                select(CallBackRow).where(
                    col(CallBackRow.order_id).in_(unique[start : start + 500]),
                    col(CallBackRow.status) == str(TaskStatus.DONE),
                )
            )
            tasks.extend(_task(r) for r in rows.scalars())
        return tasks

    async def sampled_counts_since(self, since: datetime) -> dict[str, int]:
        """Sampled (rate below 100 %) call-backs per front-line worker (technician or desk clerk)
        created since ``since`` (FBK-4)."""
        rows = await self._session.execute(
            select(CallBackRow.stratum, func.count())
            .where(
                col(CallBackRow.reason_rule) == "FBK-4",
                col(CallBackRow.sample_rate) < 100,
                col(CallBackRow.created_at) >= since,
            )
            .group_by(col(CallBackRow.stratum))
        )
        return {(stratum or UNASSIGNED): int(n) for stratum, n in rows}

    async def save(self, task: CallBackTask) -> None:
        """Insert or update the task."""
        row = await self._session.get(CallBackRow, task.task_id)
        if row is None:
            row = CallBackRow(
                task_id=task.task_id,
                order_id=task.order_id,
                reason_rule=task.reason_rule,
                status=str(task.status),
                dedupe_key=task.dedupe_key,
                created_at=_utc(task.created_at),
                not_before=_utc(task.not_before),
                due_at=_utc(task.due_at),
            )
        row.status = str(task.status)
        row.visit_id = task.visit_id
        row.technician_id = task.technician_id
        row.network_id = task.network_id
        row.claimed_by = task.claimed_by
        row.not_before = _utc(task.not_before)
        row.due_at = _utc(task.due_at)
        row.completed_at = _utc_or_none(task.completed_at)
        row.sample_rate = (
            int(task.selection["rate_percent"]) if task.selection is not None else None
        )
        row.stratum = task.selection.get("stratum") if task.selection is not None else None
        row.data = {
            "claimed_at": _iso(task.claimed_at),
            "selection": task.selection,
            "cancel_reason": task.cancel_reason,
            "follow_up": task.follow_up,
            "attempts": [
                {"at": a.at.isoformat(), "by": a.by, "reached": a.reached} for a in task.attempts
            ],
            "survey": None
            if task.survey is None
            else {
                "problem_solved": task.survey.problem_solved,
                "satisfied": task.survey.satisfied,
                "scores": task.survey.scores.model_dump(mode="json"),
            },
        }
        self._session.add(row)


def _task(row: CallBackRow) -> CallBackTask:
    data = row.data or {}
    survey = data.get("survey")
    return CallBackTask(
        task_id=row.task_id,
        order_id=row.order_id,
        reason_rule=row.reason_rule,
        created_at=aware(row.created_at),
        not_before=aware(row.not_before),
        due_at=aware(row.due_at),
        dedupe_key=row.dedupe_key,
        visit_id=row.visit_id,
        technician_id=row.technician_id,
        network_id=row.network_id,
        selection=data.get("selection"),
        status=TaskStatus(row.status),
        claimed_by=row.claimed_by,
        claimed_at=_parse(data.get("claimed_at")),
        attempts=[
            Attempt(at=aware(datetime.fromisoformat(a["at"])), by=a["by"], reached=a["reached"])
            for a in data.get("attempts", [])
        ],
        survey=None
        if survey is None
        else Survey(
            problem_solved=survey["problem_solved"],
            satisfied=survey["satisfied"],
            scores=FollowUpScores.model_validate(survey["scores"]),
        ),
        completed_at=aware(row.completed_at),
        cancel_reason=data.get("cancel_reason"),
        follow_up=data.get("follow_up"),
    )


# -- complaints --------------------------------------------------------------------------------


class ComplaintRepository:
    """Complaints."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, complaint_id: str, *, for_update: bool = False) -> Complaint | None:
        """The complaint, or None; ``for_update`` locks its row (PostgreSQL) until the
        transaction ends and reads the latest committed state."""
        row = await get_row(self._session, ComplaintRow, complaint_id, for_update=for_update)
        return None if row is None else _complaint(row)

    async def for_order(self, order_id: str, *, for_update: bool = False) -> list[Complaint]:
        """Every complaint about the order, oldest first; ``for_update`` locks their rows."""
        query = (
            select(ComplaintRow)
            .where(col(ComplaintRow.order_id) == order_id)
            .order_by(col(ComplaintRow.filed_at), col(ComplaintRow.complaint_id))
        )
        if for_update:
            query = for_change(query)
        return [_complaint(r) for r in (await self._session.execute(query)).scalars()]

    async def lock_overdue(self, now: datetime, *, limit: int) -> list[Complaint]:
        """Lock and read afresh (by id) up to ``limit`` complaints whose current state ran past
        its SLA before ``now`` unreported (FBK-10), found by index, not by reading every open
        complaint; those another transaction holds are skipped, not waited for (a later sweep
        picks them up)."""
        query = for_change(
            select(ComplaintRow)
            .where(col(ComplaintRow.overdue_check_at) < _utc(now))
            .order_by(col(ComplaintRow.complaint_id))
            .limit(limit),
            skip_locked=True,
        )
        return [_complaint(r) for r in (await self._session.execute(query)).scalars()]

    async def search(
        self,
        *,
        open_only: bool = False,
        order_id: str | None = None,
        network_id: str | None = None,
        sort: str = "-filed_at",
        after: Cursor | None = None,
        limit: int,
    ) -> list[Complaint]:
        """Up to ``limit`` complaints matching the filters in ``sort`` order, after ``after``
        (its sort time and complaint id): ``-filed_at`` newest first, ``filed_at`` oldest first,
        ``due`` the open ones only, by when their current state's SLA runs out, soonest (most
        overdue) first; ties by id."""
        query = select(ComplaintRow)
        if open_only:
            query = query.where(col(ComplaintRow.stage) != str(ComplaintStage.CLOSED))
        if order_id:
            query = query.where(col(ComplaintRow.order_id) == order_id)
        if network_id:
            query = query.where(col(ComplaintRow.network_id) == network_id)
        at = col(ComplaintRow.due_at) if sort == "due" else col(ComplaintRow.filed_at)
        complaint_id = col(ComplaintRow.complaint_id)
        if sort == "due":
            query = query.where(at.is_not(None))  # a closed complaint runs no clock
        descending = sort == "-filed_at"
        if after is not None:
            query = query.where(_after(at, complaint_id, after, descending=descending))
        order = [at.desc(), complaint_id.desc()] if descending else [at, complaint_id]
        query = query.order_by(*order).limit(limit)
        return [_complaint(r) for r in (await self._session.execute(query)).scalars()]

    async def filed_between(self, start: datetime, end: datetime) -> list[Complaint]:
        """Complaints filed in [start, end)."""
        rows = await self._session.execute(
            select(ComplaintRow).where(
                col(ComplaintRow.filed_at) >= start, col(ComplaintRow.filed_at) < end
            )
        )
        return [_complaint(r) for r in rows.scalars()]

    async def save(self, complaint: Complaint) -> None:
        """Insert or update the complaint."""
        row = await self._session.get(ComplaintRow, complaint.complaint_id)
        if row is None:
            row = ComplaintRow(
                complaint_id=complaint.complaint_id,
                order_id=complaint.order_id,
                stage=str(complaint.stage),
                level=complaint.level,
                filed_at=_utc(complaint.filed_at),
            )
        row.stage = str(complaint.stage)
        row.level = complaint.level
        row.staff_fault_class = complaint.staff_fault_class
        row.technician_id = complaint.technician_id
        row.network_id = complaint.network_id
        check_at = complaint.overdue_check_at
        row.overdue_check_at = None if check_at is None else _utc(check_at)
        row.due_at = _utc_or_none(complaint.current.due_at)
        closure = complaint.closure
        row.data = {
            "channel": str(complaint.channel),
            "description": complaint.description,
            "taken_by": complaint.taken_by,
            "confirmed_by_customer": complaint.confirmed_by_customer,
            "confirmed_at": _iso(complaint.confirmed_at),
            "stages": [
                {
                    "stage": str(s.stage),
                    "owner": s.owner,
                    "entered_at": s.entered_at.isoformat(),
                    "due_at": _iso(s.due_at),
                    "left_at": _iso(s.left_at),
                    "note": s.note,
                    "overdue_reported_at": _iso(s.overdue_reported_at),
                }
                for s in complaint.stages
            ],
            "closure": None if closure is None else _closure_data(closure),
            "earlier_closures": [_closure_data(c) for c in complaint.earlier_closures],
            "escalated_at": _iso(complaint.escalated_at),
            "escalated_by": complaint.escalated_by,
            "escalation_reason": complaint.escalation_reason,
            "anonymised_at": _iso(complaint.anonymised_at),
            "closed_without_finding": complaint.closed_without_finding,
            "visit_id": complaint.visit_id,
        }
        self._session.add(row)


def _closure_data(closure: Closure) -> dict[str, Any]:
    return {
        "cause": closure.cause,
        "owner": closure.owner,
        "preventive_action": closure.preventive_action,
        "at_fault": closure.at_fault,
        "staff_fault_class": closure.staff_fault_class,
        "summary": closure.summary,
        "compensation": None if closure.compensation is None else str(closure.compensation),
        "closed_at": _iso(closure.closed_at),
    }


def _closure(data: dict[str, Any]) -> Closure:
    return Closure(
        cause=data["cause"],
        owner=data["owner"],
        preventive_action=data["preventive_action"],
        at_fault=data["at_fault"],
        staff_fault_class=data["staff_fault_class"],
        summary=data["summary"],
        compensation=None if data["compensation"] is None else Decimal(data["compensation"]),
        closed_at=_parse(data.get("closed_at")),
    )


def _complaint(row: ComplaintRow) -> Complaint:
    data = row.data
    closure = data.get("closure")
    return Complaint(
        complaint_id=row.complaint_id,
        order_id=row.order_id,
        channel=Channel(data["channel"]),
        description=data["description"],
        level=2 if row.level == 2 else 1,
        staff_fault_class=row.staff_fault_class,  # type: ignore[arg-type]
        filed_at=aware(row.filed_at),
        taken_by=data["taken_by"],
        confirmed_by_customer=data["confirmed_by_customer"],
        confirmed_at=_parse(data.get("confirmed_at")),
        technician_id=row.technician_id,
        network_id=row.network_id,
        stages=[
            StageRecord(
                stage=ComplaintStage(s["stage"]),
                owner=s["owner"],
                entered_at=aware(datetime.fromisoformat(s["entered_at"])),
                due_at=_parse(s["due_at"]),
                left_at=_parse(s["left_at"]),
                note=s.get("note"),
                overdue_reported_at=_parse(s.get("overdue_reported_at")),
            )
            for s in data["stages"]
        ],
        closure=None if closure is None else _closure(closure),
        earlier_closures=[_closure(c) for c in data.get("earlier_closures", [])],
        escalated_at=_parse(data.get("escalated_at")),
        escalated_by=data.get("escalated_by"),
        escalation_reason=data.get("escalation_reason"),
        anonymised_at=_parse(data.get("anonymised_at")),
        closed_without_finding=data.get("closed_without_finding"),
        visit_id=data.get("visit_id"),
    )


# -- conduct findings, fraud, issues, sampling runs --------------------------------------------


class FindingRepository:
    """Conduct findings (FBK-6)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, finding_id: str, *, for_update: bool = False) -> ConductFinding | None:
        """The finding, or None; ``for_update`` locks its row (PostgreSQL) until the
        transaction ends and reads the latest committed state."""
        row = await get_row(self._session, ConductFindingRow, finding_id, for_update=for_update)
        return None if row is None else _finding(row)

    async def search(
        self,
        *,
        status: FindingStatus | None = None,
        technician_id: str | None = None,
        after: Cursor | None = None,
        limit: int,
    ) -> list[ConductFinding]:
        """Up to ``limit`` findings matching the filters, oldest first (then by id), after
        ``after`` (a raising time and finding id)."""
        query = select(ConductFindingRow)
        if status is not None:
            query = query.where(col(ConductFindingRow.status) == str(status))
        if technician_id:
            query = query.where(col(ConductFindingRow.technician_id) == technician_id)
        raised_at, finding_id = col(ConductFindingRow.raised_at), col(ConductFindingRow.finding_id)
        if after is not None:
            query = query.where(_after(raised_at, finding_id, after, descending=False))
        query = query.order_by(raised_at, finding_id).limit(limit)
        return [_finding(r) for r in (await self._session.execute(query)).scalars()]

    async def for_order(self, order_id: str, *, for_update: bool = False) -> list[ConductFinding]:
        """The order's findings, oldest first; ``for_update`` locks their rows."""
        query = (
            select(ConductFindingRow)
            .where(col(ConductFindingRow.order_id) == order_id)
            .order_by(col(ConductFindingRow.raised_at), col(ConductFindingRow.finding_id))
        )
        if for_update:
            query = for_change(query)
        return [_finding(r) for r in (await self._session.execute(query)).scalars()]

    async def raised_between(self, start: datetime, end: datetime) -> list[ConductFinding]:
        """Findings raised in [start, end)."""
        rows = await self._session.execute(
            select(ConductFindingRow).where(
                col(ConductFindingRow.raised_at) >= start, col(ConductFindingRow.raised_at) < end
            )
        )
        return [_finding(r) for r in rows.scalars()]

    async def save(self, finding: ConductFinding) -> None:
        """Insert or update the finding."""
        row = await self._session.get(ConductFindingRow, finding.finding_id)
        if row is None:
            row = ConductFindingRow(
                finding_id=finding.finding_id,
                order_id=finding.order_id,
                task_id=finding.task_id,
                aspect=finding.aspect,
                grade=str(finding.grade),
                status=str(finding.status),
                raised_at=_utc(finding.raised_at),
            )
        row.status = str(finding.status)
        row.technician_id = finding.technician_id
        row.network_id = finding.network_id
        row.decided_by = finding.decided_by
        row.decided_at = _utc_or_none(finding.decided_at)
        row.note = finding.note
        self._session.add(row)


def _finding(row: ConductFindingRow) -> ConductFinding:
    return ConductFinding(
        finding_id=row.finding_id,
        order_id=row.order_id,
        task_id=row.task_id,
        aspect=row.aspect,
        grade=Grade(row.grade),
        raised_at=aware(row.raised_at),
        technician_id=row.technician_id,
        network_id=row.network_id,
        status=FindingStatus(row.status),
        decided_by=row.decided_by,
        decided_at=aware(row.decided_at),
        note=row.note,
    )


class FraudRepository:
    """Fraud suspicions (FBK-8)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def exists(self, dedupe_key: str) -> bool:
        """Whether this suspicion was flagged already."""
        found = await self._session.execute(
            select(FraudRow.fraud_id).where(col(FraudRow.dedupe_key) == dedupe_key)
        )
        return found.first() is not None

    async def add(self, case: FraudCase) -> None:
        """Store a new suspicion."""
        self._session.add(
            FraudRow(
                fraud_id=case.fraud_id,
                dedupe_key=case.dedupe_key,
                order_id=case.order_id,
                network_id=case.network_id,
                signal=str(case.signal),
                visit_id=case.visit_id,
                technician_id=case.technician_id,
                detail=case.detail,
                reported_amount=case.reported_amount,
                billed_amount=case.billed_amount,
                flagged_at=_utc(case.flagged_at),
            )
        )

    async def search(
        self,
        *,
        network_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        order_id: str | None = None,
        for_update: bool = False,
    ) -> list[FraudCase]:
        """Suspicions matching the filters, oldest first; ``for_update`` locks their rows."""
        query = select(FraudRow)
        if network_id:
            query = query.where(col(FraudRow.network_id) == network_id)
        if start is not None:
            query = query.where(col(FraudRow.flagged_at) >= start)
        if end is not None:
            query = query.where(col(FraudRow.flagged_at) < end)
        if order_id:
            query = query.where(col(FraudRow.order_id) == order_id)
        query = query.order_by(col(FraudRow.flagged_at), col(FraudRow.fraud_id))
        if for_update:
            query = for_change(query)
        return [_fraud(r) for r in (await self._session.execute(query)).scalars()]

    async def page(
        self,
        *,
        network_id: str | None = None,
        order_id: str | None = None,
        after: Cursor | None = None,
        limit: int,
    ) -> list[FraudCase]:
        """Up to ``limit`` suspicions matching the filters, newest first (then by id,
        descending), after ``after`` (a flagging time and suspicion id)."""
        query = select(FraudRow)
        if network_id:
            query = query.where(col(FraudRow.network_id) == network_id)
        if order_id:
            query = query.where(col(FraudRow.order_id) == order_id)
        flagged_at, fraud_id = col(FraudRow.flagged_at), col(FraudRow.fraud_id)
        if after is not None:
            query = query.where(_after(flagged_at, fraud_id, after, descending=True))
        query = query.order_by(flagged_at.desc(), fraud_id.desc()).limit(limit)
        return [_fraud(r) for r in (await self._session.execute(query)).scalars()]

    async def save(self, case: FraudCase) -> None:
        """Insert or update the suspicion; once stored, only whom it is flagged to changes (its
        visit's holder, FBK-8)."""
        row = await self._session.get(FraudRow, case.fraud_id)
        if row is None:
            await self.add(case)
            return
        row.network_id = case.network_id
        row.technician_id = case.technician_id
        self._session.add(row)


def _fraud(row: FraudRow) -> FraudCase:
    return FraudCase(
        fraud_id=row.fraud_id,
        order_id=row.order_id,
        signal=FraudSignal(row.signal),
        flagged_at=aware(row.flagged_at),
        dedupe_key=row.dedupe_key,
        network_id=row.network_id,
        visit_id=row.visit_id,
        technician_id=row.technician_id,
        detail=row.detail,
        reported_amount=row.reported_amount,
        billed_amount=row.billed_amount,
    )


class IssueRepository:
    """Issues left open after visits (FBK-12)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, issue_id: str, *, for_update: bool = False) -> OpenIssueRecord | None:
        """The issue, or None; ``for_update`` locks its row (PostgreSQL) until the transaction
        ends and reads the latest committed state."""
        row = await get_row(self._session, IssueRow, issue_id, for_update=for_update)
        return None if row is None else _issue(row)

    async def exists(self, dedupe_key: str) -> bool:
        """Whether this issue was opened already."""
        found = await self._session.execute(
            select(IssueRow.issue_id).where(col(IssueRow.dedupe_key) == dedupe_key)
        )
        return found.first() is not None

    async def search(
        self,
        *,
        open_only: bool = False,
        order_id: str | None = None,
        network_id: str | None = None,
        for_update: bool = False,
    ) -> list[OpenIssueRecord]:
        """Issues, oldest first; ``for_update`` locks their rows."""
        query = select(IssueRow)
        if open_only:
            query = query.where(col(IssueRow.resolved_at).is_(None))
        if order_id:
            query = query.where(col(IssueRow.order_id) == order_id)
        if network_id:
            query = query.where(col(IssueRow.network_id) == network_id)
        query = query.order_by(col(IssueRow.opened_at), col(IssueRow.issue_id))
        if for_update:
            query = for_change(query)
        return [_issue(r) for r in (await self._session.execute(query)).scalars()]

    async def page(
        self,
        *,
        open_only: bool = False,
        order_id: str | None = None,
        network_id: str | None = None,
        after: Cursor | None = None,
        limit: int,
    ) -> list[OpenIssueRecord]:
        """Up to ``limit`` issues matching the filters, the soonest to go to the company first
        (then by id), after ``after`` (a company due time and issue id)."""
        query = select(IssueRow)
        if open_only:
            query = query.where(col(IssueRow.resolved_at).is_(None))
        if order_id:
            query = query.where(col(IssueRow.order_id) == order_id)
        if network_id:
            query = query.where(col(IssueRow.network_id) == network_id)
        company_due_at, issue_id = col(IssueRow.company_due_at), col(IssueRow.issue_id)
        if after is not None:
            query = query.where(_after(company_due_at, issue_id, after, descending=False))
        query = query.order_by(company_due_at, issue_id).limit(limit)
        return [_issue(r) for r in (await self._session.execute(query)).scalars()]

    async def lock_due_for_company(self, now: datetime) -> list[OpenIssueRecord]:
        """Lock and return (by id) the open issues whose company-level escalation is due; those
        another transaction holds are skipped, not waited for (a later sweep picks them up)."""
        rows = await self._session.execute(
            for_change(
                select(IssueRow)
                .where(
                    col(IssueRow.resolved_at).is_(None),
                    col(IssueRow.company_escalated_at).is_(None),
                    col(IssueRow.company_due_at) <= now,
                )
                .order_by(col(IssueRow.issue_id)),
                skip_locked=True,
            )
        )
        return [_issue(r) for r in rows.scalars()]

    async def save(self, issue: OpenIssueRecord) -> None:
        """Insert or update the issue."""
        row = await self._session.get(IssueRow, issue.issue_id)
        if row is None:
            row = IssueRow(
                issue_id=issue.issue_id,
                dedupe_key=issue.dedupe_key,
                order_id=issue.order_id,
                reason=issue.reason[:500],
                opened_at=_utc(issue.opened_at),
                department_due_at=_utc(issue.department_due_at),
                company_due_at=_utc(issue.company_due_at),
            )
        row.visit_id = issue.visit_id
        row.technician_id = issue.technician_id
        row.network_id = issue.network_id
        row.level = issue.level
        row.department_escalated_at = _utc_or_none(issue.department_escalated_at)
        row.company_escalated_at = _utc_or_none(issue.company_escalated_at)
        row.resolved_at = _utc_or_none(issue.resolved_at)
        row.resolution = issue.resolution
        self._session.add(row)


def _issue(row: IssueRow) -> OpenIssueRecord:
    return OpenIssueRecord(
        issue_id=row.issue_id,
        order_id=row.order_id,
        reason=row.reason,
        opened_at=aware(row.opened_at),
        department_due_at=aware(row.department_due_at),
        company_due_at=aware(row.company_due_at),
        dedupe_key=row.dedupe_key,
        visit_id=row.visit_id,
        technician_id=row.technician_id,
        network_id=row.network_id,
        level=row.level,
        department_escalated_at=aware(row.department_escalated_at),
        company_escalated_at=aware(row.company_escalated_at),
        resolved_at=aware(row.resolved_at),
        resolution=row.resolution,
    )


class SamplingRunRepository:
    """The days the sampling draw ran (FBK-4)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, run_day: date) -> SamplingRun | None:
        """The run of that day, or None."""
        row = await self._session.get(SamplingRunRow, run_day)
        if row is None:
            return None
        return SamplingRun(
            run_day=row.run_day, ran_at=aware(row.ran_at), seed=row.seed, by_type=row.summary
        )

    async def lock_day(self, run_day: date) -> None:
        """Hold the draw of ``run_day`` until the transaction ends (PostgreSQL): a second draw of
        the day (another replica, an admin's run) waits, then finds the first one's run."""
        await advisory_xact_lock(self._session, f"feedback:sampling:{run_day.isoformat()}")

    async def add(self, *, run_day: date, ran_at: datetime, seed: int, summary: Any) -> None:
        """Record that the draw of ``run_day`` ran (a second replica's insert conflicts)."""
        self._session.add(
            SamplingRunRow(run_day=run_day, ran_at=_utc(ran_at), seed=seed, summary=summary)
        )
