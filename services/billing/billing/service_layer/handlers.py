"""Billing's command handlers, the handler of events seen on the bus, and periodic jobs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from billing.domain import commands
from billing.domain.account import (
    BillingAccount,
    Invoice,
    InvoiceStatus,
    Payment,
    PendingNetworkFee,
    QuoteRequest,
    RecordedNetworkFee,
    Waiver,
)
from billing.domain.cash import CashEntry, CashLedger
from billing.domain.exceptions import OrderNotFound, RateCardVersionTaken, ScheduleVersionTaken
from billing.domain.model import EVENTS_OF_INTEREST, RecordedEvent, summarise
from billing.domain.policy import BillingPolicy
from billing.domain.rate_cards import NetworkFee, RateCard, WorkKind, network_fee
from billing.domain.reports import SettlementItem, SettlementKind
from billing.domain.schedule import FeeSchedule
from billing.service_layer.unit_of_work import BillingUnitOfWork
from contracts import fieldwork, intake, scheduling
from contracts.billing import PaymentMethod
from contracts.envelope import EventEnvelope
from contracts.registry import parse_data
from servicekit.calendar import BusinessCalendar
from servicekit.consumer import PoisonMessage
from servicekit.messagebus import Handler

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


# --- events seen on the bus -------------------------------------------------------------------


async def record_event(
    envelope: EventEnvelope,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    clock: Clock,
    tz: tzinfo,
) -> None:
    """Put an event of interest on its order's file and apply it to the order's billing
    account, once (inbox); other events are skipped."""
    if envelope.event_name not in EVENTS_OF_INTEREST:
        return  # nothing to apply, so nothing to remember in the inbox either
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        if await uow.order_files.record(envelope.subject, recorded_event(envelope)):
            log.info("billing.event_recorded", type=envelope.type, subject=envelope.subject)
        try:
            payload = parse_data(envelope)
        except ValidationError as exc:
            raise PoisonMessage(f"invalid {envelope.type} data: {exc}") from exc
        account = await _apply(envelope, payload, uow=uow, policy=policy, now=clock(), tz=tz)
        if account.anonymised_at is not None:
            # An event after retention (BIL-11) stays on the file without its personal data.
            await uow.order_files.scrub_personal_data(envelope.subject)
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


async def _account(uow: BillingUnitOfWork, order_id: str) -> BillingAccount:
    account = await uow.accounts.get(order_id)
    return account or BillingAccount(order_id=order_id)


async def _apply(
    envelope: EventEnvelope,
    payload: Any,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    now: datetime,
    tz: tzinfo,
) -> BillingAccount:
    account = uow.track(await _account(uow, envelope.subject))
    line_before = account.product_line
    match payload:
        case intake.OrderCreated():
            account.learn_order(
                product_line=payload.product.line,
                warranty_status=payload.warranty_status,
                customer=payload.customer.model_dump(mode="json"),
                installed_on=payload.product.installation_date,
                serial=payload.product.serial,
            )
        case intake.OrderVerified():
            account.learn_order(
                product_line=payload.product.line if payload.product else None,
                warranty_status=payload.warranty_status,
                customer=payload.customer.model_dump(mode="json") if payload.customer else None,
                installed_on=payload.product.installation_date if payload.product else None,
                serial=payload.product.serial if payload.product else None,
            )
        case intake.OrderCancelled():
            account.cancelled(at=envelope.time)
            if account.refund_due > 0:
                log.warning(
                    "billing.refund_due_after_cancellation",
                    order_id=account.order_id,
                    refund_due=str(account.refund_due),
                )
        case intake.OrderResolvedRemotely():
            account.resolved_remotely(at=envelope.time)
        case intake.OrderReopened():
            account.reopened(at=envelope.time)
        case scheduling.OrderAssigned() | scheduling.OrderReassigned():
            # A network that hands the order to its own technician still holds it (BIL-12).
            account.assign(
                network_id=payload.network_id,
                technician_id=payload.technician_id,
                visit_id=payload.visit_id,
            )
        case scheduling.OrderReturnedToCentre():
            # SCH-1, SCH-12: handed back (rejected, not accepted in time, assignment cancelled),
            # the order is nobody's until placed again; the money taken stays as it was taken.
            account.returned_to_centre()
        case scheduling.RevisitBooked():
            account.revisit_booked(visit_id=payload.visit_id, technician_id=payload.technician_id)
        case fieldwork.DiagnosisRecorded():
            account.learn_warranty(payload.warranty_status)
        case fieldwork.QuoteRequested():
            if account.cancelled_at is not None:
                log.info(
                    "billing.quote_request_dropped",
                    order_id=account.order_id,
                    request_id=payload.request_id,
                    reason="order cancelled",
                )
            account.request_quote(
                QuoteRequest(
                    request_id=payload.request_id,
                    visit_id=payload.visit_id,
                    items=payload.items,
                    warranty_status=payload.warranty_status,
                    warranty_card_amount=payload.warranty_card_amount,
                    installed_on=payload.installed_on,
                    product_line=payload.product_line,
                    requested_at=envelope.time,
                )
            )
        case fieldwork.QuoteAccepted():
            account.quote_answered(
                payload.quote_id, accepted=True, discount_requested=False, at=envelope.time
            )
            accepted = account.quote(payload.quote_id)
            if accepted is not None and accepted.held_at_issue > 0:
                # FLD-4/BIL-8: charged at the price the customer consented to, though a waiver
                # it was issued with stays on a quote whose work was completed: the centre
                # approves the reduction (GET /v1/held-reductions lists it, POST
                # /v1/orders/{order_id}/quotes/{quote_id}/held-approval approves it).
                log.warning(
                    "billing.quote_held_to_issued_price",
                    order_id=account.order_id,
                    quote_id=payload.quote_id,
                    held=str(accepted.held_at_issue),
                )
        case fieldwork.QuoteDeclined():
            refund_due = account.refund_due
            account.quote_answered(
                payload.quote_id,
                accepted=False,
                discount_requested=payload.discount_requested,
                at=envelope.time,
            )
            if account.refund_due > refund_due:
                # BIL-1/FLD-4: declined at a revisit, the job an earlier visit left undone is
                # not charged; what was paid for it goes back with the centre's approval.
                log.warning(
                    "billing.refund_due_after_decline",
                    order_id=account.order_id,
                    quote_id=payload.quote_id,
                    refund_due=str(account.refund_due),
                )
        case fieldwork.RepairCompleted() | fieldwork.InstallationCompleted():
            kind = "repair" if isinstance(payload, fieldwork.RepairCompleted) else "installation"
            installed = getattr(payload, "installed_on", None)
            account.work_completed(kind, installed, visit_id=payload.visit_id, at=envelope.time)
            # The fee goes to the network whose technician did the work, not to whoever holds
            # the order when billing hears of it (BIL-12).
            network_id = account.network_of(
                technician_id=payload.technician_id, visit_id=payload.visit_id
            )
            if network_id:
                fee = PendingNetworkFee(
                    fee_id=str(envelope.id),
                    network_id=network_id,
                    kind=kind,
                    visit_id=payload.visit_id,
                    occurred_at=envelope.time,
                    heard_at=now,
                )
                if account.product_line:
                    await _record_network_fee(account, fee, uow=uow, policy=policy, now=now)
                else:
                    # BIL-12: heard before the order (intake's topic lags): priced once the
                    # line is known, not at the card's `*` rate for want of it.
                    account.hold_network_fee(fee)
                    log.info(
                        "billing.network_fee_pending",
                        order_id=account.order_id,
                        network_id=network_id,
                        fee_id=fee.fee_id,
                    )
        case fieldwork.UnitTakenBack():
            account.unit_taken_back(
                visit_id=payload.visit_id, receipt_number=payload.receipt_number
            )
        case fieldwork.UnitReturned():
            # BIL-1, FLD-6: the workshop did the work the take-back visit's quote stands for.
            if payload.receipt_number not in account.state.take_backs:
                # taken back before billing kept take-backs: its order file names the visit
                await _take_backs_on_file(account, uow=uow)
            account.unit_returned(
                receipt_number=payload.receipt_number,
                repaired=payload.repaired,
                at=payload.returned_at,
            )
        case fieldwork.DamageReported():
            network_id = account.network_of(
                technician_id=payload.technician_id, visit_id=payload.visit_id
            )
            if network_id and payload.estimated_cost is not None:
                await uow.settlements.add(
                    SettlementItem(
                        item_id=str(envelope.id),
                        network_id=network_id,
                        order_id=account.order_id,
                        kind=SettlementKind.COMPENSATION,
                        amount=payload.estimated_cost,
                        occurred_at=envelope.time,
                        description=f"damage compensation: {payload.description}"[:300],
                    )
                )
        case fieldwork.CustomerSignedOff():
            if payload.amount_acknowledged is not None:
                # BIL-9: the customer signs for what this visit charged, not the whole order.
                signature = account.sign(
                    amount=payload.amount_acknowledged,
                    parts=[],
                    signature_ref=payload.signature_ref,
                    now=envelope.time,
                    strict=False,
                    visit_id=payload.visit_id,
                )
                if not signature.matches_charge:
                    log.warning(
                        "billing.signature_mismatch",
                        order_id=account.order_id,
                        visit_id=payload.visit_id,
                        signed=str(payload.amount_acknowledged),
                        charge=str(signature.charged),
                    )
        case fieldwork.VisitClosed():
            account.visit_closed(
                at=payload.closed_at,
                paid_work=payload.paid_work,
                coordination_ticket=payload.coordination_ticket,
                visit_id=payload.visit_id,
                completed=payload.outcome is fieldwork.VisitOutcome.COMPLETED,
            )
        case fieldwork.CoordinationTicketOpened():
            account.coordination_ticket_opened()
        case _:
            pass
    if isinstance(
        payload, intake.OrderCreated | intake.OrderVerified | fieldwork.InstallationCompleted
    ):
        # BIL-5: the unit's installation dates the set-up of a later order of the same unit;
        # the order's serial and its installation may be heard in either order.
        installation = account.installation
        if installation is not None:
            await uow.installations.record(installation)
    # BIL-12: the fees priced for another product line than the one now known (corrected by
    # OrderVerified), then those of work heard before the line, once any event made it known
    if account.product_line != line_before and account.untracked_network_fees:
        # fees an earlier release put on the settlement without keeping them on the order
        account.adopt_network_fees(
            await uow.settlements.of_order(account.order_id, SettlementKind.SERVICE_FEE)
        )
    for recorded in account.network_fees_to_reprice():
        await _reprice_network_fee(account, recorded, uow=uow, policy=policy, now=now)
    for fee in account.take_pending_network_fees():
        await _record_network_fee(account, fee, uow=uow, policy=policy, now=now)
    await _price_pending(account, uow=uow, policy=policy, now=now, tz=tz)
    await uow.accounts.save(account)
    return account


async def _take_backs_on_file(account: BillingAccount, *, uow: BillingUnitOfWork) -> None:
    """Learn the take-backs (FLD-6) of the order's file that the account does not keep: those
    heard before billing kept them."""
    file = await uow.order_files.get(account.order_id)
    for entry in file.entries if file is not None else []:
        visit_id = entry.summary.get("visit_id")
        receipt_number = entry.summary.get("receipt_number")
        if entry.type == "UnitTakenBack" and isinstance(visit_id, str) and receipt_number:
            account.state.take_backs.setdefault(str(receipt_number), visit_id)


async def _price_network_fee(
    account: BillingAccount,
    fee: PendingNetworkFee,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    now: datetime,
) -> NetworkFee:
    """What ``fee``'s network is owed for the work on the order's product line, by the rate
    card version in force at ``fee.pricing_moment`` (BIL-12); the network's cards are locked
    against a version published meanwhile."""
    await uow.rate_cards.lock_network(fee.network_id, shared=True)
    card = await uow.rate_cards.in_force(fee.network_id, fee.pricing_moment(now))
    return network_fee(
        kind=WorkKind(fee.kind), product_line=account.product_line, card=card, policy=policy
    )


async def _record_network_fee(
    account: BillingAccount,
    fee: PendingNetworkFee,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    now: datetime,
) -> None:
    """Owe ``fee``'s network for the work at the rate card version in force when the work was
    done (never later than when billing heard of it: ``PendingNetworkFee.pricing_moment``), for
    the order's product line (else the card's `*` rate, else the policy's) (BIL-12). The item's
    id is the completion event's: recorded once however often it is asked."""
    priced = await _price_network_fee(account, fee, uow=uow, policy=policy, now=now)
    await uow.settlements.add(
        SettlementItem(
            item_id=fee.fee_id,
            network_id=fee.network_id,
            order_id=account.order_id,
            kind=SettlementKind.SERVICE_FEE,
            amount=priced.amount,
            occurred_at=fee.occurred_at,
            description=f"{fee.kind} fee, visit {fee.visit_id}, {priced.basis}"[:300],
        )
    )
    account.network_fee_recorded(
        RecordedNetworkFee(
            **fee.model_dump(),
            product_line=account.product_line,
            amount=priced.amount,
            basis=priced.basis,
        )
    )


