"""Scheduling's REST API: dispatch targets, assignment, appointments, contact, lateness, plans.

Thin routes: parse → command → bus → read model. Who may do what follows FLOW.md: dispatchers
assign, reassign, reschedule and cancel (SCH-12); technicians act on their own visits only (SCH-8);
a partner network's key acts on its own orders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from scheduling.adapters.repository import OrderCursor
from scheduling.domain import commands
from scheduling.domain.exceptions import NetworkNotFound, TechnicianNotFound
from scheduling.domain.model import DispatchOrder
from scheduling.entrypoints.dependencies import (
    AnyReaderDep,
    AssignerDep,
    BookerDep,
    BusDep,
    DepsDep,
    DispatcherDep,
    DispatchReaderDep,
    HolderDep,
    ListerDep,
    UowFactoryDep,
    actor,
)
from scheduling.entrypoints.schemas import (
    AppointmentIn,
    AssignmentIn,
    AuditOut,
    ContactIn,
    DispatchOrderOut,
    DispatchOrderPage,
    NetworkCreate,
    NetworkIn,
    NetworkOut,
    PlanOut,
    PositionIn,
    ReasonIn,
    RelocationIn,
    RescheduleIn,
    ReturnIn,
    SlotOut,
    TechnicianCreate,
    TechnicianIn,
    TechnicianOut,
)
from scheduling.service_layer import handlers, views
from servicekit.auth import Principal
from servicekit.dates import IsoDate
from servicekit.http import created
from servicekit.idempotency import answer_once
from servicekit.paging import PageCursor, PageLimit, decode_cursor, encode_cursor, page_size
from servicekit.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1")


def _may_read(principal: Principal, order: Any) -> None:
    if principal.has_role("dispatcher", "agent"):
        return
    if principal.role == "technician" and principal.technician_id == order.technician_id:
        return
    if principal.role == "partner":
        return  # the view already limited the partner to its network's orders
    raise ProblemError(403, "This order is not yours to read.", title="Forbidden")


def _network_limit(principal: Principal) -> str | None:
    """The network a partner key is confined to ("" for an unbound partner key: sees nothing)."""
    if principal.role == "partner":
        return principal.network_id or ""
    return None


async def _once(
    request: Request,
    principal: Principal,
    body: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int,
) -> Response:
    """Run a state-changing request once per ``Idempotency-Key`` (a retry gets the stored
    answer); without the header, just run it."""
    return await answer_once(
        request,
        principal_id=principal.key_id,
        ttl_hours=request.app.state.deps["policy"].idempotency_key_ttl_hours,
        body=body,
        run=run,
        status_code=status_code,
    )


async def _is_self(principal: Principal, technician_id: str, uow: UowFactoryDep) -> None:
    """Dispatchers read every technician, a technician only themselves, a partner network only
    its own technicians (another network's or the centre's answers like an unknown one)."""
    if principal.has_role("dispatcher"):
        return
    if principal.role == "technician" and principal.technician_id == technician_id:
        return
    if principal.role == "partner":
        found = await views.technician(technician_id, uow=uow())
        if principal.network_id is None or found.network_id != principal.network_id:
            raise TechnicianNotFound(technician_id)
        return
    raise ProblemError(403, "Technicians see only their own record and jobs.", title="Forbidden")


_BY_ID = datetime(1970, 1, 1, tzinfo=UTC)
"""Technicians are listed by id alone: their cursors carry no moment, this fixed one."""


class TechnicianPage(BaseModel):
    """A page of the technician list; pass `next_cursor` as `cursor` for the next one."""

    items: list[TechnicianOut]
    next_cursor: str | None = Field(description="Null on the last page.")


# -- technicians and networks ----------------------------------------------------------------


@router.post(
    "/technicians",
    status_code=status.HTTP_201_CREATED,
    response_model=TechnicianOut,
    responses=problem_responses(401, 403, 409, 422),
    tags=["technicians"],
    summary="Register a technician",
)
async def create_technician(
    body: TechnicianCreate, bus: BusDep, principal: DispatcherDep, request: Request
) -> Any:
    """A technician as a dispatch target: skills (product lines), service areas, home base,
    shift, working days, days off and daily capacity (SCH-1)."""

    async def run() -> Any:
        tech = await bus.handle(
            commands.SaveTechnician(technician=body.to_domain(body.technician_id), create=True)
        )
        return created(TechnicianOut.from_domain(tech), f"/v1/technicians/{tech.technician_id}")

    return await _once(
        request, principal, body.model_dump(mode="json"), run, status.HTTP_201_CREATED
    )


@router.put(
    "/technicians/{technician_id}",
    response_model=TechnicianOut,
    responses=problem_responses(401, 403, 404, 422),
    tags=["technicians"],
    summary="Replace a technician's record",
)
async def update_technician(
    technician_id: str, body: TechnicianIn, bus: BusDep, principal: DispatcherDep
) -> Any:
    """Replace skills, areas, shift, days off, capacity or deactivate a technician."""
    tech = await bus.handle(
        commands.SaveTechnician(technician=body.to_domain(technician_id), create=False)
    )
    return TechnicianOut.from_domain(tech)


@router.get(
    "/technicians",
    response_model=TechnicianPage,
    responses=problem_responses(401, 403, 422),
    tags=["technicians"],
    summary="List technicians",
)
async def list_technicians(
    request: Request,
    uow: UowFactoryDep,
    principal: ListerDep,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Technicians by id, one page at a time (cursor pagination). A partner key lists its own
    network's technicians, those it may give its orders to (SCH-12); the centre lists every
    technician. A cursor of another list answers 422."""
    limit = page_size(limit, request.app.state.deps["policy"])
    scope = _network_limit(principal)
    which = _list_of(scope)
    after = None if cursor is None else decode_cursor(which, cursor)[1]
    found = [
        t
        for t in await views.technicians(uow=uow())
        if (scope is None or t.network_id == scope) and (after is None or t.technician_id > after)
    ]
    page = found[:limit]
    return TechnicianPage(
        items=[TechnicianOut.from_domain(t) for t in page],
        next_cursor=(
            encode_cursor(which, _BY_ID, page[-1].technician_id) if len(found) > limit else None
        ),
    )


