"""Scheduling's automatic placement on its own: CPU per order placed (SCH-1, SCH-3).

The load benchmark measures the whole platform at once, where one service's cost is hard to
tell from the machine's noise. This one feeds OrderCreated events straight to scheduling's
event handler in this process (inbox, placement, outbox, on local PostgreSQL), the way its
consumer would, and reports the handler's CPU time per order: the process's own CPU, so the
figure hardly moves with what else the machine does. PostgreSQL's CPU is reported beside it.

The roster is the load benchmark's: ``FSM_BENCH_PLACEMENT_TECHNICIANS`` (80) technicians with
every skill and area, on shift all day every day. ``FSM_BENCH_PLACEMENT_ORDERS`` (1000) orders
are placed after ``FSM_BENCH_PLACEMENT_HELD`` (1000) placed first, so each placement counts a
realistic day of held jobs. Writes ``bench/results/placement.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from sqlalchemy import text

from bench.load import PG_DSN, _cpu_model, _percentile, _postgres_cpu_seconds, bench_technician
from contracts.common import Address, Channel, Customer, Fault, GeoPoint, Product
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCreated
from scheduling.bootstrap import bootstrap
from scheduling.domain.policy import SchedulingPolicy
from scheduling.settings import SchedulingSettings

RESULTS = Path(__file__).resolve().parent / "results" / "placement.json"
TECHNICIANS = int(os.environ.get("FSM_BENCH_PLACEMENT_TECHNICIANS", "80"))
ORDERS = int(os.environ.get("FSM_BENCH_PLACEMENT_ORDERS", "1000"))
HELD = int(os.environ.get("FSM_BENCH_PLACEMENT_HELD", "1000"))
ADMIN_KEY = "fsm_bench_placement_admin_key_0123456789"
DONGYING = GeoPoint(lat=37.43, lon=118.67)


def _order(n: int) -> EventEnvelope:
    return EventEnvelope.wrap(
        OrderCreated(
            order_id=f"bench-{uuid.uuid4().hex[:12]}",
            customer=Customer(
                name="王芳",
                phones=[f"+86139{n:08d}"],
                address=Address(
                    city="东营市",
                    district="东营区",
                    detail="西四路100号",
                    location=GeoPoint(lat=DONGYING.lat + (n % 50) * 0.002, lon=DONGYING.lon),
                ),
            ),
            product=Product(line="water_heater", model="JSQ24-12"),
            fault=Fault(description="热水器打不着火"),
            channel=Channel.HOTLINE,
        )
    )


def main() -> None:
    """Run the placement benchmark and write ``bench/results/placement.json``."""
    with tempfile.TemporaryDirectory(prefix="fsm-bench-placement-") as scratch:
        results = asyncio.run(_main(Path(scratch)))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"placement of an order with {results['technicians']} technicians and "
        f"{results['held_before']} orders held: {results['cpu_ms_per_order']} ms of scheduling's "
        f"CPU per order ({results['postgresql_cpu_ms_per_order']} ms of PostgreSQL's); handler "
        f"wall time p50 {results['wall_ms_p50']} ms, p99 {results['wall_ms_p99']} ms; "
        f"{results['assigned']} of {results['orders']} assigned"
    )
    print(f"written to {RESULTS}")


async def _main(scratch: Path) -> dict[str, Any]:
    database = f"fsm_bench_placement_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_DSN)
    await conn.execute(f'CREATE DATABASE "{database}"')
    await conn.close()
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    policy_file = scratch / "policy.yaml"
    policy_file.write_text(
        yaml.safe_dump({"scheduling": SchedulingPolicy().model_dump(mode="json")})
    )
    runtime = bootstrap(
        SchedulingSettings(
            database_url=f"{base}/{database}",
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            policy_file=policy_file,
        ),
    )
    try:
        await runtime.migrate()
        await _register_technicians(runtime.app)
        for n in range(HELD):
            await runtime.handle_event(_order(n))
        walls: list[float] = []
        pg_before = _postgres_cpu_seconds()
        cpu_before = time.process_time()
        for n in range(HELD, HELD + ORDERS):
            envelope = _order(n)
            started = time.perf_counter()
            await runtime.handle_event(envelope)
            walls.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu_before
        pg_after = _postgres_cpu_seconds()
        async with runtime.session_factory() as session:
            assigned = (
                await session.execute(
                    text("SELECT count(*) FROM dispatch_order WHERE technician_id IS NOT NULL")
                )
            ).scalar_one()
    finally:
        await runtime.engine.dispose()
        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()
    return {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "database": "PostgreSQL"},
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "technicians": TECHNICIANS,
        "held_before": HELD,
        "orders": ORDERS,
        "assigned": int(assigned) - HELD,
        "cpu_ms_per_order": round(cpu / ORDERS * 1000, 2),
        "postgresql_cpu_ms_per_order": (
            None
            if pg_before is None or pg_after is None
            else round((pg_after - pg_before) / ORDERS * 1000, 2)
        ),
        "wall_ms_p50": round(_percentile(walls, 50) * 1000, 2),
        "wall_ms_p99": round(_percentile(walls, 99) * 1000, 2),
        "wall_ms_mean": round(statistics.fmean(walls) * 1000, 2),
    }


async def _register_technicians(app: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://scheduling",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        for n in range(TECHNICIANS):
            response = await client.post("/v1/technicians", json=bench_technician(n))
            if response.status_code != 201:
                raise RuntimeError(f"registering a technician: {response.status_code}")
