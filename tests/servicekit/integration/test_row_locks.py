"""The kit's locks on PostgreSQL: a row read for a change is the latest committed one, locked to
the transaction's end; a named advisory lock makes a second holder wait, and shared holders let
each other through."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from support.races import TIMEOUT, blocked_or_finished, postgres_only

from servicekit.db import SessionFactory, advisory_xact_lock, get_row
from servicekit.inbox import InboxMessage

pytestmark = postgres_only


async def _stored(session_factory: SessionFactory, subject: str) -> None:
    async with session_factory() as session:
        session.add(
            InboxMessage(
                event_id="e-1", event_type="t", subject=subject, received_at=datetime.now(UTC)
            )
        )
        await session.commit()


async def test_a_row_read_for_update_is_the_latest_committed_not_the_sessions_copy(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await _stored(session_factory, "before")
    async with session_factory() as deciding, session_factory() as other:
        seen = await get_row(deciding, InboxMessage, "e-1")
        assert seen is not None and seen.subject == "before"
        await other.execute(
            update(InboxMessage).where(col(InboxMessage.event_id) == "e-1").values(subject="after")
        )
        await other.commit()

        cached = await get_row(deciding, InboxMessage, "e-1")
        assert cached is not None and cached.subject == "before"  # the session's own copy
        locked = await get_row(deciding, InboxMessage, "e-1", for_update=True)

    assert locked is not None and locked.subject == "after"


async def test_a_row_locked_for_update_makes_the_next_locker_wait_for_the_commit(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await _stored(session_factory, "first")
    async with session_factory() as first:
        assert await get_row(first, InboxMessage, "e-1", for_update=True) is not None

        async def second_locker() -> str:
            async with session_factory() as second:
                row = await get_row(second, InboxMessage, "e-1", for_update=True)
                assert row is not None
                return row.subject

        second = asyncio.ensure_future(second_locker())
        assert await blocked_or_finished(engine, second)
        await first.execute(
            update(InboxMessage)
            .where(col(InboxMessage.event_id) == "e-1")
            .values(subject="changed")
        )
        await first.commit()
    assert await asyncio.wait_for(second, TIMEOUT) == "changed"


async def test_an_advisory_lock_makes_a_second_holder_wait_and_shared_holders_share(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    async with session_factory() as first, session_factory() as reader:
        await advisory_xact_lock(first, "line:water_heater", shared=True)
        # another shared holder goes through at once
        await asyncio.wait_for(
            advisory_xact_lock(reader, "line:water_heater", shared=True), TIMEOUT
        )

        async def exclusive() -> None:
            async with session_factory() as publisher:
                await advisory_xact_lock(publisher, "line:water_heater")

        waiting = asyncio.ensure_future(exclusive())
        assert await blocked_or_finished(engine, waiting)
        await first.commit()
        await reader.commit()
    await asyncio.wait_for(waiting, TIMEOUT)
