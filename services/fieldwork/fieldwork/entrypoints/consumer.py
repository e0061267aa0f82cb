"""Fieldwork's event consumer: events of interest go on their order's file."""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import EventEnvelope
from fieldwork.adapters.storage import EvidenceStore
from fieldwork.service_layer import handlers
from fieldwork.service_layer.handlers import Clock
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from servicekit.consumer import EventHandler


def make_handler(
    uow_factory: Callable[[], FieldworkUnitOfWork], *, store: EvidenceStore, clock: Clock
) -> EventHandler:
    """The consumer's handler: record the event on the order's file (once) and apply it; the
    store is where the uploads an expired order's erasure deletes live (BIL-11)."""

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.record_event(envelope, uow=uow_factory(), store=store, clock=clock)

    return handle
