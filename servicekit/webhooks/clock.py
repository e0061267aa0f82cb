"""Time helpers: an injectable clock and UTC normalisation (SQLite returns naive datetimes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import uuid6

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive values (read back from SQLite) were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_id() -> str:
    """A time-ordered id (UUIDv7): ordering by id is ordering by creation."""
    return str(uuid6.uuid7())
