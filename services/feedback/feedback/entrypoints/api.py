"""Feedback's REST API (thin: schema → command → bus → read model)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from feedback.adapters.repository import Cursor
from feedback.domain import commands
from feedback.domain.callbacks import CallBackTask, TaskStatus, satisfied_by_scores
from feedback.domain.figures import GroupBy
from feedback.domain.findings import FindingStatus
from feedback.domain.policy import FeedbackPolicy
from feedback.entrypoints.dependencies import (
    AdminDep,
    AgentDep,
    BusDep,
    CalendarDep,
    NetworkReaderDep,
    NowDep,
    PolicyDep,
    ReaderDep,
    UowFactoryDep,
    caller_name,
    network_scope,
    require_network_access,
)
from feedback.entrypoints.schemas import (
    CallBackListOut,
    CallBackOut,
    CallBackOutcomeIn,
    ChainListOut,
    ChainOut,
    ComplaintAdvanceIn,
    ComplaintCloseIn,
    ComplaintEscalateIn,
    ComplaintIn,
    ComplaintListOut,
    ComplaintOut,
    ComplaintReopenIn,
    ExplanationIn,
    FiguresListOut,
    FiguresOut,
    FindingDecisionIn,
    FindingListOut,
    FindingOut,
    FraudListOut,
    FraudOut,
    IssueListOut,
    IssueOut,
    IssueResolveIn,
    OrderEventsOut,
    ReconciliationOut,
    SamplingRunIn,
    SamplingRunOut,
)
from feedback.service_layer import views
from servicekit.auth import Principal
from servicekit.dates import IsoDate
from servicekit.http import created
from servicekit.idempotency import answer_once
from servicekit.paging import PageCursor, PageLimit, decode_cursor, encode_cursor, page_size
from servicekit.problems import ProblemError, problem_responses

MAX_PERIOD_DAYS = 366

router = APIRouter(prefix="/v1")

ComplaintSort = Literal["-filed_at", "filed_at", "due"]
#: The one order of both call-back lists (a cursor of one continues the other).
CALL_BACK_SORT = "call-backs:due_at"
FINDING_SORT = "conduct-findings:raised_at"
FRAUD_SORT = "fraud-suspicions:-flagged_at"
ISSUE_SORT = "issues:company_due_at"


def _encode_cursor(sort: str, at: datetime, row_id: str) -> str:
    return encode_cursor(sort, at, row_id)


def _decode_cursor(sort: str, cursor: str | None) -> Cursor | None:
    if cursor is None:
        return None
    at, row_id, _ = decode_cursor(sort, cursor)
    return Cursor(at=at, id=row_id)


async def _idempotent(
    request: Request,
    principal: Principal,
    policy: FeedbackPolicy,
    body: BaseModel | None,
    run: Callable[[], Awaitable[JSONResponse]],
) -> Response:
    """Run a state-changing request once per (caller, route, ``Idempotency-Key``): a retry with
    the same body gets the stored answer, another body 422; without the header, just run it."""
    return await answer_once(
        request,
        principal_id=principal.key_id,
        ttl_hours=policy.idempotency_key_ttl_hours,
        body=body,
        run=run,
    )


# -- orders --------------------------------------------------------------------------------------


@router.get(
    "/orders/{order_id}/events",
    tags=["orders"],
    response_model=OrderEventsOut,
    responses=problem_responses(401, 403, 404),
    summary="Read the events feedback recorded for an order",
)
async def read_order_events(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The events of interest to feedback (the order, its verification and linked later reports,
    remote resolutions, assignments, lateness, revisits, how each visit ended, units taken back
    and returned, what the customer signed and what was charged) seen for the
    order, oldest first, each with a short summary of its data.

    404 when feedback has seen no such event for the order.
    """
    order_file = await views.order_file(order_id, uow=uow())
    return OrderEventsOut.from_domain(order_file)


