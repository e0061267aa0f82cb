"""Read models of intake (queries go here, not through the command bus)."""

from __future__ import annotations

from intake.domain.exceptions import OrderNotFound
from intake.domain.model import Order
from intake.service_layer.unit_of_work import IntakeUnitOfWork


async def order(order_id: str, *, uow: IntakeUnitOfWork) -> Order:
    """The order with its timeline; OrderNotFound when there is none."""
    async with uow:
        found = await uow.orders.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        return found
