"""Read models of fieldwork (queries go here, not through the command bus)."""

from __future__ import annotations

from fieldwork.domain.exceptions import OrderNotFound
from fieldwork.domain.model import OrderFile
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork


async def order_file(order_id: str, *, uow: FieldworkUnitOfWork) -> OrderFile:
    """The order's file, events oldest first; OrderNotFound when nothing is known about it."""
    async with uow:
        found = await uow.order_files.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        return found
