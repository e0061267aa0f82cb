"""Published outbox rows and old inbox ids are purged on a schedule, never an unpublished event
or an id the broker could still redeliver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from servicekit.db import SessionFactory
from servicekit.inbox import InboxMessage, purge_received_before
from servicekit.outbox import OutboxMessage, purge_published_before

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _outbox(label: str, *, published_at: datetime | None) -> OutboxMessage:
    return OutboxMessage(
        event_id=str(uuid.uuid4()),
        topic="fsm.test.events",
        key=label,
        event_type="fsm.Test.v1",
        payload="{}",
        created_at=NOW - timedelta(days=30),
        published_at=published_at,
    )


def _inbox(label: str, *, received_at: datetime) -> InboxMessage:
    return InboxMessage(
        event_id=str(uuid.uuid4()), event_type="fsm.Test.v1", subject=label, received_at=received_at
    )


async def test_only_outbox_rows_published_before_the_cutoff_are_deleted_in_batches(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        session.add_all(
            [_outbox(f"old-{n}", published_at=NOW - timedelta(days=8)) for n in range(5)]
            + [
                _outbox("recent", published_at=NOW - timedelta(hours=1)),
                _outbox("never-published", published_at=None),
            ]
        )
        await session.commit()

    purged = await purge_published_before(session_factory, NOW - timedelta(days=7), batch=2)

    assert purged == 5
    async with session_factory() as session:
        left = (await session.execute(select(OutboxMessage.key))).scalars().all()  # type: ignore[call-overload]
    assert sorted(left) == ["never-published", "recent"]


async def test_only_inbox_ids_received_before_the_cutoff_are_forgotten(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        session.add_all(
            [_inbox(f"old-{n}", received_at=NOW - timedelta(days=15)) for n in range(3)]
            + [_inbox("recent", received_at=NOW - timedelta(days=13))]
        )
        await session.commit()

    purged = await purge_received_before(session_factory, NOW - timedelta(days=14), batch=2)

    assert purged == 3
    async with session_factory() as session:
        left = (await session.execute(select(InboxMessage.subject))).scalars().all()  # type: ignore[call-overload]
    assert left == ["recent"]
