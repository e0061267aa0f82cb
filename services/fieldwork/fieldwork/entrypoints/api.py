"""Fieldwork's REST API for the technicians' app (thin: schema → command → bus → read model).

Technician keys see and act on their own visits only, partner keys on their network's visits
only (the same actions and events as in-house work): any other visit answers 404.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fieldwork.adapters.repository import Cursor
from fieldwork.domain import commands as c
from fieldwork.domain.visit import EvidenceKind
from fieldwork.domain.workshop import LoanerState
from fieldwork.entrypoints.dependencies import (
    BusDep,
    CentreDep,
    DispatcherDep,
    OrderVisitsReaderDep,
    ReaderDep,
    ReturnerDep,
    TechnicianDep,
    UowFactoryDep,
    VisitReaderDep,
)
from fieldwork.entrypoints.schemas import (
    CheckIn,
    CloseIn,
    ContactIn,
    EvidenceOut,
    LoanerCollectIn,
    LoanerIn,
    LoanerListOut,
    LoanerOut,
    OfflineBatchIn,
    OfflineBatchOut,
    OrderEventsOut,
    OrderVisitsOut,
    OwnerIn,
    ProgressIn,
    TakeBackOut,
    TicketListOut,
    TicketOut,
    UnitReturnIn,
    VisitActionIn,
    VisitListOut,
    VisitOut,
    VisitTimeOut,
)
from fieldwork.service_layer import views
from servicekit.http import created
from servicekit.idempotency import answer_once
from servicekit.paging import PageCursor, PageLimit, decode_cursor, encode_cursor, page_size
from servicekit.problems import problem_responses

router = APIRouter(prefix="/v1")

#: The order of each list a cursor is bound to (a cursor of one list is refused by another).
VISIT_SORT = "visits:created_at"
LOANER_SORT = "loaners:serial"
TICKET_SORT = "coordination-tickets:next_check_due"
#: The inventory is sorted by serial alone: its cursors carry this in place of a sort time.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _decode_cursor(sort: str, cursor: str | None) -> Cursor | None:
    if cursor is None:
        return None
    at, row_id, _ = decode_cursor(sort, cursor)
    return Cursor(at=at, id=row_id)


async def _once(
    request: Request,
    key_id: str,
    body: BaseModel | dict[str, Any] | None,
    run: Callable[[], Awaitable[BaseModel | JSONResponse]],
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """Run a state-changing request once per (caller, route, ``Idempotency-Key``): a retry with
    the same body gets the stored answer, another body 422; without the header, just run it."""
    return await answer_once(
        request,
        principal_id=key_id,
        ttl_hours=request.app.state.policy.idempotency_key_ttl_hours,
        body=body,
        run=run,
        status_code=status_code,
    )


@router.get(
    "/orders/{order_id}/events",
    response_model=OrderEventsOut,
    responses=problem_responses(401, 403, 404),
    summary="Read the events fieldwork recorded for an order",
    tags=["orders"],
)
async def read_order_events(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The events of interest to fieldwork (the order, assignments, appointments, revisits,
    returns to the centre, cancellations, quotes and waivers) seen for the order, oldest first,
    each with a short summary of its data.

    404 when fieldwork has seen no such event for the order.
    """
    order_file = await views.order_file(order_id, uow=uow())
    return OrderEventsOut.from_domain(order_file)


@router.get(
    "/orders/{order_id}/visits",
    response_model=OrderVisitsOut,
    responses=problem_responses(401, 403, 404),
    summary="On-site time of an order's visits (FLD-11)",
    tags=["orders"],
)
async def read_order_visits(order_id: str, uow: UowFactoryDep, actor: OrderVisitsReaderDep) -> Any:
    """Each visit's on-site time from arrival to its end, as it happened (no rounding), and the
    sum over the order's visits (FLD-11). A partner key sees its network's visits only (404 when
    the network holds none of the order's)."""
    found = await views.order_time(order_id, actor=actor, uow=uow())
    return OrderVisitsOut(
        order_id=order_id,
        visits=[
            VisitTimeOut(
                visit_id=v.visit_id,
                state=v.state.value,
                arrived_at=v.arrived_at,
                ended_at=v.ended_at,
                on_site_seconds=v.on_site_seconds,
            )
            for v in found.visits
        ],
        total_on_site_seconds=found.total_seconds,
        total_on_site_minutes=found.total_seconds / 60,
    )


