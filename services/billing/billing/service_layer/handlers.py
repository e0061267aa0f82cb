"""Billing's command handlers and the handler of events seen on the bus."""

from __future__ import annotations

import structlog

from billing.domain.model import EVENTS_OF_INTEREST, OrderFile, RecordedEvent, summarise
from billing.service_layer.unit_of_work import BillingUnitOfWork
from contracts.envelope import EventEnvelope
from servicekit.messagebus import Handler

log = structlog.get_logger(__name__)


async def record_event(envelope: EventEnvelope, *, uow: BillingUnitOfWork) -> None:
    """Put an event of interest on its order's file, once (inbox); other events are skipped."""
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        if envelope.event_name in EVENTS_OF_INTEREST:
            order_file = await uow.order_files.get(envelope.subject) or OrderFile(
                order_id=envelope.subject
            )
            entry = recorded_event(envelope)
            if order_file.record(entry):
                await uow.order_files.save(order_file, new_entries=[entry])
                log.info("billing.event_recorded", type=envelope.type, subject=envelope.subject)
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


COMMAND_HANDLERS: dict[type, Handler] = {}
