"""Fieldwork's unit of work: its repositories plus the kit's outbox and inbox, in one
transaction."""

from __future__ import annotations

from typing import Self

from fieldwork.adapters.repository import (
    ClientActionRepository,
    LoanerRepository,
    OrderContextRepository,
    OrderFileRepository,
    TakeBackRepository,
    TicketRepository,
    VisitRepository,
)
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

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.order_files = OrderFileRepository(self.session)
        self.orders = OrderContextRepository(self.session)
        self.visits = VisitRepository(self.session)
        self.loaners = LoanerRepository(self.session)
        self.take_backs = TakeBackRepository(self.session)
        self.tickets = TicketRepository(self.session)
        self.client_actions = ClientActionRepository(self.session)
        return self
