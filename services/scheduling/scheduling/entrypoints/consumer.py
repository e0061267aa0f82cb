"""Scheduling's event consumer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.envelope import EventEnvelope
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from servicekit.consumer import EventHandler


def make_handler(
    uow_factory: Callable[[], SchedulingUnitOfWork], **dependencies: Any
) -> EventHandler:
    """The consumer's handler: apply the event to dispatch (once).

    ``dependencies`` (clock, policy, travel, tz, calendar) default to the production ones when
    omitted.
    """
    deps = {**handlers.default_dependencies(), **dependencies}

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.handle_event(envelope, uow=uow_factory(), **deps)

    return handle
