"""Intake's event consumer: every event of every service goes on its order's timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts.envelope import EventEnvelope
from intake.service_layer import handlers
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.consumer import EventHandler


def make_handler(
    uow_factory: Callable[[], IntakeUnitOfWork], *, clock: Callable[[], datetime]
) -> EventHandler:
    """The consumer's handler: record the event on the order's timeline (once); ``clock`` dates
    what intake does of it (an erasure, BIL-11)."""

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.record_seen_event(envelope, uow=uow_factory(), clock=clock)

    return handle
