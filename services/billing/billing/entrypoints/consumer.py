"""Billing's event consumer: events of interest go on their order's file and billing account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from billing.domain.policy import BillingPolicy
from billing.service_layer import handlers
from billing.service_layer.unit_of_work import BillingUnitOfWork
from contracts.envelope import EventEnvelope
from servicekit.consumer import EventHandler


def make_handler(
    uow_factory: Callable[[], BillingUnitOfWork],
    *,
    policy: BillingPolicy,
    clock: Callable[[], datetime],
    tz: tzinfo,
) -> EventHandler:
    """The consumer's handler: record and apply the event (once); days are counted in ``tz``."""

    async def handle(envelope: EventEnvelope) -> None:
        await handlers.record_event(envelope, uow=uow_factory(), policy=policy, clock=clock, tz=tz)

    return handle
