"""Signed webhook deliveries per second to a local receiver (``make bench-webhooks``).

A uvicorn receiver in its own process verifies every request with the official
``standardwebhooks`` verifier; N messages are enqueued, then the delivery worker runs until all are
delivered (or a time limit passes). Measured on SQLite and, when reachable, PostgreSQL.

Settings (environment): ``FSM_BENCH_WEBHOOKS_N`` (messages, default 2000),
``FSM_BENCH_WEBHOOKS_SECONDS`` (time limit per database, 60), ``FSM_BENCH_WEBHOOKS_CONCURRENCY``
(requests in flight, 8), ``FSM_BENCH_PG_DSN``
(``postgresql://postgres@127.0.0.1:5432/postgres``). Writes ``bench/results/webhooks.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from servicekit.db import make_engine, make_session_factory
from servicekit.embedded import free_port
from servicekit.webhooks import (
    WEBHOOK_REGISTRY,
    WebhookPolicy,
    WebhookWorker,
    create_subscription,
    enqueue,
    generate_secret,
)

RESULTS = Path(__file__).resolve().parent / "results" / "webhooks.json"
MESSAGES = int(os.environ.get("FSM_BENCH_WEBHOOKS_N", "2000"))
TIME_LIMIT = float(os.environ.get("FSM_BENCH_WEBHOOKS_SECONDS", "60"))
PG_DSN = os.environ.get("FSM_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CONCURRENCY = int(os.environ.get("FSM_BENCH_WEBHOOKS_CONCURRENCY", "8"))

BATCH = 200
TIMEOUT_SECONDS = 15.0
POLICY = WebhookPolicy(
    allow_private_addresses=True,  # the receiver is on 127.0.0.1
    require_https=False,
    batch_size=BATCH,
    max_concurrency=CONCURRENCY,
    timeout_seconds=TIMEOUT_SECONDS,
    # the lease outlasts a batch of timeouts, as the policy requires
    claim_lease_seconds=-(-BATCH // CONCURRENCY) * TIMEOUT_SECONDS + 60,
)

RECEIVER = """
import sys
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

hook = Webhook(sys.argv[2])
stats = {"verified": 0, "rejected": 0, "ids": set()}

async def receive(request):
    body = await request.body()
    try:
        hook.verify(body, dict(request.headers), json_parse=False)
    except Exception:
        stats["rejected"] += 1
        return Response(status_code=400)
    stats["verified"] += 1
    stats["ids"].add(request.headers["webhook-id"])
    return Response(status_code=204)

async def read_stats(request):
    return JSONResponse({"verified": stats["verified"], "rejected": stats["rejected"],
                         "distinct_ids": len(stats["ids"])})

async def reset(request):
    stats.update(verified=0, rejected=0, ids=set())
    return Response(status_code=204)

app = Starlette(routes=[Route("/hook", receive, methods=["POST"]),
                        Route("/stats", read_stats), Route("/reset", reset, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""


async def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"{base}/stats")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            await asyncio.sleep(0.05)


async def _run(database_url: str, label: str, secret_holder: dict[str, str]) -> dict[str, Any]:
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(WEBHOOK_REGISTRY.metadata.create_all)
    sessions = make_session_factory(engine)
    base = secret_holder["base"]
    try:
        async with sessions() as session:
            sub = await create_subscription(
                session, owner_id="net-bench", url=f"{base}/hook", policy=POLICY
            )
            # Every run signs with the receiver's secret so it can verify.
            sub.secret = secret_holder["secret"]
            await session.commit()
        started = time.perf_counter()
        async with sessions() as session:
            for i in range(MESSAGES):
                await enqueue(
                    session,
                    "net-bench",
                    "com.fsm.bench.Ping.v1",
                    f"msg_{label}_{i}",
                    {"seq": i, "order_id": str(uuid.uuid4()), "note": "热水器打不着火"},
                )
            await session.commit()
        enqueue_s = time.perf_counter() - started
        async with httpx.AsyncClient() as stats_client:
            await stats_client.post(f"{base}/reset")
            worker = WebhookWorker(sessions, policy=POLICY)
            delivered = 0
            started = time.perf_counter()
            deadline = started + TIME_LIMIT
            while delivered < MESSAGES and time.perf_counter() < deadline:
                report = await worker.run_once()
                delivered += report.succeeded
                if report.claimed == 0:
                    break
            elapsed = time.perf_counter() - started
            await worker.aclose()
            stats = (await stats_client.get(f"{base}/stats")).json()
        return {
            "database": label,
            "messages": MESSAGES,
            "delivered": delivered,
            "verified_by_receiver": stats["verified"],
            "rejected_by_receiver": stats["rejected"],
            "distinct_webhook_ids": stats["distinct_ids"],
            "seconds": round(elapsed, 3),
            "deliveries_per_second": round(delivered / elapsed, 1) if elapsed else None,
            "enqueue_per_second": round(MESSAGES / enqueue_s, 1),
            "timed_out": delivered < MESSAGES,
        }
    finally:
        await engine.dispose()


async def _postgres_database() -> tuple[str, str] | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except Exception as exc:
        print(f"PostgreSQL unreachable ({type(exc).__name__}); SQLite only")
        return None
    name = f"fsm_bench_webhooks_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(PG_DSN)
    return name, urlunsplit(parts._replace(scheme="postgresql+asyncpg", path=f"/{name}"))


async def _drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _main(holder: dict[str, str]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    await _wait_ready(holder["base"])
    with tempfile.TemporaryDirectory() as scratch:
        runs.append(await _run(f"sqlite+aiosqlite:///{scratch}/bench.db", "sqlite", holder))
    pg = await _postgres_database()
    if pg is not None:
        name, url = pg
        try:
            runs.append(await _run(url, "postgresql", holder))
        finally:
            await _drop(name)
    return {
        "benchmark": "webhooks",
        "measured_at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "policy": {"batch_size": POLICY.batch_size, "max_concurrency": POLICY.max_concurrency},
        "runs": runs,
    }


def main() -> None:
    """Run the benchmark, print deliveries/s and write ``bench/results/webhooks.json``."""
    port = free_port()
    secret = generate_secret(32)
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(port), secret], stdout=subprocess.DEVNULL
    )
    try:
        summary = asyncio.run(_main({"base": f"http://127.0.0.1:{port}", "secret": secret}))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    for run in summary["runs"]:
        print(
            f"{run['database']:>10}: {run['delivered']}/{run['messages']} signed deliveries in "
            f"{run['seconds']} s = {run['deliveries_per_second']} deliveries/s "
            f"(receiver verified {run['verified_by_receiver']}, "
            f"rejected {run['rejected_by_receiver']}; enqueue {run['enqueue_per_second']}/s)"
            + (" [time limit reached]" if run["timed_out"] else "")
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