async def _reprice_network_fee(
    account: BillingAccount,
    fee: RecordedNetworkFee,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    now: datetime,
) -> None:
    """Re-price a fee on the settlement for the order's product line, now known or corrected,
    by the same card version as at first: the one in force when the work was done (BIL-12).

    The difference goes on the settlement as an adjustment item, dated now (never before the
    work), so it lands in the month still open: a past month's statement is what was settled
    with the network and is never rewritten, and items are never changed, so even in the open
    month the statement shows the fee as first priced and why it changed. No item when the
    price is the same; the fee then stands for the new line, so the same line heard again
    changes nothing."""
    priced = await _price_network_fee(account, fee, uow=uow, policy=policy, now=now)
    difference = priced.amount - fee.amount
    if difference:
        await uow.settlements.add(
            SettlementItem(
                # one per re-pricing of the fee: the same id if it is ever asked again
                item_id=fee.adjustment_id(fee.adjustments + 1),
                network_id=fee.network_id,
                order_id=account.order_id,
                kind=SettlementKind.SERVICE_FEE,
                amount=difference,
                occurred_at=max(now, fee.occurred_at),
                description=(
                    f"adjustment of {fee.kind} fee {fee.fee_id}, visit {fee.visit_id}: product "
                    f"line {fee.product_line or 'unknown'} -> {account.product_line}; "
                    f"{fee.amount} by {fee.basis} -> {priced.amount} by {priced.basis}"
                )[:300],
            )
        )
        log.info(
            "billing.network_fee_repriced",
            order_id=account.order_id,
            network_id=fee.network_id,
            fee_id=fee.fee_id,
            difference=str(difference),
        )
    account.network_fee_repriced(
        fee.fee_id, amount=priced.amount, basis=priced.basis, adjusted=bool(difference)
    )


