"""Read models of feedback (queries go here, not through the command bus)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from feedback.adapters.repository import Cursor
from feedback.domain import figures
from feedback.domain.callbacks import CallBackTask, TaskStatus
from feedback.domain.case import RevisitChain
from feedback.domain.complaints import Complaint
from feedback.domain.exceptions import NotFound, OrderNotFound
from feedback.domain.findings import ConductFinding, FindingStatus, FraudCase, OpenIssueRecord
from feedback.domain.model import OrderFile
from feedback.domain.policy import FeedbackPolicy
from feedback.domain.ports import WorkingCalendar
from feedback.domain.sampling import SamplingRun
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork


async def order_file(order_id: str, *, uow: FeedbackUnitOfWork) -> OrderFile:
    """The order's file, events oldest first; OrderNotFound when nothing is known about it."""
    async with uow:
        found = await uow.order_files.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        case = await uow.cases.get(order_id)
        found.anonymised_at = None if case is None else case.anonymised_at
        return found


async def due_call_backs(
    *,
    uow: FeedbackUnitOfWork,
    now: datetime,
    policy: FeedbackPolicy,
    rule: str | None = None,
    technician_id: str | None = None,
    network_id: str | None = None,
    after: Cursor | None = None,
    limit: int,
) -> list[CallBackTask]:
    """Up to ``limit`` call-backs an agent may make now (not before their time, not held by
    someone), soonest due first, after ``after``."""
    due: list[CallBackTask] = []
    async with uow:
        while len(due) < limit:
            # Held tasks are read and passed over batch after batch: however many agents hold,
            # they never hide the due tasks behind them.
            batch = await uow.call_backs.search(
                statuses=[TaskStatus.OPEN, TaskStatus.CLAIMED],
                not_before_until=now,
                rule=rule,
                technician_id=technician_id,
                network_id=network_id,
                after=after,
                limit=limit,
            )
            due.extend(t for t in batch if t.is_due(now, policy))
            if len(batch) < limit:
                break
            after = Cursor(at=batch[-1].due_at, id=batch[-1].task_id)
    return due[:limit]


async def call_backs(
    *,
    uow: FeedbackUnitOfWork,
    statuses: list[TaskStatus] | None,
    order_id: str | None,
    rule: str | None,
    network_id: str | None = None,
    after: Cursor | None = None,
    limit: int,
) -> list[CallBackTask]:
    """Up to ``limit`` call-backs matching the filters, soonest due first, after ``after``."""
    async with uow:
        return await uow.call_backs.search(
            statuses=statuses,
            order_id=order_id,
            rule=rule,
            network_id=network_id,
            after=after,
            limit=limit,
        )


async def call_back(task_id: str, *, uow: FeedbackUnitOfWork) -> CallBackTask:
    """One call-back."""
    async with uow:
        task = await uow.call_backs.get(task_id)
        if task is None:
            raise NotFound("call-back", task_id)
        return task


async def revisit_chains(order_id: str, *, uow: FeedbackUnitOfWork) -> list[RevisitChain]:
    """The order's revisit chains (FBK-7), oldest first."""
    async with uow:
        case = await uow.cases.get(order_id)
        if case is None:
            raise OrderNotFound(order_id)
        return list(case.chains)


async def complaint(complaint_id: str, *, uow: FeedbackUnitOfWork) -> Complaint:
    """One complaint."""
    async with uow:
        found = await uow.complaints.get(complaint_id)
        if found is None:
            raise NotFound("complaint", complaint_id)
        return found


async def sampling_run(run_day: date, *, uow: FeedbackUnitOfWork) -> SamplingRun:
    """The draw of ``run_day`` (FBK-4); NotFound when it has not run."""
    async with uow:
        found = await uow.sampling_runs.get(run_day)
        if found is None:
            raise NotFound("sampling run of", run_day.isoformat())
        return found


async def complaints(
    *,
    uow: FeedbackUnitOfWork,
    open_only: bool,
    order_id: str | None,
    network_id: str | None,
    sort: str = "-filed_at",
    after: Cursor | None = None,
    limit: int,
) -> list[Complaint]:
    """Up to ``limit`` complaints in ``sort`` order (see ``ComplaintRepository.search``), after
    ``after``."""
    async with uow:
        return await uow.complaints.search(
            open_only=open_only,
            order_id=order_id,
            network_id=network_id,
            sort=sort,
            after=after,
            limit=limit,
        )


async def findings(
    *,
    uow: FeedbackUnitOfWork,
    status: FindingStatus | None,
    technician_id: str | None,
    after: Cursor | None = None,
    limit: int,
) -> list[ConductFinding]:
    """Up to ``limit`` conduct findings (FBK-6), oldest first, after ``after``."""
    async with uow:
        return await uow.findings.search(
            status=status, technician_id=technician_id, after=after, limit=limit
        )


