"""Intake's unit of work: orders plus the kit's outbox and inbox, in one transaction."""

from __future__ import annotations

from typing import Self

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from intake.adapters.repository import OrderRepository, WarrantyPeriodRepository
from intake.domain.model import TimelineEntry
from servicekit.uow import SqlUnitOfWork


class IntakeUnitOfWork(SqlUnitOfWork):
    """Unit of work with the order repository.

    On commit every order read or added is saved, and the events it recorded go to the outbox
    *and* onto its own timeline with the same event id, so the status an intake command leads to
    is visible at once (when the event comes back from the bus, the inbox and the timeline's
    event-id check make it a no-op).
    """

    orders: OrderRepository
    warranty_periods: WarrantyPeriodRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.orders = OrderRepository(self.session)
        self.warranty_periods = WarrantyPeriodRepository(self.session)
        return self

    async def collect(self) -> None:
        """Every order read or added takes part in the commit."""
        for order in self.orders.seen:
            self.track(order)

    async def staged(self, envelope: EventEnvelope, payload: EventData) -> None:
        """An intake event goes onto its order's timeline at once, with the outbox's event id."""
        order_id = getattr(payload, "order_id", None)
        for order in self.orders.seen:
            if order.id == order_id:
                order.observe(
                    TimelineEntry(
                        event_id=str(envelope.id),
                        type=payload.event_type,
                        version=payload.event_version,
                        time=envelope.time,
                        source=envelope.source,
                        heard_at=envelope.time,
                    ),
                    payload,
                )
                break

    async def before_commit(self) -> None:
        """Save every order taking part."""
        for order in self.orders.seen:
            await self.orders.save(order)
