"""Intake's unit of work: orders plus the kit's outbox and inbox, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from contracts.topics import events_topic
from intake.adapters.repository import OrderRepository, WarrantyPeriodRepository
from intake.domain.model import TimelineEntry
from servicekit import context, idempotency
from servicekit.db import SessionFactory
from servicekit.outbox import add_to_outbox
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

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        on_commit: Callable[[], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(session_factory, on_commit=on_commit)
        self._clock = clock or (lambda: datetime.now(UTC))

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.orders = OrderRepository(self.session)
        self.warranty_periods = WarrantyPeriodRepository(self.session)
        return self

    def _wrap(self, payload: EventData) -> EventEnvelope:
        return EventEnvelope.wrap(
            payload,
            correlation_id=context.correlation_id(),
            causation_id=context.causation_id(),
            time=self._clock(),
        )

    async def commit(self) -> None:
        """Save the orders, write their events to the outbox and their timelines, commit."""
        staged: list[tuple[EventEnvelope, str]] = []
        for order in self.orders.seen:
            for payload in order.events:
                envelope = self._wrap(payload)
                staged.append((envelope, payload.producer))
                order.observe(
                    TimelineEntry(
                        event_id=str(envelope.id),
                        type=payload.event_type,
                        version=payload.event_version,
                        time=envelope.time,
                        source=envelope.source,
                    ),
                    payload,
                )
            order.events.clear()
            await self.orders.save(order)
        for payload in self._drain_events():
            staged.append((self._wrap(payload), payload.producer))
        for envelope, producer in staged:
            add_to_outbox(self.session, envelope, topic=events_topic(producer))
        idempotency.stage_claim(self.session)
        await self.session.commit()
        self.committed_events.extend(envelope for envelope, _ in staged)
        if staged and self._on_commit is not None:
            self._on_commit()
