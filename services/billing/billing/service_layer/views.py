"""Read models of billing (queries go here, not through the command bus)."""

from __future__ import annotations

from billing.domain.exceptions import OrderNotFound
from billing.domain.model import OrderFile
from billing.service_layer.unit_of_work import BillingUnitOfWork


async def order_file(order_id: str, *, uow: BillingUnitOfWork) -> OrderFile:
    """The order's file, events oldest first; OrderNotFound when nothing is known about it."""
    async with uow:
        found = await uow.order_files.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        return found