async def _price_pending(
    account: BillingAccount,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    now: datetime,
    tz: tzinfo,
) -> None:
    """Price the account's waiting quote requests whose schedule is published (QuoteIssued)."""
    if not account.pending:
        return
    lines = sorted({line for r in account.state.requests if (line := account.line_of(r))})
    # Held to the commit: a version being published is either seen here or sees this request.
    await uow.schedules.lock_lines(lines, shared=True)
    # BIL-1: each request is priced by the version in force when the technician asked (the
    # customer was shown that one), not by one published while the request was on its way.
    in_force: dict[str, FeeSchedule] = {}
    for request in account.state.requests:
        line = account.line_of(request)
        schedule = await uow.schedules.in_force(line, request.requested_at) if line else None
        if schedule is not None:
            in_force[request.request_id] = schedule
    serial = account.undated_unit
    installations = (
        await uow.installations.of_unit(serial=serial, product_lines=lines) if serial else []
    )
    refused = len(account.state.refused_requests)
    for quote in account.price_pending(
        schedules={},
        in_force=in_force,
        policy=policy,
        now=now,
        tz=tz,
        installations=installations,
    ):
        log.info("billing.quote_issued", order_id=account.order_id, quote_id=quote.quote_id)
    for refusal in account.state.refused_requests[refused:]:
        # QuoteRefused tells fieldwork; the log is for ops.
        log.warning(
            "billing.quote_request_refused",
            order_id=account.order_id,
            request_id=refusal.request_id,
            visit_id=refusal.visit_id,
            reason=refusal.reason,
        )


