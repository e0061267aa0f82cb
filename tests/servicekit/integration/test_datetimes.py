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


async def test_a_year_1_moment_the_database_driver_cannot_encode_is_a_422_problem_not_a_500(
    database_url: str,
) -> None:
    # asyncpg raises its DataError from the OverflowError of converting year 1 +08:00 to UTC,
    # and SQLAlchemy wraps that again: the handler must look behind both.
    import httpx
    from fastapi import FastAPI

    from servicekit.problems import PROBLEM_JSON, install_problem_handlers

    engine = make_engine(database_url)
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/since")
    async def since(start: datetime) -> dict[str, int]:
        async with engine.connect() as conn:
            query = select(moments.c.id).where(moments.c.at >= start)
            return {"count": len((await conn.execute(query)).all())}

    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/since", params={"start": "0001-01-01T00:30:00+08:00"})
            fine = await client.get("/since", params={"start": "2026-11-22T00:00:00+08:00"})
    finally:
        await engine.dispose()
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "out of the supported range" in response.json()["detail"]
    assert fine.status_code == 200
