"""Scheduling's event consumer."""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import EventEnvelope
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from servicekit.consumer import EventHandler


def make_handler(uow_factory: Callable[[], SchedulingUnitOfWork]) -> EventHandler:
    """The consumer's handler: apply the event to the dispatch queue (once)."""

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.handle_event(envelope, uow=uow_factory())

    return handle