# --- commands ---------------------------------------------------------------------------------


async def publish_schedule(
    cmd: commands.PublishFeeSchedule,
    *,
    uow: BillingUnitOfWork,
    policy: BillingPolicy,
    clock: Clock,
    calendar: BusinessCalendar,
) -> FeeSchedule:
    """Publish the next version of a product line's schedule; waiting quotes are priced by it."""
    async with uow:
        latest = await uow.schedules.latest(cmd.product_line)
        schedule = FeeSchedule.publish(
            product_line=cmd.product_line,
            previous_version=latest.version if latest else None,
            content=cmd.content,
            published_by=cmd.published_by,
            now=clock(),
        )
        await uow.schedules.lock_lines([cmd.product_line], shared=False)
        try:
            await uow.schedules.add(schedule)
        except IntegrityError as exc:
            raise ScheduleVersionTaken(
                f"Version {schedule.version} of {cmd.product_line} was published meanwhile; "
                "retry to publish the next version."
            ) from exc
        await uow.commit()
    # Priced after the commit, which released the line's lock: holding it while waiting for an
    # account could deadlock with a consumer that holds the account and waits for the lock. A
    # request priced against "no schedule" meanwhile held the lock to its commit, so it is seen.
    await _price_waiting(uow=uow, policy=policy, clock=clock, tz=calendar.tz)
    return schedule


