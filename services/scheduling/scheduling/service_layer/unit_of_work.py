"""Scheduling's unit of work."""

from __future__ import annotations

from typing import Self

from scheduling.adapters.repository import DispatchOrderRepository
from servicekit.uow import SqlUnitOfWork


class SchedulingUnitOfWork(SqlUnitOfWork):
    """Unit of work with the dispatch order repository."""

    orders: DispatchOrderRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.orders = DispatchOrderRepository(self.session)
        return self
