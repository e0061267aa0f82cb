"""Fieldwork's unit of work: order files plus the kit's outbox and inbox, in one transaction."""

from __future__ import annotations

from typing import Self

from fieldwork.adapters.repository import OrderFileRepository
from servicekit.uow import SqlUnitOfWork


class FieldworkUnitOfWork(SqlUnitOfWork):
    """Unit of work with the order-file repository."""

    order_files: OrderFileRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.order_files = OrderFileRepository(self.session)
        return self
