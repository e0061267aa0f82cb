"""Aware datetimes round-trip and compare correctly on both databases, whatever their offset."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, select

from servicekit.db import make_engine

SHANGHAI = ZoneInfo("Asia/Shanghai")
metadata = MetaData()
moments = Table(
    "moments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


async def test_a_shanghai_time_is_stored_as_the_same_instant_and_compares_in_utc(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(
                moments.insert(),
                [
                    {"id": 1, "at": datetime(2026, 11, 22, 20, 0, tzinfo=UTC)},
                    # 01:00 in Shanghai on the 23rd is 17:00 UTC on the 22nd.
                    {"id": 2, "at": datetime(2026, 11, 23, 1, 0, tzinfo=SHANGHAI)},
                    {"id": 3, "at": datetime(2026, 11, 22, 15, 0, tzinfo=UTC)},
                ],
            )
        async with engine.connect() as conn:
            stored = dict((await conn.execute(select(moments.c.id, moments.c.at))).all())
            shanghai_day_start = datetime(2026, 11, 23, 0, 0, tzinfo=SHANGHAI)  # 16:00 UTC
            later = (
                await conn.execute(
                    select(moments.c.id).where(moments.c.at >= shanghai_day_start).order_by("id")
                )
            ).scalars()
            after = list(later)
    finally:
        await engine.dispose()
    assert stored[2] == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert all(value.utcoffset() is not None for value in stored.values())
    assert after == [1, 2]