@router.get(
    "/technicians/{technician_id}",
    response_model=TechnicianOut,
    responses=problem_responses(401, 403, 404),
    tags=["technicians"],
    summary="Read a technician",
)
async def read_technician(technician_id: str, uow: UowFactoryDep, principal: AnyReaderDep) -> Any:
    """A technician (technicians may read only themselves, a partner network only its own
    technicians: another's answers 404)."""
    await _is_self(principal, technician_id, uow)
    return TechnicianOut.from_domain(await views.technician(technician_id, uow=uow()))


@router.get(
    "/technicians/{technician_id}/jobs",
    response_model=list[DispatchOrderOut],
    responses=problem_responses(401, 403, 404),
    tags=["technicians"],
    summary="A technician's jobs",
)
async def technician_jobs(technician_id: str, uow: UowFactoryDep, principal: AnyReaderDep) -> Any:
    """The visits the technician holds, by appointment; a technician key reads its own only, a
    partner key its network's technicians' and of their jobs only its network's orders (a
    technician who moved from another network may still hold that network's). An unknown
    technician (or another network's) answers 404."""
    await _is_self(principal, technician_id, uow)
    scope = _network_limit(principal)
    return [
        DispatchOrderOut.from_domain(o)
        for o in await views.jobs_of(technician_id, uow=uow())
        # SCH-12 / issue 5: a network reads its own orders only, whoever holds them
        if scope is None or o.network_id == scope
    ]


