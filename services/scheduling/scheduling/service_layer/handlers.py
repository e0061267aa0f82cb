"""Scheduling's handlers of events from other services."""

from __future__ import annotations

import structlog

from contracts.envelope import EventEnvelope
from contracts.intake import OrderCancelled, OrderCreated, OrderResolvedRemotely, OrderVerified
from contracts.registry import parse_data
from scheduling.domain.model import DispatchOrder
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork

log = structlog.get_logger(__name__)


async def handle_event(envelope: EventEnvelope, *, uow: SchedulingUnitOfWork) -> None:
    """Apply an intake event to the dispatch queue, once (inbox in the same transaction)."""
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        payload = parse_data(envelope) if envelope.event_name in EVENTS_OF_INTEREST else None
        if isinstance(payload, OrderCreated):
            if await uow.orders.get(payload.order_id) is None:
                order = DispatchOrder.from_intake(
                    order_id=payload.order_id,
                    received_at=envelope.time,
                    product_line=payload.product.line,
                    emergency=payload.emergency,
                    needs_verification=payload.needs_verification,
                    loaner_required=payload.loaner_required,
                )
                await uow.orders.save(order)
        elif payload is not None:
            order_or_none = await uow.orders.get(envelope.subject)
            if order_or_none is None:
                log.warning("scheduling.event_before_order", type=envelope.type)
            else:
                if isinstance(payload, OrderVerified):
                    order_or_none.verified(override=payload.dispatch_override)
                elif isinstance(payload, OrderCancelled):
                    order_or_none.cancelled()
                elif isinstance(payload, OrderResolvedRemotely):
                    order_or_none.resolved_remotely()
                await uow.orders.save(order_or_none)
        await uow.commit()


#: Events of other services that change the dispatch queue (FLOW.md).
EVENTS_OF_INTEREST = frozenset(
    {"OrderCreated", "OrderVerified", "OrderCancelled", "OrderResolvedRemotely"}
)
