"""Intake's command handlers and the handler of events seen on the bus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from contracts.envelope import EventEnvelope
from intake.domain import commands
from intake.domain.model import Order, TimelineEntry
from intake.service_layer.unit_of_work import IntakeUnitOfWork

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


async def create_order(cmd: commands.CreateOrder, *, uow: IntakeUnitOfWork, clock: Clock) -> Order:
    """Take the order and stage OrderCreated in the same transaction (INT-1, INT-2)."""
    async with uow:
        order = Order.take(
            customer=cmd.customer,
            product=cmd.product,
            fault=cmd.fault,
            channel=cmd.channel,
            now=clock(),
            requests=cmd.requests,
            preferred_windows=cmd.preferred_windows,
            emergency=cmd.emergency,
            needs_verification=cmd.needs_verification,
        )
        uow.track(order)
        await uow.orders.add(order)
        await uow.commit()
        return order


async def record_seen_event(envelope: EventEnvelope, *, uow: IntakeUnitOfWork) -> None:
    """Add an event of any service to its order's timeline, once (inbox)."""
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        order = await uow.orders.get(envelope.subject)
        if order is None:
            # Not an order intake took (e.g. an event keyed by another aggregate): nothing to show.
            log.info("intake.event_for_unknown_order", type=envelope.type, subject=envelope.subject)
            await uow.commit()
            return
        entry = TimelineEntry(
            event_id=str(envelope.id),
            type=envelope.event_name,
            version=envelope.event_version,
            time=envelope.time,
            source=envelope.source,
        )
        if order.observe(entry):
            await uow.orders.save(order, new_entries=[entry])
        await uow.commit()


COMMAND_HANDLERS: dict[type, Callable[..., Awaitable[Any]]] = {
    commands.CreateOrder: create_order,
}
