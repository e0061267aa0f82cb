"""Feedback's event consumer: events of interest go on their order's file and case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts.envelope import EventEnvelope
from feedback.domain.policy import FeedbackPolicy
from feedback.domain.ports import WorkingCalendar
from feedback.service_layer import handlers
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from servicekit.consumer import EventHandler


def make_handler(
    uow_factory: Callable[[], FeedbackUnitOfWork],
    *,
    policy: FeedbackPolicy,
    calendar: WorkingCalendar,
    clock: Callable[[], datetime],
) -> EventHandler:
    """The consumer's handler: record the event and react to it (once)."""

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.record_event(
            envelope, uow=uow_factory(), policy=policy, calendar=calendar, clock=clock
        )

    return handle
