"""A database that refuses us for a while (not accepting connections, missing) is an outage to
wait out, not a bad event: the consumer retries in place instead of dead-lettering good events,
and the API answers 503 with Retry-After instead of 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from support.db import POSTGRES_ADMIN_DSN, create_database, database_url, drop_database

from servicekit.db import is_transient, make_engine
from servicekit.problems import PROBLEM_JSON, install_problem_handlers


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _refusal(url: str) -> BaseException:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("the database accepted the connection")


@pytest.fixture
async def closed_database() -> AsyncIterator[str]:
    """A PostgreSQL database that does not accept connections now (ALLOW_CONNECTIONS false)."""
    try:
        name = await create_database()
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable ({exc})")
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    yield name
    await drop_database(name)


async def test_a_database_not_accepting_connections_or_missing_is_an_outage_to_wait_out(
    closed_database: str,
) -> None:
    closed = await _refusal(database_url(closed_database))
    missing = await _refusal(database_url(f"{closed_database}_missing"))

    assert is_transient(closed), repr(closed)
    assert is_transient(missing), repr(missing)
    assert not is_transient(ValueError("a bad event"))


async def test_the_api_answers_503_with_retry_after_while_the_database_refuses_us(
    closed_database: str,
) -> None:
    engine = make_engine(database_url(closed_database))
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/schedule")
    async def schedule() -> dict[str, int]:
        async with engine.connect() as conn:
            return {"one": (await conn.execute(text("SELECT 1"))).scalar_one()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/schedule")
    finally:
        await engine.dispose()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "1"
