"""Scaled out: two replicas of every service on one PostgreSQL database each, the topics split in
three partitions, while orders come in through both intake replicas, and one scheduling replica
is killed mid-run. The survivors take over its partitions and its outbox relay; every order is
applied once in every service, every order is placed once although two replicas assign at once
(SCH-1: today's capacity full, the rest on the next days, shared evenly), and every outbox drains.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from support.db import POSTGRES_ADMIN_DSN, create_database, drop_database
from support.db import database_url as postgres_url
from support.platform import SERVICES, Platform
from support.waiting import wait_until

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.e2e,
    pytest.mark.broker,
    pytest.mark.postgres,
    pytest.mark.timeout(900),
]

ORDERS = 60
TECHNICIANS = 3
CAPACITY = 8  # 24 places a day for 60 orders: the capacity check decides, in two replicas at once
CLIENTS = 8


def _order(n: int) -> dict[str, object]:
    return {
        "customer": {
            "name": f"客户{n}",
            "phone": f"+86139{n:08d}",
            "address": f"山东省东营市东营区西四路{n + 1}号",
        },
        "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2025-03-01"},
        "fault": {"description": "热水器打不着火"},
        "channel": "hotline",
    }


def _technician(n: int) -> dict[str, object]:
    return {
        "technician_id": f"scale-t{n}",
        "name": f"技师{n}",
        "phone": f"+86137{n:08d}",
        "skills": ["*"],
        "areas": ["*"],
        "home": {"lat": 37.43 + n * 0.01, "lon": 118.67},
        "shift_start": "00:00:00",
        "shift_end": "23:59:00",
        "working_days": [0, 1, 2, 3, 4, 5, 6],
        "daily_capacity": CAPACITY,
    }


class Databases:
    """One fresh PostgreSQL database per service, queried directly to reconcile."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.urls = {service: postgres_url(name) for service, name in names.items()}

    async def rows(self, service: str, sql: str) -> list[asyncpg.Record]:
        dsn = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + self.names[service]
        connection = await asyncpg.connect(dsn)
        try:
            return list(await connection.fetch(sql))
        finally:
            await connection.close()

    async def value(self, service: str, sql: str) -> object:
        [row] = await self.rows(service, sql)
        return row[0]


@pytest.fixture
async def databases() -> AsyncIterator[Databases]:
    try:
        names = {service: await create_database() for service in SERVICES}
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is unreachable ({exc!r})")
    try:
        yield Databases(names)
    finally:
        for name in names.values():
            await drop_database(name)


@pytest.fixture
async def platform(databases: Databases, tmp_path: Path) -> AsyncIterator[Platform]:
    running = Platform(
        tmp_path / "platform",
        database_urls=databases.urls,
        extra_env={"FSM_KAFKA_TOPIC_PARTITIONS": "3"},
    )
    try:
        await asyncio.to_thread(running.start)
        for service in SERVICES:
            await asyncio.to_thread(running.add_replica, service)
        yield running
    finally:
        await asyncio.to_thread(running.stop)


async def _take(platform: Platform, numbers: range, created: dict[int, str]) -> None:
    """Orders ``numbers`` taken through both intake replicas in turn, each retried with its
    Idempotency-Key until it is answered 201."""
    headers = {"Authorization": f"Bearer {platform.admin_key}"}
    replicas = platform.replicas("intake")
    for n in numbers:
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"scale-out-order-{n}"))
        for attempt in range(100):
            url = platform.urls[replicas[(n + attempt) % len(replicas)]]
            try:
                async with httpx.AsyncClient(base_url=url, headers=headers, timeout=15) as client:
                    response = await client.post(
                        "/v1/orders", json=_order(n), headers={"Idempotency-Key": key}
                    )
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 201:
                created[n] = response.json()["id"]
                break
            assert response.status_code >= 500 or response.status_code == 409, response.text
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"order {n} was never taken")


async def test_two_replicas_of_every_service_apply_each_order_once_and_survive_losing_one(
    platform: Platform, databases: Databases
) -> None:
    async with httpx.AsyncClient(
        base_url=platform.urls["scheduling-2"],
        headers={"Authorization": f"Bearer {platform.admin_key}"},
        timeout=15,
    ) as scheduling:
        for n in range(TECHNICIANS):
            registered = await scheduling.post("/v1/technicians", json=_technician(n))
            assert registered.status_code == 201, registered.text

    created: dict[int, str] = {}
    halves = (range(ORDERS // 2), range(ORDERS // 2, ORDERS))
    await asyncio.gather(*(_take(platform, halves[0][c::CLIENTS], created) for c in range(CLIENTS)))
    # One scheduling replica dies for good: its partitions and relay go to the survivor.
    await asyncio.to_thread(platform.kill, "scheduling")
    await asyncio.gather(*(_take(platform, halves[1][c::CLIENTS], created) for c in range(CLIENTS)))
    order_ids = set(created.values())
    assert len(order_ids) == ORDERS, "a retried order was created twice"

    async def settled() -> bool:
        for service in SERVICES:
            waiting = await databases.value(
                service, "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            if waiting:
                return False
        known = await databases.value("scheduling", "SELECT count(*) FROM dispatch_order")
        assigned = await databases.value(
            "scheduling", "SELECT count(*) FROM dispatch_order WHERE technician_id IS NOT NULL"
        )
        on_timelines = await databases.rows(
            "intake",
            "SELECT type, count(*) AS n FROM order_timeline"
            " WHERE type IN ('OrderCreated', 'OrderAssigned') GROUP BY type",
        )
        seen = {row["type"]: row["n"] for row in on_timelines}
        return known == ORDERS and seen == {"OrderCreated": ORDERS, "OrderAssigned": assigned}

    await wait_until(settled, within=240, interval=1, message="every order applied everywhere")

    # SCH-1: every order placed at once, a day's capacity full before the next day is used and
    # the least loaded first, so the three identical technicians share them evenly although
    # two replicas assigned at once.
    held = await databases.rows(
        "scheduling",
        "SELECT technician_id, count(*) AS n FROM dispatch_order"
        " WHERE technician_id IS NOT NULL GROUP BY technician_id",
    )
    assert sorted(row["n"] for row in held) == [ORDERS // TECHNICIANS] * TECHNICIANS
    # Each order assigned once, and each event on each timeline once.
    assignments = await databases.rows(
        "scheduling",
        "SELECT key AS order_id, count(*) AS n FROM outbox"
        " WHERE event_type LIKE '%OrderAssigned%' GROUP BY key",
    )
    assert len(assignments) == ORDERS and {r["n"] for r in assignments} == {1}
    duplicated = await databases.value(
        "intake",
        "SELECT count(*) FROM (SELECT order_id, type FROM order_timeline"
        " GROUP BY order_id, type, event_id HAVING count(*) > 1) AS twice",
    )
    assert duplicated == 0
    # Every other service recorded every order once.
    for service in ("fieldwork", "billing", "feedback"):
        recorded = await databases.rows(
            service,
            f"SELECT order_id, count(*) AS n FROM {service}_order_event"
            " WHERE type = 'OrderCreated' GROUP BY order_id",
        )
        assert {r["order_id"] for r in recorded} == order_ids, service
        assert {r["n"] for r in recorded} == {1}, service
