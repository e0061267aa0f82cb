"""Intake's REST API for call-centre software (thin: schema → command → bus → read model)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from intake.adapters.repository import Cursor, OrderFilter
from intake.domain import commands
from intake.domain.model import Order, OrderStatus
from intake.entrypoints.dependencies import (
    AdminDep,
    AgentDep,
    BusDep,
    IdempotencyKeyHeader,
    PolicyDep,
    ReaderDep,
    UowFactoryDep,
)
from intake.entrypoints.schemas import (
    CancelIn,
    OrderCreate,
    OrderOut,
    OrderPage,
    OrderSummaryOut,
    ReopenIn,
    ResolveRemotelyIn,
    VerifyIn,
    WarrantyPeriodIn,
    WarrantyPeriodOut,
    parse_phone,
)
from intake.service_layer import views
from servicekit.auth import Principal
from servicekit.dates import IsoDatetime
from servicekit.http import created
from servicekit.idempotency import handle_idempotently
from servicekit.paging import PageCursor, PageLimit, decode_cursor, encode_cursor, page_size
from servicekit.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1", tags=["orders"])
warranty_router = APIRouter(prefix="/v1/warranty-periods", tags=["warranty"])

SortOrder = Literal["-created_at", "created_at", "priority"]
_WRITE_PROBLEMS = problem_responses(401, 403, 404, 409, 422)


def _who(principal: Principal) -> str:
    return principal.name or principal.key_id


def _order_json(order: Order, *, status_code: int = 200, duplicate: bool = False) -> JSONResponse:
    body = OrderOut.from_domain(order, duplicate=duplicate)
    location = f"/v1/orders/{quote(order.id, safe='')}"
    if status_code == status.HTTP_201_CREATED:
        return created(body, location)
    # a duplicate linked (INT-8) or an order changed: the order it is about, located likewise
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status_code, headers={"Location": location}
    )


async def _idempotently(
    request: Request,
    principal: Principal,
    policy: Any,
    body: BaseModel | None,
    run: Callable[[], Awaitable[JSONResponse]],
) -> Response:
    runtime = request.app.state.runtime
    created = request.url.path.rstrip("/") == "/v1/orders"

    async def rebuild(order_id: str, events: Sequence[str]) -> JSONResponse:
        # The first attempt committed and died before answering: answer from the order, as
        # linked to it when that is what the first attempt did (INT-8).
        order = await views.order(order_id, uow=request.app.state.uow_factory())
        if "DuplicateLinked" in events:
            return _order_json(order, duplicate=True)
        return _order_json(order, status_code=201 if created else 200)

    return await handle_idempotently(
        request,
        session_factory=runtime.session_factory,
        principal_id=principal.key_id,
        ttl=timedelta(hours=policy.idempotency_key_ttl_hours),
        body=None if body is None else body.model_dump(mode="json"),
        run=run,
        rebuild=rebuild,
    )


def _visible_to(order: Order, principal: Principal) -> bool:
    # A partner network sees its own orders only.
    return principal.role != "partner" or (
        principal.network_id is not None and order.network_id == principal.network_id
    )


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses={
        200: {
            "description": "The report repeats an open order of the same customer and product: "
            "it was linked to that order (DuplicateLinked, INT-8), which is returned with "
            "`duplicate: true`. No new order, no second dispatch.",
            "model": OrderOut,
        },
        **problem_responses(401, 403, 409, 422),
    },
    summary="Take a new order",
)
async def create_order(
    request: Request,
    body: OrderCreate,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Take a customer's service request (INT-1).

    Missing or doubtful details (address, model, purchase date, vague fault, an organisation
    without a contact person) do not block intake: they are listed in `needs_verification` and
    the order is not dispatched until verified (INT-2). A purchase or installation date more
    than 30 years before today (the policy's `purchase_date_floor_years`) is doubtful, and so is
    an installation before the purchase (`product.installation_date` is flagged). Malformed
    input (an invalid phone number, a purchase or installation date after today on the business
    calendar, a customer name or product line of only spaces, a body that is not JSON) is
    refused with 422 naming each field. Text is stored without the spaces around it; optional
    text of only spaces counts as not given, and a fault description of only spaces as a vague
    fault (flagged).

    Each preferred window must end after it starts, and is refused with 422 naming it
    (`preferred_windows.<i>`, `.start` or `.end`) when it ended before the order was taken
    (beyond a 15-minute grace), starts more than 60 days ahead, or is longer than 24 hours (one
    window per day the customer is free); the numbers are the policy's
    (`preferred_window_past_grace_minutes`, `preferred_window_horizon_days`,
    `preferred_window_max_hours`). Nothing is stored when a request is refused.

    The warranty status is derived from the purchase date, the line's warranty period and
    commercial use (INT-5); configured lines and fault codes ask for a loaner (INT-6); emergency
    fault codes or the flag make an emergency with a 15-minute on-site target (INT-7). The SLA
    clocks start: hand-over 1 working hour, reply 8 working hours (INT-3).

    Phones may carry an extension (`010-62345678转123`, `分机123`, `ext. 123`, `x123`, `#123`,
    `;ext=123`): it is kept and answered in `customer.phone_extensions` by E.164 number; an
    extension that is not digits or is longer than 20 digits is refused with 422.

    A second report of the same product (serial, else line and model) from a phone of a
    customer with an open order is linked to that order instead: 200 with `duplicate: true`
    (INT-8). Another extension of the same switchboard is another customer; the number without
    an extension matches it with any. OrderCreated or DuplicateLinked is published through the
    transactional outbox. Send `Idempotency-Key` to make retries safe.
    """

    async def run() -> JSONResponse:
        taken = await bus.handle(
            commands.CreateOrder(
                customer=body.customer.to_value(),
                product=body.product.to_value(),
                fault=body.fault.to_value(),
                channel=body.channel,
                requests=body.requests,
                preferred_windows=[w.to_value() for w in body.preferred_windows],
                emergency=body.emergency,
                taken_by=_who(principal),
                service_type=body.service_type,
                phone_extensions=body.customer.phone_extensions(),
            )
        )
        return _order_json(
            taken.order, status_code=200 if taken.duplicate else 201, duplicate=taken.duplicate
        )

    return await _idempotently(request, principal, policy, body, run)


