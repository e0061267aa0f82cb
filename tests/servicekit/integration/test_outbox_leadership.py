"""Several replicas of one service: only one outbox relay publishes at a time (PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from servicekit.db import SessionFactory
from servicekit.outbox import OutboxRelay


class _NeverCalled:
    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        raise AssertionError("no row to send")


def _relay(session_factory: SessionFactory) -> OutboxRelay:
    return OutboxRelay(session_factory=session_factory, publisher=_NeverCalled(), service="svc")


async def test_only_one_replica_relays_and_another_takes_over_when_it_leaves(
    database_url: str, session_factory: SessionFactory
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite databases belong to one process; leadership applies to PostgreSQL")
    first, second = _relay(session_factory), _relay(session_factory)
    try:
        assert await first._is_leader()
        assert not await second._is_leader()
        assert await first.publish_pending() == 0
        assert await second.publish_pending() == 0
        await first.release()
        assert await second._is_leader()
        assert not await first._is_leader()
    finally:
        await first.release()
        await second.release()


async def test_on_sqlite_the_single_process_is_always_the_relay(
    database_url: str, session_factory: SessionFactory
) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("covered by the PostgreSQL test")
    assert await _relay(session_factory)._is_leader()


async def test_a_leader_whose_connection_died_gives_up_and_another_takes_over(
    database_url: str, session_factory: SessionFactory
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite databases belong to one process; leadership applies to PostgreSQL")
    first, second = _relay(session_factory), _relay(session_factory)
    try:
        assert await first._is_leader()
        assert first._leader_connection is not None
        backend = (await first._leader_connection.execute(text("SELECT pg_backend_pid()"))).scalar()
        await first._leader_connection.commit()
        async with session_factory() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            await session.commit()
        with pytest.raises(DBAPIError):
            await first.publish_pending()
        assert first._leader_connection is None
        assert await second._is_leader()
        assert not await first._is_leader()
    finally:
        await first.release()
        await second.release()
