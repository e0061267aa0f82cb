"""A webhook request refused (unknown subscription) with an ``Idempotency-Key`` gets its refusal,
on SQLite too, where every transaction holds the write lock: the route's transaction is ended
before the idempotency helper looks the key up on another connection (it used to wait for the
lock for the 30 s busy timeout and answer 503)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from fsm.services import build

KEY = "webhook-idempotency-admin-key-0123"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/webhooks/subscriptions/no-such/secret/rotate", None),
        ("/v1/webhooks/subscriptions/no-such/replay", {"since": "2000-01-01T00:00:00Z"}),
        ("/v1/webhooks/deliveries/no-such/redeliver", None),
    ],
)
def test_a_refused_request_with_an_idempotency_key_gets_its_refusal_each_time(
    tmp_path: Path, path: str, body: dict[str, Any] | None
) -> None:
    runtime = build(
        "scheduling",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'scheduling.db'}",
        bootstrap_api_key=KEY,
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )

    async def twice() -> list[int]:
        await runtime.migrate()
        transport = httpx.ASGITransport(app=runtime.app)
        headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "retry-1"}
        statuses = []
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers, timeout=120
        ) as client:
            for _ in range(2):
                statuses.append((await client.post(path, json=body)).status_code)
        await runtime.engine.dispose()
        return statuses

    assert asyncio.run(twice()) == [404, 404]
