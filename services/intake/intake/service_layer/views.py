"""Read models of intake (queries go here, not through the command bus)."""

from __future__ import annotations

from intake.adapters.repository import Cursor, OrderFilter, OrderRepository
from intake.domain.exceptions import OrderNotFound
from intake.domain.model import Order
from intake.domain.policy import IntakePolicy
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.db import aware


async def order(order_id: str, *, uow: IntakeUnitOfWork) -> Order:
    """The order with its timeline; OrderNotFound when there is none."""
    async with uow:
        found = await uow.orders.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        return found


async def orders(
    filters: OrderFilter, *, sort: str, after: Cursor | None, limit: int, uow: IntakeUnitOfWork
) -> list[Order]:
    """A page of orders matching ``filters`` (without timelines or clocks)."""
    async with uow:
        rows = await uow.orders.search(filters, sort=sort, after=after, limit=limit)
        return [OrderRepository.summary(row) for row in rows]


async def warranty_periods(
    *, uow: IntakeUnitOfWork, policy: IntakePolicy
) -> list[dict[str, object]]:
    """Every product line's warranty period in force: the policy's, overlaid by the admins'."""
    async with uow:
        periods: dict[str, dict[str, object]] = {
            line: {"product_line": line, "months": months, "source": "policy"}
            for line, months in policy.warranty_months_by_line.items()
        }
        for row in await uow.warranty_periods.all():
            periods[row.product_line] = {
                "product_line": row.product_line,
                "months": row.months,
                "source": "admin",
                "updated_at": aware(row.updated_at),
                "updated_by": row.updated_by,
            }
        return [periods[line] for line in sorted(periods)]
