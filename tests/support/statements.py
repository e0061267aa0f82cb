"""Counting the SQL a block of code sends (issue 9: statements are a third of a consumer's CPU
per event, so how many an event costs is behaviour worth pinning)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_FROM = re.compile(r"^\s*SELECT\b.*?\bFROM\s+(\w+)", re.IGNORECASE | re.DOTALL)
_TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@contextmanager
def selects_by_table(engine: AsyncEngine) -> Iterator[Counter[str]]:
    """The SELECTs ``engine`` sends while the block runs, counted by the table they read first."""
    counted: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if (match := _FROM.match(statement)) is not None:
            counted[match.group(1)] += 1

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement ``engine`` sends while the block runs, but for transaction control
    (``BEGIN``, ``COMMIT``, ...: SQLite's ``BEGIN IMMEDIATE`` is one, PostgreSQL's are not)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _TRANSACTION_CONTROL.match(statement) is None:
            sent.append(statement)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
