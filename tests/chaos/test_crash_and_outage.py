"""Crashes and a broker outage while orders flow: nothing is lost, nothing is applied twice.

2,000 orders are taken at intake by concurrent clients that retry with an ``Idempotency-Key``.
Meanwhile every service is killed with SIGKILL once and restarted on its database, and the broker
is frozen for 30 s (the embedded broker keeps data in memory only, so the outage is a freeze; with
``FSM_KAFKA_BOOTSTRAP`` pointing at a real Kafka the freeze is skipped). Intake keeps answering
201 while the broker is away. Then every service is reconciled against what was taken.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support.platform import SERVICES, Platform, wait_for

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.e2e,
    pytest.mark.broker,
    pytest.mark.timeout(1800),  # 2,000 orders, five restarts and a 30 s outage on two cores
]

ORDERS = int(os.environ.get("FSM_CHAOS_ORDERS", "2000"))
OUTAGE_SECONDS = float(os.environ.get("FSM_CHAOS_OUTAGE_SECONDS", "30"))
CLIENTS = 12


def _order(n: int) -> dict[str, object]:
    return {
        "customer": {
            "name": f"客户{n}",
            "phone": f"+86138{n:08d}",
            "address": f"山东省东营市东营区西四路{n % 300 + 1}号",
        },
        "product": {
            "line": "water_heater",
            "model": "JSQ24-12",
            "serial": f"SN-{n:06d}",
            "purchase_date": "2025-03-01",
        },
        "fault": {"description": "热水器打不着火"},
        "channel": "hotline",
    }


class OrderTaker:
    """Concurrent call-centre clients: each order is retried with its key until it gets 201."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.created: dict[int, str] = {}
        self.answered_during_outage = 0
        self.outage = threading.Event()
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"chaos-order-{n}"))
        deadline = time.monotonic() + 300
        with self.platform.client("intake", timeout=15) as client:
            while time.monotonic() < deadline:
                try:
                    response = client.post(
                        "/v1/orders", json=_order(n), headers={"Idempotency-Key": key}
                    )
                except httpx.HTTPError:
                    time.sleep(0.2)  # intake is down (killed): the call centre retries
                    continue
                if response.status_code == 201:
                    with self._lock:
                        self.created[n] = response.json()["id"]
                        if self.outage.is_set():
                            self.answered_during_outage += 1
                    return
                if response.status_code >= 500 or response.status_code == 409:
                    time.sleep(0.2)
                    continue
                raise AssertionError(f"order {n}: {response.status_code} {response.text}")
        raise AssertionError(f"order {n} was never taken")

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.created)


def _sqlite(platform: Platform, service: str) -> sqlite3.Connection:
    return sqlite3.connect(platform.data_dir / f"{service}.db")


def _unpublished(platform: Platform, service: str) -> int:
    with _sqlite(platform, service) as db:
        return int(
            db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]
        )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(Path(tmp_path_factory.mktemp("chaos"))).start()
    try:
        yield running
    finally:
        running.stop()


def test_orders_survive_crashes_and_a_broker_outage(platform: Platform) -> None:
    taker = OrderTaker(platform)
    # Kill each service once, spread over the run; freeze the broker in the middle.
    kill_at = {int(ORDERS * (i + 1) / (len(SERVICES) + 2)): name for i, name in enumerate(SERVICES)}
    outage_at = ORDERS // 2
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(taker.take, n) for n in range(ORDERS)]
        done_events: set[int] = set()
        outage_done = platform.broker is None
        while not all(f.done() for f in futures):
            count = taker.count
            for threshold, name in kill_at.items():
                if count >= threshold and threshold not in done_events:
                    done_events.add(threshold)
                    platform.kill(name)
                    platform.restart(name)
            if not outage_done and count >= outage_at:
                outage_done = True
                platform.freeze_broker()
                taker.outage.set()
                time.sleep(OUTAGE_SECONDS)
                taker.outage.clear()
                platform.thaw_broker()
            time.sleep(0.05)
        for future in futures:
            future.result()

    assert len(taker.created) == ORDERS
    assert len(set(taker.created.values())) == ORDERS, "a retried order was created twice"
    if platform.broker is not None:
        assert taker.answered_during_outage > 0, (
            "intake did not answer 201 while the broker was away"
        )

    # Reconcile: every order reaches its expected state everywhere, exactly once.
    with _sqlite(platform, "intake") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == ORDERS

    def settled() -> bool:
        return all(_unpublished(platform, s) == 0 for s in SERVICES)

    wait_for(settled, within=180, interval=1, message="every outbox drained")

    def intake_timelines_complete() -> bool:
        with _sqlite(platform, "intake") as db:
            seen = db.execute(
                "SELECT count(DISTINCT order_id) FROM order_timeline WHERE type = 'OrderCreated'"
            ).fetchone()[0]
        return bool(seen == ORDERS)

    wait_for(intake_timelines_complete, within=180, interval=1, message="timelines complete")
    with _sqlite(platform, "intake") as db:
        per_order = db.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM order_timeline "
            "WHERE type = 'OrderCreated' GROUP BY order_id)"
        ).fetchone()[0]
    assert per_order == 1, "an OrderCreated was applied twice to a timeline"

    ids = set(taker.created.values())

    def scheduling_knows_every_order() -> bool:
        with _sqlite(platform, "scheduling") as db:
            known = {row[0] for row in db.execute("SELECT order_id FROM dispatch_order")}
        return ids <= known

    wait_for(scheduling_knows_every_order, within=180, interval=1, message="scheduling complete")

    for service in ("billing", "feedback"):

        def recorded(service: str = service) -> bool:
            with _sqlite(platform, service) as db:
                rows = db.execute(
                    f"SELECT order_id, count(*) FROM {service}_order_event "
                    "WHERE type = 'OrderCreated' GROUP BY order_id"
                ).fetchall()
            return len(rows) == ORDERS and all(n == 1 for _, n in rows)

        wait_for(recorded, within=180, interval=1, message=f"{service} recorded every order once")
