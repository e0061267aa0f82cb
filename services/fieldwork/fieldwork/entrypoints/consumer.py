"""Fieldwork's event consumer: events of interest go on their order's file."""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import EventEnvelope
from fieldwork.service_layer import handlers
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from servicekit.consumer import EventHandler


def make_handler(uow_factory: Callable[[], FieldworkUnitOfWork]) -> EventHandler:
    """The consumer's handler: record the event on the order's file (once)."""

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.record_event(envelope, uow=uow_factory())

    return handle
