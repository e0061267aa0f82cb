"""Load figures of the platform on PostgreSQL, measured in one run so the ratios hold.

- intake order creation (``POST /v1/orders``): requests/s and p50/p99 at a fixed concurrency,
  beside a bare FastAPI JSON endpoint served with the same uvicorn settings, in alternating
  rounds so both see the same machine. Both are measured with the other four services paused
  (SIGSTOP), so intake has the machine the bare endpoint has; intake's relay still publishes
  every order to the broker;
- end to end: time from ``POST /v1/orders`` to the order's ``OrderAssigned`` reaching a
  subscriber of the bus, at the target arrival rate and at a lower one, beside the raw broker's
  produce→consume latency;
- resident memory (RSS) of each service idle and under load.

Settings (environment): ``FSM_BENCH_REQUESTS`` (default 2000), ``FSM_BENCH_CONCURRENCY`` (32),
``FSM_BENCH_LIGHT_CONCURRENCY`` (2, for latency without queueing; intake alone is also run at
concurrency 1 to 32, to show where its p99 stays under 50 ms), ``FSM_BENCH_ROUNDS`` (4
alternating rounds of bare and intake), ``FSM_BENCH_RATE``
(orders/s, 100), ``FSM_BENCH_LOW_RATE`` (orders/s, 5),
``FSM_BENCH_E2E_ORDERS`` (500 at the target rate; a quarter of it at the low rate),
``FSM_BENCH_PG_DSN`` (``postgresql://postgres@127.0.0.1:5432/postgres``). Writes
``bench/results/load.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench._http_client import Connection, ConnectionPool
from contracts.envelope import EventEnvelope
from contracts.topics import events_topic
from fsm.processes import SERVICES, Platform
from servicekit.embedded import free_port
from servicekit.settings import KafkaSettings

RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
REQUESTS = int(os.environ.get("FSM_BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("FSM_BENCH_CONCURRENCY", "32"))
LIGHT_CONCURRENCY = int(os.environ.get("FSM_BENCH_LIGHT_CONCURRENCY", "2"))
SWEEP_CONCURRENCY = (1, 2, 4, 8, 16, 32)
ROUNDS = int(os.environ.get("FSM_BENCH_ROUNDS", "4"))
RATE = float(os.environ.get("FSM_BENCH_RATE", "100"))
LOW_RATE = float(os.environ.get("FSM_BENCH_LOW_RATE", "5"))
E2E_ORDERS = int(os.environ.get("FSM_BENCH_E2E_ORDERS", "500"))
PG_DSN = os.environ.get("FSM_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

ORDER: dict[str, Any] = {
    "customer": {
        "name": "王芳",
        "phone": "13800138000",
        "address": "山东省东营市东营区西四路100号",
    },
    "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2025-03-01"},
    "fault": {"description": "热水器打不着火"},
    "channel": "hotline",
}

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.post("/bare", status_code=201)
async def bare(body: dict) -> dict:
    return {"id": "x", "received": body}
"""


def _order() -> dict[str, Any]:
    """A distinct order each time (the same phone and serial would be linked as a duplicate)."""
    n = uuid.uuid4().int
    body = json.loads(json.dumps(ORDER))
    body["customer"]["phone"] = f"+86139{n % 10**8:08d}"
    body["product"]["serial"] = f"SN-{n % 10**12:012d}"
    return body


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _latency_summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_seconds() -> float | None:
    """CPU time of every local PostgreSQL process (None when none is visible)."""
    total, seen = 0.0, False
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in (
                "postgres",
                "postmaster",
            ):
                total += _cpu_seconds(int(entry.name))
                seen = True
        except OSError:  # the process ended meanwhile
            continue
    return total if seen else None


def _cpu_by_component(procs: Platform) -> dict[str, float]:
    """CPU seconds used so far by each service, the embedded broker and local PostgreSQL."""
    seconds = {name: _cpu_seconds(procs.pid(name)) for name in SERVICES}
    if procs.broker_pid is not None:
        seconds["broker"] = _cpu_seconds(procs.broker_pid)
    postgres = _postgres_cpu_seconds()
    if postgres is not None:
        seconds["postgresql"] = postgres
    return seconds


