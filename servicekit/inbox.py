"""Inbox: the ids of events a service has applied, written in the same transaction as the effects,
so a redelivered event is recognised and applied once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field

from servicekit.db import (
    KitTable,
    SessionFactory,
    delete_in_batches,
    insert_if_absent,
    table_of,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from contracts.envelope import EventEnvelope


class InboxMessage(KitTable, table=True):
    """An event this service has applied."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_received_at", "received_at"),)

    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


_INBOX = table_of(InboxMessage)


async def claim(session: AsyncSession, envelope: EventEnvelope) -> bool:
    """Record ``envelope`` as applied in the caller's transaction.

    Returns False when it was applied before (the caller then does nothing). One statement,
    ``INSERT ... ON CONFLICT DO NOTHING``: a concurrent claim of the same id waits for the
    first transaction and gets False if it commits, so the effects are applied once.
    """
    return await insert_if_absent(
        session,
        _INBOX,
        {
            "event_id": str(envelope.id),
            "event_type": envelope.type,
            "subject": envelope.subject,
            "received_at": datetime.now(UTC),
        },
    )


async def purge_received_before(
    session_factory: SessionFactory, cutoff: datetime, *, batch: int = 1000
) -> int:
    """Forget the ids of events applied before ``cutoff``, ``batch`` rows per transaction so no
    long lock is held; returns how many. Keep them longer than the broker keeps events, so a
    redelivery is still recognised."""
    return await delete_in_batches(
        session_factory,
        _INBOX.c.event_id,
        _INBOX.c.received_at < cutoff,
        batch=batch,
    )
