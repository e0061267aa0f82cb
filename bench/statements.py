"""What one SQL statement costs the calling Python process, by the layer it goes through.

Every order is a few dozen statements across the five services (intake's ``POST /v1/orders``
alone is about nine), so the per-statement cost of the database layer sets a floor under the
load benchmark's CPU per order. This benchmark runs the kit's two hottest statements on local
PostgreSQL, in one transaction, through three layers:

- ``orm``: ``AsyncSession.execute`` (what the services' repositories and the kit use);
- ``core``: ``AsyncConnection.execute`` of the same compiled statement (no ORM session);
- ``driver``: asyncpg's own ``fetch`` of the same SQL (no SQLAlchemy at all).

The statements: the inbox claim (``INSERT ... ON CONFLICT DO NOTHING RETURNING``, once per
event a consumer applies) and a read by primary key. The figure is this process's CPU time per
statement (``time.process_time``), so what else the machine does moves it little; PostgreSQL's
own CPU is not in it. ``FSM_BENCH_STATEMENTS`` (3000) statements per layer and round, the least
of ``FSM_BENCH_STATEMENT_ROUNDS`` (3) rounds reported. Writes ``bench/results/statements.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bench.load import PG_DSN, _cpu_model
from servicekit.db import (
    KitTable,
    insert_if_absent,
    insert_unless_present,
    make_engine,
    table_of,
)
from servicekit.inbox import InboxMessage

RESULTS = Path(__file__).resolve().parent / "results" / "statements.json"
STATEMENTS = int(os.environ.get("FSM_BENCH_STATEMENTS", "3000"))
ROUNDS = int(os.environ.get("FSM_BENCH_STATEMENT_ROUNDS", "3"))

_INBOX = table_of(InboxMessage)
_READ = select(_INBOX.c.event_id, _INBOX.c.subject).where(_INBOX.c.event_id == "absent")
_CLAIM_SQL = (
    "INSERT INTO inbox (event_id, event_type, subject, received_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING RETURNING inbox.event_id"
)
_READ_SQL = "SELECT event_id, subject FROM inbox WHERE event_id = $1"


def main() -> None:
    """Run the statement benchmark and write ``bench/results/statements.json``."""
    results = asyncio.run(_main())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for statement, layers in results["cpu_us_per_statement"].items():
        figures = ", ".join(f"{layer} {us} µs" for layer, us in layers.items())
        print(f"{statement}: {figures}")
    print(f"written to {RESULTS}")


def _row() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "fsm.OrderCreated.v1",
        "subject": "bench-order",
        "received_at": datetime.now(UTC),
    }


async def _cpu_per_call(call: Callable[[], Awaitable[Any]]) -> float:
    """Microseconds of this process's CPU per ``call``, the least of ``ROUNDS`` rounds."""
    for _ in range(200):  # warm: compiled-statement and prepared-statement caches
        await call()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(STATEMENTS):
            await call()
        best = min(best, (time.process_time() - started) / STATEMENTS * 1e6)
    return round(best, 1)


async def _main() -> dict[str, Any]:
    database = f"fsm_bench_statements_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    base = PG_DSN.rsplit("/", 1)[0]
    engine = make_engine(f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{database}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(KitTable.metadata.create_all, tables=[_INBOX])
        figures: dict[str, dict[str, float]] = {"inbox_claim": {}, "read_by_key": {}}
        async with AsyncSession(engine) as session, session.begin():
            figures["inbox_claim"]["orm"] = await _cpu_per_call(
                lambda: insert_if_absent(session, _INBOX, _row())
            )
            figures["read_by_key"]["orm"] = await _cpu_per_call(
                lambda: _all(session.execute(_READ))
            )
            connection: AsyncConnection = await session.connection()
            claim = insert_unless_present(session, _INBOX).returning(_INBOX.c.event_id)
            figures["inbox_claim"]["core"] = await _cpu_per_call(
                lambda: _all(connection.execute(claim, _row()))
            )
            figures["read_by_key"]["core"] = await _cpu_per_call(
                lambda: _all(connection.execute(_READ))
            )
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            figures["inbox_claim"]["driver"] = await _cpu_per_call(
                lambda: driver.fetch(_CLAIM_SQL, *_row().values())
            )
            figures["read_by_key"]["driver"] = await _cpu_per_call(
                lambda: driver.fetch(_READ_SQL, "absent")
            )
            await session.rollback()
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    return {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count()},
        "settings": {"statements": STATEMENTS, "rounds": ROUNDS},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_us_per_statement": figures,
    }


async def _all(result: Awaitable[Any]) -> list[Any]:
    return list((await result).all())