@router.post(
    "/technicians/{technician_id}/position",
    response_model=list[DispatchOrderOut],
    responses=problem_responses(401, 403, 404, 422),
    tags=["lateness"],
    summary="Report a technician's position (and ETA)",
)
async def report_position(
    technician_id: str, body: PositionIn, bus: BusDep, principal: HolderDep, request: Request
) -> Any:
    """Re-predicts the technician's remaining arrivals today; when a forecast misses its window,
    ArrivalLate goes out **before** the appointment with the minutes and the policy action
    (SCH-6, SCH-7). Returns the jobs with their predicted arrivals. `at` (when the position was
    taken) may be ahead of the server's clock only by the policy's skew (else 422); a ping older
    than the position already known changes nothing. An `eta` given for an `order_id` that is
    not among the technician's jobs ahead is not taken for another job's."""

    async def run() -> Any:
        orders = await bus.handle(
            commands.ReportPosition(
                technician_id=technician_id,
                actor=actor(principal),
                position=body.position,
                at=body.at,
                eta=body.eta,
                order_id=body.order_id,
            )
        )
        return [DispatchOrderOut.from_domain(o) for o in orders]

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/networks",
    status_code=status.HTTP_201_CREATED,
    response_model=NetworkOut,
    responses=problem_responses(401, 403, 409, 422),
    tags=["networks"],
    summary="Register a partner network",
)
async def create_network(
    body: NetworkCreate, bus: BusDep, principal: DispatcherDep, request: Request
) -> Any:
    """A partner network as a dispatch target, with the product lines and areas it serves and
    optionally its own office hours, in which its time to answer an order runs (SCH-1)."""

    async def run() -> Any:
        network = await bus.handle(
            commands.SaveNetwork(network=_network(body.network_id, body), create=True)
        )
        return created(NetworkOut.from_domain(network), f"/v1/networks/{network.network_id}")

    return await _once(
        request, principal, body.model_dump(mode="json"), run, status.HTTP_201_CREATED
    )


@router.get(
    "/networks/{network_id}",
    response_model=NetworkOut,
    responses=problem_responses(401, 403, 404),
    tags=["networks"],
    summary="Read a partner network",
)
async def read_network(network_id: str, uow: UowFactoryDep, principal: ListerDep) -> Any:
    """A partner network's record: what it serves and whether it takes orders. A network's key
    reads only its own (another answers 404, as an unknown one)."""
    if principal.role == "partner" and principal.network_id != network_id:
        raise NetworkNotFound(network_id)
    return NetworkOut.from_domain(await views.network(network_id, uow=uow()))


@router.put(
    "/networks/{network_id}",
    response_model=NetworkOut,
    responses=problem_responses(401, 403, 404, 422),
    tags=["networks"],
    summary="Replace a partner network's record",
)
async def update_network(
    network_id: str, body: NetworkIn, bus: BusDep, principal: DispatcherDep
) -> Any:
    """Replace a network's product lines, areas, active flag or office hours (null or left
    out: the business calendar's)."""
    network = await bus.handle(
        commands.SaveNetwork(network=_network(network_id, body), create=False)
    )
    return NetworkOut.from_domain(network)


@router.get(
    "/networks",
    response_model=list[NetworkOut],
    responses=problem_responses(401, 403),
    tags=["networks"],
    summary="List partner networks",
)
async def list_networks(uow: UowFactoryDep, principal: DispatchReaderDep) -> Any:
    """Every partner network."""
    return [NetworkOut.from_domain(n) for n in await views.networks(uow=uow())]


def _network(network_id: str, body: NetworkIn) -> Any:
    from scheduling.domain.model import Network

    return Network(
        network_id=network_id,
        name=body.name,
        skills=body.skills,
        areas=body.areas,
        active=body.active,
        office_hours=None if body.office_hours is None else body.office_hours.to_domain(),
    )


# -- orders -------------------------------------------------------------------------------------


def _list_of(network_id: str | None) -> str:
    """Which list a cursor walks: one network's, or the centre's whole list."""
    return "centre" if network_id is None else f"network:{network_id}"


def _encode_cursor(scope: str, order: DispatchOrder) -> str:
    return encode_cursor(scope, order.received_at, order.order_id)


def _decode_cursor(scope: str, cursor: str) -> OrderCursor:
    received_at, order_id, _ = decode_cursor(scope, cursor)
    return OrderCursor(received_at=received_at, order_id=order_id)


