"""Feedback's command handlers, the handler of events seen on the bus, and the periodic sweep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from contracts.envelope import EventEnvelope
from contracts.feedback import FraudSignal, RevisitRequested
from contracts.registry import parse_data
from feedback.domain import commands, sampling
from feedback.domain.callbacks import (
    FINISHED,
    PHONE_GUIDANCE_RULE,
    CallBackTask,
    Survey,
    TaskStatus,
    fee_amount,
)
from feedback.domain.case import (
    CENTRE,
    CancelCallBacks,
    Case,
    DeskWork,
    EraseOrder,
    OpenIssue,
    Reaction,
    ReattributeVisit,
    ScheduleCallBack,
    Visit,
)
from feedback.domain.complaints import Complaint, complained_about
from feedback.domain.exceptions import NotFound, SamplingAlreadyRun
from feedback.domain.findings import (
    ConductFinding,
    FraudCase,
    OpenIssueRecord,
    fee_discrepancy,
)
from feedback.domain.model import EVENTS_OF_INTEREST, RecordedEvent, summarise
from feedback.domain.policy import BusinessType, FeedbackPolicy
from feedback.domain.ports import WorkingCalendar
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from servicekit.consumer import PoisonMessage
from servicekit.messagebus import Handler

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


# -- events seen on the bus ----------------------------------------------------------------------


async def record_event(
    envelope: EventEnvelope,
    *,
    uow: FeedbackUnitOfWork,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
    clock: Clock,
) -> None:
    """Put an event of interest on its order's file and its case, once (inbox), and carry out
    what it calls for (call-backs, open issues, erasing the order's personal data once its
    retention is over, BIL-11); other events are skipped."""
    if envelope.event_name not in EVENTS_OF_INTEREST:
        return  # nothing to apply, so nothing to remember in the inbox either
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        try:
            payload = parse_data(envelope)
        except ValidationError as exc:
            raise PoisonMessage(f"invalid {envelope.type} data: {exc}") from exc
        case = await uow.cases.lock_or_open(envelope.subject)
        entry = recorded_event(envelope)
        if case.anonymised_at is not None:
            # rule BIL-11: an event heard after the order's retention is over (late or
            # redelivered) goes on the file without the customer's personal data.
            entry = entry.without_personal_data()
        if await uow.order_files.record(envelope.subject, entry):
            log.info("feedback.event_recorded", type=envelope.type, subject=envelope.subject)
        reactions = case.apply(
            payload,
            at=envelope.time,
            event_id=str(envelope.id),
            policy=policy,
            calendar=calendar,
        )
        await uow.cases.save(case)
        await _react(case, reactions, uow=uow, now=clock(), policy=policy, calendar=calendar)
        await uow.commit()


def recorded_event(envelope: EventEnvelope) -> RecordedEvent:
    """The file entry of an envelope (its data is summarised, never parsed)."""
    return RecordedEvent(
        event_id=str(envelope.id),
        type=envelope.event_name,
        version=envelope.event_version,
        time=envelope.time,
        source=envelope.source,
        summary=summarise(envelope.data),
    )


async def _react(
    case: Case,
    reactions: list[Reaction],
    *,
    uow: FeedbackUnitOfWork,
    now: datetime,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> None:
    for reaction in reactions:
        match reaction:
            case ScheduleCallBack():
                await _schedule(case, reaction, uow=uow, now=now)
            case CancelCallBacks():
                for task in await uow.call_backs.for_order(case.order_id, for_update=True):
                    if task.visit_id in reaction.except_visits:
                        continue
                    if reaction.rule in (None, task.reason_rule) and task.cancel(
                        reaction.reason, now
                    ):
                        await uow.call_backs.save(task)
                if reaction.rule is None:
                    for issue in await uow.issues.search(
                        open_only=True, order_id=case.order_id, for_update=True
                    ):
                        issue.resolve(reaction.reason, now)
                        await uow.issues.save(issue)
            case OpenIssue():
                await _open_issue(
                    case,
                    visit_id=reaction.visit_id,
                    reason=reaction.reason,
                    dedupe_key=reaction.dedupe_key or f"{case.order_id}:{reaction.visit_id}",
                    uow=uow,
                    now=now,
                    policy=policy,
                    calendar=calendar,
                )
            case DeskWork():
                await uow.desk_work.add(reaction)
            case ReattributeVisit():
                await _reattribute(case, reaction.visit_id, uow=uow)
            case EraseOrder():
                await _erase_order(case, reaction.reason, uow=uow, now=now)


async def _schedule(
    case: Case, reaction: ScheduleCallBack, *, uow: FeedbackUnitOfWork, now: datetime
) -> None:
    if case.cancellation_stops(reaction.visit_id) or await uow.call_backs.exists(
        reaction.dedupe_key
    ):
        return
    if reaction.unless_rule_for_visit and reaction.visit_id:
        earlier = f"{reaction.unless_rule_for_visit}:{case.order_id}:{reaction.visit_id}"
        if await uow.call_backs.exists(earlier):
            return
    if reaction.rule == PHONE_GUIDANCE_RULE:
        # rule FBK-1: the call-back asks about the centre's phone guidance (INT-4), not about
        # the technician or network the order was assigned to before it was resolved by phone.
        technician_id: str | None = None
        network_id = CENTRE
    else:
        technician_id, network_id = case.attribution(reaction.visit_id)
        technician_id = reaction.technician_id or technician_id
    task = CallBackTask.schedule(
        order_id=case.order_id,
        rule=reaction.rule,
        now=now,
        not_before=reaction.not_before,
        due_at=reaction.due_at,
        dedupe_key=reaction.dedupe_key,
        visit_id=reaction.visit_id,
        technician_id=technician_id,
        network_id=network_id,
    )
    uow.track(task)
    await uow.call_backs.save(task)


async def _reattribute(case: Case, visit_id: str, *, uow: FeedbackUnitOfWork) -> None:
    """What was derived from the visit follows the holder it now counts against (FBK-3, FBK-4,
    FBK-8, FBK-11): its call-backs, answered or not, with a result already published
    re-credited (FollowUpRecredited, see ``CallBackTask.reattribute``), and the conduct findings
    their answers raised (FBK-6), its open issues (FBK-12), its fraud suspicions and the
    complaints charged to it by default, naming nobody (FBK-9), so figures and the daily
    reconciliation credit the right network."""
    technician_id, network_id = case.attribution(visit_id)
    moved: set[str] = set()
    for task in await uow.call_backs.for_order(case.order_id, for_update=True):
        if task.visit_id == visit_id and task.reattribute(
            technician_id=technician_id, network_id=network_id
        ):
            uow.track(task)  # a result already published is re-credited (FollowUpRecredited)
            moved.add(task.task_id)
            await uow.call_backs.save(task)
    if moved:
        for finding in await uow.findings.for_order(case.order_id, for_update=True):
            if finding.task_id in moved and finding.reattribute(
                technician_id=technician_id, network_id=network_id
            ):
                await uow.findings.save(finding)
    for issue in await uow.issues.search(order_id=case.order_id, for_update=True):
        if issue.visit_id == visit_id and issue.reattribute(
            technician_id=technician_id, network_id=network_id
        ):
            await uow.issues.save(issue)
    for fraud in await uow.frauds.search(order_id=case.order_id, for_update=True):
        if fraud.visit_id == visit_id and fraud.reattribute(
            technician_id=technician_id, network_id=network_id
        ):
            await uow.frauds.save(fraud)
    for complaint in await uow.complaints.for_order(case.order_id, for_update=True):
        if complaint.visit_id == visit_id and complaint.reattribute(
            technician_id=technician_id, network_id=network_id
        ):
            await uow.complaints.save(complaint)


async def _erase_order(case: Case, reason: str, *, uow: FeedbackUnitOfWork, now: datetime) -> None:
    """Erase the personal data of everything feedback derived from the order (BIL-11): its
    file's summaries, its call-backs' survey comments, its complaints' texts, its findings'
    notes and its issues' resolutions; the case itself erased its own. Retention counts from
    the order's end, so nothing is normally open then; what is (an anomaly) is stopped where
    nobody can act on it any more: open call-backs are cancelled (the customer's phone is
    erased everywhere) and open issues resolved, with ``reason``; an open complaint is closed
    as ``retention_ended``, with no fault finding (see ``Complaint.end_at_retention``: the rest
    of its loop needs the customer, and the figures count it as before), and logged. Running it
    again changes nothing."""
    anonymised_at = case.anonymised_at or now
    await uow.order_files.scrub_personal_data(case.order_id)
    for task in await uow.call_backs.for_order(case.order_id, for_update=True):
        if task.erase_personal_data(reason=reason, now=now):
            await uow.call_backs.save(task)
    for complaint in await uow.complaints.for_order(case.order_id, for_update=True):
        stage = complaint.stage
        erased = complaint.erase_personal_data(anonymised_at)
        ended = complaint.end_at_retention(now)
        if erased or ended:
            await uow.complaints.save(complaint)
        if ended:
            log.warning(
                "feedback.open_complaint_closed_at_retention_end",
                order=case.order_id,
                complaint=complaint.complaint_id,
                stage=str(stage),
            )
    for finding in await uow.findings.for_order(case.order_id, for_update=True):
        if finding.erase_personal_data():
            await uow.findings.save(finding)
    for issue in await uow.issues.search(order_id=case.order_id, for_update=True):
        if issue.erase_personal_data(reason=reason, now=now):
            await uow.issues.save(issue)
    log.info("feedback.order_anonymised", order=case.order_id)


async def _open_issue(
    case: Case,
    *,
    visit_id: str | None,
    reason: str,
    dedupe_key: str,
    uow: FeedbackUnitOfWork,
    now: datetime,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
    attribution: tuple[str | None, str | None] | None = None,
) -> None:
    """Open an issue on the order once (FBK-12), attributed to ``attribution`` (technician,
    network) when given (desk business concerns neither), else to the visit's (else the
    order's) technician and network; none once the order is cancelled, but about work done
    before the cancellation."""
    if case.cancellation_stops(visit_id) or await uow.issues.exists(dedupe_key):
        return
    technician_id, network_id = attribution or case.attribution(visit_id)
    issue = OpenIssueRecord.open(
        order_id=case.order_id,
        reason=reason,
        now=now,
        dedupe_key=dedupe_key,
        visit_id=visit_id,
        technician_id=technician_id,
        network_id=network_id,
        policy=policy,
        calendar=calendar,
    )
    uow.track(issue)
    await uow.issues.save(issue)


# -- call-backs ----------------------------------------------------------------------------------


async def claim_call_back(
    cmd: commands.ClaimCallBack, *, uow: FeedbackUnitOfWork, clock: Clock, policy: FeedbackPolicy
) -> CallBackTask:
    """Take a call-back to make it now (409 when another agent holds it or it is finished, or
    when its order's personal data was erased, BIL-11)."""
    async with uow:
        order_id = await uow.call_backs.order_of(cmd.task_id)
        if order_id is None:
            raise NotFound("call-back", cmd.task_id)
        # The case before the task, as record_call_back locks them (no deadlock with the
        # consumer erasing the order and cancelling its call-backs).
        case = await uow.cases.get(order_id, for_update=True)
        if case is not None:
            _refuse_call_back_if_erased(case, "claim the call-back")
        task = await _task(uow, cmd.task_id)
        task.claim(by=cmd.agent, now=clock(), policy=policy)
        await uow.call_backs.save(task)
        await uow.commit()
        return task


async def record_call_back(
    cmd: commands.RecordCallBack,
    *,
    uow: FeedbackUnitOfWork,
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> CallBackTask:
    """Record a call (FBK-5). Not reached: called again later. Reached: a dissatisfied customer
    gets a revisit (FBK-7), one at a time and none while work already under way answers them
    (the task's ``follow_up`` says which); a satisfied one after that work closes the chain;
    fair/poor answers are followed up (FBK-6); a contradicted sheet or an unknown fee is
    flagged (FBK-8)."""
    now = clock()
    async with uow:
        order_id = await uow.call_backs.order_of(cmd.task_id)
        if order_id is None:
            raise NotFound("call-back", cmd.task_id)
        # The case before the task: the order every handler locks them in (no deadlock with the
        # consumer cancelling the order's call-backs).
        case = await uow.cases.lock_or_open(order_id)
        _refuse_call_back_if_erased(case, "record the call-back")
        task = await _task(uow, cmd.task_id)
        survey = None
        if cmd.reached:
            assert cmd.scores is not None and cmd.satisfied is not None
            survey = Survey(
                problem_solved=cmd.problem_solved, satisfied=cmd.satisfied, scores=cmd.scores
            )
        task.record(
            by=cmd.agent,
            now=now,
            reached=cmd.reached,
            survey=survey,
            policy=policy,
            calendar=calendar,
        )
        uow.track(task)
        await uow.call_backs.save(task)
        if survey is not None:
            await _after_survey(
                case, task, survey, uow=uow, now=now, policy=policy, calendar=calendar
            )
            await uow.cases.save(case)
            await uow.call_backs.save(task)
        await uow.commit()
        return task


def _refuse_call_back_if_erased(case: Case, action: str) -> None:
    # rule BIL-11: the customer's phone is erased and nothing more that may name them is
    # recorded, so no call-back of the order is made any more, whatever its state (an open one
    # was cancelled at erasure): refused as erased, as intake, scheduling and fieldwork do.
    case.refuse_if_erased(action, hint="Nobody can call the customer any more.")


async def _after_survey(
    case: Case,
    task: CallBackTask,
    survey: Survey,
    *,
    uow: FeedbackUnitOfWork,
    now: datetime,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> None:
    clerk = task.desk_clerk
    if clerk is not None:
        # A call-back about desk business (FBK-4): no visit to revisit, no sheet, no technician
        # to grade; dissatisfaction goes to the department as an open issue (FBK-12).
        if survey.dissatisfied:
            desk_work = (task.selection or {}).get("desk_work")
            await _open_issue(
                case,
                visit_id=None,
                reason=f"customer dissatisfied at call-back {task.task_id} with desk business "
                f"({desk_work}) by {clerk}",
                dedupe_key=_call_back_issue_key(case.order_id, task.task_id),
                uow=uow,
                now=now,
                policy=policy,
                calendar=calendar,
                attribution=(None, None),
            )
        await _check_fee(case, task, survey, uow=uow, now=now, policy=policy, attribution=None)
        return
    visit_id: str | None = None
    visit: Visit | None = None
    technician_id: str | None = None
    network_id = CENTRE
    attribution: tuple[str | None, str | None] | None = None
    if task.about_phone_guidance:
        # rule FBK-1: the survey rates the centre's phone guidance (INT-4); no technician went,
        # so nothing of it counts against a technician or a partner network (FBK-6, FBK-11).
        attribution = (technician_id, network_id)
    else:
        visit_id = task.visit_id or case.last_visit_id()
        visit = case.visits.get(visit_id) if visit_id else None
        visit_technician, visit_network = case.attribution(visit_id)
        technician_id = task.technician_id or visit_technician
        network_id = task.network_id or visit_network
    if survey.dissatisfied:
        # rule FBK-7: dissatisfied → a revisit, until the customer is satisfied; one at a time,
        # and none when work already under way answers the call-back (a later visit booked, the
        # unit in the workshop, a revisit requested). The task's follow_up tells the agent which.
        pending = [
            t
            for t in await uow.call_backs.for_order(case.order_id)
            if t.task_id != task.task_id and t.status not in FINISHED
        ]
        outcome = case.dissatisfied(
            task_id=task.task_id,
            visit_id=task.visit_id,
            at=now,
            pending_visits={t.visit_id for t in pending if t.visit_id is not None},
            pending_call_backs={t.dedupe_key for t in pending},
        )
        chain = outcome.chain
        if outcome.order_cancelled:
            task.follow_up = (
                "no revisit requested: the order was cancelled; the dissatisfaction goes to the "
                f"department as an open issue (revisit chain {chain.chain_id}, closed as cancelled)"
            )
        elif outcome.request_revisit:
            uow.record(
                RevisitRequested(
                    order_id=case.order_id,
                    task_id=task.task_id,
                    previous_visit_id=outcome.previous_visit_id,
                    reason="customer not satisfied at call-back"
                    if not survey.satisfied
                    else "problem not solved at call-back",
                    requested_by=f"feedback:{task.reason_rule}",
                )
            )
            task.follow_up = (
                f"revisit requested after visit {outcome.previous_visit_id} "
                f"(revisit chain {chain.chain_id})"
                if outcome.previous_visit_id
                else f"revisit requested (revisit chain {chain.chain_id})"
            )
            log.info("feedback.revisit_requested", order=case.order_id, chain=chain.chain_id)
        else:
            task.follow_up = (
                f"no revisit requested: {outcome.under_way}; the dissatisfaction waits on it in "
                f"revisit chain {chain.chain_id}"
            )
            log.info(
                "feedback.revisit_under_way",
                order=case.order_id,
                chain=chain.chain_id,
                why=outcome.under_way,
            )
        if outcome.request_revisit or outcome.order_cancelled or not survey.satisfied:
            # A problem not solved yet while its fix is under way is known already (the failed
            # or unfinished visit opened its issue); a customer not satisfied is an issue, and so
            # is any dissatisfaction nobody will revisit (the order was cancelled).
            why = (
                "the order was cancelled: nobody revisits"
                if outcome.order_cancelled
                else outcome.under_way
            )
            await _open_issue(
                case,
                visit_id=visit_id,
                reason="customer dissatisfied at call-back"
                if why is None
                else f"customer dissatisfied at call-back; {why}"[:500],
                dedupe_key=_call_back_issue_key(case.order_id, task.task_id),
                uow=uow,
                now=now,
                policy=policy,
                calendar=calendar,
                attribution=attribution,
            )
    else:
        closed = case.satisfied(
            task_id=task.task_id, visit_id=task.visit_id, at=now, call_back_key=task.dedupe_key
        )
        if closed is not None:
            task.follow_up = f"revisit chain {closed.chain_id} closed: customer satisfied"
            # rule FBK-7: the customer is satisfied after the revisits, so the dissatisfaction
            # this chain answers is solved; other issues of the order (a failed repair, work left
            # unfinished, FBK-12) stay open until someone solves them.
            keys = {
                _call_back_issue_key(case.order_id, task_id)
                for task_id in closed.dissatisfied_task_ids
            }
            for issue in await uow.issues.search(
                open_only=True, order_id=case.order_id, for_update=True
            ):
                if issue.dedupe_key in keys:
                    issue.resolve(f"customer satisfied at call-back {task.task_id}", now)
                    await uow.issues.save(issue)

    # rule FBK-6: fair/poor answers on punctuality or dress are followed up
    for aspect, grade in survey.weak_grades.items():
        await uow.findings.save(
            ConductFinding.raise_(
                order_id=case.order_id,
                task_id=task.task_id,
                aspect=aspect,
                grade=grade,
                now=now,
                technician_id=technician_id,
                network_id=network_id,
            )
        )

    # rule FBK-8: a signed "satisfied" contradicted at the call-back
    if not survey.satisfied and visit is not None and visit.signed_satisfied:
        await _flag(
            FraudCase.flag(
                order_id=case.order_id,
                signal=FraudSignal.CONTRADICTED_SIGN_OFF,
                now=now,
                dedupe_key=f"{FraudSignal.CONTRADICTED_SIGN_OFF}:{case.order_id}:{visit.visit_id}",
                network_id=network_id,
                visit_id=visit.visit_id,
                technician_id=technician_id,
                detail=f"sheet signed as satisfied; customer not satisfied at call-back "
                f"{task.task_id}",
            ),
            uow=uow,
        )
    await _check_fee(
        case,
        task,
        survey,
        uow=uow,
        now=now,
        policy=policy,
        attribution=(visit_id, technician_id, network_id),
    )


def _call_back_issue_key(order_id: str, task_id: str) -> str:
    """The dedupe key of the issue a dissatisfied call-back opens (FBK-12)."""
    return f"{order_id}:call-back:{task_id}"


async def _check_fee(
    case: Case,
    task: CallBackTask,
    survey: Survey,
    *,
    uow: FeedbackUnitOfWork,
    now: datetime,
    policy: FeedbackPolicy,
    attribution: tuple[str | None, str | None, str] | None,
) -> None:
    """FBK-8: a fee billing does not know, or a different amount, is flagged; ``attribution``
    is the (visit, technician, network) it concerns, None for desk business (then the order's
    network, or the centre, reconciles it)."""
    reported = fee_amount(survey.scores)
    billed = case.billed_amount()
    why = fee_discrepancy(reported, billed, policy.fee_tolerance)
    if why is None:
        return
    visit_id, technician_id, network_id = attribution or (None, None, case.network)
    clerk = task.desk_clerk
    await _flag(
        FraudCase.flag(
            order_id=case.order_id,
            signal=FraudSignal.FEE_MISMATCH,
            now=now,
            dedupe_key=f"{FraudSignal.FEE_MISMATCH}:{case.order_id}:{task.task_id}",
            network_id=network_id,
            visit_id=visit_id,
            technician_id=technician_id,
            detail=why if clerk is None else f"{why} (desk business by {clerk})",
            reported_amount=reported,
            billed_amount=billed,
        ),
        uow=uow,
    )


async def _flag(fraud: FraudCase, *, uow: FeedbackUnitOfWork) -> None:
    if await uow.frauds.exists(fraud.dedupe_key):
        return
    uow.track(fraud)
    await uow.frauds.add(fraud)


async def _task(uow: FeedbackUnitOfWork, task_id: str) -> CallBackTask:
    task = await uow.call_backs.get(task_id, for_update=True)
    if task is None:
        raise NotFound("call-back", task_id)
    return task


# -- sampling (FBK-4) ----------------------------------------------------------------------------


async def run_sampling(
    cmd: commands.RunSampling,
    *,
    uow: FeedbackUnitOfWork,
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> sampling.Draw:
    """Draw the day's sample of work completed 3-5 days earlier, visits and desk business (once
    per day, for today or a day before: a later day's window is not over), and queue a call-back
    for each pick, with the reason it was picked."""
    now = clock()
    today = now.astimezone(calendar.tz).date()
    run_day = cmd.day or today
    sampling.check_run_day(run_day, today=today, policy=policy)
    first, last = sampling.window(run_day, policy)
    start = datetime.combine(first, time(0), tzinfo=calendar.tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=calendar.tz)
    async with uow:
        await uow.sampling_runs.lock_day(run_day)
        if await uow.sampling_runs.get(run_day) is not None:
            raise SamplingAlreadyRun(run_day.isoformat())
        keys = await uow.cases.unsampled_completed_between(start, end)
        desk_work = await uow.desk_work.unsampled_between(start, end)
        # Locked, so an order cancelled meanwhile is seen cancelled here, or sees the call-back
        # drawn for it and cancels it.
        cases = {
            c.order_id: c
            for c in await uow.cases.many(
                [o for o, _ in keys] + [work.order_id for work in desk_work], for_update=True
            )
        }
        records: list[sampling.WorkRecord] = []
        for order_id, visit_id in keys:
            case = cases.get(order_id)
            if case is None or case.cancellation_stops(visit_id) or case.anonymised_at:
                continue
            visit = case.visits[visit_id]
            done_at = visit.work_done_at
            assert done_at is not None
            records.append(
                sampling.WorkRecord(
                    order_id=order_id,
                    work_id=visit_id,
                    worker_id=visit.technician_id,
                    network_id=case.attribution(visit_id)[1],
                    business_type=case.business_type(visit, policy),
                    closed_at=done_at,
                )
            )
        desk_kinds = {work.work_id: work.kind for work in desk_work}
        for work in desk_work:
            case = cases.get(work.order_id)
            if case is not None and (case.cancelled or case.anonymised_at):
                continue
            records.append(
                sampling.WorkRecord(
                    order_id=work.order_id,
                    work_id=work.work_id,
                    worker_id=work.clerk,
                    network_id=None,
                    business_type=BusinessType.DESK_BUSINESS,
                    closed_at=work.done_at,
                    at_desk=True,
                )
            )
        prior = await uow.call_backs.sampled_counts_since(
            now - timedelta(days=policy.sampling_balance_days)
        )
        result = sampling.draw(records, run_day=run_day, policy=policy, prior_counts=prior)
        due = calendar.add_working_time(now, timedelta(hours=policy.sample_due_working_hours))
        for pick in result.picks:
            record = pick.record
            desk_kind = desk_kinds.get(record.work_id) if record.at_desk else None
            task = CallBackTask.schedule(
                order_id=record.order_id,
                rule="FBK-4",
                now=now,
                not_before=now,
                due_at=due,
                dedupe_key=f"FBK-4:{record.order_id}:{record.work_id}",
                visit_id=None if record.at_desk else record.work_id,
                technician_id=None if record.at_desk else record.worker_id,
                network_id=record.network_id,
                selection=pick.explanation
                if desk_kind is None
                else {**pick.explanation, "desk_work": str(desk_kind), "clerk": record.worker_id},
            )
            uow.track(task)
            await uow.call_backs.save(task)
        picked = {(p.record.order_id, p.record.work_id) for p in result.picks}
        await uow.cases.mark_sampled(keys, run_day=run_day, selected=picked)
        await uow.desk_work.mark_sampled(
            [work.work_id for work in desk_work],
            run_day=run_day,
            selected={work_id for _, work_id in picked},
        )
        await uow.sampling_runs.add(
            run_day=run_day, ran_at=now, seed=policy.sampling_seed, summary=result.by_type
        )
        await uow.commit()
    log.info("feedback.sampling_ran", day=run_day.isoformat(), picks=len(result.picks))
    return result


# -- the periodic sweep --------------------------------------------------------------------------


async def flag_missing_sheets(
    *, uow: FeedbackUnitOfWork, clock: Clock, policy: FeedbackPolicy
) -> int:
    """Flag completed visits whose sign-off sheet never came back (FBK-8); how many."""
    now = clock()
    flagged = 0
    before = now - timedelta(hours=policy.sign_off_grace_hours)
    async with uow:
        locked = await uow.cases.lock_with_unsigned_visits(before)
        for order_id, visit_id in await uow.cases.unsigned_completed_before(
            before, order_ids=locked
        ):
            case = await uow.cases.get(order_id)
            if case is None or case.cancellation_stops(visit_id):
                await uow.cases.mark_sheet_flagged(order_id, visit_id)
                continue
            visit = case.visits[visit_id]
            await _flag(
                FraudCase.flag(
                    order_id=order_id,
                    signal=FraudSignal.SHEET_NOT_RETURNED,
                    now=now,
                    dedupe_key=f"{FraudSignal.SHEET_NOT_RETURNED}:{order_id}:{visit_id}",
                    network_id=case.attribution(visit_id)[1],
                    visit_id=visit_id,
                    technician_id=visit.technician_id,
                    detail=f"no sign-off sheet {policy.sign_off_grace_hours} h after the visit",
                ),
                uow=uow,
            )
            await uow.cases.mark_sheet_flagged(order_id, visit_id)
            flagged += 1
        await uow.commit()
    return flagged


async def escalate_issues(*, uow: FeedbackUnitOfWork, clock: Clock) -> int:
    """Send open issues whose time is up to the company level (FBK-12); how many."""
    now = clock()
    async with uow:
        escalated = 0
        for issue in await uow.issues.lock_due_for_company(now):
            if issue.sweep(now):
                uow.track(issue)
                await uow.issues.save(issue)
                escalated += 1
        await uow.commit()
    return escalated


async def report_overdue_complaints(
    *, uow_factory: Callable[[], FeedbackUnitOfWork], clock: Clock, batch: int = 200
) -> int:
    """ComplaintStageOverdue for every open complaint whose current state ran past its SLA
    (FBK-10), once per state; how many. ``batch`` complaints per transaction, so no lock is held
    long however many fall due at once."""
    now = clock()
    reported = 0
    while True:
        async with uow_factory() as uow:
            due = await uow.complaints.lock_overdue(now, limit=batch)
            reported_now = 0
            for complaint in due:
                # reported here, each one leaves the index: the next batch finds the rest
                if complaint.report_overdue(now):
                    uow.track(complaint)
                    await uow.complaints.save(complaint)
                    reported_now += 1
            await uow.commit()
        reported += reported_now
        if len(due) < batch or not reported_now:
            return reported


async def sweep(
    *,
    uow_factory: Callable[[], FeedbackUnitOfWork],
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> dict[str, Any]:
    """The periodic job: the day's sampling draw (from its hour, once), missing sheets, issue
    escalations, overdue complaint states. Idempotent: everything is decided from the
    database, on rows locked first. Every replica runs it: a second draw of the day waits for
    the first and finds it done; the other steps skip what another transaction holds (a later
    sweep gets it), so no event is raised twice and no concurrent change is overwritten."""
    now = clock()
    report: dict[str, Any] = {"sampled": None}
    if now.astimezone(calendar.tz).hour >= policy.sampling_hour_local:
        try:
            drawn = await run_sampling(
                commands.RunSampling(),
                uow=uow_factory(),
                clock=clock,
                policy=policy,
                calendar=calendar,
            )
            report["sampled"] = len(drawn.picks)
        except (SamplingAlreadyRun, IntegrityError):
            pass
    report["sheets_flagged"] = await flag_missing_sheets(
        uow=uow_factory(), clock=clock, policy=policy
    )
    report["issues_escalated"] = await escalate_issues(uow=uow_factory(), clock=clock)
    report["complaints_overdue"] = await report_overdue_complaints(
        uow_factory=uow_factory, clock=clock
    )
    return report


# -- complaints (INT-9, FBK-9, FBK-10) -----------------------------------------------------------


async def file_complaint(
    cmd: commands.FileComplaint,
    *,
    uow: FeedbackUnitOfWork,
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> Complaint:
    """Accept a complaint at any hour on any channel (INT-9); ComplaintFiled is published. It
    counts against the technician and network given, or the order's, only when they worked on
    the order as feedback heard it (FBK-9, FBK-11); an order feedback never heard of is refused
    as not known yet (see ``complained_about``)."""
    async with uow:
        # rule BIL-11: locked, as the erasure locks it before erasing the order's complaints, so
        # a complaint filed meanwhile waits for it and is refused, never kept un-erased.
        case = await uow.cases.get(cmd.order_id, for_update=True) if cmd.order_id else None
        technician_id, network_id = complained_about(
            case,
            order_id=cmd.order_id,
            technician_id=cmd.technician_id,
            network_id=cmd.network_id,
        )
        complaint = Complaint.file(
            order_id=cmd.order_id,
            channel=cmd.channel,
            description=cmd.description,
            level=cmd.level,
            staff_fault_class=cmd.staff_fault_class,
            taken_by=cmd.taken_by,
            confirmed_by_customer=cmd.confirmed_by_customer,
            now=clock(),
            technician_id=technician_id,
            network_id=network_id,
            policy=policy,
            calendar=calendar,
            # rule FBK-11: charged by default, it follows its visit when that is re-credited
            visit_id=(
                case.complaint_visit()
                if case is not None and cmd.technician_id is None and cmd.network_id is None
                else None
            ),
        )
        uow.track(complaint)
        await _save_complaint(uow, complaint)
        await uow.commit()
        return complaint


async def confirm_complaint(
    cmd: commands.ConfirmComplaint, *, uow: FeedbackUnitOfWork, clock: Clock
) -> Complaint:
    """The customer confirmed the record (INT-9)."""
    async with uow:
        complaint = await _complaint(uow, cmd.complaint_id, "confirm the complaint")
        complaint.confirm(clock())
        await _save_complaint(uow, complaint)
        await uow.commit()
        return complaint


async def advance_complaint(
    cmd: commands.AdvanceComplaint,
    *,
    uow: FeedbackUnitOfWork,
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> Complaint:
    """One step round the loop, with the new state's owner and SLA clock (FBK-10)."""
    async with uow:
        complaint = await _complaint(uow, cmd.complaint_id, f"move the complaint to {cmd.to}")
        complaint.advance(
            cmd.to, owner=cmd.owner, now=clock(), note=cmd.note, policy=policy, calendar=calendar
        )
        await _save_complaint(uow, complaint)
        await uow.commit()
        return complaint


async def escalate_complaint(
    cmd: commands.EscalateComplaint,
    *,
    uow: FeedbackUnitOfWork,
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> Complaint:
    """Raise a complaint to level 2 (FBK-9); ComplaintEscalated is published."""
    async with uow:
        complaint = await _complaint(uow, cmd.complaint_id, "escalate the complaint")
        complaint.escalate(
            now=clock(),
            policy=policy,
            calendar=calendar,
            reason=cmd.reason,
            by=cmd.escalated_by,
        )
        uow.track(complaint)
        await _save_complaint(uow, complaint)
        await uow.commit()
        return complaint


async def close_complaint(
    cmd: commands.CloseComplaint, *, uow: FeedbackUnitOfWork, clock: Clock
) -> Complaint:
    """Close with cause, owner and preventive action (FBK-10); ComplaintClosed is published."""
    async with uow:
        complaint = await _complaint(uow, cmd.complaint_id, "close the complaint")
        complaint.close(
            cause=cmd.cause,
            owner=cmd.owner,
            preventive_action=cmd.preventive_action,
            at_fault=cmd.at_fault,
            staff_fault_class=cmd.staff_fault_class,
            summary=cmd.summary,
            compensation=cmd.compensation,
            now=clock(),
        )
        uow.track(complaint)
        await _save_complaint(uow, complaint)
        await uow.commit()
        return complaint


async def reopen_complaint(
    cmd: commands.ReopenComplaint,
    *,
    uow: FeedbackUnitOfWork,
    clock: Clock,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
) -> Complaint:
    """Take a closed complaint round the loop again (FBK-10); ComplaintReopened is published."""
    async with uow:
        complaint = await _complaint(uow, cmd.complaint_id, "reopen the complaint")
        complaint.reopen(
            reason=cmd.reason, by=cmd.reopened_by, now=clock(), policy=policy, calendar=calendar
        )
        uow.track(complaint)
        await _save_complaint(uow, complaint)
        await uow.commit()
        return complaint


async def _save_complaint(uow: FeedbackUnitOfWork, complaint: Complaint) -> None:
    if complaint.anonymised_at is not None:
        # rule BIL-11: no text given about a complaint whose order's retention is over is kept
        # (every command on it is refused by ``_complaint``; this keeps it so should one not be).
        complaint.erase_personal_data(complaint.anonymised_at)
    await uow.complaints.save(complaint)


async def _complaint(uow: FeedbackUnitOfWork, complaint_id: str, action: str) -> Complaint:
    """The complaint, locked, for ``action``; 409 ``PersonalDataErased`` once its order's
    personal data is erased (BIL-11), whatever its state (FBK-10: the loop needs the customer)."""
    complaint = await uow.complaints.get(complaint_id, for_update=True)
    if complaint is None:
        raise NotFound("complaint", complaint_id)
    # rule BIL-11: its own mark, set under this lock in the transaction erasing the order (which
    # locks the case, then the complaints): no read of the case, so no lock taken out of order.
    complaint.refuse_if_erased(action)
    return complaint


# -- findings and issues -------------------------------------------------------------------------


async def decide_finding(
    cmd: commands.DecideFinding, *, uow: FeedbackUnitOfWork, clock: Clock
) -> ConductFinding:
    """Confirm or dismiss a fair/poor answer (FBK-6)."""
    async with uow:
        finding = await uow.findings.get(cmd.finding_id, for_update=True)
        if finding is None:
            raise NotFound("conduct finding", cmd.finding_id)
        finding.decide(confirmed=cmd.confirmed, by=cmd.by, note=cmd.note, now=clock())
        case = await uow.cases.get(finding.order_id)
        if case is not None and case.anonymised_at is not None:
            # rule BIL-11: an explanation given after the order's retention is over is not kept.
            finding.erase_personal_data()
        await uow.findings.save(finding)
        await uow.commit()
        return finding


async def resolve_issue(
    cmd: commands.ResolveIssue, *, uow: FeedbackUnitOfWork, clock: Clock
) -> OpenIssueRecord:
    """Mark an open issue solved (FBK-12); 409 ``PersonalDataErased`` once its order's personal
    data is erased (BIL-11), whatever its state."""
    async with uow:
        issue = await uow.issues.get(cmd.issue_id, for_update=True)
        if issue is None:
            raise NotFound("issue", cmd.issue_id)
        case = await uow.cases.get(issue.order_id)
        if case is not None:
            # rule BIL-11: an issue still open at erasure was resolved then (nothing more can be
            # done for the customer) and none is opened after, so there is nothing to solve, and
            # a resolution is free text that may name the customer: refused as erased, as
            # call-backs and complaints are, not as an illegal transition. The case is read, not
            # locked, after the issue, as ``decide_finding`` does: the erasure locks the case,
            # then the issues, and erases a resolution committed meanwhile.
            case.refuse_if_erased("resolve the issue")
        issue.resolve(cmd.resolution, clock())
        await uow.issues.save(issue)
        await uow.commit()
        return issue


COMMAND_HANDLERS: dict[type, Handler] = {
    commands.ClaimCallBack: claim_call_back,
    commands.RecordCallBack: record_call_back,
    commands.RunSampling: run_sampling,
    commands.FileComplaint: file_complaint,
    commands.ConfirmComplaint: confirm_complaint,
    commands.AdvanceComplaint: advance_complaint,
    commands.EscalateComplaint: escalate_complaint,
    commands.CloseComplaint: close_complaint,
    commands.ReopenComplaint: reopen_complaint,
    commands.DecideFinding: decide_finding,
    commands.ResolveIssue: resolve_issue,
}

__all__ = ["COMMAND_HANDLERS", "TaskStatus", "record_event", "recorded_event", "sweep"]
