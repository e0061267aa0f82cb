"""Rows kept for the rest of a transaction (issue 9): the session's identity map holds the rows it
loaded weakly, so a row read under a lock, turned into a domain object and dropped was read again
by the save that followed. The kit keeps such rows (and a missing row's absence) until the
transaction ends: no second read, whatever the caller held on to; released on commit, rollback and
close, so the next transaction reads afresh."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from support.statements import selects_by_table

from servicekit.db import (
    SessionFactory,
    advisory_xact_lock,
    get_row,
    holds_xact_lock,
    insert_row_if_absent,
    is_kept,
    keep_row,
    kept_row,
)
from servicekit.inbox import InboxMessage
from servicekit.uow import SqlUnitOfWork

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _message(event_id: str, subject: str = "o-1") -> InboxMessage:
    return InboxMessage(event_id=event_id, event_type="t", subject=subject, received_at=AT)


async def _stored(session_factory: SessionFactory, *event_ids: str) -> None:
    async with session_factory() as session:
        session.add_all(_message(event_id) for event_id in event_ids)
        await session.commit()


async def _read_and_drop(session: AsyncSession, event_id: str) -> weakref.ref[InboxMessage]:
    """Read the row to change, keep only a weak reference to it (as a repository that maps it to
    a domain object and drops it), and collect what nobody holds."""
    row = await get_row(session, InboxMessage, event_id, for_update=True, keep=True)
    assert row is not None
    held = weakref.ref(row)
    del row
    gc.collect()
    return held


async def test_a_row_dropped_after_its_locked_read_is_kept_and_not_read_again(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await _stored(session_factory, "e-1")
    async with session_factory() as session:
        with selects_by_table(engine) as selects:
            held = await _read_and_drop(session, "e-1")
            assert held() is not None  # kept, though the caller dropped it
            again = await get_row(session, InboxMessage, "e-1", for_update=True, keep=True)
            plain = await get_row(session, InboxMessage, "e-1")

        assert selects["inbox"] == 1
        assert again is held() and plain is held()
        assert is_kept(session, InboxMessage, "e-1") and kept_row(session, InboxMessage, "e-1")


async def test_a_row_read_without_keeping_it_is_read_again_once_dropped(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    # what the kept rows are for: the session alone forgets a row nobody holds
    await _stored(session_factory, "e-1")
    async with session_factory() as session:
        with selects_by_table(engine) as selects:
            row = await get_row(session, InboxMessage, "e-1", for_update=True)
            held = weakref.ref(row)
            del row
            gc.collect()
            assert held() is None
            await get_row(session, InboxMessage, "e-1")

        assert selects["inbox"] == 2
        assert not is_kept(session, InboxMessage, "e-1")


async def _released_when(
    engine: AsyncEngine,
    session_factory: SessionFactory,
    end: Callable[[AsyncSession], Awaitable[None]],
) -> None:
    await _stored(session_factory, "e-1")
    async with session_factory() as session:
        held = await _read_and_drop(session, "e-1")
        await advisory_xact_lock(session, "order:o-1")
        assert holds_xact_lock(session, "order:o-1")

        await end(session)
        gc.collect()

        assert held() is None  # released with the transaction
        assert not is_kept(session, InboxMessage, "e-1")
        assert not holds_xact_lock(session, "order:o-1")
        with selects_by_table(engine) as selects:
            assert await get_row(session, InboxMessage, "e-1", for_update=True, keep=True)
        assert selects["inbox"] == 1  # the next transaction reads it afresh


async def test_kept_rows_and_held_locks_are_released_on_commit(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await _released_when(engine, session_factory, lambda session: session.commit())


async def test_kept_rows_and_held_locks_are_released_on_rollback(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await _released_when(engine, session_factory, lambda session: session.rollback())


async def test_kept_rows_are_released_when_the_session_closes(
    session_factory: SessionFactory,
) -> None:
    await _stored(session_factory, "e-1")
    session = session_factory()
    held = await _read_and_drop(session, "e-1")
    await session.close()
    gc.collect()
    assert held() is None


async def test_a_missing_row_read_under_a_lock_is_known_absent_until_a_new_one_is_kept(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    async with session_factory() as session:
        with selects_by_table(engine) as selects:
            assert await get_row(session, InboxMessage, "e-1", keep=True) is None
            assert await get_row(session, InboxMessage, "e-1") is None  # known absent
            assert is_kept(session, InboxMessage, "e-1")
            assert kept_row(session, InboxMessage, "e-1") is None
            # a new row, inserted without a read: it is the row from now on
            new = keep_row(session, _message("e-1", subject="new"))
            session.add(new)
            held = weakref.ref(new)
            del new
            gc.collect()
            assert await get_row(session, InboxMessage, "e-1", keep=True) is held()

        assert selects["inbox"] == 1
        await session.commit()
    async with session_factory() as session:
        stored = await get_row(session, InboxMessage, "e-1")
    assert stored is not None and stored.subject == "new"


async def test_a_row_inserted_unless_present_is_kept_and_one_already_there_is_not(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    values = {"event_id": "e-1", "event_type": "t", "subject": "first", "received_at": AT}
    async with session_factory() as session:
        with selects_by_table(engine) as selects:
            inserted = await insert_row_if_absent(session, InboxMessage, values)
            assert inserted is not None and inserted.subject == "first"
            held = weakref.ref(inserted)
            del inserted
            gc.collect()
            assert await get_row(session, InboxMessage, "e-1", for_update=True, keep=True) is held()
        assert selects["inbox"] == 0
        await session.commit()

    async with session_factory() as session:
        # known absent, then found present by the insert (a writer that took no lock the
        # reader's covers, here one behind the session's back): the absence is forgotten and
        # the row read afresh
        assert await get_row(session, InboxMessage, "e-2", keep=True) is None
        await session.execute(insert(InboxMessage), [dict(values, event_id="e-2", subject="o-1")])
        assert await insert_row_if_absent(session, InboxMessage, {**values, "subject": "x"}) is None
        assert (
            await insert_row_if_absent(session, InboxMessage, {**values, "event_id": "e-2"}) is None
        )
        assert not is_kept(session, InboxMessage, "e-2")
        found = await get_row(session, InboxMessage, "e-2", for_update=True, keep=True)
        assert found is not None and found.subject == "o-1"
        first = await get_row(session, InboxMessage, "e-1")
        assert first is not None and first.subject == "first"


async def test_a_unit_of_work_forgets_its_kept_rows_when_it_commits_or_ends(
    session_factory: SessionFactory,
) -> None:
    await _stored(session_factory, "e-1")
    uow = SqlUnitOfWork(session_factory)
    async with uow:
        held = await _read_and_drop(uow.session, "e-1")
        await uow.commit()
        gc.collect()
        assert held() is None and not is_kept(uow.session, InboxMessage, "e-1")

        held = await _read_and_drop(uow.session, "e-1")  # its next transaction, not committed
    gc.collect()
    assert held() is None


async def test_two_inserts_of_one_key_at_once_give_the_row_to_the_first_and_none_to_the_other(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    """Two first events of one order at once (feedback's lock_or_open): on PostgreSQL the second
    insert waits for the first transaction and, once it commits, finds the key taken (None), its
    next locked read then sees the committed row; SQLite's writers take turns anyway."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: no two inserts at once")
    values = {"event_id": "e-1", "event_type": "t", "subject": "first", "received_at": AT}
    async with session_factory() as first, session_factory() as second:
        assert await get_row(first, InboxMessage, "e-1", for_update=True) is None
        assert await get_row(second, InboxMessage, "e-1", for_update=True) is None
        assert await insert_row_if_absent(first, InboxMessage, values) is not None
        waiting = asyncio.create_task(
            insert_row_if_absent(second, InboxMessage, {**values, "subject": "second"})
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()  # waits on the first's uncommitted key
        await first.commit()
        assert await waiting is None
        found = await get_row(second, InboxMessage, "e-1", for_update=True, keep=True)
        assert found is not None and found.subject == "first"
