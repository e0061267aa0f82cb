"""Maps dispatch orders to scheduling's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.adapters.tables import DispatchOrderRow
from scheduling.domain.model import DispatchOrder, DispatchStatus


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DispatchOrderRepository:
    """Dispatch orders by order id."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: str) -> DispatchOrder | None:
        """The order, or None."""
        row = await self._session.get(DispatchOrderRow, order_id)
        if row is None:
            return None
        return DispatchOrder(
            order_id=row.order_id,
            received_at=_aware(row.received_at),
            product_line=row.product_line,
            emergency=row.emergency,
            needs_verification=list(row.needs_verification),
            loaner_required=row.loaner_required,
            status=DispatchStatus(row.status),
        )

    async def save(self, order: DispatchOrder) -> None:
        """Insert or update."""
        fields: dict[str, Any] = {
            "received_at": order.received_at,
            "product_line": order.product_line,
            "emergency": order.emergency,
            "needs_verification": list(order.needs_verification),
            "loaner_required": order.loaner_required,
            "status": order.status.value,
        }
        row = await self._session.get(DispatchOrderRow, order.order_id)
        if row is None:
            row = DispatchOrderRow(order_id=order.order_id, **fields)
        else:
            for name, value in fields.items():
                setattr(row, name, value)
        self._session.add(row)
