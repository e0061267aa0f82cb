"""Intake's command handlers, the handler of events seen on the bus and the SLA check."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from contracts.billing import OrderRetentionExpired
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCreated
from contracts.registry import UnknownEventType, parse_data
from intake.domain import commands
from intake.domain.exceptions import InvalidDetails, OrderNotFound, WarrantyPeriodNotFound
from intake.domain.model import (
    CLOCK_STOPPING_EVENTS,
    Order,
    TimelineEntry,
    WorkingTime,
    start_clocks,
)
from intake.domain.policy import IntakePolicy
from intake.domain.rules import (
    WarrantyTable,
    future_dates,
    is_emergency,
    loaner_required,
    missing_details,
    oldest_plausible_date,
    phones_of,
    same_address,
    same_product,
    share_a_phone,
    unusable_windows,
)
from intake.service_layer.unit_of_work import IntakeUnitOfWork

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]

#: Events whose data intake reads (assignee for the list filters; the reply clock: was the
#: customer reached, did they consent to the new window; the time an arrival was logged, which
#: may be long before an offline device synced it, INT-3/INT-7; the visit a technician set out
#: for, arrived for or left, or scheduling moved, ``model.VisitsOnSite``; the outcome the status
#: depends on: was the unit returned repaired, was the customer satisfied at the call-back,
#: ``model.outcome_of``); the others only go on the timeline, so a new event type of another
#: service never stops the consumer.
_READ_DATA_OF = frozenset(
    {
        "OrderAssigned",
        "OrderReassigned",
        "OrderReturnedToCentre",
        "AppointmentConfirmed",
        "AppointmentRescheduled",
        "TechnicianDeparted",
        "TechnicianArrived",
        "VisitClosed",
        "CustomerNotHome",
        "UnitReturned",
        "FollowUpCompleted",
    }
)

#: ``source`` of the envelopes intake itself publishes.
_OWN_SOURCE = f"/fsm/{OrderCreated.producer}"


@dataclass(frozen=True)
class Taken:
    """The order a CreateOrder led to, and whether it was an open one it repeats (INT-8)."""

    order: Order
    duplicate: bool


class WarrantyPeriodCache:
    """The warranty periods admins set (INT-5), read at most once per ``ttl_seconds``.

    Every order taken needs them and they change a few times a year, so reading them per order
    would cost a query each. A change made through this process clears the cache at once;
    another replica sees it within ``ttl_seconds``.
    """

    def __init__(self, ttl_seconds: float, *, monotonic: Callable[[], float] = time.monotonic):
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._months: dict[str, int] | None = None
        self._loaded_at = 0.0

    async def months_by_line(self, uow: IntakeUnitOfWork) -> dict[str, int]:
        """The admins' periods by product line, from the cache while it is fresh."""
        now = self._monotonic()
        if self._months is None or now - self._loaded_at >= self._ttl:
            self._months = {
                row.product_line: row.months for row in await uow.warranty_periods.all()
            }
            self._loaded_at = now
        return self._months

    def clear(self) -> None:
        """Forget what was read: the next order reads the periods again."""
        self._months = None


async def warranty_table(
    uow: IntakeUnitOfWork, policy: IntakePolicy, cache: WarrantyPeriodCache | None = None
) -> WarrantyTable:
    """The policy's warranty periods overlaid with the ones admins set (INT-5); without a
    cache they are read now."""
    months = dict(policy.warranty_months_by_line)
    months.update(await (cache or WarrantyPeriodCache(0)).months_by_line(uow))
    return WarrantyTable(
        months_by_line=months, commercial_use_voids=policy.commercial_use_voids_warranty
    )


def _local_today(calendar: WorkingTime, now: datetime) -> date:
    return now.astimezone(calendar.tz).date()


