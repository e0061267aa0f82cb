"""Maps order files to fieldwork's tables."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from fieldwork.adapters.tables import OrderEventRow
from fieldwork.domain.model import OrderFile, RecordedEvent


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class OrderFileRepository:
    """Order files: the recorded events of each order."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: str) -> OrderFile | None:
        """The order's file (events oldest first), or None when no event was recorded for it."""
        rows = (
            await self._session.execute(
                select(OrderEventRow)
                .where(col(OrderEventRow.order_id) == order_id)
                .order_by(col(OrderEventRow.time), col(OrderEventRow.event_id))
            )
        ).scalars()
        entries = [
            RecordedEvent(
                event_id=row.event_id,
                type=row.type,
                version=row.version,
                time=_aware(row.time),
                source=row.source,
                summary=dict(row.summary),
            )
            for row in rows
        ]
        if not entries:
            return None
        return OrderFile(order_id=order_id, entries=entries)

    async def save(self, order_file: OrderFile, *, new_entries: list[RecordedEvent]) -> None:
        """Persist the events recorded on the file since it was loaded."""
        for entry in new_entries:
            self._session.add(
                OrderEventRow(
                    event_id=entry.event_id,
                    order_id=order_file.order_id,
                    type=entry.type,
                    version=entry.version,
                    time=entry.time,
                    source=entry.source,
                    summary=dict(entry.summary),
                )
            )
