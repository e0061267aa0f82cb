"""Billing's REST API (thin: schema → command → bus → read model).

Partner keys see and act on their network's orders only, technician keys on the orders assigned
to them: any other order answers 404, exactly as an unknown one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse

from billing.adapters.repository import Cursor, SettlementCursor
from billing.domain import commands
from billing.domain.account import BillingAccount, Invoice, PaymentKind
from billing.domain.cash import CashEntry, CashEntryKind
from billing.domain.exceptions import (
    CashLedgerNotFound,
    ChargeItemNotFound,
    OrderNotFound,
    RemittanceNotFound,
)
from billing.domain.rate_cards import RateCard
from billing.domain.reports import Reconciliation, SettlementItem, statement_csv
from billing.domain.schedule import FeeSchedule, ScheduleContent
from billing.entrypoints.dependencies import (
    AdminDep,
    AnyoneDep,
    ApproverDep,
    BusDep,
    CalendarDep,
    ChargeReaderDep,
    CollectorDep,
    FinanceDep,
    NowDep,
    RateCardReaderDep,
    ReaderDep,
    UowFactoryDep,
)
from billing.entrypoints.schemas import (
    CashLedgerOut,
    ChargePaymentOut,
    FeeScheduleOut,
    FeeScheduleVersionListOut,
    FeeScheduleVersionOut,
    HeldApprovalIn,
    HeldReductionListOut,
    HeldReductionOut,
    InvoiceDeliveryIn,
    InvoiceIn,
    OrderChargeOut,
    OrderEventsOut,
    PaymentIn,
    PaymentOut,
    PendingNetworkFeesListOut,
    PendingNetworkFeesOut,
    RateCardIn,
    RateCardOut,
    RateCardVersionListOut,
    RateCardVersionOut,
    RefundIn,
    RemittanceIn,
    SignatureIn,
    StatementOut,
    WaiverIn,
    WaiverOut,
)
from billing.service_layer import views
from contracts.billing import PaymentMethod
from servicekit.auth import Principal
from servicekit.dates import IsoDate
from servicekit.http import created
from servicekit.idempotency import answer_once
from servicekit.paging import PageCursor, PageLimit, decode_cursor, encode_cursor, page_size
from servicekit.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1")

ProductLine = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Holders of cash and networks are named by ids of at most 200 characters, as stored.
HolderId = Annotated[str, Path(min_length=1, max_length=200)]
#: Networks are named by ids of at most 64 characters, as their settlement items store them, of
#: the characters a network is registered with (scheduling): a card for an id no network can
#: have would never price any network's work (BIL-12).
NetworkId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
VersionNumber = Annotated[int, Path(ge=1, le=2_147_483_647)]

#: The order of each list a cursor is bound to (a cursor of one list is refused by another).
VERSION_SORT = "fee-schedule-versions:newest"
RATE_CARD_SORT = "rate-card-versions:newest"
_Versioned = TypeVar("_Versioned", FeeSchedule, RateCard)
CASH_SORT = "cash-entries:at"
SETTLEMENT_SORT = "settlement-lines:order"
HELD_SORT = "held-reductions:waiting-since"
PENDING_FEES_SORT = "pending-network-fees:work-done"
#: Versions are sorted by number alone: their cursors carry this in place of a sort time.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _bad_cursor(reason: str) -> ProblemError:
    """The 422 problem of a cursor that decodes but names no row of its list."""
    return ProblemError(
        422,
        "The request has invalid or missing fields: cursor.",
        title="Invalid request",
        errors=[
            {
                "field": "cursor",
                "message": f"not a cursor of this list ({reason})",
                "type": "value_error",
            }
        ],
    )


def _versions_page(
    found: list[_Versioned], size: int, scope: str, **bound: str
) -> tuple[list[_Versioned], str | None]:
    """The first ``size`` of ``found`` (read with one more, newest first) and the cursor of the
    page after them (None on the last page), bound to the list's network or line (``bound``)."""
    page = found[:size]
    more = len(found) > size
    cursor = encode_cursor(scope, _NO_TIME, str(page[-1].version), **bound) if more else None
    return page, cursor


def _check_cursor_bound(extra: dict[str, Any], whose: str, **bound: str) -> None:
    """422 for a cursor of the same list of another ``whose`` (``bound``: the cursor's extra
    keys naming it), or naming none (given before it was bound): its place would silently page
    this list from the wrong row."""
    if any(key not in extra for key in bound):
        raise _bad_cursor(f"it names no {whose}: ask for the first page again")
    if any(extra[key] != value for key, value in bound.items()):
        raise _bad_cursor(f"it pages another {whose}'s list")


def _version_before(cursor: str | None, scope: str, whose: str, **bound: str) -> int | None:
    """The version a cursor of ``scope`` pages on from; 422 for a cursor of another list, or of
    the same list of another network or product line (``bound``): their versions are numbered
    apart."""
    if cursor is None:
        return None
    _, version, extra = decode_cursor(scope, cursor)
    _check_cursor_bound(extra, whose, **bound)
    if not version.isdigit() or not 1 <= int(version) <= 2_147_483_647:
        raise _bad_cursor("malformed version")
    return int(version)


def _holder_tag(holder_id: str) -> str:
    """What binds a cursor to a holder's ledger: a digest, so that a long holder id (200
    characters, in Chinese say) never makes the cursor longer than a cursor may be."""
    return hashlib.sha256(holder_id.encode()).hexdigest()[:20]


def _cash_after(cursor: str | None, holder_id: str) -> Cursor | None:
    """Where a cursor of ``holder_id``'s ledger pages on from; 422 for one of another holder's
    ledger, whose place would page this one from the wrong entry (BIL-10)."""
    if cursor is None:
        return None
    at, entry_id, extra = decode_cursor(CASH_SORT, cursor)
    _check_cursor_bound(extra, "holder", h=_holder_tag(holder_id))
    return Cursor(at=at, id=entry_id)


def _settlement_after(cursor: str | None, network_id: str, month: str) -> SettlementCursor | None:
    """Where a cursor of ``network_id``'s statement of ``month`` pages on from; 422 for one of
    another network's or month's statement."""
    if cursor is None:
        return None
    at, item_id, extra = decode_cursor(SETTLEMENT_SORT, cursor)
    _check_cursor_bound(extra, "network or month", n=network_id, m=month)
    order_id = extra.get("o")
    if not isinstance(order_id, str):
        raise _bad_cursor("malformed order")
    return SettlementCursor(order_id=order_id, at=at, id=item_id)