async def publish_rate_card(
    cmd: commands.PublishRateCard, *, uow: BillingUnitOfWork, clock: Clock
) -> RateCard:
    """Publish the next version of a network's rate card, in force from its effective moment,
    now or later (BIL-12): work done from then on is owed to the network at its rates. The
    network is told (RateCardVersionPublished) in the same transaction."""
    async with uow:
        # The lock first, then the clock: work priced meanwhile by the version before was done
        # before the new one takes effect (see RateCardRepository.lock_network).
        await uow.rate_cards.lock_network(cmd.network_id, shared=False)
        latest = await uow.rate_cards.latest(cmd.network_id)
        card = RateCard.publish(
            network_id=cmd.network_id,
            previous_version=latest.version if latest else None,
            rates=cmd.rates,
            effective_from=cmd.effective_from,
            published_by=cmd.published_by,
            now=clock(),
        )
        try:
            await uow.rate_cards.add(card)
        except IntegrityError as exc:
            raise RateCardVersionTaken(
                f"Version {card.version} of network {cmd.network_id}'s rate card was published "
                "meanwhile; retry to publish the next version."
            ) from exc
        uow.record(card.announcement())
        await uow.commit()
    return card


async def _price_waiting(
    *, uow: BillingUnitOfWork, policy: BillingPolicy, clock: Clock, tz: tzinfo
) -> int:
    """Price the waiting quote requests whose schedule is published now (QuoteIssued), one
    order per short transaction: the account's lock, then its lines', as every pricing takes
    them. Returns how many orders got a quote; an order still waiting is left untouched."""
    async with uow:
        waiting = await uow.accounts.pending()
    priced = 0
    for order_id in waiting:
        async with uow:
            account = await uow.accounts.get(order_id)
            if account is None or not account.pending:
                continue
            quotes = len(account.state.quotes)
            uow.track(account)
            await _price_pending(account, uow=uow, policy=policy, now=clock(), tz=tz)
            if len(account.state.quotes) == quotes:
                continue
            await uow.accounts.save(account)
            await uow.commit()
            priced += 1
    return priced


async def _existing(uow: BillingUnitOfWork, order_id: str) -> BillingAccount:
    account = await uow.accounts.get(order_id)
    if account is None:
        raise OrderNotFound(order_id)
    return uow.track(account)


def _series(prefix: str, now: datetime, calendar: BusinessCalendar) -> str:
    return f"{prefix}{now.astimezone(calendar.tz).year}"


async def waive_charge(
    cmd: commands.WaiveCharge, *, uow: BillingUnitOfWork, clock: Clock
) -> tuple[BillingAccount, list[Waiver]]:
    """Waive or reduce the charge with the centre's recorded approval (BIL-8); below what was
    paid, the difference becomes a refund due. Returns the account and the waiver's portions
    (one per quote it reduces, sharing its id)."""
    async with uow:
        account = await _existing(uow, cmd.order_id)
        refund_due = account.refund_due
        waivers = account.waive(
            amount=cmd.amount, approved_by=cmd.approved_by, reason=cmd.reason, now=clock()
        )
        if account.refund_due > refund_due:
            log.info(
                "billing.refund_due_after_waiver",
                order_id=account.order_id,
                refund_due=str(account.refund_due),
            )
        await uow.accounts.save(account)
        await uow.commit()
        return account, waivers