async def create_order(
    cmd: commands.CreateOrder,
    *,
    uow: IntakeUnitOfWork,
    clock: Clock,
    policy: IntakePolicy,
    calendar: WorkingTime,
    warranty_periods: WarrantyPeriodCache | None = None,
) -> Taken:
    """Take the order and stage OrderCreated in the same transaction (INT-1..INT-7), or link the
    report to the customer's open order of the same product (DuplicateLinked, INT-8).

    The customer is the same when a phone may reach the same person (``rules.same_caller``):
    another extension of the same switchboard is another customer, the bare number matches any.

    InvalidDetails refuses the request, storing nothing, when a product date is after the
    business calendar's today (INT-2) or a preferred window cannot be booked
    (``rules.unusable_windows``).
    """
    now = clock()
    today = _local_today(calendar, now)
    problems = [
        *future_dates(cmd.product, today=today),
        *unusable_windows(cmd.preferred_windows, now=now, policy=policy),
    ]
    if problems:
        raise InvalidDetails(problems)
    emergency = is_emergency(cmd.emergency, cmd.fault, policy)
    caller = phones_of(cmd.customer, cmd.phone_extensions)
    async with uow:
        for open_order in await uow.orders.open_orders_with_phones(caller):
            if not share_a_phone(open_order.phones, caller):
                continue  # its phones were corrected while we waited for its lock
            here = same_address(open_order.customer.address, cmd.customer.address)
            if same_product(open_order.product, cmd.product, same_place=here):
                open_order.link_duplicate(
                    reported_at=now,
                    channel=cmd.channel,
                    caller_phone=caller[0].number if caller else None,
                    caller_phone_extension=caller[0].extension if caller else None,
                    fault_description=cmd.fault.description,
                    linked_by=cmd.taken_by,
                    emergency=emergency,
                    calendar=calendar,
                    policy=policy,
                )
                await uow.commit()
                return Taken(order=open_order, duplicate=True)
        warranty = await warranty_table(uow, policy, warranty_periods)
        order = Order.take(
            customer=cmd.customer,
            product=cmd.product,
            fault=cmd.fault,
            channel=cmd.channel,
            now=now,
            requests=cmd.requests,
            preferred_windows=cmd.preferred_windows,
            emergency=emergency,
            needs_verification=missing_details(
                cmd.customer,
                cmd.product,
                cmd.fault,
                oldest_plausible=oldest_plausible_date(today, policy),
            ),
            warranty_status=warranty.status(cmd.product, on=today),
            loaner_required=loaner_required(cmd.product, cmd.fault, policy),
            clocks=start_clocks(now, calendar=calendar, policy=policy, emergency=emergency),
            service_type=cmd.service_type,
            taken_by=cmd.taken_by,
            phone_extensions=cmd.phone_extensions,
        )
        await uow.orders.add(order)
        await uow.commit()
        return Taken(order=order, duplicate=False)


async def _load(uow: IntakeUnitOfWork, order_id: str) -> Order:
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        raise OrderNotFound(order_id)
    return order


async def verify_order(
    cmd: commands.VerifyOrder,
    *,
    uow: IntakeUnitOfWork,
    clock: Clock,
    policy: IntakePolicy,
    calendar: WorkingTime,
    warranty_periods: WarrantyPeriodCache | None = None,
) -> Order:
    """Verify (or, for a dispatcher, release) the order and publish OrderVerified (INT-2, INT-5),
    with the loaner prediction re-derived (INT-6) and the order escalated to an emergency when
    its verified fault code is one (INT-7); InvalidDetails refuses a corrected product dated
    after the business calendar's today."""
    now = clock()
    if cmd.product is not None:
        problems = future_dates(cmd.product, today=_local_today(calendar, now))
        if problems:
            raise InvalidDetails(problems)
    async with uow:
        order = await _load(uow, cmd.order_id)
        reported_on = _local_today(calendar, order.created_at)
        order.verify(
            reported_on=reported_on,
            oldest_plausible=oldest_plausible_date(reported_on, policy),
            warranty=await warranty_table(uow, policy, warranty_periods),
            verified_by=cmd.verified_by,
            now=now,
            policy=policy,
            calendar=calendar,
            customer=cmd.customer,
            product=cmd.product,
            fault=cmd.fault,
            confirmed=cmd.confirmed,
            override=cmd.dispatch_override,
            phone_extensions=cmd.phone_extensions,
        )
        await uow.commit()
        return order


async def resolve_remotely(
    cmd: commands.ResolveRemotely,
    *,
    uow: IntakeUnitOfWork,
    clock: Clock,
    policy: IntakePolicy,
    calendar: WorkingTime,
) -> Order:
    """Close the order as resolved by phone guidance (OrderResolvedRemotely, INT-4); the
    call-back is due in working time (FBK-1)."""
    async with uow:
        order = await _load(uow, cmd.order_id)
        order.resolve_remotely(
            guidance=cmd.guidance,
            cause=cmd.cause,
            resolved_by=cmd.resolved_by,
            now=clock(),
            calendar=calendar,
            policy=policy,
        )
        await uow.commit()
        return order


async def reopen_order(
    cmd: commands.ReopenOrder,
    *,
    uow: IntakeUnitOfWork,
    clock: Clock,
    policy: IntakePolicy,
    calendar: WorkingTime,
) -> Order:
    """Reopen a remotely resolved order for a visit (OrderReopened, INT-4)."""
    async with uow:
        order = await _load(uow, cmd.order_id)
        order.reopen(
            reason=cmd.reason,
            reopened_by=cmd.reopened_by,
            now=clock(),
            calendar=calendar,
            policy=policy,
        )
        await uow.commit()
        return order


async def cancel_order(cmd: commands.CancelOrder, *, uow: IntakeUnitOfWork) -> Order:
    """Cancel the order with its reason (OrderCancelled)."""
    async with uow:
        order = await _load(uow, cmd.order_id)
        order.cancel(
            reason=cmd.reason,
            cancelled_by=cmd.cancelled_by,
            requested_by_customer=cmd.requested_by_customer,
        )
        await uow.commit()
        return order