def _held_after(cursor: str | None) -> Cursor | None:
    if cursor is None:
        return None
    at, order_id, _ = decode_cursor(HELD_SORT, cursor)
    return Cursor(at=at, id=order_id)


def _cash_cursor(entry: CashEntry) -> str:
    return encode_cursor(CASH_SORT, entry.at, entry.entry_id, h=_holder_tag(entry.holder_id))


def _settlement_cursor(item: SettlementItem, month: str) -> str:
    return encode_cursor(
        SETTLEMENT_SORT, item.occurred_at, item.item_id, o=item.order_id, n=item.network_id, m=month
    )


def _attachment(filename: str) -> str:
    """A Content-Disposition naming ``filename`` safely: an ASCII fallback and the UTF-8 name
    (RFC 6266), so no character of a name (a network id's `:`) can break the header."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _order_item(order_id: str, items: str, item_id: str) -> str:
    """Where one waiver, payment, refund or invoice of an order is read."""
    return f"/v1/orders/{quote(order_id, safe='')}/{items}/{quote(item_id, safe='')}"


def _who(principal: Principal) -> str:
    return principal.technician_id or principal.name or principal.key_id


def _own_order(principal: Principal, account: BillingAccount) -> None:
    """Partner networks see and bill their own orders only, technicians the orders assigned
    to them (SCH-12: who holds an order acts on it). Any other order answers exactly as an
    unknown one (404), as intake, scheduling and fieldwork do, so a key never learns that
    another network's order exists. A partner key bound to no network, or a technician key
    bound to no technician, holds no order: not those nobody holds (the centre's)."""
    if principal.role == "partner" and (
        principal.network_id is None or account.network_id != principal.network_id
    ):
        raise OrderNotFound(account.order_id)
    if principal.role == "technician" and (
        principal.technician_id is None or account.technician_id != principal.technician_id
    ):
        raise OrderNotFound(account.order_id)


def _reader_network(principal: Principal, account: BillingAccount) -> str | None:
    """The partner network whose view of the order's charge ``principal`` reads (SCH-12,
    BIL-12): a partner key's network, or the network of a technician it sent; None for the
    centre (dispatchers, admins, agents, its own technicians), which reads it in full."""
    if principal.role == "partner":
        return principal.network_id
    if principal.role == "technician" and principal.technician_id is not None:
        return account.state.technician_networks.get(principal.technician_id)
    return None


def _charge_out(account: BillingAccount, principal: Principal) -> OrderChargeOut:
    """The order's charge as ``principal`` reads it: another network's pending fees and who
    took its payments left out for a partner network (SCH-12, BIL-12)."""
    return OrderChargeOut.from_domain(account, _reader_network(principal, account))


#: The centre's roles: they take money only by phone (card, mobile), never cash, and record cash
#: a technician or desk took only as a correction saying why (BIL-10).
CENTRE_ROLES = frozenset({"dispatcher", "admin"})


def _collector(principal: Principal, body: PaymentIn, account: BillingAccount) -> str:
    """Who took the payment, so whose cash on hand it adds to: whoever physically took the
    money (BIL-10), never someone another key names, since cash on a ledger must be handed to
    finance by its holder. A technician records what they take on site, a service-hall desk
    (an agent key, ``at_desk``) what it takes at the desk, each to itself; the call centre (an
    agent key, not at a desk) takes card and mobile payments by phone, never cash; a partner
    network records to itself or to its own technician on the order. The centre (dispatcher,
    admin) takes no cash and records cash a technician or desk took only as a correction
    naming them (``collected_by``) and why (``correction_reason``), kept as who approved it;
    a card or mobile payment it may record for whoever took it, no cash on hand being at
    stake."""
    me, named = _who(principal), body.collected_by
    if body.correction_reason is not None and principal.role not in CENTRE_ROLES:
        raise ProblemError(
            403,
            "Only the centre (a dispatcher) records a payment as a correction "
            "(correction_reason); record the money you took yourself.",
            title="Forbidden",
        )
    if principal.role in CENTRE_ROLES:
        if named not in (None, me):
            if body.method is PaymentMethod.CASH and body.correction_reason is None:
                message = (
                    f"Recording cash {named} took is a correction by the centre: say why in "
                    "correction_reason (kept with the payment and the cash entry)."
                )
                raise ProblemError(
                    422,
                    message,
                    title="Invalid request",
                    errors=[{"field": "correction_reason", "message": message, "type": "missing"}],
                )
            return named
        if body.method is PaymentMethod.CASH:
            raise ProblemError(
                403,
                "The centre holds no cash: cash is recorded by the technician or desk that took "
                "it, or by the centre as a correction naming them in collected_by, with a "
                "correction_reason.",
                title="Forbidden",
            )
        return me
    if principal.role == "technician":
        if body.at_desk:
            raise ProblemError(
                403,
                "A technician takes payments on site; only desk staff record a desk payment "
                "(at_desk).",
                title="Forbidden",
            )
        if named not in (None, principal.technician_id):
            raise ProblemError(
                403,
                "A technician records the cash they take themselves: collected_by must be you.",
                title="Forbidden",
            )
        return me
    if principal.role == "partner":
        own = account.state.technician_networks
        if named is None or named == me:
            return me
        if named in own and own[named] == principal.network_id:
            return named
        raise ProblemError(
            403,
            f"A partner network records the money it took, or one of its technicians assigned "
            f"to this order took: {named} is neither.",
            title="Forbidden",
        )
    if named not in (None, me):
        raise ProblemError(
            403,
            f"A call-centre or desk key records the money it takes itself: collected_by must be "
            f"omitted or '{me}'.",
            title="Forbidden",
        )
    if body.method is PaymentMethod.CASH and not body.at_desk:
        raise ProblemError(
            403,
            "The call centre takes no cash: cash is recorded by whoever takes it, the technician "
            "on site with their own key, or a service-hall desk (at_desk).",
            title="Forbidden",
        )
    return me


async def _check_holder(order_id: str, principal: Principal, uow: UowFactoryDep) -> None:
    """404 for an unknown order, and for one a partner or technician does not hold."""
    if principal.role in ("partner", "technician"):
        _own_order(principal, await views.account(order_id, uow=uow()))


async def _idempotent(
    request: Request,
    principal: Principal,
    body: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int = status.HTTP_201_CREATED,
) -> Response:
    return await answer_once(
        request,
        principal_id=principal.key_id,
        ttl_hours=request.app.state.policy.idempotency_key_ttl_hours,
        body=body,
        run=run,
        status_code=status_code,
    )


# --- fee schedules (BIL-1) --------------------------------------------------------------------


@router.post(
    "/fee-schedules/{product_line}/versions",
    tags=["fee schedules"],
    status_code=status.HTTP_201_CREATED,
    response_model=FeeScheduleOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="Publish the next version of a product line's fee schedule",
)
async def publish_schedule(
    product_line: ProductLine,
    body: ScheduleContent,
    bus: BusDep,
    principal: AdminDep,
    request: Request,
) -> Any:
    """Publish labour items by fee code (labour, set-up, call-out), parts (with trade-in credit)
    and materials as the next version of the product line's schedule. A published version is
    never changed: a correction is a new version. Prices are whole jiao. Quote requests waiting
    for this product line's schedule are priced at once. A retry with the same
    `Idempotency-Key` answers the version it published, rather than publishing another.
    """

    async def run() -> JSONResponse:
        schedule = await bus.handle(
            commands.PublishFeeSchedule(
                product_line=product_line, content=body, published_by=_who(principal)
            )
        )
        return JSONResponse(
            jsonable_encoder(FeeScheduleOut.from_domain(schedule)),
            status_code=status.HTTP_201_CREATED,
            headers={"Location": f"/v1/fee-schedules/{product_line}/versions/{schedule.version}"},
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.get(
    "/fee-schedules/{product_line}",
    tags=["fee schedules"],
    response_model=FeeScheduleOut,
    responses=problem_responses(401, 403, 404),
    summary="Read the current fee schedule of a product line",
)
async def read_current_schedule(
    product_line: ProductLine, uow: UowFactoryDep, principal: AnyoneDep
) -> Any:
    """The latest published version: what is shown to the customer before any chargeable work
    (BIL-1, FLD-4)."""
    return FeeScheduleOut.from_domain(await views.schedule(product_line, uow=uow()))


@router.get(
    "/fee-schedules/{product_line}/versions",
    tags=["fee schedules"],
    response_model=FeeScheduleVersionListOut,
    responses=problem_responses(401, 403, 404, 422),
    summary="List the published versions of a product line's fee schedule",
)
async def list_schedule_versions(
    request: Request,
    product_line: ProductLine,
    uow: UowFactoryDep,
    principal: AnyoneDep,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """The published versions, newest (highest number) first, one page at a time (pass
    `next_cursor` as `cursor`; the last page has none). 404 when the line has none; 422 for a
    cursor of another list, or of another product line's versions."""
    before = _version_before(cursor, VERSION_SORT, "product line", line=product_line)
    size = page_size(limit, request.app.state.policy)
    found = await views.schedule_versions(product_line, uow=uow(), before=before, limit=size + 1)
    page, next_cursor = _versions_page(found, size, VERSION_SORT, line=product_line)
    return FeeScheduleVersionListOut(
        items=[FeeScheduleVersionOut.from_domain(s) for s in page], next_cursor=next_cursor
    )


@router.get(
    "/fee-schedules/{product_line}/versions/{version}",
    tags=["fee schedules"],
    response_model=FeeScheduleOut,
    responses=problem_responses(401, 403, 404),
    summary="Read one version of a product line's fee schedule",
)
async def read_schedule_version(
    product_line: ProductLine,
    version: VersionNumber,
    uow: UowFactoryDep,
    principal: AnyoneDep,
) -> Any:
    """The version a quote cites (`schedule_version`), exactly as it was published."""
    return FeeScheduleOut.from_domain(
        await views.schedule(product_line, uow=uow(), version=version)
    )


# --- network rate cards (BIL-12) ----------------------------------------------------------------


def _own_rate_card(principal: Principal, network_id: str) -> None:
    """A partner network reads its own card only, as its own settlement statement (BIL-12)."""
    if principal.role == "partner" and principal.network_id != network_id:
        raise ProblemError(403, "Partners read their own network's rate card.", title="Forbidden")


@router.post(
    "/rate-cards/{network_id}/versions",
    tags=["rate cards"],
    status_code=status.HTTP_201_CREATED,
    response_model=RateCardOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="Publish the next version of a partner network's rate card",
)
async def publish_rate_card(
    network_id: NetworkId,
    body: RateCardIn,
    bus: BusDep,
    principal: AdminDep,
    request: Request,
) -> Any:
    """What the centre owes the network per completed repair or installation, per product line
    (`*`: every line without a rate of its own), as the next version of the network's card,
    in force from `effective_from` (now when not given; a moment already past is refused, 422,
    so work already done is never repriced). A published version is never changed: a
    correction is a new version, which at the same `effective_from` replaces the earlier one.
    Work is owed at the version in force when it was done; work no rate covers, and the work of
    a network without a card, at the policy's flat fee (BIL-12). A retry with the same
    `Idempotency-Key` answers the version it published, rather than publishing another."""

    async def run() -> JSONResponse:
        card = await bus.handle(
            commands.PublishRateCard(
                network_id=network_id,
                rates=list(body.rates),
                effective_from=body.effective_from,
                published_by=_who(principal),
            )
        )
        return created(
            RateCardOut.from_domain(card),
            f"/v1/rate-cards/{quote(network_id, safe='')}/versions/{card.version}",
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.get(
    "/rate-cards/{network_id}",
    tags=["rate cards"],
    response_model=RateCardOut,
    responses=problem_responses(401, 403, 404),
    summary="Read the rate card version in force now for a partner network",
)
async def read_current_rate_card(
    network_id: NetworkId, uow: UowFactoryDep, now: NowDep, principal: RateCardReaderDep
) -> Any:
    """The version work done now is owed at (BIL-12); 404 when the network has none in force
    yet (its work is owed at the policy's flat fee). A partner reads its own network's card
    only."""
    _own_rate_card(principal, network_id)
    return RateCardOut.from_domain(await views.rate_card(network_id, uow=uow(), now=now))


@router.get(
    "/rate-cards/{network_id}/versions",
    tags=["rate cards"],
    response_model=RateCardVersionListOut,
    responses=problem_responses(401, 403, 404, 422),
    summary="List the published versions of a partner network's rate card",
)
async def list_rate_card_versions(
    request: Request,
    network_id: NetworkId,
    uow: UowFactoryDep,
    principal: RateCardReaderDep,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """The published versions with when each takes effect, newest (highest number) first, one
    page at a time (pass `next_cursor` as `cursor`; the last page has none). 404 when the
    network has none; 422 for a cursor of another list, or of another network's versions. A
    partner reads its own network's card only."""
    _own_rate_card(principal, network_id)
    before = _version_before(cursor, RATE_CARD_SORT, "network", network=network_id)
    size = page_size(limit, request.app.state.policy)
    found = await views.rate_card_versions(network_id, uow=uow(), before=before, limit=size + 1)
    page, next_cursor = _versions_page(found, size, RATE_CARD_SORT, network=network_id)
    return RateCardVersionListOut(
        items=[RateCardVersionOut.from_domain(c) for c in page], next_cursor=next_cursor
    )


@router.get(
    "/rate-cards/{network_id}/versions/{version}",
    tags=["rate cards"],
    response_model=RateCardOut,
    responses=problem_responses(401, 403, 404),
    summary="Read one version of a partner network's rate card",
)
async def read_rate_card_version(
    network_id: NetworkId,
    version: VersionNumber,
    uow: UowFactoryDep,
    now: NowDep,
    principal: RateCardReaderDep,
) -> Any:
    """The version a settlement item cites (`rate card net-9@v3` in its description), exactly
    as it was published. A partner reads its own network's card only."""
    _own_rate_card(principal, network_id)
    return RateCardOut.from_domain(
        await views.rate_card(network_id, uow=uow(), version=version, now=now)
    )


# --- orders: events, charge, waivers, payments, invoices, signature ---------------------------


@router.get(
    "/orders/{order_id}/events",
    tags=["orders"],
    response_model=OrderEventsOut,
    responses=problem_responses(401, 403, 404),
    summary="Read the events billing recorded for an order",
)
async def read_order_events(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The events of interest to billing (the order and its warranty status, its resolution by
    phone, reopening or cancellation, assignments, returns to the centre and revisits booked,
    diagnoses, quote requests and the customer's answers, completed work, sign-offs, damage and
    closed visits) seen for the order, oldest first, each with a short summary of its data.

    404 when billing has seen no such event for the order.
    """
    order_file = await views.order_file(order_id, uow=uow())
    return OrderEventsOut.from_domain(order_file)


@router.get(
    "/orders/{order_id}/charge",
    tags=["orders"],
    response_model=OrderChargeOut,
    responses=problem_responses(401, 403, 404),
    summary="Read an order's quotes, charge, receipts and invoices",
)
async def read_charge(order_id: str, uow: UowFactoryDep, principal: ChargeReaderDep) -> Any:
    """What the service report shows: every quote with its lines (each naming the rule that
    priced it and the schedule version), the accepted quote, approved waivers, the charge,
    payments and refunds with their receipt numbers, invoices with their delivery status and
    the customer's signatures (one per visit signed off; `signature` is the latest). A
    cancelled order shows when it was cancelled, its voided quotes and the refund due; a quote
    accepted in another's place shows that one superseded. Partner networks see their own
    orders only, technicians those assigned to them: any other order answers 404, as an
    unknown one."""
    account = await views.account(order_id, uow=uow())
    _own_order(principal, account)
    return _charge_out(account, principal)


@router.post(
    "/orders/{order_id}/waivers",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrderChargeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Waive or reduce an order's charge (centre approval)",
)
async def waive_charge(
    order_id: str, body: WaiverIn, bus: BusDep, principal: ApproverDep, request: Request
) -> Any:
    """Only a dispatcher (the centre) approves a waiver or discount; the approver and the
    reason are recorded and ChargeWaived is published (BIL-8). It reduces the latest accepted
    quote (what exceeds it, the quotes accepted before, latest first) and goes on applying to
    a quote accepted in its place. The charge never goes below zero (422). Reduced below what
    was already paid, the difference becomes the refund due, to pay back with an approved
    refund: waive first, then refund (BIL-8). An order past its retention, its customer's
    personal data erased (BIL-11), takes no waiver: 409 `Personal data erased` with
    `anonymised_at`, and nothing changes. Answers the charge; `Location` is the waiver
    (`GET /v1/orders/{order_id}/waivers/{waiver_id}`)."""

    async def run() -> JSONResponse:
        account, waivers = await bus.handle(
            commands.WaiveCharge(
                order_id=order_id,
                amount=body.amount,
                approved_by=_who(principal),
                reason=body.reason,
            )
        )
        waiver_id = waivers[0].waiver_id
        return created(_charge_out(account, principal), _order_item(order_id, "waivers", waiver_id))

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.get(
    "/held-reductions",
    tags=["orders"],
    response_model=HeldReductionListOut,
    responses=problem_responses(401, 403, 422),
    summary="List orders holding a reduction the centre has not approved",
)
async def list_held_reductions(
    request: Request,
    uow: UowFactoryDep,
    principal: ApproverDep,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """The orders whose accepted quotes hold a reduction waiting for the centre's approval
    (BIL-8): a quote was issued with a waiver deducted that, as a late report showed, stays on
    an earlier quote whose work was completed, so no waiver covers that part of the deduction
    any more. It is not charged (the customer consented to the price issued, FLD-4, and signs
    for it, BIL-9); each quote is approved with `POST
    /v1/orders/{order_id}/quotes/{quote_id}/held-approval`. The longest waiting first (since
    the customer accepted the quote), then by order id, one page at a time (pass `next_cursor`
    as `cursor`; the last page has none); a cursor of another list is 422. The centre only (a
    dispatcher, as for waivers)."""
    after = _held_after(cursor)
    size = page_size(limit, request.app.state.policy)
    found = await views.holding_unapproved(uow=uow(), after=after, limit=size + 1)
    page = found[:size]
    next_cursor = (
        encode_cursor(HELD_SORT, page[-1][0].at, page[-1][0].id) if len(found) > size else None
    )
    return HeldReductionListOut(
        # An account a release before this one saved may be listed without holding anything
        # any more: it is left out (the next page still follows the list's order).
        items=[HeldReductionOut.from_domain(a, at.at) for at, a in page if a.held_quotes],
        next_cursor=next_cursor,
    )


@router.get(
    "/pending-network-fees",
    tags=["settlements"],
    response_model=PendingNetworkFeesListOut,
    responses=problem_responses(401, 403, 422),
    summary="List orders whose partner networks' fees wait for the product line",
)
async def list_pending_network_fees(
    request: Request,
    uow: UowFactoryDep,
    principal: RateCardReaderDep,
    network_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    ] = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """The orders holding partner networks' fees for completed work that billing heard of
    before the order's product line, so on no settlement statement yet (BIL-12): each goes on
    it, at the rate card version in force when the work was done, as soon as the line is known;
    a fee still listed here after intake has the order points at an order whose line is never
    told. The earliest work first, then by order id, one page at a time (pass `next_cursor` as
    `cursor`; the last page has none); a cursor of another list, or of another `network_id`'s,
    is 422. `network_id` lists that network's fees only, each order dated (`pending_since`) and
    placed by that network's own earliest waiting work; a partner lists its own network's
    (another `network_id` is 403)."""
    if principal.role == "partner":
        # a key bound to no network lists nothing, not every network's
        if principal.network_id is None or network_id not in (None, principal.network_id):
            raise ProblemError(
                403, "Partners list their own network's pending fees.", title="Forbidden"
            )
        network_id = principal.network_id
    # One network's list is in the order of that network's own work (``d``), not of the
    # order's earliest work of any network: a cursor given before is 422, its place being in
    # the other order.
    bound = {"n": network_id or ""}
    if network_id is not None:
        bound["d"] = "network"
    after: Cursor | None = None
    if cursor is not None:
        at, order_id, extra = decode_cursor(PENDING_FEES_SORT, cursor)
        _check_cursor_bound(extra, "network_id", **bound)
        after = Cursor(at=at, id=order_id)
    size = page_size(limit, request.app.state.policy)
    items: list[PendingNetworkFeesOut] = []
    last: Cursor | None = None
    more = False
    while True:
        found = await views.with_pending_network_fees(
            uow=uow(), network_id=network_id, after=after, limit=size + 1
        )
        for place, account in found:
            after = place
            listed = PendingNetworkFeesOut.from_domain(account, place.at, network_id)
            # An account a release before this one saved may be listed holding nothing (of
            # the network) any more: the page goes on past it.
            if not listed.fees:
                continue
            if len(items) == size:
                more = True
                break
            items.append(listed)
            last = place
        if more or len(found) <= size:
            break
    # after the last order listed, not one skipped: a partner's cursor names no order of
    # another network
    return PendingNetworkFeesListOut(
        items=items,
        next_cursor=encode_cursor(PENDING_FEES_SORT, last.at, last.id, **bound)
        if more and last is not None
        else None,
    )


@router.post(
    "/orders/{order_id}/quotes/{quote_id}/held-approval",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrderChargeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Approve what a quote held at issue (centre approval)",
)
async def approve_held_reduction(
    order_id: str,
    quote_id: str,
    body: HeldApprovalIn,
    bus: BusDep,
    principal: ApproverDep,
    request: Request,
) -> Any:
    """Only a dispatcher (the centre) approves, as for any waiver or reduction (BIL-8): what the
    quote held at issue (its `held_at_issue`, the charge's `held`; `GET /v1/held-reductions`
    lists them) becomes a waiver of its own on that quote (`approves_held`), recording the
    approver, the reason and when, and ChargeWaived is published. The charge does not change:
    the customer is never charged above the price issued, which they consented to (FLD-4) and
    sign for (BIL-9); the reduction moves from `held` to `waived`, and the quote names the
    waiver (`held_waiver_id`). An unknown order or quote is 404; a quote holding nothing (not
    accepted, or nothing held) or already approved 409 (naming the `waiver_id`); an order whose
    personal data was erased 409 `Personal data erased` (BIL-11). A retry with the same
    `Idempotency-Key` gets the first answer. Answers the charge; `Location` is the waiver
    (`GET /v1/orders/{order_id}/waivers/{waiver_id}`)."""

    async def run() -> JSONResponse:
        account, waiver = await bus.handle(
            commands.ApproveHeldReduction(
                order_id=order_id,
                quote_id=quote_id,
                approved_by=_who(principal),
                reason=body.reason,
            )
        )
        return created(
            _charge_out(account, principal),
            _order_item(order_id, "waivers", waiver.waiver_id),
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.post(
    "/orders/{order_id}/payments",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Take a payment (cash, card, mobile) and issue its receipt",
)
async def collect_payment(
    order_id: str,
    body: PaymentIn,
    bus: BusDep,
    uow: UowFactoryDep,
    principal: CollectorDep,
    request: Request,
) -> Any:
    """Take a full or partial payment of the accepted quote's charge; a receipt numbered
    gaplessly in the receipt series is always issued (BIL-7). Publishes PaymentCollected and
    ReceiptIssued. Cash adds to the cash on hand of whoever physically took it, which raises
    CashRemittanceDue above the cash limit (BIL-10), so it is booked only to them: technicians
    record what they take on site, a service-hall desk (an agent key, `at_desk`, desk business
    sampled under FBK-4) what it takes, each to itself; the call centre (an agent key, not at a
    desk) takes card and mobile payments by phone, never cash; a partner network books to
    itself or its own technician on the order; the centre (dispatcher) takes no cash and
    records cash a technician or desk took only as a correction naming them in `collected_by`,
    with a `correction_reason` (422 without it), kept with the payment as who approved it and
    why. Money the centre takes (by phone, at its service-hall desk) is on no partner network's
    monthly statement, whoever holds the order; what a network's people take, at its own desk
    too, is on that network's (BIL-12). Anything else is 403; an order a partner or technician
    does not hold is 404, as an unknown one. Send an `Idempotency-Key` to retry safely. A
    cancelled order takes only what is still owed for work completed before the cancellation;
    otherwise 409 `order-cancelled`, and what was paid beyond that work is refunded instead
    (BIL-1, BIL-8).
    An order past its retention, its customer's personal data erased (BIL-11), takes no
    payment: 409 `Personal data erased` with `anonymised_at`, and nothing changes.
    `Location` is the payment (`GET /v1/orders/{order_id}/payments/{payment_id}`)."""
    account = await views.account(order_id, uow=uow())
    _own_order(principal, account)

    async def run() -> JSONResponse:
        # A payment the charge does not call for is refused as such (409, 422), whoever takes it.
        account.check_payment(body.amount)
        collected_by = _collector(principal, body, account)
        correction = principal.role in CENTRE_ROLES and collected_by != _who(principal)
        # BIL-12: what the centre takes (by phone, at its desk, or a dispatcher) is no
        # network's, whoever holds the order; a correction is whoever it names took it.
        by_centre = principal.role == "agent" or (
            principal.role in CENTRE_ROLES and (not correction or body.at_desk)
        )
        changed, payment = await bus.handle(
            commands.CollectPayment(
                order_id=order_id,
                method=body.method,
                amount=body.amount,
                collected_by=collected_by,
                at_desk=body.at_desk,
                by_centre=by_centre,
                approved_by=_who(principal) if correction else None,
                reason=body.correction_reason if correction else None,
            )
        )
        return created(
            _payment_out(changed, payment.payment_id, PaymentKind.PAYMENT, principal),
            _order_item(order_id, "payments", payment.payment_id),
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.post(
    "/orders/{order_id}/refunds",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Refund a payment (centre approval) and issue its receipt",
)
async def refund_payment(
    order_id: str, body: RefundIn, bus: BusDep, principal: ApproverDep, request: Request
) -> Any:
    """Pay money back; the approving dispatcher and the reason are recorded (BIL-8) and the
    refund gets its own receipt number (BIL-7). Publishes PaymentRefunded and ReceiptIssued
    (negative amount). Only the refund due is refunded: what was paid beyond the charge (after
    a cancellation, beyond the work completed before it). Money paid for what is still charged
    would be owed again: 409 naming the refund due, the charge must first be reduced by an
    approved waiver (`POST /waivers`), which makes it refundable (422 beyond what was paid).
    Refunding invoiced money issues credit invoices; an invoice reversed in full is no longer
    chased for delivery. An order past its retention, its customer's personal data erased
    (BIL-11), takes no refund: 409 `Personal data erased` with `anonymised_at`, and nothing
    changes. `Location` is the refund (`GET /v1/orders/{order_id}/refunds/{refund_id}`)."""

    async def run() -> JSONResponse:
        account, payment = await bus.handle(
            commands.RefundPayment(
                order_id=order_id,
                method=body.method,
                amount=body.amount,
                refunded_by=body.refunded_by,
                approved_by=_who(principal),
                reason=body.reason,
            )
        )
        return created(
            _payment_out(account, payment.payment_id, PaymentKind.REFUND, principal),
            _order_item(order_id, "refunds", payment.payment_id),
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.post(
    "/orders/{order_id}/invoices",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrderChargeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Issue the invoice the customer asked for",
)
async def issue_invoice(
    order_id: str,
    body: InvoiceIn,
    bus: BusDep,
    uow: UowFactoryDep,
    principal: CollectorDep,
    request: Request,
) -> Any:
    """Invoice what was paid for the charge and not yet invoiced, numbered gaplessly in the
    invoice series (BIL-7). Handed over on site or sent electronically it is delivered at once;
    posted or brought on a later visit it is tracked until delivered, by `promised_by` or else
    within the policy's delivery days. A `promised_by` before today or more than the policy's
    `invoice_promise_max_days` ahead (days of the business calendar) is refused with 422.
    Publishes InvoiceIssued. An order a partner or technician does not hold is 404, as an
    unknown one.
    On a cancelled order only money paid for work completed before the cancellation is
    invoiced (409 `order-cancelled` when there is none). An order past its retention, its
    customer's personal data erased (BIL-11), takes no invoice: 409 `Personal data erased`
    with `anonymised_at`, and nothing changes. Answers the charge; `Location` is the invoice
    (`GET /v1/orders/{order_id}/invoices/{invoice_number}`)."""
    await _check_holder(order_id, principal, uow)

    async def run() -> JSONResponse:
        account, invoice = await bus.handle(
            commands.IssueInvoice(
                order_id=order_id,
                buyer_name=body.buyer_name,
                buyer_tax_id=body.buyer_tax_id,
                delivery=body.delivery,
                promised_by=body.promised_by,
            )
        )
        return created(
            _charge_out(account, principal),
            _order_item(order_id, "invoices", invoice.number),
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.post(
    "/orders/{order_id}/invoices/{invoice_number}/delivery",
    tags=["orders"],
    response_model=OrderChargeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record an invoice's delivery progress",
)
async def track_invoice(
    order_id: str,
    invoice_number: str,
    body: InvoiceDeliveryIn,
    bus: BusDep,
    uow: UowFactoryDep,
    principal: CollectorDep,
    request: Request,
) -> Any:
    """to_deliver → posted → delivered (BIL-7); any other move is 409 naming the allowed ones.
    An order a partner or technician does not hold is 404, as an unknown one.
    An order past its retention, its customer's personal data erased (BIL-11), takes no
    delivery progress: 409 `Personal data erased` with `anonymised_at`, and nothing changes. A
    retry with the same `Idempotency-Key` gets the first answer."""
    await _check_holder(order_id, principal, uow)

    async def run() -> OrderChargeOut:
        account = await bus.handle(
            commands.TrackInvoice(
                order_id=order_id,
                invoice_number=invoice_number,
                status=body.status.value,
                tracking_number=body.tracking_number,
            )
        )
        return _charge_out(account, principal)

    return await _idempotent(
        request, principal, body.model_dump(mode="json"), run, status_code=status.HTTP_200_OK
    )


async def _readable_account(
    order_id: str, principal: Principal, uow: UowFactoryDep
) -> BillingAccount:
    """The order's account, if the caller may read its charge (404 as unknown otherwise)."""
    account = await views.account(order_id, uow=uow())
    _own_order(principal, account)
    return account


def _payment_out(
    account: BillingAccount, payment_id: str, kind: PaymentKind, principal: Principal
) -> PaymentOut:
    """A payment or refund of the order with its receipt and the charge's summary now, as
    ``principal`` reads it (another network's identity left out for a partner, SCH-12)."""
    payment = next(
        (p for p in account.state.payments if p.payment_id == payment_id and p.kind is kind),
        None,
    )
    if payment is None:
        raise ChargeItemNotFound(account.order_id, kind.value, payment_id)
    return PaymentOut(
        payment=ChargePaymentOut.seen_by(payment, account, _reader_network(principal, account)),
        receipt_number=payment.receipt_number,
        summary=OrderChargeOut.from_domain(account).summary,
    )


@router.get(
    "/orders/{order_id}/waivers/{waiver_id}",
    tags=["orders"],
    response_model=WaiverOut,
    responses=problem_responses(401, 403, 404),
    summary="Read one waiver of an order's charge",
)
async def read_waiver(
    order_id: str, waiver_id: str, uow: UowFactoryDep, principal: ChargeReaderDep
) -> Any:
    """A waiver the centre approved, with what it takes off each quote (BIL-8). Whoever reads
    the order's charge reads its waivers; one approved on another partner network's work a
    partner network reads without who approved it and why (`another_network`, SCH-12). Any
    other order answers 404, as an unknown one."""
    account = await _readable_account(order_id, principal, uow)
    portions = [w for w in account.state.waivers if w.waiver_id == waiver_id]
    if not portions:
        raise ChargeItemNotFound(order_id, "waiver", waiver_id)
    return WaiverOut.from_domain(order_id, portions, account, _reader_network(principal, account))


@router.get(
    "/orders/{order_id}/payments/{payment_id}",
    tags=["orders"],
    response_model=PaymentOut,
    responses=problem_responses(401, 403, 404),
    summary="Read one payment of an order with its receipt",
)
async def read_payment(
    order_id: str, payment_id: str, uow: UowFactoryDep, principal: ChargeReaderDep
) -> Any:
    """A payment taken on the order, its receipt number (BIL-7) and the charge's summary as it
    stands now. Whoever reads the order's charge reads its payments; any other order answers
    404, as an unknown one."""
    account = await _readable_account(order_id, principal, uow)
    return _payment_out(account, payment_id, PaymentKind.PAYMENT, principal)


@router.get(
    "/orders/{order_id}/refunds/{refund_id}",
    tags=["orders"],
    response_model=PaymentOut,
    responses=problem_responses(401, 403, 404),
    summary="Read one refund of an order with its receipt",
)
async def read_refund(
    order_id: str, refund_id: str, uow: UowFactoryDep, principal: ChargeReaderDep
) -> Any:
    """A refund paid on the order, its receipt number (BIL-7, BIL-8) and the charge's summary as
    it stands now. Whoever reads the order's charge reads its refunds; any other order answers
    404, as an unknown one."""
    account = await _readable_account(order_id, principal, uow)
    return _payment_out(account, refund_id, PaymentKind.REFUND, principal)


@router.get(
    "/orders/{order_id}/invoices/{invoice_number}",
    tags=["orders"],
    response_model=Invoice,
    responses=problem_responses(401, 403, 404),
    summary="Read one invoice of an order with its delivery status",
)
async def read_invoice(
    order_id: str, invoice_number: str, uow: UowFactoryDep, principal: ChargeReaderDep
) -> Any:
    """An invoice (or credit invoice) issued on the order and how far its delivery got
    (BIL-7). Whoever reads the order's charge reads its invoices; any other order answers 404,
    as an unknown one."""
    account = await _readable_account(order_id, principal, uow)
    invoice = next((i for i in account.state.invoices if i.number == invoice_number), None)
    if invoice is None:
        raise ChargeItemNotFound(order_id, "invoice", invoice_number)
    return invoice


@router.post(
    "/orders/{order_id}/signature",
    tags=["orders"],
    response_model=OrderChargeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record the customer's signature on the amount and parts",
)
async def record_signature(
    order_id: str,
    body: SignatureIn,
    bus: BusDep,
    uow: UowFactoryDep,
    principal: CollectorDep,
    request: Request,
) -> Any:
    """The customer signs for the amount charged and the quantity of parts replaced (BIL-9):
    on a visit (`visit_id`), what that visit charged; else what the whole order charges. A
    signature that does not match is refused with 409 showing the charge. Each visit keeps its
    own signature; the charge view lists them all. An order a partner or technician does not
    hold is 404, as an unknown one. An order past its retention, its customer's personal data
    erased (BIL-11), takes no signature: 409 `Personal data erased` with `anonymised_at`, and
    nothing changes. A retry with the same `Idempotency-Key` gets the first answer."""
    await _check_holder(order_id, principal, uow)

    async def run() -> OrderChargeOut:
        account = await bus.handle(
            commands.RecordSignature(
                order_id=order_id,
                amount=body.amount,
                parts=body.parts,
                signature_ref=body.signature_ref,
                visit_id=body.visit_id,
            )
        )
        return _charge_out(account, principal)

    return await _idempotent(
        request, principal, body.model_dump(mode="json"), run, status_code=status.HTTP_200_OK
    )


# --- cash, reconciliation, settlements (BIL-10, BIL-12) ---------------------------------------


@router.get(
    "/cash/{holder_id}",
    tags=["cash"],
    response_model=CashLedgerOut,
    responses=problem_responses(401, 403, 404, 422),
    summary="Read a technician's or desk's cash on hand",
)
async def read_cash(
    request: Request,
    holder_id: HolderId,
    uow: UowFactoryDep,
    principal: CollectorDep,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Cash on hand and since when the oldest of it is held, over the whole ledger, and the
    ledger's entries (collected, refunded, remitted) in booking order (time, then id), one page
    at a time (pass `next_cursor` as `cursor`; the last page has none) (BIL-10). Technicians see
    their own ledger only; a partner network its own and those of its own technicians: those
    who took the cash while they worked for it, whoever holds their orders now. Any other
    ledger answers 404, as an unknown one; a cursor of another list, or of another holder's
    ledger, 422."""
    after = _cash_after(cursor, holder_id)
    size = page_size(limit, request.app.state.policy)
    await _check_ledger_reader(principal, holder_id, uow)
    found = await views.cash_ledger(holder_id, uow=uow(), after=after, limit=size + 1)
    page = found.entries[:size]
    next_cursor = _cash_cursor(page[-1]) if len(found.entries) > size else None
    return CashLedgerOut.from_domain(found.position, page, next_cursor)


async def _check_ledger_reader(principal: Principal, holder_id: str, uow: UowFactoryDep) -> None:
    """404 for a ledger a technician or partner may not read, as for an unknown one (BIL-10)."""
    if principal.role == "technician" and principal.technician_id != holder_id:
        raise CashLedgerNotFound(holder_id)
    if principal.role == "partner" and not await _networks_holder(principal, holder_id, uow):
        raise CashLedgerNotFound(holder_id)


@router.get(
    "/cash/{holder_id}/remittances/{entry_id}",
    tags=["cash"],
    response_model=CashEntry,
    responses=problem_responses(401, 403, 404, 422),
    summary="Read one remittance of a cash ledger",
)
async def read_remittance(
    holder_id: HolderId, entry_id: str, uow: UowFactoryDep, principal: CollectorDep
) -> Any:
    """Cash a technician or desk handed to finance, and who received it (BIL-10), as its entry
    in the ledger. Whoever reads the ledger reads its remittances; any other ledger answers 404,
    as an unknown one, and so does an entry that is no remittance of this ledger."""
    await _check_ledger_reader(principal, holder_id, uow)
    entry = await views.cash_entry(holder_id, entry_id, uow=uow())
    if entry is None or entry.kind is not CashEntryKind.REMITTED:
        raise RemittanceNotFound(holder_id, entry_id)
    return entry


async def _networks_holder(principal: Principal, holder_id: str, uow: UowFactoryDep) -> bool:
    """Whether the ledger is the partner's own, or that of one of its technicians: on every
    order the cash in it was taken on, an assignment recorded the holder as the network's
    technician (BIL-10, BIL-12). Not who holds those orders now: a revisit given to another
    network gives it no right to the cash the first network's technician took. An empty
    ledger of someone else is not the partner's."""
    if holder_id == _who(principal):
        return True
    if principal.network_id is None:
        return False
    # one query however many orders the ledger names, not an account read per order
    networks = await views.holder_networks(holder_id, uow=uow())
    if not networks:
        return False
    return all(n == principal.network_id for n in networks.values())


@router.post(
    "/cash/{holder_id}/remittances",
    tags=["cash"],
    status_code=status.HTTP_201_CREATED,
    response_model=CashLedgerOut,
    responses=problem_responses(401, 403, 422),
    summary="Record cash handed to finance",
)
async def record_remittance(
    holder_id: HolderId,
    body: RemittanceIn,
    bus: BusDep,
    uow: UowFactoryDep,
    principal: FinanceDep,
    request: Request,
) -> Any:
    """Cash handed over by a technician or desk, received by the caller (BIL-10); never more
    than is on hand. Answers the ledger as `GET /v1/cash/{holder_id}` does: its first page;
    `Location` is the remittance (`GET /v1/cash/{holder_id}/remittances/{entry_id}`)."""
    size = page_size(None, request.app.state.policy)

    async def run() -> JSONResponse:
        entry = await bus.handle(
            commands.RecordRemittance(
                holder_id=holder_id, amount=body.amount, received_by=_who(principal)
            )
        )
        found = await views.cash_ledger(holder_id, uow=uow(), limit=size + 1)
        page = found.entries[:size]
        next_cursor = _cash_cursor(page[-1]) if len(found.entries) > size else None
        return created(
            CashLedgerOut.from_domain(found.position, page, next_cursor),
            f"/v1/cash/{quote(holder_id, safe='')}/remittances/{entry.entry_id}",
        )

    return await _idempotent(request, principal, body.model_dump(mode="json"), run)


@router.get(
    "/reports/reconciliation",
    tags=["cash"],
    response_model=Reconciliation,
    responses=problem_responses(401, 403, 422),
    summary="Daily reconciliation of takings",
)
async def read_reconciliation(
    day: IsoDate, uow: UowFactoryDep, calendar: CalendarDep, principal: FinanceDep
) -> Any:
    """Per technician or desk: cash, card and mobile takings, refunds, remittances, receipts
    and cash on hand at the end of the local day (BIL-10)."""
    return await views.reconciliation(day, uow=uow(), calendar=calendar)


@router.get(
    "/settlements/{network_id}/{month}",
    tags=["settlements"],
    response_model=StatementOut,
    responses={
        **problem_responses(401, 403, 422),
        200: {"content": {"application/json": {}, "text/csv": {}}},
    },
    summary="A partner network's monthly settlement statement (JSON or CSV)",
)
async def read_settlement(
    request: Request,
    network_id: NetworkId,
    month: str,
    uow: UowFactoryDep,
    calendar: CalendarDep,
    principal: ChargeReaderDep,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Any:
    """Fees collected by the network, installation and repair fees owed to it and damage
    compensation it bears, per order, for a calendar month `YYYY-MM` (BIL-12). The totals are
    over the whole month; its lines come by order (then time and id), one page at a time (pass
    `next_cursor` as `cursor`; the last page has none). `?format=csv` gives the whole month's
    statement, every line and the totals, as CSV (so it takes no `limit` or `cursor`); a cursor
    of another network's or month's statement is 422. A partner reads its own network's
    statement only."""
    if principal.role == "partner" and principal.network_id != network_id:
        raise ProblemError(403, "Partners read their own network's statement.", title="Forbidden")
    if principal.role == "technician":
        raise ProblemError(403, "Technicians do not read settlements.", title="Forbidden")
    matched = MONTH.match(month)
    if matched is None or not 1 <= int(matched[1]) <= 9998:
        raise ProblemError(
            422,
            "month must be YYYY-MM, year 0001 to 9998.",
            title="Invalid request",
            errors=[{"field": "month", "message": "must be YYYY-MM", "type": "value_error"}],
        )
    year, month_number = int(matched[1]), int(matched[2])
    if format == "csv":
        paged = [name for name, value in (("limit", limit), ("cursor", cursor)) if value]
        if paged:
            raise ProblemError(
                422,
                f"The CSV statement is the whole month: {', '.join(paged)} pages the JSON only.",
                title="Invalid request",
                errors=[
                    {"field": name, "message": "not taken with format=csv", "type": "value_error"}
                    for name in paged
                ],
            )
        whole = await views.settlement(network_id, year, month_number, uow=uow(), calendar=calendar)
        return PlainTextResponse(
            statement_csv(whole),
            media_type="text/csv",
            headers={"Content-Disposition": _attachment(f"settlement-{network_id}-{month}.csv")},
        )
    after = _settlement_after(cursor, network_id, month)
    size = page_size(limit, request.app.state.policy)
    st = await views.settlement(
        network_id,
        year,
        month_number,
        uow=uow(),
        calendar=calendar,
        after=after,
        limit=size + 1,
    )
    page = st.items[:size]
    next_cursor = _settlement_cursor(page[-1], month) if len(st.items) > size else None
    return StatementOut(**{**st.model_dump(), "items": page}, next_cursor=next_cursor)