async def approve_held_reduction(
    cmd: commands.ApproveHeldReduction, *, uow: BillingUnitOfWork, clock: Clock
) -> tuple[BillingAccount, Waiver]:
    """The centre approves what a quote held at issue, recorded as a waiver of its own with who
    approved it and why (BIL-8); the charge does not change. Returns the account and the
    waiver."""
    async with uow:
        account = await _existing(uow, cmd.order_id)
        waiver = account.approve_held(
            cmd.quote_id, approved_by=cmd.approved_by, reason=cmd.reason, now=clock()
        )
        log.info(
            "billing.held_reduction_approved",
            order_id=account.order_id,
            quote_id=cmd.quote_id,
            waiver_id=waiver.waiver_id,
            amount=str(waiver.amount),
        )
        await uow.accounts.save(account)
        await uow.commit()
        return account, waiver


async def _settle_collected(
    uow: BillingUnitOfWork, account: BillingAccount, payment: Payment, sign: Decimal
) -> None:
    """Money a network's technician took goes on that network's monthly statement, and a
    refund comes off the statements of the networks whose money it pays back, latest payments
    first, whoever holds the order now (BIL-12). What the centre took (at its desk, or by its
    own technicians) is on no statement."""
    if sign > 0:
        sources = [(payment.network_id, payment.amount)]
    else:
        sources = account.refund_sources(payment)
    for network_id, amount in sources:
        if network_id is None:
            continue
        await uow.settlements.add(
            SettlementItem(
                # one item per network a refund comes off; the same ids on a replay
                item_id=payment.payment_id
                if sign > 0
                else str(uuid.uuid5(uuid.UUID(payment.payment_id), network_id)),
                network_id=network_id,
                order_id=account.order_id,
                kind=SettlementKind.FEE_COLLECTED,
                amount=sign * amount,
                occurred_at=payment.at,
                description=f"{payment.kind.value} {payment.method.value}, "
                f"{payment.receipt_number}",
            )
        )


async def _check_cash(
    ledger: CashLedger, *, policy: BillingPolicy, calendar: BusinessCalendar, now: datetime
) -> None:
    ledger.check(now=now, policy=policy, add_working_days=calendar.add_working_days)


async def collect_payment(
    cmd: commands.CollectPayment,
    *,
    uow: BillingUnitOfWork,
    clock: Clock,
    policy: BillingPolicy,
    calendar: BusinessCalendar,
) -> tuple[BillingAccount, Payment]:
    """Record a (partial) payment with its receipt (BIL-7); cash goes on the collector's
    ledger, which may raise CashRemittanceDue (BIL-10)."""
    now = clock()
    async with uow:
        account = await _existing(uow, cmd.order_id)
        account.check_payment(cmd.amount)
        number = await uow.numbers.take(
            _series(policy.receipt_series_prefix, now, calendar),
            kind="receipt",
            order_id=cmd.order_id,
            amount=cmd.amount,
            at=now,
        )
        payment = account.collect(
            method=cmd.method,
            amount=cmd.amount,
            collected_by=cmd.collected_by,
            receipt_number=number,
            now=now,
            at_desk=cmd.at_desk,
            by_centre=cmd.by_centre,
            approved_by=cmd.approved_by,
            reason=cmd.reason,
        )
        uow.payments.add(account.order_id, payment)
        await _settle_collected(uow, account, payment, Decimal(1))
        if cmd.method is PaymentMethod.CASH:
            ledger = uow.track(await uow.cash.lock_or_open(cmd.collected_by, adding_at=now))
            ledger.collected(
                amount=cmd.amount, order_id=cmd.order_id, at=now, recorded_by=cmd.approved_by
            )
            await _check_cash(ledger, policy=policy, calendar=calendar, now=now)
            await uow.cash.save(ledger)
        await uow.accounts.save(account)
        await uow.commit()
        return account, payment