@router.get(
    "/visits",
    response_model=VisitListOut,
    responses=problem_responses(401, 403, 422),
    summary="List visits",
    tags=["visits"],
)
async def list_visits(
    request: Request,
    uow: UowFactoryDep,
    actor: VisitReaderDep,
    order_id: str | None = None,
    include_ended: bool = False,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """A technician's own visits, a partner key's network's visits (optionally of one order);
    for others, the visits of `order_id` (none without it). Visits not over unless
    `include_ended`, oldest first (as fieldwork heard of them), one page at a time (pass
    `next_cursor` as `cursor`; the last page has none). 422 for a cursor of another list."""
    after = _decode_cursor(VISIT_SORT, cursor)
    size = page_size(limit, request.app.state.policy)
    found = await views.visits(
        actor=actor,
        uow=uow(),
        order_id=order_id,
        include_ended=include_ended,
        after=after,
        limit=size + 1,
    )
    page = found[:size]
    next_cursor = (
        encode_cursor(VISIT_SORT, page[-1].created_at, page[-1].visit_id)
        if len(found) > size
        else None
    )
    now = request.app.state.clock()
    return VisitListOut(
        items=[VisitOut.from_domain(v, now=now) for v in page], next_cursor=next_cursor
    )


@router.get(
    "/visits/{visit_id}",
    response_model=VisitOut,
    responses=problem_responses(401, 403, 404),
    summary="Read a visit",
    tags=["visits"],
)
async def read_visit(
    visit_id: str, request: Request, uow: UowFactoryDep, actor: VisitReaderDep
) -> Any:
    """The visit, its state and the actions possible now."""
    found = await views.visit(visit_id, actor=actor, uow=uow())
    return VisitOut.from_domain(found, now=request.app.state.clock())


@router.post(
    "/visits/{visit_id}/actions",
    response_model=VisitOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Act on a visit",
    tags=["visits"],
)
async def act_on_visit(
    visit_id: str, body: VisitActionIn, request: Request, bus: BusDep, actor: TechnicianDep
) -> Any:
    """Apply one action (`action.type`): depart (kit checked, FLD-1), arrive, log_attempt,
    door_outcome (FLD-3), not_home (FLD-2), diagnose and the quote's accept/decline (FLD-4),
    start_repair, record_work, missing_part/resume (FLD-5), escalate (FLD-7), take_back /
    refuse_take_back (FLD-6), start_test, reexamine, complete_repair (FLD-9),
    complete_installation (FLD-10), fail, request_centre_decision (FLD-8), report_damage
    (FLD-13), safety_incident (FLD-14), sign_off and complete_report (FLD-12).

    409 when the action is not possible in the visit's state (`allowed` lists what is) or a
    rule is not satisfied (`rule` names it), and `Personal data erased` (with `anonymised_at`)
    for any action once the order's retention is over (BIL-11); 422 when a time it gives cannot
    be true (`field` names it): an ETA before the departure or more than the policy's horizon
    after it (SCH-6), a work item dated outside the visit (BIL-3), an installation date after
    the diagnosis (BIL-5).
    Send `Idempotency-Key` to retry safely.
    """

    async def run() -> VisitOut:
        visit = await bus.handle(c.ActOnVisit(visit_id=visit_id, action=body.action, actor=actor))
        return VisitOut.from_domain(visit, now=request.app.state.clock())

    return await _once(request, actor.key_id, body, run)


@router.post(
    "/offline/batches",
    response_model=OfflineBatchOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="Apply actions recorded offline",
    tags=["visits"],
)
async def apply_offline_batch(body: OfflineBatchIn, bus: BusDep, actor: TechnicianDep) -> Any:
    """Actions the app recorded offline, each with its client id and the time it happened.

    They are applied in the order they happened (not the order sent); a client id already
    applied is not applied again (`duplicate`, with its first result), and one reused for a
    different action (another visit, time or content) is `refused`; an action older than the
    latest one applied to its visit, or following a refused action of the same visit, is
    `refused` with the reason, as is one dated in the future, more than the policy's
    `offline_max_age_days` ago, or before its visit existed (fieldwork heard of the assignment,
    give or take `offline_clock_skew_seconds`). The rules are those of the single-action route:
    an out-of-warranty repair is never completed without an accepted quote. The events of an
    applied action carry, as their envelope `time`, the time it happened, not the sync.

    A visit its order's cancellation called off before the technician was known to be at the door
    takes the actions logged before the cancellation, as they happened; those after it are
    `refused` (SCH-12), and the visit then ends as the
    cancellation ended it (aborted at its time if still on site), unless it ended before (a repair
    completed before it stays completed).

    Each action of a visit whose order's retention is over is `refused`, its `problem` giving
    the `type`, `title` ("Personal data erased") and `anonymised_at` of the REST route's answer
    (BIL-11).
    """
    results = await bus.handle(
        c.ApplyOfflineBatch(
            actor=actor,
            actions=[
                c.OfflineAction(
                    client_id=a.client_id,
                    visit_id=a.visit_id,
                    occurred_at=a.occurred_at,
                    action=a.action,
                )
                for a in body.actions
            ],
        )
    )
    return OfflineBatchOut.model_validate({"results": results})


@router.post(
    "/visits/{visit_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    response_model=EvidenceOut,
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422),
    summary="Upload a photo, barcode, signature or note image",
    tags=["visits"],
)
async def upload_evidence(
    visit_id: str,
    request: Request,
    bus: BusDep,
    actor: TechnicianDep,
    kind: Annotated[EvidenceKind, Query(description="What the image shows.")],
) -> Any:
    """The raw image is the request body, its type in `Content-Type` (JPEG, PNG or WebP, checked
    against the bytes) and within the size limit (FLD-10). The answer's `ref` is what actions
    name (photo_refs, signature_ref, note_photo_ref). A visit its order's cancellation called off
    before the technician was known to be at the door still takes the images of the offline
    actions before it, uploaded ahead of the batch that names them (SCH-12). 409 `Personal data
    erased` (with `anonymised_at`) once the order's retention is over (BIL-11). `Location` is
    the upload's metadata (`evidence_id`)."""
    data = await request.body()
    content_type = request.headers.get("content-type", "")

    async def run() -> JSONResponse:
        item = await bus.handle(
            c.UploadEvidence(
                visit_id=visit_id, actor=actor, kind=kind, content_type=content_type, data=data
            )
        )
        return created(
            EvidenceOut.from_domain(item),
            f"/v1/visits/{quote(visit_id, safe='')}/evidence/{item.evidence_id}",
        )

    # The retry's body is the same image: compare its content's hash, not the bytes.
    content = {
        "kind": kind.value,
        "content_type": content_type,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return await _once(request, actor.key_id, content, run, status.HTTP_201_CREATED)


@router.get(
    "/visits/{visit_id}/evidence/{evidence_id}",
    response_model=EvidenceOut,
    responses=problem_responses(401, 403, 404),
    summary="Read an upload's metadata (FLD-10)",
    tags=["visits"],
)
async def read_evidence(
    visit_id: str, evidence_id: str, uow: UowFactoryDep, actor: VisitReaderDep
) -> Any:
    """What was uploaded to the visit (kind, type, size, when) and the `ref` actions name it by;
    whoever reads the visit reads its uploads (404 for a visit the caller cannot see, as for the
    visit itself). The image itself is not served here. 404 too once the order's retention is
    over for an upload erased with the personal data (all but barcode scans, BIL-11)."""
    item = await views.evidence(visit_id, evidence_id, actor=actor, uow=uow())
    return EvidenceOut.from_domain(item)


@router.get(
    "/visits/{visit_id}/report.pdf",
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The service report"},
        **problem_responses(401, 403, 404, 503),
    },
    response_class=Response,
    summary="The visit's service report (PDF, Chinese)",
    tags=["visits"],
)
async def service_report(
    visit_id: str, request: Request, uow: UowFactoryDep, actor: VisitReaderDep
) -> Response:
    """The customer's service report: what was found and done, parts, charges, the fee
    schedule version, ratings and signature.

    Once the order's retention is over (BIL-11) the report still renders, without personal
    data: customer and address read "已删除（超过保存期限）" and the signature image is left
    out (its file is deleted); whether the customer signed, the ratings and the charges stay."""
    state = request.app.state
    pdf = await views.service_report_pdf(
        visit_id,
        actor=actor,
        uow=uow(),
        store=state.evidence_store,
        font=state.report_font,
        tz=state.runtime.calendar.tz,
    )
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="service-report-{visit_id}.pdf"'},
    )


