"""A healthy endpoint is not slowed down by its in-flight limit: the worker claims again as soon
as an attempt ends (no poll-interval sleep while deliveries are due and slots are free), records
the ended attempts and claims the next ones in one transaction, and one run is bounded by
deliveries (``max_batches_per_run`` batches of ``batch_size``), not by how many small claims the
per-endpoint limit splits them into. Counted, never timed."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

import httpx
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine
from webhook_testkit import Clock

from servicekit.db import SessionFactory
from servicekit.webhooks import WebhookPolicy, WebhookWorker, create_subscription, enqueue
from servicekit.webhooks.tables import WebhookDeliveryRow

EVENT = "fsm.OrderAssigned.v1"
GUARD = 30  # seconds: only a hang-breaker for a broken build, never an expectation
MESSAGES = 100


async def _backlog(sessions: SessionFactory, policy: WebhookPolicy, now: datetime) -> None:
    async with sessions() as session:
        await create_subscription(
            session, owner_id="n1", url="http://fast.local/h", policy=policy, now=now
        )
        await session.commit()
    async with sessions() as session:
        for i in range(MESSAGES):
            await enqueue(session, "n1", EVENT, f"m{i}", {"i": i}, now=now)
        await session.commit()


async def test_a_healthy_endpoint_is_sent_its_backlog_without_poll_sleeps_in_one_run(
    sessions: SessionFactory, wh_engine: AsyncEngine, local_policy: WebhookPolicy, clock: Clock
) -> None:
    # A poll interval of an hour: a worker that slept it while deliveries are due would hang
    # until the guard breaks the test.
    policy = local_policy.model_copy(
        update={"poll_interval_seconds": 3600, "max_in_flight_per_endpoint": 4}
    )
    await _backlog(sessions, policy, clock())
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(wh_engine.sync_engine, "commit", count)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204)  # a receiver that answers at once

    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            worker = WebhookWorker(sessions, policy=policy, clock=clock, http_client=client)
            report = await asyncio.wait_for(worker.run_once(), GUARD)
            await worker.aclose()
    finally:
        event.remove(wh_engine.sync_engine, "commit", count)
    # One run sends the whole backlog: far less than max_batches_per_run * batch_size.
    assert report.succeeded == MESSAGES
    # Each transaction records what ended and claims the next ones (up to the endpoint's 4
    # free slots): one per 4 deliveries and the last recording, not a claim and a record each.
    assert commits <= math.ceil(MESSAGES / policy.max_in_flight_per_endpoint) + 1
    async with sessions() as session:
        statuses = set((await session.execute(select(WebhookDeliveryRow.status))).scalars())  # type: ignore[call-overload]
    assert statuses == {"succeeded"}