async def refund_payment(
    cmd: commands.RefundPayment,
    *,
    uow: BillingUnitOfWork,
    clock: Clock,
    policy: BillingPolicy,
    calendar: BusinessCalendar,
) -> tuple[BillingAccount, Payment]:
    """Pay money back with the centre's approval and a receipt (BIL-7, BIL-8)."""
    now = clock()
    async with uow:
        account = await _existing(uow, cmd.order_id)
        account.check_refund(cmd.amount, cmd.approved_by, cmd.reason)
        number = await uow.numbers.take(
            _series(policy.receipt_series_prefix, now, calendar),
            kind="refund",
            order_id=cmd.order_id,
            amount=-cmd.amount,
            at=now,
        )
        payment = account.refund(
            method=cmd.method,
            amount=cmd.amount,
            refunded_by=cmd.refunded_by,
            approved_by=cmd.approved_by,
            reason=cmd.reason,
            receipt_number=number,
            now=now,
        )
        uow.payments.add(account.order_id, payment)
        await _settle_collected(uow, account, payment, Decimal(-1))
        if cmd.method is PaymentMethod.CASH:
            ledger = uow.track(await uow.cash.lock_or_open(cmd.refunded_by))
            ledger.refunded(amount=cmd.amount, order_id=cmd.order_id, at=now)
            # BIL-10: a refund taking the holder back under the limit ends that occasion, as a
            # remittance does, so going over again is told again.
            await _check_cash(ledger, policy=policy, calendar=calendar, now=now)
            await uow.cash.save(ledger)
        # BIL-7: money refunded that an invoice stood for is reversed by a credit invoice
        for original, amount in account.invoices_to_credit():
            credit_number = await uow.numbers.take(
                _series(policy.invoice_series_prefix, now, calendar),
                kind="credit_invoice",
                order_id=cmd.order_id,
                amount=-amount,
                at=now,
            )
            account.credit_invoice(original, amount=amount, number=credit_number, now=now)
        await uow.accounts.save(account)
        await uow.commit()
        return account, payment


async def issue_invoice(
    cmd: commands.IssueInvoice,
    *,
    uow: BillingUnitOfWork,
    clock: Clock,
    policy: BillingPolicy,
    calendar: BusinessCalendar,
) -> tuple[BillingAccount, Invoice]:
    """Issue the invoice the customer asked for, numbered gaplessly (BIL-7); returns the
    account and the invoice."""
    now = clock()
    async with uow:
        account = await _existing(uow, cmd.order_id)
        amount = account.check_invoice()
        account.check_promise(cmd.promised_by, now=now, tz=calendar.tz, policy=policy)
        number = await uow.numbers.take(
            _series(policy.invoice_series_prefix, now, calendar),
            kind="invoice",
            order_id=cmd.order_id,
            amount=amount,
            at=now,
        )
        invoice = account.issue_invoice(
            number=number,
            buyer_name=cmd.buyer_name,
            buyer_tax_id=cmd.buyer_tax_id,
            delivery=cmd.delivery,
            promised_by=cmd.promised_by,
            now=now,
            tz=calendar.tz,
            policy=policy,
        )
        await uow.accounts.save(account)
        await uow.commit()
        return account, invoice


async def track_invoice(
    cmd: commands.TrackInvoice, *, uow: BillingUnitOfWork, clock: Clock
) -> BillingAccount:
    """Record an invoice's delivery progress (BIL-7)."""
    async with uow:
        account = await _existing(uow, cmd.order_id)
        account.track_invoice(
            cmd.invoice_number,
            status=InvoiceStatus(cmd.status),
            tracking_number=cmd.tracking_number,
            now=clock(),
        )
        await uow.accounts.save(account)
        await uow.commit()
        return account


async def record_signature(
    cmd: commands.RecordSignature, *, uow: BillingUnitOfWork, clock: Clock
) -> BillingAccount:
    """The customer signs for the amount and the parts; it must match the charge of the visit
    named, or of the whole order (BIL-9)."""
    async with uow:
        account = await _existing(uow, cmd.order_id)
        account.sign(
            amount=cmd.amount,
            parts=cmd.parts,
            signature_ref=cmd.signature_ref,
            now=clock(),
            strict=True,
            visit_id=cmd.visit_id,
        )
        await uow.accounts.save(account)
        await uow.commit()
        return account


async def record_remittance(
    cmd: commands.RecordRemittance,
    *,
    uow: BillingUnitOfWork,
    clock: Clock,
    policy: BillingPolicy,
    calendar: BusinessCalendar,
) -> CashEntry:
    """Cash handed to finance (BIL-10); returns the remittance's entry."""
    now = clock()
    async with uow:
        ledger = uow.track(await uow.cash.lock_or_open(cmd.holder_id))
        entry = ledger.remit(amount=cmd.amount, received_by=cmd.received_by, at=now)
        await _check_cash(ledger, policy=policy, calendar=calendar, now=now)
        await uow.cash.save(ledger)
        await uow.commit()
        return entry


