"""Fieldwork, billing and feedback applying an order's first events: CPU and statements per event.

Most of an order's CPU in the load benchmark is spent by services applying events they
consume, each in its own transaction (inbox claim, the service's own rows, commit). This
benchmark measures that path alone, the way the placement benchmark measures scheduling's:
``FSM_BENCH_CONSUMER_ORDERS`` (300) orders are placed by scheduling in this process (80
technicians, as in the load run), and each of the three services is fed every order's
OrderCreated and the OrderAssigned scheduling published for it, through its event handler in
this process, on local PostgreSQL. Reported per service: this process's CPU time per event
(``time.process_time``, so the machine's other work moves it little) and the SQL statements
sent per event. Writes ``bench/results/consumers.json``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, text

from bench.load import PG_DSN, _cpu_model
from bench.placement import ADMIN_KEY, _order, _register_technicians
from contracts.envelope import EventEnvelope
from servicekit.settings import ServiceSettings

RESULTS = Path(__file__).resolve().parent / "results" / "consumers.json"
ORDERS = int(os.environ.get("FSM_BENCH_CONSUMER_ORDERS", "300"))
WARM_UP_ORDERS = 20
CONSUMERS = ("fieldwork", "billing", "feedback")


def main() -> None:
    """Run the consumer benchmark and write ``bench/results/consumers.json``."""
    results = asyncio.run(_main())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for service, figures in results["services"].items():
        print(
            f"{service}: {figures['cpu_ms_per_event']} ms of CPU and "
            f"{figures['statements_per_event']} SQL statements per event applied"
        )
    print(f"written to {RESULTS}")


def _runtime(service: str, database_url: str) -> Any:
    """``service``'s runtime as its bootstrap builds it, without consumer, relay or jobs."""
    bootstrap = importlib.import_module(f"{service}.bootstrap").bootstrap
    settings_class = getattr(
        importlib.import_module(f"{service}.settings"), f"{service.capitalize()}Settings"
    )
    settings: ServiceSettings = settings_class(
        database_url=database_url,
        bootstrap_api_key=ADMIN_KEY,
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )
    return bootstrap(settings)


async def _create_database(name: str) -> str:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


async def _drop_databases(names: Sequence[str]) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _order_events() -> list[EventEnvelope]:
    """Every order's OrderCreated followed by what scheduling published for it."""
    name = f"fsm_bench_consumers_scheduling_{uuid.uuid4().hex[:8]}"
    scheduling = _runtime("scheduling", await _create_database(name))
    try:
        await scheduling.migrate()
        await _register_technicians(scheduling.app)
        created = [_order(n) for n in range(ORDERS)]
        for envelope in created:
            await scheduling.handle_event(envelope)
        async with scheduling.session_factory() as session:
            outbox = await session.execute(text("SELECT payload FROM outbox ORDER BY seq"))
            payloads = outbox.all()
    finally:
        await scheduling.engine.dispose()
        await _drop_databases([name])
    published: dict[str, list[EventEnvelope]] = {}
    for (payload,) in payloads:
        envelope = EventEnvelope.model_validate_json(payload)
        published.setdefault(envelope.subject, []).append(envelope)
    return [e for c in created for e in (c, *published.get(c.subject, []))]


async def _apply_all(service: str, events: list[EventEnvelope]) -> dict[str, Any]:
    name = f"fsm_bench_consumers_{service}_{uuid.uuid4().hex[:8]}"
    runtime = _runtime(service, await _create_database(name))
    try:
        await runtime.migrate()
        warm = [e for e in events if e.subject in {x.subject for x in events[:WARM_UP_ORDERS]}]
        for envelope in warm:
            await runtime.handle_event(envelope)
        measured = [e for e in events if e not in warm]
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        started = time.process_time()
        for envelope in measured:
            await runtime.handle_event(envelope)
        cpu = time.process_time() - started
    finally:
        await runtime.engine.dispose()
        await _drop_databases([name])
    return {
        "events": len(measured),
        "cpu_ms_per_event": round(cpu / len(measured) * 1000, 2),
        "statements_per_event": round(statements / len(measured), 1),
    }


async def _main() -> dict[str, Any]:
    events = await _order_events()
    kinds = sorted({e.event_name for e in events})
    return {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "database": "PostgreSQL"},
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orders": ORDERS,
        "events_per_order": kinds,
        "services": {service: await _apply_all(service, events) for service in CONSUMERS},
    }