async def set_warranty_period(
    cmd: commands.SetWarrantyPeriod,
    *,
    uow: IntakeUnitOfWork,
    clock: Clock,
    warranty_periods: WarrantyPeriodCache | None = None,
) -> None:
    """Set a product line's warranty period (INT-5); new orders and verifications use it."""
    async with uow:
        await uow.warranty_periods.put(
            cmd.product_line, months=cmd.months, by=cmd.set_by, now=clock()
        )
        await uow.commit()
    if warranty_periods is not None:
        warranty_periods.clear()


async def remove_warranty_period(
    cmd: commands.RemoveWarrantyPeriod,
    *,
    uow: IntakeUnitOfWork,
    warranty_periods: WarrantyPeriodCache | None = None,
) -> None:
    """Forget an admin's warranty period of a line; the policy's applies again (INT-5)."""
    async with uow:
        row = await uow.warranty_periods.get(cmd.product_line, for_update=True)
        if row is None:
            raise WarrantyPeriodNotFound(cmd.product_line)
        await uow.warranty_periods.remove(row)
        await uow.commit()
    if warranty_periods is not None:
        warranty_periods.clear()


async def check_sla_clocks(*, uow: IntakeUnitOfWork, clock: Clock, batch: int = 200) -> int:
    """Publish SlaBreached for every clock that ran out, once per clock (INT-3, INT-7).

    Idempotent: the breach is recorded with the event in one transaction, and the orders checked
    are locked first (skipping those another transaction holds, so this never waits on a command
    nor deadlocks with another replica), then re-checked on their fresh rows: a second replica
    or a rerun finds nothing to report, and a concurrent change of an order is never
    overwritten.
    """
    now = clock()
    async with uow:
        reported = 0
        for order_id in await uow.orders.lock_orders_with_due_clocks(now, limit=batch):
            order = await uow.orders.get(order_id, for_update=True)
            if order is not None:
                reported += len(order.report_breaches(now))
        await uow.commit()
        return reported


async def close_settled_orders(
    *, uow: IntakeUnitOfWork, clock: Clock, policy: IntakePolicy, batch: int = 200
) -> int:
    """Publish OrderClosed for every order followed up satisfied, with no complaint open, that
    stayed quiet for the policy's period (FBK-7, FBK-10; ``Order.closable_since``).

    Idempotent, as the SLA check: the orders are locked first (skipping those another
    transaction holds) and re-checked on their fresh rows, so a second replica or a rerun closes
    nothing twice, and an event that reached the order meanwhile is taken into account.
    """
    now = clock()
    quiet_since = now - timedelta(days=policy.close_after_quiet_days)
    async with uow:
        closed = 0
        for order_id in await uow.orders.lock_orders_closable_since(quiet_since, limit=batch):
            order = await uow.orders.get(order_id, for_update=True)
            if order is not None and order.close_if_due(now, policy=policy) is not None:
                closed += 1
        await uow.commit()
        return closed


async def record_seen_event(
    envelope: EventEnvelope, *, uow: IntakeUnitOfWork, clock: Clock
) -> None:
    """Add an event of any service to its order's timeline, once (inbox), and apply what it
    means to intake: status, assignee, SLA clocks.

    OrderRetentionExpired erases the customer's personal data from the order and from its events
    in the outbox, in the transaction of the inbox claim (BIL-11, ``Order.anonymise``); heard
    again, nothing changes. Its data is not needed for that, so even a version intake cannot read
    erases.

    Intake's own events are skipped: each went onto its order's timeline in the transaction that
    staged it (see ``IntakeUnitOfWork.staged``), so reading them back would only cost a
    transaction per order taken.
    """
    if envelope.source == _OWN_SOURCE:
        return
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        order = await uow.orders.get(
            envelope.subject,
            for_update=True,
            # INT-3, INT-7: only an event that can stop a clock needs the clocks.
            clocks=envelope.event_name in CLOCK_STOPPING_EVENTS,
        )
        if order is None:
            # Not an order intake took (e.g. an event keyed by another aggregate): nothing to show.
            log.info("intake.event_for_unknown_order", type=envelope.type, subject=envelope.subject)
            await uow.commit()
            return
        payload = None
        if envelope.event_name in _READ_DATA_OF:
            try:
                payload = parse_data(envelope)
            except (UnknownEventType, ValueError):
                # Still on the timeline; only its data is not applied.
                log.warning("intake.unreadable_event_data", type=envelope.type)
        order.observe(
            TimelineEntry(
                event_id=str(envelope.id),
                type=envelope.event_name,
                version=envelope.event_version,
                time=envelope.time,
                source=envelope.source,
                heard_at=clock(),
            ),
            payload,
        )
        if envelope.event_name == OrderRetentionExpired.event_type and order.anonymise(clock()):
            await uow.orders.erase_event_payloads(order.id)
        await uow.commit()


COMMAND_HANDLERS: dict[type, Callable[..., Awaitable[Any]]] = {
    commands.CreateOrder: create_order,
    commands.VerifyOrder: verify_order,
    commands.ResolveRemotely: resolve_remotely,
    commands.ReopenOrder: reopen_order,
    commands.CancelOrder: cancel_order,
    commands.SetWarrantyPeriod: set_warranty_period,
    commands.RemoveWarrantyPeriod: remove_warranty_period,
}
