"""Fieldwork's unit of work: its repositories plus the kit's outbox and inbox, in one
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from fieldwork.adapters.repository import (
    ClientActionRepository,
    LoanerRepository,
    OrderContextRepository,
    OrderFileRepository,
    TakeBackRepository,
    TicketRepository,
    VisitRepository,
)
from servicekit import context
from servicekit.uow import SqlUnitOfWork


class FieldworkUnitOfWork(SqlUnitOfWork):
    """Unit of work with fieldwork's repositories."""

    order_files: OrderFileRepository
    orders: OrderContextRepository
    visits: VisitRepository
    loaners: LoanerRepository
    take_backs: TakeBackRepository
    tickets: TicketRepository
    client_actions: ClientActionRepository
    occurred_at: datetime | None = None
    """When what this transaction records happened, if the envelopes of its events are to carry
    that time rather than now: facts logged offline and synced later, so the other services
    place them where they happened (before a cancellation that overtook them, say)."""

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.occurred_at = None
        self.order_files = OrderFileRepository(self.session)
        self.orders = OrderContextRepository(self.session)
        self.visits = VisitRepository(self.session)
        self.loaners = LoanerRepository(self.session)
        self.take_backs = TakeBackRepository(self.session)
        self.tickets = TicketRepository(self.session)
        self.client_actions = ClientActionRepository(self.session)
        return self

    def wrap(self, payload: EventData) -> EventEnvelope:
        """Envelopes carry the time the events happened (``occurred_at``), else the injected
        clock's now (the time the domain stamps on the facts)."""
        return EventEnvelope.wrap(
            payload,
            correlation_id=context.correlation_id(),
            causation_id=context.causation_id(),
            time=self.occurred_at or self._clock(),
        )