def _encode_cursor(sort: str, order: Order) -> str:
    return encode_cursor(sort, order.created_at, order.id, e=order.emergency)


def _decode_cursor(sort: str, cursor: str) -> Cursor:
    created_at, order_id, extra = decode_cursor(sort, cursor)
    return Cursor(emergency=bool(extra.get("e")), created_at=created_at, id=order_id)


def _bad_query(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        f"The request has invalid or missing fields: {field}.",
        title="Invalid request",
        errors=[{"field": field, "message": message, "type": "value_error"}],
    )


@router.get(
    "/orders",
    response_model=OrderPage,
    responses=problem_responses(401, 403, 422),
    summary="Find orders",
)
async def list_orders(
    uow: UowFactoryDep,
    principal: ReaderDep,
    policy: PolicyDep,
    status_: Annotated[
        list[OrderStatus],
        Query(alias="status", description="Any of these statuses.", examples=[["received"]]),
    ] = [],  # noqa: B006  (FastAPI copies query defaults)
    phone: Annotated[
        str | None,
        Query(
            max_length=64,
            description="A phone of the customer. Without an extension it finds the number "
            "with any extension or none (a switchboard reaches them all); with one, that "
            "extension or the number without any (another extension is another person).",
            examples=["13800138000", "010-62345678转123"],
        ),
    ] = None,
    created_from: Annotated[
        IsoDatetime | None,
        Query(
            description="Taken at or after (with offset).", examples=["2025-05-30T00:00:00+08:00"]
        ),
    ] = None,
    created_to: Annotated[
        IsoDatetime | None,
        Query(description="Taken before (with offset).", examples=["2025-06-01T00:00:00+08:00"]),
    ] = None,
    network_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Assigned to this partner network.",
            examples=["net-dongying-01"],
        ),
    ] = None,
    technician_id: Annotated[
        str | None,
        Query(max_length=64, description="Assigned to this technician.", examples=["tech-007"]),
    ] = None,
    emergency: Annotated[
        bool | None, Query(description="Only emergencies (or only the others).", examples=[True])
    ] = None,
    needs_verification: Annotated[
        bool | None,
        Query(description="Only orders waiting for verification (INT-2).", examples=[True]),
    ] = None,
    sort: Annotated[
        SortOrder,
        Query(
            description="`-created_at` newest first, `created_at` oldest first, `priority` the "
            "dispatch queue: emergencies first (INT-7), then oldest first."
        ),
    ] = "-created_at",
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Orders matching every filter given, one page at a time (cursor pagination).

    The status is derived from the events of every service; network and technician come from
    the latest assignment. Partner keys see their own network's orders only (`network_id` naming
    another network answers 403). A `created_to` not after `created_from` is refused with 422
    naming both (the range would hold no order). An order whose
    retention is over has its customer's personal data erased (BIL-11, `anonymised_at`): it is
    still listed, erased, but no longer found by phone.
    """
    if created_from is not None and created_to is not None and created_to <= created_from:
        # [created_from, created_to) holds no moment: an empty page would read as "no orders".
        message = (
            "created_to must be after created_from (orders taken at or after created_from "
            "and before created_to)"
        )
        raise ProblemError(
            422,
            "The request has invalid or missing fields: created_from, created_to.",
            title="Invalid request",
            errors=[
                {"field": field, "message": message, "type": "value_error"}
                for field in ("created_from", "created_to")
            ],
        )
    caller = None
    if phone is not None:
        try:
            caller = parse_phone(phone)
        except ValueError as exc:
            raise _bad_query("phone", str(exc)) from exc
    if principal.role == "partner":
        if network_id not in (None, principal.network_id):
            raise ProblemError(
                403,
                "A network lists only its own orders: leave out network_id or give your own.",
                title="Forbidden",
            )
        network_id = principal.network_id or ""
    filters = OrderFilter(
        statuses=status_,
        phone=caller.number if caller else None,
        phone_extension=caller.extension if caller else None,
        created_from=created_from,
        created_to=created_to,
        network_id=network_id,
        technician_id=technician_id,
        emergency=emergency,
        needs_verification=needs_verification,
    )
    after = None if cursor is None else _decode_cursor(sort, cursor)
    limit = page_size(limit, policy)
    found = await views.orders(filters, sort=sort, after=after, limit=limit + 1, uow=uow())
    page = found[:limit]
    next_cursor = _encode_cursor(sort, page[-1]) if len(found) > limit else None
    return OrderPage(items=[OrderSummaryOut.from_domain(o) for o in page], next_cursor=next_cursor)


@router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    responses=problem_responses(401, 403, 404),
    summary="Read an order with its status and timeline",
)
async def read_order(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The order, its status derived from every service's events, its SLA clocks, the reports
    linked to it and its timeline (oldest first; an action the technician's app logged offline,
    dated when it happened, comes no earlier than the order's entry, assignment and appointment
    intake had heard of when the app synced it). Once its retention is over (BIL-11,
    `anonymised_at`) the customer's personal data reads "[erased]" or null, as each field says."""
    order = await views.order(order_id, uow=uow())
    if not _visible_to(order, principal):
        raise ProblemError(404, f"Order {order_id} does not exist.", title="Order not found")
    return OrderOut.from_domain(order)