async def _wait_until_quiet(procs: Platform, *, below: float = 0.2, within: float = 900) -> float:
    """Wait until every service has used less than ``below`` of a core for three 2-s spells in
    a row (a resumed consumer rejoining its group is quiet for a few seconds): the backlog of an
    earlier phase is processed and does not compete with the next one. Returns the wait."""
    began = time.monotonic()
    pids = [procs.pid(name) for name in SERVICES]
    quiet_spells = 0
    while quiet_spells < 3 and time.monotonic() - began < within:
        before = [_cpu_seconds(pid) for pid in pids]
        await asyncio.sleep(2)
        quiet = all(_cpu_seconds(p) - b < below * 2 for p, b in zip(pids, before, strict=True))
        quiet_spells = quiet_spells + 1 if quiet else 0
    return round(time.monotonic() - began, 1)


async def _wait_for_no_lag(bootstrap: str, *, within: float = 900) -> float:
    """Wait until every service's consumer group has committed every event of the topics it
    subscribes to (so no backlog competes with the next phase). Returns the wait in seconds."""
    import importlib

    from aiokafka import AIOKafkaConsumer, TopicPartition

    subscriptions = {
        f"fsm-{name}": list(importlib.import_module(f"{name}.bootstrap").SPEC.subscribe)
        for name in SERVICES
    }
    # One reader per group that never subscribes, so it never joins (or disturbs) the group;
    # it only asks the coordinator for the group's committed offsets.
    readers = {
        group: AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        for group in subscriptions
    }
    began = time.monotonic()
    try:
        for reader in readers.values():
            await reader.start()
            await reader.topics()  # loads every topic's partitions into the reader's metadata
        while time.monotonic() - began < within:
            lag = 0
            for group, topics in subscriptions.items():
                reader = readers[group]
                partitions = [
                    TopicPartition(topic, p)
                    for topic in topics
                    for p in sorted(reader.partitions_for_topic(topic) or ())
                ]
                ends = await reader.end_offsets(partitions)
                for tp in partitions:
                    lag += max(0, ends[tp] - (await reader.committed(tp) or 0))
            if lag == 0:
                break
            await asyncio.sleep(1)
    finally:
        for reader in readers.values():
            await reader.stop()
    return round(time.monotonic() - began, 1)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _interleaved(
    bare_url: str,
    intake_url: str,
    headers: dict[str, str],
    *,
    concurrency: int,
    requests: int,
    rounds: int = ROUNDS,
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """The bare endpoint and intake in alternating rounds, so both see the same machine (a
    shared VM's speed drifts by tens of percent within minutes): each one's figures over all
    its rounds, and intake's rate over the bare one's per round."""
    per_round = max(1, requests // rounds)
    bare_latencies: list[float] = []
    intake_latencies: list[float] = []
    bare_elapsed = intake_elapsed = 0.0
    ratios: list[float] = []
    for _ in range(rounds):
        bare_round, bare_time = await _closed_loop_raw(bare_url, {}, concurrency, per_round)
        intake_round, intake_time = await _closed_loop_raw(
            intake_url, headers, concurrency, per_round
        )
        bare_latencies += bare_round
        intake_latencies += intake_round
        bare_elapsed += bare_time
        intake_elapsed += intake_time
        ratios.append(round(bare_time / intake_time, 3))
    return (
        _latency_summary(bare_latencies, bare_elapsed),
        _latency_summary(intake_latencies, intake_elapsed),
        ratios,
    )


async def _closed_loop_raw(
    url: str, headers: dict[str, str], concurrency: int, requests: int
) -> tuple[list[float], float]:
    """``requests`` POSTs with ``concurrency`` in flight (every answer must be 201): the
    latencies and the elapsed time."""
    latencies: list[float] = []
    remaining = requests
    parts = urlsplit(url)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path

    async def worker(connection: Connection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            status, body = await connection.post_json(path, _order())
            latencies.append(time.perf_counter() - started)
            if status != 201:
                raise RuntimeError(f"{url}: {status} {body[:200]!r}")

    async with contextlib.AsyncExitStack() as stack:
        connections = [
            await stack.enter_async_context(Connection(base, headers)) for _ in range(concurrency)
        ]
        for n in range(20):  # warm-up
            await connections[n % concurrency].post_json(path, _order())
        began = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        elapsed = time.perf_counter() - began
    return latencies, elapsed


def bench_technician(n: int) -> dict[str, Any]:
    """The ``n``-th technician of the benchmarks: every skill and area, on shift all day every
    day, room for 50 jobs a day."""
    return {
        "technician_id": f"bench-t{n}",
        "name": f"技师{n}",
        "phone": f"+86137{n:08d}",
        "skills": ["*"],
        "areas": ["*"],
        "home": {"lat": 37.43 + n * 0.001, "lon": 118.67},
        "shift_start": "00:00:00",
        "shift_end": "23:59:00",
        "working_days": [0, 1, 2, 3, 4, 5, 6],
        "daily_capacity": 50,
    }


async def _register_technicians(procs: Platform, count: int = 80) -> None:
    """Enough technicians, on shift all day, for every order of the run to be assigned."""
    headers = {"Authorization": f"Bearer {procs.admin_key}"}
    async with httpx.AsyncClient(
        base_url=procs.urls["scheduling"], headers=headers, timeout=30
    ) as client:
        for n in range(count):
            response = await client.post("/v1/technicians", json=bench_technician(n))
            if response.status_code not in (201, 409):
                raise RuntimeError(
                    f"registering a technician: {response.status_code} {response.text}"
                )


async def _transactions_by_service(databases: dict[str, str]) -> dict[str, int]:
    """Transactions each service's database has ended so far (PostgreSQL's statistics)."""
    names = {url.rsplit("/", 1)[1]: service for service, url in databases.items()}
    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(
            "SELECT datname, xact_commit + xact_rollback AS ended FROM pg_stat_database"
            " WHERE datname = ANY($1::text[])",
            list(names),
        )
    finally:
        await conn.close()
    return {names[row["datname"]]: int(row["ended"]) for row in rows}


async def _end_to_end(
    procs: Platform, *, rate: float, orders: int, databases: dict[str, str] | None = None
) -> dict[str, Any]:
    """Open-loop arrivals at ``rate``/s: each order's time from sending ``POST /v1/orders`` to
    its ``OrderAssigned`` reaching a subscriber of the bus (a consumer group of the benchmark's
    own; polling the API instead would load intake with the measurement itself). With
    ``databases`` (service -> URL), also each service's database transactions per order."""
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

    headers = {"Authorization": f"Bearer {procs.admin_key}"}
    assigned_at: dict[str, float] = {}
    arrived = asyncio.Event()
    joined = asyncio.Event()

    class _Joined(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked: Any) -> None:
            return None

        async def on_partitions_assigned(self, assigned: Any) -> None:
            joined.set()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=procs.bootstrap,
        group_id=f"bench-e2e-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=KafkaSettings().fetch_max_wait_ms,
    )
    consumer.subscribe([events_topic("scheduling")], listener=_Joined())
    await consumer.start()

    async def watch() -> None:
        async for message in consumer:
            envelope = EventEnvelope.from_bytes(message.value or b"")
            if envelope.event_name == "OrderAssigned":
                assigned_at.setdefault(envelope.subject, time.perf_counter())
                arrived.set()

    async def assigned(order_id: str, within: float) -> float | None:
        deadline = time.perf_counter() + within
        while order_id not in assigned_at and time.perf_counter() < deadline:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), timeout=0.5)
        return assigned_at.get(order_id)

    watcher = asyncio.create_task(watch())
    latencies: list[float] = []
    try:
        await asyncio.wait_for(joined.wait(), timeout=60)
        await consumer.seek_to_end()
        async with ConnectionPool(procs.urls["intake"], headers) as client:
            # The probe waits out what came before (consumer groups forming, earlier backlog).
            probe = json.loads((await client.post_json("/v1/orders", _order()))[1])["id"]
            if await assigned(probe, within=180) is None:
                raise RuntimeError("the probe order was not assigned within 180 s")

            async def one() -> None:
                started = time.perf_counter()
                status, body = await client.post_json("/v1/orders", _order())
                if status != 201:
                    raise RuntimeError(f"POST /v1/orders: {status} {body[:200]!r}")
                seen = await assigned(json.loads(body)["id"], within=120)
                if seen is not None:
                    latencies.append(seen - started)

            tasks = []
            transactions_before = await _transactions_by_service(databases or {})
            cpu_before = _cpu_by_component(procs)
            began = time.perf_counter()
            for n in range(orders):
                await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
            cpu_after = _cpu_by_component(procs)
            elapsed = time.perf_counter() - began
            # The other consumers finish the run's events, and backends report their counts
            # (PostgreSQL flushes them about once a second).
            await _wait_for_no_lag(procs.bootstrap)
            await asyncio.sleep(2)
            transactions_after = await _transactions_by_service(databases or {})
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await consumer.stop()
    if not latencies:
        raise RuntimeError("no order was assigned within 120 s")
    summary = _latency_summary(latencies, elapsed)
    # What one order costs each part, idle polling included: the capacity-planning figure.
    cpu_ms = {
        name: round((cpu_after[name] - cpu_before[name]) / orders * 1000, 1) for name in cpu_after
    }
    total_ms = round(sum(cpu_ms.values()), 1)
    transactions = {
        name: round((transactions_after[name] - transactions_before.get(name, 0)) / orders, 1)
        for name in transactions_after
    }
    return {
        "target_event": "OrderAssigned",
        "arrival_rate_per_s": rate,
        "orders": orders,
        "not_assigned_within_120_s": orders - len(latencies),
        **summary,
        "cpu_ms_per_order": cpu_ms,
        "cpu_ms_per_order_total": total_ms,
        "cores_needed_at_this_rate": round(total_ms * rate / 1000, 2),
        **({"db_transactions_per_order": transactions} if transactions else {}),
    }


