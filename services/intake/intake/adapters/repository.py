"""Maps the order aggregate to intake's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.common import Channel, Customer, Fault, Product, TimeWindow, WarrantyStatus
from intake.adapters.tables import OrderRow, TimelineRow
from intake.domain.model import Order, OrderStatus, TimelineEntry

_WINDOWS = TypeAdapter(list[TimeWindow])


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class OrderRepository:
    """Orders with their timelines."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order) -> None:
        """Insert a new order."""
        self._session.add(OrderRow(id=order.id, **self._row_fields(order)))
        for entry in order.timeline:
            self._session.add(self._entry_row(order.id, entry))

    async def get(self, order_id: str) -> Order | None:
        """The order with its timeline, or None."""
        row = await self._session.get(OrderRow, order_id)
        if row is None:
            return None
        entries = (
            await self._session.execute(
                select(TimelineRow)
                .where(TimelineRow.order_id == order_id)  # type: ignore[arg-type]
                .order_by(TimelineRow.time, TimelineRow.event_id)  # type: ignore[arg-type]
            )
        ).scalars()
        return Order(
            id=row.id,
            customer=Customer.model_validate(row.customer),
            product=Product.model_validate(row.product),
            fault=Fault.model_validate(row.fault),
            channel=Channel(row.channel),
            created_at=_aware(row.created_at),
            requests=row.requests,
            preferred_windows=_WINDOWS.validate_python(row.preferred_windows),
            emergency=row.emergency,
            needs_verification=list(row.needs_verification),
            warranty_status=WarrantyStatus(row.warranty_status),
            status=OrderStatus(row.status),
            timeline=[
                TimelineEntry(
                    event_id=e.event_id,
                    type=e.type,
                    version=e.version,
                    time=_aware(e.time),
                    source=e.source,
                )
                for e in entries
            ],
        )

    async def save(self, order: Order, *, new_entries: list[TimelineEntry]) -> None:
        """Persist the order's status and the timeline entries added since it was loaded."""
        row = await self._session.get(OrderRow, order.id)
        if row is None:
            raise LookupError(order.id)
        for name, value in self._row_fields(order).items():
            setattr(row, name, value)
        self._session.add(row)
        for entry in new_entries:
            self._session.add(self._entry_row(order.id, entry))

    @staticmethod
    def _row_fields(order: Order) -> dict[str, Any]:
        return {
            "created_at": order.created_at,
            "status": order.status.value,
            "channel": order.channel.value,
            "emergency": order.emergency,
            "primary_phone": order.customer.phones[0] if order.customer.phones else "",
            "customer": order.customer.model_dump(mode="json"),
            "product": order.product.model_dump(mode="json"),
            "fault": order.fault.model_dump(mode="json"),
            "requests": order.requests,
            "preferred_windows": _WINDOWS.dump_python(order.preferred_windows, mode="json"),
            "needs_verification": list(order.needs_verification),
            "warranty_status": order.warranty_status.value,
        }

    @staticmethod
    def _entry_row(order_id: str, entry: TimelineEntry) -> TimelineRow:
        return TimelineRow(
            event_id=entry.event_id,
            order_id=order_id,
            type=entry.type,
            version=entry.version,
            time=entry.time,
            source=entry.source,
        )