COMMAND_HANDLERS: dict[type, Handler] = {
    commands.PublishFeeSchedule: publish_schedule,
    commands.PublishRateCard: publish_rate_card,
    commands.WaiveCharge: waive_charge,
    commands.ApproveHeldReduction: approve_held_reduction,
    commands.CollectPayment: collect_payment,
    commands.RefundPayment: refund_payment,
    commands.IssueInvoice: issue_invoice,
    commands.TrackInvoice: track_invoice,
    commands.RecordSignature: record_signature,
    commands.RecordRemittance: record_remittance,
}


# --- periodic jobs ----------------------------------------------------------------------------


async def sweep_cash(
    *,
    uow_factory: Callable[[], BillingUnitOfWork],
    policy: BillingPolicy,
    calendar: BusinessCalendar,
    clock: Clock,
) -> int:
    """Raise CashRemittanceDue for holders over the limit or holding cash too long (BIL-10);
    returns how many were raised. Idempotent: each occasion is raised once."""
    async with uow_factory() as uow:
        holders = await uow.cash.holders_with_cash()
    raised = 0
    for holder_id in holders:
        async with uow_factory() as uow:
            ledger = uow.track(await uow.cash.lock_or_open(holder_id))
            raised += len(
                ledger.check(now=clock(), policy=policy, add_working_days=calendar.add_working_days)
            )
            await uow.cash.save(ledger)
            await uow.commit()
    return raised


async def price_waiting_quotes(
    *,
    uow_factory: Callable[[], BillingUnitOfWork],
    policy: BillingPolicy,
    clock: Clock,
    tz: tzinfo,
) -> int:
    """BIL-1: price the quote requests still waiting whose product line has a schedule now
    (QuoteIssued); returns how many orders were priced. Publishing a schedule prices its waiting
    requests right after its commit; this job prices those a crash in between left waiting."""
    return await _price_waiting(uow=uow_factory(), policy=policy, clock=clock, tz=tz)


async def sweep_invoice_deliveries(
    *,
    uow_factory: Callable[[], BillingUnitOfWork],
    calendar: BusinessCalendar,
    clock: Clock,
    batch: int = 200,
) -> int:
    """Raise InvoiceDeliveryOverdue for invoices still not delivered after their promised date
    (BIL-7); returns how many. Idempotent: each invoice is reported once."""
    now = clock()
    today = now.astimezone(calendar.tz).date()
    async with uow_factory() as uow:
        candidates = await uow.accounts.with_invoices_due_before(today, batch)
    reported = 0
    for order_id in candidates:
        async with uow_factory() as uow:
            account = await uow.accounts.get(order_id)
            if account is None:
                continue
            uow.track(account)
            reported += len(account.report_overdue_invoices(today=today, now=now))
            await uow.accounts.save(account)
            await uow.commit()
    return reported


async def apply_retention(
    *,
    uow_factory: Callable[[], BillingUnitOfWork],
    policy: BillingPolicy,
    clock: Clock,
    batch: int = 200,
) -> int:
    """Anonymise the personal data of orders past retention: paid work after 2 years, free
    after 1; coordination tickets are kept (BIL-11). Returns how many orders were anonymised."""
    now = clock()

    def cutoff(years: int) -> datetime:
        # A little early (leap days); each account's own check decides.
        return now - timedelta(days=365 * years - 2)

    async with uow_factory() as uow:
        candidates = await uow.accounts.retention_candidates(
            paid_ended_before=cutoff(policy.retention_paid_years),
            free_ended_before=cutoff(policy.retention_free_years),
            limit=batch,
        )
    done = 0
    for order_id in candidates:
        async with uow_factory() as uow:
            account = await uow.accounts.get(order_id)
            if account is None or not account.retention_due(now, policy):
                continue
            uow.track(account)  # OrderRetentionExpired: the other services erase theirs
            account.anonymise(now)
            await uow.order_files.scrub_personal_data(order_id)
            await uow.accounts.save(account)
            await uow.commit()
            done += 1
    if done:
        log.info("billing.retention_applied", orders=done)
    return done


JobHandler = Callable[[], Awaitable[object]]