@router.get(
    "/orders/{order_id}/revisit-chains",
    tags=["orders"],
    response_model=ChainListOut,
    responses=problem_responses(401, 403, 404),
    summary="Read an order's revisit chains",
)
async def read_revisit_chains(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The chains of visits for one problem (FBK-7): opened by a dissatisfied call-back, which
    sends RevisitRequested unless work already under way answers it (a visit booked after the
    one called about, a unit in the workshop, a revisit requested and not booked yet: one revisit
    at a time); extended by each revisit booked; closed by a satisfied call-back about a visit
    that answers it, or as `cancelled` when the order is cancelled."""
    chains = await views.revisit_chains(order_id, uow=uow())
    return ChainListOut(order_id=order_id, chains=[ChainOut.from_domain(c) for c in chains])


# -- call-backs ----------------------------------------------------------------------------------


@router.get(
    "/call-backs/due",
    tags=["call-backs"],
    response_model=CallBackListOut,
    responses=problem_responses(401, 403, 422),
    summary="List the call-backs to make now",
)
async def list_due_call_backs(
    uow: UowFactoryDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
    rule: Annotated[str | None, Query(pattern=r"^FBK-\d+$")] = None,
    technician_id: str | None = None,
    network_id: str | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Call-backs whose time has come (FBK-1: 2 h after phone guidance; FBK-2: 2 h after an
    untested repair, 3 h when not sure, each then due within the policy's working hour;
    FBK-3: within 24 h of a visit; FBK-4: sampled work) and that no agent holds, soonest
    due first, one page at a time (`next_cursor`). Times count on the business calendar.
    422 for a cursor of another list."""
    after = _decode_cursor(CALL_BACK_SORT, cursor)
    size = page_size(limit, policy)
    tasks = await views.due_call_backs(
        uow=uow(),
        now=now,
        policy=policy,
        rule=rule,
        technician_id=technician_id,
        network_id=network_id,
        after=after,
        limit=size + 1,
    )
    return _call_back_page(tasks, size, now)


def _call_back_page(tasks: list[CallBackTask], size: int, now: datetime) -> CallBackListOut:
    page = tasks[:size]
    next_cursor = (
        _encode_cursor(CALL_BACK_SORT, page[-1].due_at, page[-1].task_id)
        if len(tasks) > size
        else None
    )
    return CallBackListOut(
        items=[CallBackOut.from_domain(t, now) for t in page], next_cursor=next_cursor
    )


@router.get(
    "/call-backs",
    tags=["call-backs"],
    response_model=CallBackListOut,
    responses=problem_responses(401, 403, 422),
    summary="List call-backs",
)
async def list_call_backs(
    uow: UowFactoryDep,
    principal: ReaderDep,
    policy: PolicyDep,
    now: NowDep,
    status_: Annotated[list[TaskStatus] | None, Query(alias="status")] = None,
    order_id: str | None = None,
    rule: Annotated[str | None, Query(pattern=r"^FBK-\d+$")] = None,
    network_id: str | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Call-backs in any state, filtered, soonest due first, one page at a time
    (`next_cursor`). 422 for a cursor of another list."""
    after = _decode_cursor(CALL_BACK_SORT, cursor)
    size = page_size(limit, policy)
    tasks = await views.call_backs(
        uow=uow(),
        statuses=status_,
        order_id=order_id,
        rule=rule,
        network_id=network_id,
        after=after,
        limit=size + 1,
    )
    return _call_back_page(tasks, size, now)


@router.get(
    "/call-backs/{task_id}",
    tags=["call-backs"],
    response_model=CallBackOut,
    responses=problem_responses(401, 403, 404),
    summary="Read a call-back",
)
async def read_call_back(
    task_id: str, uow: UowFactoryDep, principal: ReaderDep, now: NowDep
) -> Any:
    """One call-back with its attempts, the customer's answers and, for sampled work, why it was
    picked."""
    return CallBackOut.from_domain(await views.call_back(task_id, uow=uow()), now)


@router.post(
    "/call-backs/{task_id}/claim",
    tags=["call-backs"],
    response_model=CallBackOut,
    responses=problem_responses(401, 403, 404, 409),
    summary="Claim a call-back",
)
async def claim_call_back(
    task_id: str,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Any:
    """Take the call-back to make it now; other agents no longer see it as due until the claim
    expires. 409 when another agent holds it or it is finished, 409 `Call-back not due yet`
    (with `not_before`) before the first call of a call-back timed by FBK-1 or FBK-2 may be
    made (2 h after phone guidance or an untested repair; a retry after an unanswered call, and
    a call-back after a visit, FBK-3, are never refused as early), and 409 `Personal data erased`
    (with `anonymised_at`) once its order's retention is over (BIL-11): nobody can call the
    customer any more."""

    async def run() -> JSONResponse:
        task = await bus.handle(
            commands.ClaimCallBack(task_id=task_id, agent=caller_name(principal))
        )
        return JSONResponse(CallBackOut.from_domain(task, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, None, run)


@router.post(
    "/call-backs/{task_id}/outcome",
    tags=["call-backs"],
    response_model=CallBackOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record how a call-back went",
)
async def record_call_back(
    task_id: str,
    body: CallBackOutcomeIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Response:
    """Record the call (FBK-5). Not reached: the task comes back later (and ends as unreachable
    after the policy's attempts). Reached: two scores 1-10 (attitude, ability), punctuality and
    dress, the fee the customer says they paid, comments. FollowUpCompleted is published; a
    dissatisfied customer gets a revisit (RevisitRequested, FBK-7), unless work already under way
    answers it (a visit booked after the one called about, a unit in the workshop, a revisit
    requested and not booked yet): then the dissatisfaction waits on that work, and `follow_up`
    says which; fair/poor answers are followed up (FBK-6); a contradicted sheet or a fee billing
    does not know is flagged (FraudSuspected, FBK-8). 409 `Call-back not due yet` (with
    `not_before`) before its time, as for a claim. 409 `Personal data erased` (with
    `anonymised_at`) once the order's retention is over (BIL-11), whatever the task's state.
    Send an `Idempotency-Key` to retry safely."""

    async def run() -> JSONResponse:
        scores = body.scores.to_value() if body.scores is not None else None
        satisfied = body.satisfied
        if body.reached and satisfied is None and scores is not None:
            satisfied = satisfied_by_scores(scores, policy)
        task = await bus.handle(
            commands.RecordCallBack(
                task_id=task_id,
                agent=caller_name(principal),
                reached=body.reached,
                problem_solved=body.problem_solved,
                satisfied=satisfied,
                scores=scores,
            )
        )
        return JSONResponse(CallBackOut.from_domain(task, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


# -- sampling ------------------------------------------------------------------------------------


@router.post(
    "/sampling/runs",
    tags=["call-backs"],
    status_code=status.HTTP_201_CREATED,
    response_model=SamplingRunOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="Run a day's call-back sampling draw",
)
async def run_sampling(
    body: SamplingRunIn, request: Request, bus: BusDep, principal: AdminDep, policy: PolicyDep
) -> Any:
    """Draw the day's sample of work completed 3-5 days earlier (FBK-4) at the policy's rate per
    business type (desk business included), stratified by front-line worker, reproducible from the
    policy seed and the day. The daily job does this on its own; this is for ops (a missed day
    caught up). 409 when that day's draw already ran; 422 for a day after today (its window of
    work is not over: drawing it now would sample work too recent and block its real draw).
    `Location` is the day's run, `/v1/sampling/runs/{run_day}`."""

    async def run() -> JSONResponse:
        drawn = await bus.handle(commands.RunSampling(day=body.day))
        return created(
            SamplingRunOut.from_domain(drawn).model_dump(mode="json"),
            f"/v1/sampling/runs/{drawn.run_day.isoformat()}",
        )

    return await _idempotent(request, principal, policy, body, run)


@router.get(
    "/sampling/runs/{run_day}",
    tags=["call-backs"],
    response_model=SamplingRunOut,
    responses=problem_responses(401, 403, 404, 422),
    summary="Read a day's call-back sampling draw",
)
async def read_sampling_run(run_day: IsoDate, uow: UowFactoryDep, principal: AdminDep) -> Any:
    """The draw of `run_day` (`YYYY-MM-DD`, FBK-4), whether the daily job or ops ran it: the
    seed and, per business type, the population, how many were selected and the rate. Read by
    whoever may run it. 404 when that day's draw has not run."""
    return SamplingRunOut.from_domain(await views.sampling_run(run_day, uow=uow()))


# -- complaints ----------------------------------------------------------------------------------


@router.post(
    "/complaints",
    tags=["complaints"],
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="File a complaint",
)
async def file_complaint(
    body: ComplaintIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Response:
    """Accept a complaint on any channel, at any hour of any day (INT-9), classified by level
    (1 direct, 2 taken higher or to the media) and, when staff are alleged at fault, by class
    A/B/C (FBK-9). ComplaintFiled is published. Send an `Idempotency-Key` to retry safely.

    It counts against the technician and network given (else the order's) in the quality
    figures, so they must have been on a visit of the order as feedback heard it from the events
    (422 `Not on the order` otherwise, and when one is named without an order). An order feedback
    has heard nothing of is refused with 422 `Order not known yet` (`retryable: true`): a
    mistyped number, or an order created a moment ago whose first event has not reached feedback
    yet: retry shortly, nothing was recorded. An order whose retention is over is refused with
    409 `Personal data erased` (BIL-11, with `anonymised_at`, as intake, scheduling and
    fieldwork answer): nothing more that may name the customer is recorded about it. A
    complaint about no particular order is taken without an `order_id`."""

    async def run() -> JSONResponse:
        complaint = await bus.handle(
            commands.FileComplaint(
                channel=body.channel,
                description=body.description,
                taken_by=caller_name(principal),
                confirmed_by_customer=body.confirmed_by_customer,
                order_id=body.order_id,
                level=body.level,
                staff_fault_class=body.staff_fault_class,
                technician_id=body.technician_id,
                network_id=body.network_id,
            )
        )
        return created(
            ComplaintOut.from_domain(complaint, now).model_dump(mode="json"),
            f"/v1/complaints/{complaint.complaint_id}",
        )

    return await _idempotent(request, principal, policy, body, run)


@router.get(
    "/complaints",
    tags=["complaints"],
    response_model=ComplaintListOut,
    responses=problem_responses(401, 403, 422),
    summary="List complaints",
)
async def list_complaints(
    uow: UowFactoryDep,
    principal: NetworkReaderDep,
    policy: PolicyDep,
    now: NowDep,
    open_only: bool = False,
    order_id: str | None = None,
    network_id: str | None = None,
    sort: Annotated[
        ComplaintSort,
        Query(
            description="`-filed_at` newest first, `filed_at` oldest first, `due` the open "
            "complaints by when their current state's SLA runs out (FBK-10), most overdue first."
        ),
    ] = "-filed_at",
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Complaints matching every filter given, one page at a time (cursor pagination: pass
    `next_cursor` as `cursor`; the last page has none); a partner network sees its own only.

    For the follow-up team, `sort=due` lists the open complaints only (a closed one runs no
    clock), the one whose current state ran out of its SLA first at the top, each with its
    `due_at` and `stages[].overdue`: page on until `due_at` is in the future. A cursor is bound
    to its sort order: one of another order, or a malformed one, is 422.
    """
    sort_key = f"complaints:{sort}"
    after = _decode_cursor(sort_key, cursor)
    size = page_size(limit, policy)
    found = await views.complaints(
        uow=uow(),
        open_only=open_only,
        order_id=order_id,
        network_id=network_scope(principal, network_id),
        sort=sort,
        after=after,
        limit=size + 1,
    )
    page = found[:size]
    next_cursor = None
    if len(found) > size:
        last = page[-1]
        at = last.current.due_at if sort == "due" else last.filed_at
        assert at is not None  # `due` lists only complaints with a clock running
        next_cursor = _encode_cursor(sort_key, at, last.complaint_id)
    return ComplaintListOut(
        items=[ComplaintOut.from_domain(c, now) for c in page], next_cursor=next_cursor
    )


@router.get(
    "/complaints/{complaint_id}",
    tags=["complaints"],
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 404),
    summary="Read a complaint",
)
async def read_complaint(
    complaint_id: str, uow: UowFactoryDep, principal: ReaderDep, now: NowDep
) -> Any:
    """The complaint, its current state with owner and SLA clock, and its history."""
    return ComplaintOut.from_domain(await views.complaint(complaint_id, uow=uow()), now)


@router.post(
    "/complaints/{complaint_id}/confirm",
    tags=["complaints"],
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 404, 409),
    summary="Record the customer's confirmation",
)
async def confirm_complaint(
    complaint_id: str,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Any:
    """The customer confirmed what was recorded (INT-9); only then can it be dispatched. 409
    `Personal data erased` (with `anonymised_at`) once its order's retention is over (BIL-11),
    as every command on the complaint."""

    async def run() -> JSONResponse:
        complaint = await bus.handle(commands.ConfirmComplaint(complaint_id=complaint_id))
        return JSONResponse(ComplaintOut.from_domain(complaint, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, None, run)


@router.post(
    "/complaints/{complaint_id}/advance",
    tags=["complaints"],
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Move a complaint to its next state",
)
async def advance_complaint(
    complaint_id: str,
    body: ComplaintAdvanceIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Any:
    """accept → dispatch → handle → feedback → reply → follow-up (FBK-10), one step at a time,
    each with its owner and an SLA clock in working hours. 409 names the allowed next state;
    409 `Personal data erased` (with `anonymised_at`) once its order's retention is over
    (BIL-11), whatever its state: the loop needs the customer."""

    async def run() -> JSONResponse:
        complaint = await bus.handle(
            commands.AdvanceComplaint(
                complaint_id=complaint_id, to=body.to, owner=body.owner.strip(), note=body.note
            )
        )
        return JSONResponse(ComplaintOut.from_domain(complaint, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


@router.post(
    "/complaints/{complaint_id}/escalate",
    tags=["complaints"],
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 404, 409),
    summary="Raise a complaint to level 2",
)
async def escalate_complaint(
    complaint_id: str,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
    body: ComplaintEscalateIn | None = None,
) -> Any:
    """The complaint went to higher authorities or the media, or was mishandled (FBK-9): level
    2, its current state's deadline shortened. ComplaintEscalated is published; a complaint
    already at level 2 stays as it is. 409 once closed, and 409 `Personal data erased` (with
    `anonymised_at`) once its order's retention is over (BIL-11)."""

    async def run() -> JSONResponse:
        complaint = await bus.handle(
            commands.EscalateComplaint(
                complaint_id=complaint_id,
                reason=body.reason if body is not None else None,
                escalated_by=caller_name(principal),
            )
        )
        return JSONResponse(ComplaintOut.from_domain(complaint, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


@router.post(
    "/complaints/{complaint_id}/close",
    tags=["complaints"],
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Close a complaint",
)
async def close_complaint(
    complaint_id: str,
    body: ComplaintCloseIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Any:
    """Close after the follow-up visit with a summary and a fault finding (FBK-10). A cause, an
    owner and a preventive action are required (422 names what is missing); at fault, the class
    of the staff fault too (FBK-9), unless the complaint was filed with one. ComplaintClosed is
    published. 409 `Personal data erased` (with `anonymised_at`) once its order's retention is
    over (BIL-11)."""

    async def run() -> JSONResponse:
        complaint = await bus.handle(
            commands.CloseComplaint(
                complaint_id=complaint_id,
                cause=body.cause,
                owner=body.owner,
                preventive_action=body.preventive_action,
                at_fault=body.at_fault,
                staff_fault_class=body.staff_fault_class,
                summary=body.summary,
                compensation=body.compensation,
            )
        )
        return JSONResponse(ComplaintOut.from_domain(complaint, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


@router.post(
    "/complaints/{complaint_id}/reopen",
    tags=["complaints"],
    response_model=ComplaintOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Reopen a closed complaint",
)
async def reopen_complaint(
    complaint_id: str,
    body: ComplaintReopenIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    now: NowDep,
) -> Any:
    """The customer is still not satisfied with the outcome (FBK-10): the complaint goes round
    the loop again from `accepted`, owned by the caller, each state on its SLA clock at the
    complaint's level. Its closure stays on record under `earlier_closures`; closing it again
    needs a new cause, owner and preventive action. It is still one complaint in the quality
    figures. ComplaintReopened is published. 409 unless closed, and 409 `Personal data erased`
    (with `anonymised_at`) once its order's retention is over (BIL-11), however it was closed:
    by its owner before, or at the erasure (`closed_without_finding: retention_ended`). A
    complaint about no particular order is never refused so."""

    async def run() -> JSONResponse:
        complaint = await bus.handle(
            commands.ReopenComplaint(
                complaint_id=complaint_id,
                reason=body.reason.strip(),
                reopened_by=caller_name(principal),
            )
        )
        return JSONResponse(ComplaintOut.from_domain(complaint, now).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


# -- conduct findings ----------------------------------------------------------------------------


@router.get(
    "/conduct-findings",
    tags=["quality"],
    response_model=FindingListOut,
    responses=problem_responses(401, 403, 422),
    summary="List fair/poor answers to follow up",
)
async def list_findings(
    uow: UowFactoryDep,
    principal: ReaderDep,
    policy: PolicyDep,
    status_: Annotated[FindingStatus | None, Query(alias="status")] = None,
    technician_id: str | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """ "Fair" or "poor" answers on punctuality or dress (FBK-6), a work queue: oldest first,
    one page at a time (pass `next_cursor` as `cursor`; the last page has none). 422 for a
    cursor of another list."""
    after = _decode_cursor(FINDING_SORT, cursor)
    size = page_size(limit, policy)
    found = await views.findings(
        uow=uow(), status=status_, technician_id=technician_id, after=after, limit=size + 1
    )
    page = found[:size]
    next_cursor = (
        _encode_cursor(FINDING_SORT, page[-1].raised_at, page[-1].finding_id)
        if len(found) > size
        else None
    )
    return FindingListOut(items=[FindingOut.from_domain(f) for f in page], next_cursor=next_cursor)


@router.post(
    "/conduct-findings/{finding_id}/confirm",
    tags=["quality"],
    response_model=FindingOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Confirm a fair/poor answer against the technician",
)
async def confirm_finding(
    finding_id: str,
    body: FindingDecisionIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
) -> Any:
    """Followed up and confirmed with no reasonable explanation: it counts against the
    technician in the quality figures (FBK-6)."""

    async def run() -> JSONResponse:
        finding = await bus.handle(
            commands.DecideFinding(
                finding_id=finding_id, confirmed=True, by=caller_name(principal), note=body.note
            )
        )
        return JSONResponse(FindingOut.from_domain(finding).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


@router.post(
    "/conduct-findings/{finding_id}/dismiss",
    tags=["quality"],
    response_model=FindingOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Dismiss a fair/poor answer with its explanation",
)
async def dismiss_finding(
    finding_id: str,
    body: ExplanationIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
) -> Any:
    """A reasonable explanation was found; it does not count against the technician (FBK-6)."""

    async def run() -> JSONResponse:
        finding = await bus.handle(
            commands.DecideFinding(
                finding_id=finding_id, confirmed=False, by=caller_name(principal), note=body.note
            )
        )
        return JSONResponse(FindingOut.from_domain(finding).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


# -- fraud and issues ----------------------------------------------------------------------------


@router.get(
    "/fraud-suspicions",
    tags=["quality"],
    response_model=FraudListOut,
    responses=problem_responses(401, 403, 422),
    summary="List fraud suspicions",
)
async def list_frauds(
    uow: UowFactoryDep,
    principal: NetworkReaderDep,
    policy: PolicyDep,
    network_id: str | None = None,
    order_id: str | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Sheets signed "satisfied" but contradicted at the call-back, fees billing does not know,
    and sheets never returned (FBK-8); a partner network sees its own only. Newest first, one
    page at a time (pass `next_cursor` as `cursor`; the last page has none). 422 for a cursor
    of another list."""
    after = _decode_cursor(FRAUD_SORT, cursor)
    size = page_size(limit, policy)
    found = await views.frauds(
        uow=uow(),
        network_id=network_scope(principal, network_id),
        order_id=order_id,
        after=after,
        limit=size + 1,
    )
    page = found[:size]
    next_cursor = (
        _encode_cursor(FRAUD_SORT, page[-1].flagged_at, page[-1].fraud_id)
        if len(found) > size
        else None
    )
    return FraudListOut(items=[FraudOut.from_domain(f) for f in page], next_cursor=next_cursor)


@router.get(
    "/issues",
    tags=["quality"],
    response_model=IssueListOut,
    responses=problem_responses(401, 403, 422),
    summary="List issues left open after visits",
)
async def list_issues(
    uow: UowFactoryDep,
    principal: NetworkReaderDep,
    policy: PolicyDep,
    open_only: bool = True,
    order_id: str | None = None,
    network_id: str | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Issues left open after a visit (FBK-12): a failed or unfinished visit, a unit taken back
    and returned unrepaired (FLD-6, FLD-9), a customer dissatisfied at sign-off or call-back.
    Sent to the department the same day and to a company-level solution when still open after
    the policy's working days (IssueEscalated). A work queue: the soonest to go to the company
    first (`company_due_at`), one page at a time (pass `next_cursor` as `cursor`; the last
    page has none); a partner network sees its own only. 422 for a cursor of another list."""
    after = _decode_cursor(ISSUE_SORT, cursor)
    size = page_size(limit, policy)
    found = await views.issues(
        uow=uow(),
        open_only=open_only,
        order_id=order_id,
        network_id=network_scope(principal, network_id),
        after=after,
        limit=size + 1,
    )
    page = found[:size]
    next_cursor = (
        _encode_cursor(ISSUE_SORT, page[-1].company_due_at, page[-1].issue_id)
        if len(found) > size
        else None
    )
    return IssueListOut(items=[IssueOut.from_domain(i) for i in page], next_cursor=next_cursor)


@router.post(
    "/issues/{issue_id}/resolve",
    tags=["quality"],
    response_model=IssueOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Resolve an open issue",
)
async def resolve_issue(
    issue_id: str,
    body: IssueResolveIn,
    request: Request,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
) -> Any:
    """The issue is solved; it escalates no further (FBK-12). 409 when it is solved already,
    and 409 `Personal data erased` (with `anonymised_at`) once its order's retention is over
    (BIL-11): an issue still open then was resolved at the erasure."""

    async def run() -> JSONResponse:
        issue = await bus.handle(
            commands.ResolveIssue(issue_id=issue_id, resolution=body.resolution)
        )
        return JSONResponse(IssueOut.from_domain(issue).model_dump(mode="json"))

    return await _idempotent(request, principal, policy, body, run)


# -- figures and reconciliation ------------------------------------------------------------------


@router.get(
    "/quality-figures",
    tags=["quality"],
    response_model=FiguresListOut,
    responses=problem_responses(401, 403, 422),
    summary="Quality figures per technician or network",
)
async def read_quality_figures(
    uow: UowFactoryDep,
    principal: NetworkReaderDep,
    policy: PolicyDep,
    calendar: CalendarDep,
    start: IsoDate,
    end: IsoDate,
    by: GroupBy = GroupBy.TECHNICIAN,
    network_id: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only this network's own work: its own row (`by=network`), or the "
            "rows of the technicians who worked for it in the period, counting only that work "
            "(`by=technician`), without `all`. A partner network always reads its own only "
            "(403 naming another).",
        ),
    ] = None,
) -> Any:
    """For the business days `start`..`end` (both included): on-time arrival rate, first-time-fix
    and repeat-visit rates (from revisit chains within the policy window), repair pass rate,
    satisfaction (per item the mean; overall the mean of the two), confirmed conduct findings,
    complaints by class and call-back coverage with its alarm below the minimum (FBK-6, FBK-11).
    The last row (`all`) covers everyone. The centre reads every technician and network; a
    partner network its own network's row and those of the technicians who worked for it in
    the period, computed from its own work only (the visits it held, their call-backs, the
    complaints and findings naming it: a technician's work for another network never shows),
    never another network's nor `all`."""
    if end < start or (end - start).days >= MAX_PERIOD_DAYS:
        raise ProblemError(
            422,
            f"The period must run forwards and cover at most {MAX_PERIOD_DAYS} days.",
            title="Invalid request",
            errors=[{"field": "end", "message": "before start or too long", "type": "value_error"}],
        )
    rows = await views.quality_figures(
        uow=uow(),
        first=start,
        last=end,
        group_by=by,
        policy=policy,
        calendar=calendar,
        network_id=network_scope(principal, network_id),
    )
    return FiguresListOut(
        start=start, end=end, group_by=str(by), rows=[FiguresOut.from_domain(r) for r in rows]
    )


@router.get(
    "/networks/{network_id}/reconciliation",
    tags=["quality"],
    response_model=ReconciliationOut,
    responses=problem_responses(401, 403, 422),
    summary="A network's daily reconciliation report",
)
async def read_reconciliation(
    network_id: str,
    day: IsoDate,
    uow: UowFactoryDep,
    principal: NetworkReaderDep,
    policy: PolicyDep,
    calendar: CalendarDep,
) -> Any:
    """What the network must reconcile for `day` (000 s25): fraud suspicions flagged that day,
    sign-off sheets not back, call-backs made and dissatisfied customers, complaints filed, open
    issues. A partner network reads its own only. Orders the centre handles itself are under
    network `centre`."""
    require_network_access(principal, network_id)
    report = await views.reconciliation(
        network_id, day, uow=uow(), policy=policy, calendar=calendar
    )
    return ReconciliationOut.from_domain(report)