@router.get(
    "/orders",
    response_model=DispatchOrderPage,
    responses=problem_responses(401, 403, 422),
    tags=["dispatch"],
    summary="List orders",
)
async def list_orders(
    request: Request,
    uow: UowFactoryDep,
    principal: ListerDep,
    network_id: str | None = Query(default=None, max_length=64),
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Orders newest first, one page at a time (cursor pagination). A partner key lists the
    orders its network holds now: given to it (awaiting its acceptance, SCH-1) or to one of its
    technicians, never another network's, and not those it gave back or that were cancelled or
    done; `network_id` naming another network answers 403. The centre lists every order, or
    with `network_id` the orders that network holds now. A cursor of another list answers
    422."""
    if principal.role == "partner" and network_id not in (None, principal.network_id):
        raise ProblemError(
            403,
            "A network lists only its own orders: leave out network_id or give your own.",
            title="Forbidden",
        )
    limit = page_size(limit, request.app.state.deps["policy"])
    scope = _network_limit(principal) if principal.role == "partner" else network_id
    which = _list_of(scope)
    after = None if cursor is None else _decode_cursor(which, cursor)
    found = await views.orders(uow=uow(), network_id=scope, after=after, limit=limit + 1)
    page = found[:limit]
    return DispatchOrderPage(
        items=[DispatchOrderOut.from_domain(o) for o in page],
        next_cursor=_encode_cursor(which, page[-1]) if len(found) > limit else None,
    )


@router.get(
    "/orders/{order_id}",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404),
    tags=["dispatch"],
    summary="Read an order's dispatch state",
)
async def read_dispatch_order(order_id: str, uow: UowFactoryDep, principal: AnyReaderDep) -> Any:
    """The order as dispatch sees it: awaiting verification (INT-2) or assignment, assigned,
    confirmed, en route...; technicians read their own visits, networks theirs. Once its
    retention is over (BIL-11, `anonymised_at`) the customer's personal data is erased: the
    location is null and free text reads "[erased]", and every command on the order (assignment,
    acceptance, booking, contact, reschedule...) answers 409 "Personal data erased"; nor is
    anybody sent out to it any more (no revisit booked, no placement, no day plan)."""
    order = await views.dispatch_order(order_id, uow=uow(), network_id=_network_limit(principal))
    _may_read(principal, order)
    return DispatchOrderOut.from_domain(order)


@router.get(
    "/orders/{order_id}/audit",
    response_model=list[AuditOut],
    responses=problem_responses(401, 403, 404),
    tags=["dispatch"],
    summary="Who changed the order's dispatch",
)
async def read_audit(order_id: str, uow: UowFactoryDep, principal: DispatchReaderDep) -> Any:
    """Every assignment, reassignment, cancellation, reschedule and contact, with who and why
    (SCH-8, SCH-12). Once the order's retention is over (BIL-11) what people wrote reads
    "[erased]" (the codes stay); who, when, what and the ids concerned stay."""
    return [AuditOut.from_domain(e) for e in await views.audit(order_id, uow=uow())]


@router.post(
    "/orders/{order_id}/assignment",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["dispatch"],
    summary="Assign or reassign an order",
)
async def assign(
    order_id: str, body: AssignmentIn, bus: BusDep, principal: AssignerDep, request: Request
) -> Any:
    """Only a dispatcher (or a network's dispatcher for its own orders, to its own technicians)
    assigns or reassigns (SCH-8, SCH-12); OrderAssigned or OrderReassigned is published and the
    change audited with who and why. A technician on the way has their trip called off (SCH-6:
    the centre sends someone else); once they are on site the visit is not moved (409): it ends
    in fieldwork first."""

    async def run() -> Any:
        order = await bus.handle(
            commands.AssignOrder(
                order_id=order_id,
                actor=actor(principal),
                reason=body.reason,
                technician_id=body.technician_id,
                network_id=body.network_id,
                pinned=body.pinned,
            )
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/assignment/cancellation",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["dispatch"],
    summary="Cancel an order's assignment",
)
async def cancel_assignment(
    order_id: str, body: ReasonIn, bus: BusDep, principal: DispatcherDep, request: Request
) -> Any:
    """A dispatcher takes the visit away from its assignee (SCH-12); the order returns to the
    centre's queue (OrderReturnedToCentre); a trip on the way is called off. Not once the
    technician is on site (409): the visit ends in fieldwork first."""

    async def run() -> Any:
        order = await bus.handle(
            commands.CancelAssignment(order_id=order_id, actor=actor(principal), reason=body.reason)
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/return",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["dispatch"],
    summary="Hand an order back to the centre",
)
async def return_order(
    order_id: str, body: ReturnIn, bus: BusDep, principal: HolderDep, request: Request
) -> Any:
    """The holder (technician or network) hands the order back — never to a colleague (SCH-8):
    a network that cannot staff it (SCH-1), a technician who cannot arrive on time (SCH-3, SCH-6,
    also on the way). Not once the technician is on site (409): the visit ends in fieldwork
    first."""

    async def run() -> Any:
        order = await bus.handle(
            commands.ReturnOrder(
                order_id=order_id, actor=actor(principal), reason=body.reason, detail=body.detail
            )
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/acceptance",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409),
    tags=["partners"],
    summary="A network accepts the order given to it",
)
async def accept(order_id: str, bus: BusDep, principal: AssignerDep, request: Request) -> Any:
    """The network accepts by the order's `acceptance_due_at` (SCH-1: 30 minutes of working
    time within the network's own office hours, or on the business calendar when it has none;
    wall-clock minutes for an emergency, INT-7); its dispatcher
    then assigns one of its technicians (`POST /v1/orders/{id}/assignment`). Another network's
    order answers 404."""

    async def run() -> Any:
        order = await bus.handle(commands.AcceptOrder(order_id=order_id, actor=actor(principal)))
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, None, run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/rejection",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["partners"],
    summary="A network cannot staff the order",
)
async def reject(
    order_id: str, body: ReasonIn, bus: BusDep, principal: AssignerDep, request: Request
) -> Any:
    """The network reports back at once (SCH-1): OrderReturnedToCentre (`cannot_staff`, with the
    reason) and the centre places the order again. Silence past the order's `acceptance_due_at`
    does the same."""

    async def run() -> Any:
        order = await bus.handle(
            commands.RejectOrder(order_id=order_id, actor=actor(principal), reason=body.reason)
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.get(
    "/orders/{order_id}/slots",
    response_model=list[SlotOut],
    responses=problem_responses(401, 403, 404, 409),
    tags=["appointments"],
    summary="Feasible arrival windows for an order",
)
async def slots(
    order_id: str,
    uow: UowFactoryDep,
    deps: DepsDep,
    principal: BookerDep,
    days: int | None = Query(default=None, ge=1, le=14),
) -> Any:
    """Windows of the next days in which a technician with the skill, on shift, can arrive
    5-10 minutes early while keeping every job they hold (SCH-3, SCH-4). A network's key is
    offered its own technicians' windows only, those it may book (SCH-12)."""
    found = await handlers.offer_slots(
        order_id,
        uow=uow(),
        clock=deps["clock"],
        policy=deps["policy"],
        travel=deps["travel"],
        tz=deps["tz"],
        days=days,
        actor=actor(principal),
    )
    return [SlotOut.from_domain(s) for s in found]


@router.post(
    "/orders/{order_id}/appointment",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["appointments"],
    summary="Book an arrival window",
)
async def book(
    order_id: str, body: AppointmentIn, bus: BusDep, principal: BookerDep, request: Request
) -> Any:
    """Books the window after the feasibility check and assigns the technician who can keep it
    from where they are now; a clash, or a window out of the policy's bounds (length, booking
    horizon), answers 409 with the `reasons` and feasible `alternatives` (SCH-3). A technician
    books only for themselves, a network's dispatcher only for its own technicians (403
    otherwise, SCH-8, SCH-12)."""

    async def run() -> Any:
        order = await bus.handle(
            commands.BookAppointment(
                order_id=order_id,
                actor=actor(principal),
                window=body.to_value(),
                technician_id=body.technician_id,
            )
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/contact-attempts",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["appointments"],
    summary="Record a call to the customer",
)
async def contact(
    order_id: str, body: ContactIn, bus: BusDep, principal: HolderDep, request: Request
) -> Any:
    """Records the attempt and its outcome (SCH-2, SCH-5): reached → AppointmentConfirmed; a
    later time → AppointmentRescheduled and confirmed; still unanswered after the policy's tries
    or unreachable → the agreed time stands (AppointmentConfirmed, customer_reached false). Any
    new window is published as AppointmentRescheduled. A time promised on the call (a new
    window, or the appointment a reached customer confirms) that is already over, out of the
    policy's window bounds, or that the technician cannot keep (day off, outside their hours, a
    clash with the jobs they hold, the job not done by the end of the shift) answers 409 with
    the `reasons` and `alternatives` and records nothing (SCH-3). The window already agreed,
    given again, moves nothing."""

    async def run() -> Any:
        order = await bus.handle(
            commands.RecordContact(
                order_id=order_id,
                actor=actor(principal),
                outcome=body.outcome,
                window=body.window.to_value() if body.window else None,
                corrected=tuple(body.corrected),
                note=body.note,
            )
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/reschedule",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["appointments"],
    summary="Move an appointment",
)
async def reschedule(
    order_id: str, body: RescheduleIn, bus: BusDep, principal: DispatcherDep, request: Request
) -> Any:
    """The dispatcher moves the appointment, recording the customer's consent (SCH-3, SCH-6),
    checked as a booking is: within the policy's window bounds and booking horizon, and one the
    technician holding the visit can keep from where they are, with the jobs they hold, the
    travel and the job's length in their shift; else 409 with the `reasons` and the
    `alternatives` they can keep. The window already agreed (in any offset) changes nothing and
    publishes nothing."""

    async def run() -> Any:
        order = await bus.handle(
            commands.Reschedule(
                order_id=order_id,
                actor=actor(principal),
                window=body.to_value(),
                reason=body.reason,
                customer_consent=body.customer_consent,
                requested_by=body.requested_by,
            )
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/lateness/refusal",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409),
    tags=["lateness"],
    summary="The customer did not accept the apology",
)
async def refuse_apology(order_id: str, bus: BusDep, principal: HolderDep, request: Request) -> Any:
    """ArrivalLate with the manager-visit action, once per visit (SCH-7); 409 when no lateness
    of the visit was recorded (predicted or actual), so there was no apology to refuse."""

    async def run() -> Any:
        order = await bus.handle(commands.RefuseApology(order_id=order_id, actor=actor(principal)))
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, None, run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/postponement",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["visits"],
    summary="The customer postponed",
)
async def postpone(
    order_id: str, body: ReasonIn, bus: BusDep, principal: HolderDep, request: Request
) -> Any:
    """A new visit is booked with the reason and the order returns to the centre (SCH-10).
    On the way the trip is called off; on site (409) the visit ends in fieldwork (rebook), which
    books the next one."""

    async def run() -> Any:
        order = await bus.handle(
            commands.Postpone(order_id=order_id, actor=actor(principal), reason=body.reason)
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


@router.post(
    "/orders/{order_id}/relocation",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["visits"],
    summary="The product is at another address",
)
async def relocate(
    order_id: str, body: RelocationIn, bus: BusDep, principal: HolderDep, request: Request
) -> Any:
    """With the customer's consent the technician goes there now; otherwise a new visit is
    booked (SCH-11), before the technician departs only (409 after: rebook in fieldwork)."""

    async def run() -> Any:
        order = await bus.handle(
            commands.Relocate(
                order_id=order_id,
                actor=actor(principal),
                location=body.location,
                go_now=body.go_now,
                customer_consent=body.customer_consent,
                note=body.note,
            )
        )
        return DispatchOrderOut.from_domain(order)

    return await _once(request, principal, body.model_dump(mode="json"), run, status.HTTP_200_OK)


# -- plans ----------------------------------------------------------------------------------


@router.post(
    "/plans/{day}/optimisation",
    response_model=PlanOut,
    responses=problem_responses(401, 403, 409, 422),
    tags=["plans"],
    summary="Optimise a day's plan",
)
async def optimise(
    day: IsoDate,
    bus: BusDep,
    principal: DispatcherDep,
    request: Request,
    time_limit: float | None = Query(default=None, gt=0, le=120),
) -> Any:
    """Optimises the day with PyVRP (warm-started from the applied plan), validates it with the
    independent feasibility checker and applies it: each job's technician and planned
    departure so they arrive 5-10 minutes early (SCH-4). Pinned and confirmed jobs stay put;
    an infeasible plan answers 409 with the violations and changes nothing. A retry with the
    same `Idempotency-Key` gets the plan the first request applied, without solving again."""

    async def run() -> Any:
        plan = await bus.handle(
            commands.OptimiseDay(day=day, actor=actor(principal), time_limit=time_limit)
        )
        return PlanOut.model_validate(plan)

    return await _once(request, principal, {"time_limit": time_limit}, run, status.HTTP_200_OK)


@router.get(
    "/plans/{day}",
    response_model=PlanOut,
    responses=problem_responses(401, 403, 404),
    tags=["plans"],
    summary="Read a day's applied plan",
)
async def read_plan(
    day: IsoDate, uow: UowFactoryDep, principal: DispatchReaderDep, response: Response
) -> Any:
    """The applied plan: per visit the technician, sequence, planned departure and arrival."""
    plan = await views.day_plan(day, uow=uow())
    if plan is None:
        raise ProblemError(404, f"No plan for {day.isoformat()}.", title="Plan not found")
    return plan
