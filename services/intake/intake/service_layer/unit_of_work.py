"""Intake's unit of work: orders plus the kit's outbox and inbox, in one transaction."""

from __future__ import annotations

from typing import Self

from intake.adapters.repository import OrderRepository
from servicekit.uow import SqlUnitOfWork


class IntakeUnitOfWork(SqlUnitOfWork):
    """Unit of work with the order repository."""

    orders: OrderRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.orders = OrderRepository(self.session)
        return self