@router.post(
    "/loaners",
    status_code=status.HTTP_201_CREATED,
    response_model=LoanerOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="Add a loaner to the inventory (FLD-6)",
    tags=["loaners"],
)
async def register_loaner(
    body: LoanerIn, request: Request, bus: BusDep, principal: DispatcherDep
) -> Any:
    """A unit lent to customers while theirs is at the workshop; `Location` is
    `/v1/loaners/{serial}` with the serial percent-encoded (`WH/2024/7` is
    `/v1/loaners/WH%2F2024%2F7`). 409 when the serial is already in the inventory; 422 for a
    serial of only `.` or `..` (clients drop those from a URL)."""

    async def run() -> JSONResponse:
        loaner = await bus.handle(
            c.RegisterLoaner(
                serial=body.serial, product_line=body.product_line, condition=body.condition
            )
        )
        return created(
            LoanerOut.from_domain(loaner), f"/v1/loaners/{quote(loaner.serial, safe='')}"
        )

    return await _once(request, principal.key_id, body, run, status.HTTP_201_CREATED)


@router.get(
    "/loaners",
    response_model=LoanerListOut,
    responses=problem_responses(401, 403, 422),
    summary="The loaner inventory (FLD-6)",
    tags=["loaners"],
)
async def list_loaners(
    request: Request,
    uow: UowFactoryDep,
    principal: CentreDep,
    state: LoanerState | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """The loaners (in `state` when given): available, on board a technician's van, or lent
    (with its due date; still lent after the unit came back when the customer kept it), by
    serial, one page at a time (pass `next_cursor` as `cursor`; the last page has none). 422
    for a cursor of another list."""
    after = _decode_cursor(LOANER_SORT, cursor)
    size = page_size(limit, request.app.state.policy)
    found = await views.loaners(
        uow=uow(), state=state, after_serial=after.id if after else None, limit=size + 1
    )
    page = found[:size]
    next_cursor = (
        encode_cursor(LOANER_SORT, _NO_TIME, page[-1].serial) if len(found) > size else None
    )
    return LoanerListOut(items=[LoanerOut.from_domain(x) for x in page], next_cursor=next_cursor)


@router.get(
    "/loaners/{serial:slashed}",
    response_model=LoanerOut,
    responses=problem_responses(401, 403, 404),
    summary="A loaner of the inventory (FLD-6)",
    tags=["loaners"],
)
async def read_loaner(serial: str, uow: UowFactoryDep, principal: CentreDep) -> Any:
    """Where the loaner is: available, on board a technician's van, or lent (to which order,
    with its take-back and due date). Read by whoever reads the inventory. `serial` is
    percent-encoded, so a serial holding `/` is reached as `%2F` (its `Location`)."""
    return LoanerOut.from_domain(await views.loaner(serial, uow=uow()))


@router.post(
    "/loaners/{serial:slashed}/collect",
    response_model=LoanerOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Collect a loaner from the customer (FLD-6)",
    tags=["loaners"],
)
async def collect_loaner(
    serial: str, body: LoanerCollectIn, request: Request, bus: BusDep, actor: ReturnerDep
) -> Any:
    """A lent loaner is back from the customer (one kept when their unit came back, or brought
    in before): back in stock, and its take-back records when it was collected. One kept when
    the unit came back publishes LoanerCollected, `late` when collected after the
    `loaner_collect_within_days` allowed (FLD-6). A technician
    collects loaners of orders they have a visit for, a partner key those of its network's
    visits (404 otherwise). 409 when the loaner is not lent. A loaner is the centre's property: it
    can be collected even once the order it was lent for is past its retention (BIL-11). `serial` is
    percent-encoded as in `GET /v1/loaners/{serial}`."""

    async def run() -> LoanerOut:
        loaner = await bus.handle(
            c.CollectLoaner(serial=serial, actor=actor, condition=body.condition)
        )
        return LoanerOut.from_domain(loaner)

    return await _once(request, actor.key_id, body, run)


@router.get(
    "/take-backs/{receipt_number}",
    response_model=TakeBackOut,
    responses=problem_responses(401, 403, 404),
    summary="A unit at the workshop (FLD-6)",
    tags=["take-backs"],
)
async def read_take_back(receipt_number: str, uow: UowFactoryDep, principal: CentreDep) -> Any:
    """Appearance, loaner, promised return date and workshop progress."""
    return TakeBackOut.from_domain(await views.take_back(receipt_number, uow=uow()))


@router.post(
    "/take-backs/{receipt_number}/progress",
    response_model=TakeBackOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record workshop progress (FLD-6)",
    tags=["take-backs"],
)
async def record_progress(
    receipt_number: str, body: ProgressIn, request: Request, bus: BusDep, principal: DispatcherDep
) -> Any:
    """A step of the repair at the workshop. 409 `Personal data erased` (with `anonymised_at`)
    once the order's retention is over (BIL-11)."""

    async def run() -> TakeBackOut:
        tb = await bus.handle(
            c.RecordWorkshopProgress(
                receipt_number=receipt_number, stage=body.stage, note=body.note
            )
        )
        return TakeBackOut.from_domain(tb)

    return await _once(request, principal.key_id, body, run)


@router.post(
    "/take-backs/{receipt_number}/return",
    response_model=TakeBackOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Return the unit to the customer and collect the loaner (FLD-6)",
    tags=["take-backs"],
)
async def return_unit(
    receipt_number: str, body: UnitReturnIn, request: Request, bus: BusDep, actor: ReturnerDep
) -> Any:
    """Publishes UnitReturned (on time or not, and whether the loaner was collected). The
    loaner lent with the unit goes back in stock only when `loaner_recovered` says it was
    collected (required while one is out: 422 without it; 422 when true and none was lent); one
    the customer kept stays lent to the order, to be collected within
    `loaner_collect_within_days` (LoanerCollectionOverdue after that). `visit_id`, when given,
    is a later visit of the order that the caller holds and that went to the customer (422
    otherwise). The unit is the customer's: it is returned even once the order's retention is
    over and its personal data erased (BIL-11), the return storing none (its workshop notes
    stay erased) and UnitReturned carrying none; the order's other workshop commands answer
    409 `Personal data erased` then."""

    async def run() -> TakeBackOut:
        tb = await bus.handle(
            c.ReturnUnit(
                receipt_number=receipt_number,
                actor=actor,
                repaired=body.repaired,
                visit_id=body.visit_id,
                loaner_recovered=body.loaner_recovered,
                loaner_condition=body.loaner_condition,
            )
        )
        return TakeBackOut.from_domain(tb)

    return await _once(request, actor.key_id, body, run)


@router.get(
    "/coordination-tickets",
    response_model=TicketListOut,
    responses=problem_responses(401, 403, 422),
    summary="Coordination tickets (FLD-15)",
    tags=["coordination"],
)
async def list_tickets(
    request: Request,
    uow: UowFactoryDep,
    principal: CentreDep,
    open_only: bool = True,
    owner: str | None = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Orders not finished the same day (of `owner` when given), a work queue: the next check
    due first, one page at a time (pass `next_cursor` as `cursor`; the last page has none).
    A check done moves its ticket down the queue. 422 for a cursor of another list."""
    after = None
    if cursor is not None:  # the queue is by day: its cursors carry the day's midnight in UTC
        check_day, ticket_id, _ = decode_cursor(TICKET_SORT, cursor)
        after = Cursor(at=check_day.date(), id=ticket_id)
    size = page_size(limit, request.app.state.policy)
    found = await views.tickets(
        uow=uow(), open_only=open_only, owner=owner, after=after, limit=size + 1
    )
    page = found[:size]
    next_cursor = None
    if len(found) > size:
        last = page[-1]
        check_day = datetime.combine(last.next_check_due, time(0), tzinfo=UTC)
        next_cursor = encode_cursor(TICKET_SORT, check_day, last.ticket_id)
    return TicketListOut(items=[TicketOut.from_domain(t) for t in page], next_cursor=next_cursor)


@router.get(
    "/coordination-tickets/{ticket_id}",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404),
    summary="A coordination ticket (FLD-15)",
    tags=["coordination"],
)
async def read_ticket(ticket_id: str, uow: UowFactoryDep, principal: CentreDep) -> Any:
    """Owner, dated contact log, checks."""
    return TicketOut.from_domain(await views.ticket(ticket_id, uow=uow()))


@router.post(
    "/coordination-tickets/{ticket_id}/contacts",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Log a contact (FLD-15)",
    tags=["coordination"],
)
async def log_contact(
    ticket_id: str, body: ContactIn, request: Request, bus: BusDep, principal: CentreDep
) -> Any:
    """A dated entry of the ticket's contact log (`at`, default now). 422 for a contact dated
    in the future, beyond the policy's `offline_clock_skew_seconds`, or before the order's first
    visit was assigned, beyond that skew and `offline_before_assignment_minutes` (FLD-15):
    contacts made about the work before the ticket was opened are logged too."""

    async def run() -> TicketOut:
        ticket = await bus.handle(
            c.LogTicketContact(
                ticket_id=ticket_id, by=body.by, channel=body.channel, note=body.note, at=body.at
            )
        )
        return TicketOut.from_domain(ticket)

    return await _once(request, principal.key_id, body, run)


@router.post(
    "/coordination-tickets/{ticket_id}/checks",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record the team lead's check (FLD-15)",
    tags=["coordination"],
)
async def check_ticket(
    ticket_id: str, body: CheckIn, request: Request, bus: BusDep, principal: DispatcherDep
) -> Any:
    """The next check is due half a month later."""

    async def run() -> TicketOut:
        ticket = await bus.handle(c.CheckTicket(ticket_id=ticket_id, by=body.by, note=body.note))
        return TicketOut.from_domain(ticket)

    return await _once(request, principal.key_id, body, run)


@router.put(
    "/coordination-tickets/{ticket_id}/owner",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Name the owner (FLD-15)",
    tags=["coordination"],
)
async def assign_ticket(
    ticket_id: str, body: OwnerIn, bus: BusDep, principal: DispatcherDep
) -> Any:
    """Who follows the ticket until the work is finished."""
    ticket = await bus.handle(c.AssignTicket(ticket_id=ticket_id, owner=body.owner))
    return TicketOut.from_domain(ticket)


@router.post(
    "/coordination-tickets/{ticket_id}/close",
    response_model=TicketOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Close the ticket (FLD-15)",
    tags=["coordination"],
)
async def close_ticket(
    ticket_id: str, body: CloseIn, request: Request, bus: BusDep, principal: DispatcherDep
) -> Any:
    """The work is finished; the ticket is kept."""

    async def run() -> TicketOut:
        ticket = await bus.handle(c.CloseTicket(ticket_id=ticket_id, resolution=body.resolution))
        return TicketOut.from_domain(ticket)

    return await _once(request, principal.key_id, body, run)