async def frauds(
    *,
    uow: FeedbackUnitOfWork,
    network_id: str | None,
    order_id: str | None,
    after: Cursor | None = None,
    limit: int,
) -> list[FraudCase]:
    """Up to ``limit`` fraud suspicions (FBK-8), newest first, after ``after``."""
    async with uow:
        return await uow.frauds.page(
            network_id=network_id, order_id=order_id, after=after, limit=limit
        )


async def issues(
    *,
    uow: FeedbackUnitOfWork,
    open_only: bool,
    order_id: str | None,
    network_id: str | None,
    after: Cursor | None = None,
    limit: int,
) -> list[OpenIssueRecord]:
    """Up to ``limit`` issues left open after visits (FBK-12), the soonest to go to the company
    first, after ``after``."""
    async with uow:
        return await uow.issues.page(
            open_only=open_only, order_id=order_id, network_id=network_id, after=after, limit=limit
        )


def day_bounds(first: date, last: date, calendar: WorkingCalendar) -> tuple[datetime, datetime]:
    """[start of ``first``, start of the day after ``last``) in the business time zone."""
    return (
        datetime.combine(first, time(0), tzinfo=calendar.tz),
        datetime.combine(last + timedelta(days=1), time(0), tzinfo=calendar.tz),
    )


async def quality_figures(
    *,
    uow: FeedbackUnitOfWork,
    first: date,
    last: date,
    group_by: figures.GroupBy,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
    network_id: str | None = None,
) -> list[figures.Figures]:
    """Quality figures per technician or network for the days ``first``..``last`` (FBK-11); with
    ``network_id``, of that network's own work only (its row, or its technicians' rows)."""
    start, end = day_bounds(first, last, calendar)
    async with uow:
        order_ids = await uow.cases.order_ids_active_between(start, end)
        cases = await uow.cases.many(order_ids)
        done = await uow.call_backs.completed_between(start, end)
        surveys_of_cases = await uow.call_backs.done_for_orders(order_ids)
        complaints_ = await uow.complaints.filed_between(start, end)
        findings_ = await uow.findings.raised_between(start, end)
    tasks = {t.task_id: t for t in [*done, *surveys_of_cases]}
    return figures.compute(
        cases=cases,
        tasks=tasks.values(),
        complaints=complaints_,
        findings=findings_,
        start=start,
        end=end,
        group_by=group_by,
        policy=policy,
        network_id=network_id,
    )


@dataclass
class Reconciliation:
    """A network's daily reconciliation (000 s25, FBK-8)."""

    network_id: str
    day: date
    fraud_suspicions: list[FraudCase]
    suspicions_by_signal: dict[str, int]
    sheets_outstanding: list[dict[str, Any]]
    call_backs_completed: int
    call_backs_reached: int
    customers_dissatisfied: int
    complaints_filed: int
    open_issues: list[OpenIssueRecord]


async def reconciliation(
    network_id: str,
    day: date,
    *,
    uow: FeedbackUnitOfWork,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> Reconciliation:
    """What a network must reconcile for ``day``: suspicions flagged that day, sheets still not
    back, the call-backs made, complaints and open issues."""
    start, end = day_bounds(day, day, calendar)
    async with uow:
        suspicions = await uow.frauds.search(network_id=network_id, start=start, end=end)
        unsigned = [
            {
                "order_id": v.order_id,
                "visit_id": v.visit_id,
                "technician_id": v.technician_id,
                "closed_at": v.closed_at
                if v.closed_at is None or v.closed_at.tzinfo
                else v.closed_at.replace(tzinfo=UTC),
            }
            for v in await uow.cases.unsigned_for_network(network_id, end)
        ]
        completed = [
            t
            for t in await uow.call_backs.completed_between(start, end)
            if t.network_id == network_id
        ]
        # rule FBK-11: the network the quality figures count the complaint for
        filed = [
            c for c in await uow.complaints.filed_between(start, end) if c.network == network_id
        ]
        open_issues = await uow.issues.search(open_only=True, network_id=network_id)
    reached = [t for t in completed if t.survey is not None]
    return Reconciliation(
        network_id=network_id,
        day=day,
        fraud_suspicions=suspicions,
        suspicions_by_signal=dict(Counter(str(s.signal) for s in suspicions)),
        sheets_outstanding=unsigned,
        call_backs_completed=len(completed),
        call_backs_reached=len(reached),
        customers_dissatisfied=sum(
            1 for t in reached if t.survey is not None and t.survey.dissatisfied
        ),
        complaints_filed=len(filed),
        open_issues=open_issues,
    )
