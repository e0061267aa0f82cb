"""Read models of scheduling."""

from __future__ import annotations

from scheduling.domain.exceptions import DispatchOrderNotFound
from scheduling.domain.model import DispatchOrder
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork


async def dispatch_order(order_id: str, *, uow: SchedulingUnitOfWork) -> DispatchOrder:
    """The order as dispatch sees it; DispatchOrderNotFound when unknown."""
    async with uow:
        found = await uow.orders.get(order_id)
        if found is None:
            raise DispatchOrderNotFound(order_id)
        return found