@router.post(
    "/orders/{order_id}/verify",
    response_model=OrderOut,
    responses=_WRITE_PROBLEMS,
    summary="Verify an order's details (or release it for dispatch)",
)
async def verify_order(
    request: Request,
    order_id: str,
    body: VerifyIn,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Complete, correct or confirm the details the order was missing (INT-2) and publish
    OrderVerified; the warranty status is re-derived from the verified product (INT-5), the
    loaner prediction from the verified product and fault (INT-6), and a fault code that is
    always an emergency makes the order one (INT-7: `emergency` and `on_site_due_at` are set,
    the on-site clock starts now; an emergency is never taken back here). A corrected purchase
    or installation date after today is refused with 422; one still doubtful (see taking an
    order) stays to verify unless confirmed.

    Details still missing afterwards are refused with 422 naming them. A dispatcher may set
    `dispatch_override` to release the order anyway: OrderVerified then carries
    `dispatch_override`, `overridden_by` and the `unverified` list. 409 once the visit is under
    way or the order is closed, and `Personal data erased` once its retention is over (BIL-11):
    the customer's details are gone and are not taken again on it.
    """
    if body.dispatch_override and not principal.has_role("dispatcher"):
        raise ProblemError(
            403,
            "Only a dispatcher may release an unverified order for dispatch.",
            title="Forbidden",
        )

    async def run() -> JSONResponse:
        order = await bus.handle(
            commands.VerifyOrder(
                order_id=order_id,
                verified_by=_who(principal),
                customer=body.customer.to_value() if body.customer else None,
                phone_extensions=body.customer.phone_extensions() if body.customer else {},
                product=body.product.to_value() if body.product else None,
                fault=body.fault.to_value() if body.fault else None,
                confirmed=list(body.confirmed),
                dispatch_override=body.dispatch_override,
            )
        )
        return _order_json(order)

    return await _idempotently(request, principal, policy, body, run)


@router.post(
    "/orders/{order_id}/resolve-remotely",
    response_model=OrderOut,
    responses=_WRITE_PROBLEMS,
    summary="Close an order as resolved by phone guidance",
)
async def resolve_remotely(
    request: Request,
    order_id: str,
    body: ResolveRemotelyIn,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Triage found misuse or a misreport and phone guidance solved it: no visit (INT-4).

    OrderResolvedRemotely carries the call-back due time (2 working hours on the business
    calendar, FBK-1: resolved Friday 17:30, due Monday 10:30, as feedback schedules it); it
    counts as the reply to the customer (INT-3). 409 once the visit is under way (`Technician on
    site` while a technician is at the customer's, until that visit is closed: after a repair
    failed on site, say, even once the next visit is booked), and `Personal data erased` once
    the order's retention is over (BIL-11).
    """

    async def run() -> JSONResponse:
        order = await bus.handle(
            commands.ResolveRemotely(
                order_id=order_id,
                guidance=body.guidance,
                cause=body.cause,
                resolved_by=_who(principal),
            )
        )
        return _order_json(order)

    return await _idempotently(request, principal, policy, body, run)


@router.post(
    "/orders/{order_id}/reopen",
    response_model=OrderOut,
    responses=_WRITE_PROBLEMS,
    summary="Reopen a remotely resolved order for a visit",
)
async def reopen_order(
    request: Request,
    order_id: str,
    body: ReopenIn,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """The phone guidance did not work or was not accepted: the order opens again and a visit is
    to be arranged (OrderReopened, INT-4); hand-over and reply clocks (and an emergency's on-site
    clock, INT-7) start afresh, already met if a technician is at the customer's. 409 unless
    the order is resolved remotely, and `Personal data erased` once its retention is over
    (BIL-11): nobody could be visited without the customer's details; take a new order."""

    async def run() -> JSONResponse:
        order = await bus.handle(
            commands.ReopenOrder(order_id=order_id, reason=body.reason, reopened_by=_who(principal))
        )
        return _order_json(order)

    return await _idempotently(request, principal, policy, body, run)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderOut,
    responses=_WRITE_PROBLEMS,
    summary="Cancel an order",
)
async def cancel_order(
    request: Request,
    order_id: str,
    body: CancelIn,
    bus: BusDep,
    principal: AgentDep,
    policy: PolicyDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Cancel the order with a reason (OrderCancelled); the other services stop work on it and no
    visit goes ahead. 409 once the technician is on site (`Technician on site` while they are
    still there after a repair failed, until the visit is closed) or the order is done, and
    `Personal data erased` once its retention is over (BIL-11)."""

    async def run() -> JSONResponse:
        order = await bus.handle(
            commands.CancelOrder(
                order_id=order_id,
                reason=body.reason,
                cancelled_by=_who(principal),
                requested_by_customer=body.requested_by_customer,
            )
        )
        return _order_json(order)

    return await _idempotently(request, principal, policy, body, run)


@warranty_router.get(
    "",
    response_model=list[WarrantyPeriodOut],
    responses=problem_responses(401, 403),
    summary="List warranty periods",
)
async def list_warranty_periods(uow: UowFactoryDep, principal: AgentDep, policy: PolicyDep) -> Any:
    """Every product line's warranty period in force (INT-5): the policy file's, or the one an
    admin set (`source`)."""
    return await views.warranty_periods(uow=uow(), policy=policy)


@warranty_router.put(
    "/{product_line}",
    response_model=WarrantyPeriodOut,
    responses=problem_responses(401, 403, 422),
    summary="Set a product line's warranty period",
)
async def set_warranty_period(
    product_line: Annotated[str, Path(min_length=1, max_length=100, examples=["water_heater"])],
    body: WarrantyPeriodIn,
    bus: BusDep,
    uow: UowFactoryDep,
    principal: AdminDep,
    policy: PolicyDep,
) -> Any:
    """Set (admins) the warranty period of a product line; orders taken or verified from now on
    use it (INT-5). A line that is blank or has spaces around it is refused with 422: orders
    store their line without them, so no order would ever use its period."""
    if not product_line.strip() or product_line != product_line.strip():
        raise _bad_query("product_line", "give the product line without spaces around it")
    await bus.handle(
        commands.SetWarrantyPeriod(
            product_line=product_line, months=body.months, set_by=_who(principal)
        )
    )
    periods = await views.warranty_periods(uow=uow(), policy=policy)
    return next(p for p in periods if p["product_line"] == product_line)


@warranty_router.delete(
    "/{product_line}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Remove an admin's warranty period",
)
async def remove_warranty_period(product_line: str, bus: BusDep, principal: AdminDep) -> None:
    """Forget the period an admin set for a product line; the policy file's applies again."""
    await bus.handle(commands.RemoveWarrantyPeriod(product_line=product_line))
