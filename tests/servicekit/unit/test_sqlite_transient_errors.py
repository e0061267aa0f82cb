"""SQLite reports a busy database and a wrong statement with the same exception class
(OperationalError): only the busy or unreachable database is an outage to wait out (retry in
place, 503); a missing table or column or a syntax error is a fault, as on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from servicekit.db import is_transient


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # No busy timeout: a second writer is refused at once instead of after 30 s.
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'errors.db'}", connect_args={"timeout": 0}
    )
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE visit (id INTEGER PRIMARY KEY)"))
    try:
        yield engine
    finally:
        await engine.dispose()


async def _error_of(engine: AsyncEngine, sql: str) -> OperationalError:
    async with engine.connect() as connection:
        with pytest.raises(OperationalError) as caught:
            await connection.execute(text(sql))
    return caught.value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM no_such_table",
        "SELECT no_such_column FROM visit",
        "SELEC id FROM visit",
    ],
    ids=["no such table", "no such column", "syntax error"],
)
async def test_a_wrong_statement_on_sqlite_is_not_transient(engine: AsyncEngine, sql: str) -> None:
    error = await _error_of(engine, sql)

    assert not is_transient(error), repr(error)


async def test_a_locked_sqlite_database_is_transient(engine: AsyncEngine) -> None:
    async with engine.connect() as writer, engine.connect() as second:
        await writer.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError) as caught:
            await second.exec_driver_sql("BEGIN IMMEDIATE")
        await writer.rollback()

    assert "database is locked" in str(caught.value)
    assert is_transient(caught.value)


def test_a_sqlite_database_that_cannot_be_opened_or_is_full_is_transient() -> None:
    for message, code in [
        ("unable to open database file", sqlite3.SQLITE_CANTOPEN),
        ("database or disk is full", sqlite3.SQLITE_FULL),
        ("disk I/O error", sqlite3.SQLITE_IOERR),
    ]:
        cause = sqlite3.OperationalError(message)
        cause.sqlite_errorcode = code
        error = OperationalError("SELECT 1", {}, cause)

        assert is_transient(error), message


def test_an_operational_error_from_another_driver_stays_transient() -> None:
    """PostgreSQL's drivers raise OperationalError for a lost or refused connection."""
    error = OperationalError("SELECT 1", {}, ConnectionResetError("connection was closed"))

    assert is_transient(error)