async def _broker_latency(bootstrap: str) -> dict[str, Any]:
    """Produce→consume latency of bare messages at ``RATE``/s, with the services' fetch wait."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=KafkaSettings().fetch_max_wait_ms,
    )
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    latencies: list[float] = []
    count = E2E_ORDERS
    try:
        await consumer.getone()  # warm-up message: the group is formed

        async def produce() -> None:
            began = time.perf_counter()
            for n in range(count):
                await asyncio.sleep(max(0.0, began + n / RATE - time.perf_counter()))
                await producer.send(topic, str(time.perf_counter()).encode())

        sender = asyncio.create_task(produce())
        while len(latencies) < count:
            message = await consumer.getone()
            latencies.append(time.perf_counter() - float(message.value or b"0"))
        await sender
    finally:
        await consumer.stop()
        await producer.stop()
    return {"arrival_rate_per_s": RATE, **_latency_summary(latencies, 1.0)}


async def _create_databases() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(PG_DSN)
    urls = {}
    try:
        for name in SERVICES:
            db = f"fsm_bench_{name}_{suffix}"
            await conn.execute(f'CREATE DATABASE "{db}"')
            base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            urls[name] = f"{base}/{db}"
    finally:
        await conn.close()
    return urls


async def _drop_databases(urls: dict[str, str]) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        for url in urls.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def _serve_bare(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "bare_app.py").write_text(BARE_APP)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=workdir,
    )


def main() -> None:
    """Run the load benchmarks and write ``bench/results/load.json``."""
    with tempfile.TemporaryDirectory(prefix="fsm-bench-") as scratch:
        asyncio.run(_main(Path(scratch)))


async def _main(scratch: Path) -> None:
    urls = await _create_databases()
    procs = Platform(scratch / "platform", database_urls=urls)
    bare_port = free_port()
    bare = _serve_bare(bare_port, scratch)
    results: dict[str, Any] = {
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": "PostgreSQL (local)",
            "broker": "embedded Tansu" if not os.environ.get("FSM_KAFKA_BOOTSTRAP") else "external",
        },
        "settings": {
            "requests": REQUESTS,
            "concurrency": CONCURRENCY,
            "light_concurrency": LIGHT_CONCURRENCY,
            "rounds": ROUNDS,
            "rate": RATE,
            "low_rate": LOW_RATE,
            "fetch_max_wait_ms": KafkaSettings().fetch_max_wait_ms,
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        procs.start()
        await _register_technicians(procs)
        await asyncio.sleep(2)
        results["rss_idle_mb"] = {n: _rss_mb(procs.pid(n)) for n in SERVICES}
        headers = {"Authorization": f"Bearer {procs.admin_key}"}
        others = [n for n in SERVICES if n != "intake"]
        for name in others:
            procs.pause(name)
        try:
            bare_url = f"http://127.0.0.1:{bare_port}/bare"
            intake_url = procs.urls["intake"] + "/v1/orders"
            bare_figures, intake_figures, ratios = await _interleaved(
                bare_url, intake_url, headers, concurrency=CONCURRENCY, requests=REQUESTS
            )
            results["rss_under_load_mb"] = {"intake": _rss_mb(procs.pid("intake"))}
            # Latency without queueing: at concurrency 32 most of it is waiting in line.
            light_bare, light_intake, _ = await _interleaved(
                bare_url,
                intake_url,
                headers,
                concurrency=LIGHT_CONCURRENCY,
                requests=max(100, REQUESTS // 4),
            )
            results["bare_fastapi_light"] = light_bare
            results["intake_create_order_light"] = light_intake
        finally:
            for name in others:
                procs.resume(name)
        results["bare_fastapi"] = bare_figures
        results["intake_create_order"] = intake_figures
        results["intake_vs_bare_ratio_per_round"] = ratios
        results["intake_vs_bare_ratio"] = round(statistics.median(ratios), 3)
        # The paused services catch up on the orders above before the clock starts.
        waited = {"backlog_before_low_rate_s": await _wait_for_no_lag(procs.bootstrap)}
        waited["before_low_rate_s"] = await _wait_until_quiet(procs)
        results["end_to_end_low_rate"] = await _end_to_end(
            procs, rate=LOW_RATE, orders=max(20, E2E_ORDERS // 4)
        )
        waited["backlog_before_target_rate_s"] = await _wait_for_no_lag(procs.bootstrap)
        waited["before_target_rate_s"] = await _wait_until_quiet(procs)
        results["end_to_end"] = await _end_to_end(
            procs, rate=RATE, orders=E2E_ORDERS, databases=urls
        )
        results["rss_after_e2e_mb"] = {n: _rss_mb(procs.pid(n)) for n in SERVICES}
        waited["backlog_after_target_rate_s"] = await _wait_for_no_lag(procs.bootstrap)
        results["waited_for_backlog"] = waited
        results["broker_produce_consume"] = await _broker_latency(procs.bootstrap)
        # Last, since its orders exceed the technicians' capacity for the day: where intake's
        # p99 stays under 50 ms, intake alone at rising concurrency.
        for name in others:
            procs.pause(name)
        sweep = []
        for concurrency in SWEEP_CONCURRENCY:
            latencies, elapsed = await _closed_loop_raw(
                procs.urls["intake"] + "/v1/orders", headers, concurrency, max(200, REQUESTS // 8)
            )
            sweep.append({"concurrency": concurrency, **_latency_summary(latencies, elapsed)})
        results["intake_concurrency_sweep"] = sweep
    finally:
        bare.terminate()
        bare.wait(timeout=10)
        procs.stop()
        await _drop_databases(urls)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _print(results)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _print(results: dict[str, Any]) -> None:
    bare, intake = results["bare_fastapi"], results["intake_create_order"]
    e2e, raw = results["end_to_end"], results["broker_produce_consume"]
    print(f"machine: {results['machine']}")
    print(
        f"bare FastAPI      {bare['requests_per_s']:>8} req/s  p50 {bare['p50_ms']} ms  "
        f"p99 {bare['p99_ms']} ms"
    )
    print(
        f"intake POST order {intake['requests_per_s']:>8} req/s  p50 {intake['p50_ms']} ms  "
        f"p99 {intake['p99_ms']} ms  ({results['intake_vs_bare_ratio']:.0%} of bare, median of "
        f"rounds {results['intake_vs_bare_ratio_per_round']}; "
        "target >= 40 %, p99 < 50 ms)"
    )
    bare_light, intake_light = results["bare_fastapi_light"], results["intake_create_order_light"]
    print(
        f"at concurrency {results['settings']['light_concurrency']}: bare p50 "
        f"{bare_light['p50_ms']} ms p99 {bare_light['p99_ms']} ms; intake "
        f"{intake_light['requests_per_s']} req/s p50 {intake_light['p50_ms']} ms "
        f"p99 {intake_light['p99_ms']} ms"
    )
    print(
        "intake by concurrency: "
        + "; ".join(
            f"{row['concurrency']}: {row['requests_per_s']}/s p99 {row['p99_ms']} ms"
            for row in results["intake_concurrency_sweep"]
        )
    )
    for figures in (results["end_to_end_low_rate"], e2e):
        print(
            f"end to end (POST -> {figures['target_event']} on the bus) at "
            f"{figures['arrival_rate_per_s']}/s: p50 {figures['p50_ms']} ms  "
            f"p99 {figures['p99_ms']} ms  (served {figures['requests_per_s']}/s; "
            "target p99 < 250 ms at 100/s)"
        )
    print(
        f"CPU per order at {e2e['arrival_rate_per_s']}/s: {e2e['cpu_ms_per_order']} ms "
        f"(total {e2e['cpu_ms_per_order_total']} ms: {e2e['cores_needed_at_this_rate']} cores "
        f"needed for this rate, {results['machine']['cores']} here)"
    )
    if "db_transactions_per_order" in e2e:
        print(f"database transactions per order: {e2e['db_transactions_per_order']}")
    print(f"raw broker produce->consume: p50 {raw['p50_ms']} ms  p99 {raw['p99_ms']} ms")
    for phase in ("rss_idle_mb", "rss_under_load_mb", "rss_after_e2e_mb"):
        print(f"{phase}: {results[phase]}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
