"""One partner endpoint cannot hold up the others: claims are fair across endpoints, an endpoint
has a bounded number of attempts in flight (one while it is failing), an attempt's outcome is
recorded when it ends, and name resolution counts against the attempt's timeout. Also: each
attempt is signed and logged with the time it is sent, and only continuous failure (attempts
spread over the period) disables an endpoint."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from webhook_testkit import Clock

from servicekit.db import SessionFactory
from servicekit.webhooks import (
    OwnerScope,
    WebhookPolicy,
    WebhookWorker,
    create_subscription,
    deliver_due,
    enqueue,
    list_attempts,
)
from servicekit.webhooks.tables import WebhookDeliveryRow, WebhookSubscriptionRow

EVENT = "fsm.OrderAssigned.v1"
GUARD = 30  # seconds: only a hang-breaker for a broken build, never an expectation


async def _subscribe(
    sessions: SessionFactory, owner: str, url: str, policy: WebhookPolicy, now: datetime
) -> str:
    async with sessions() as session:
        row = await create_subscription(session, owner_id=owner, url=url, policy=policy, now=now)
        await session.commit()
        return row.id


async def _enqueue(
    sessions: SessionFactory, owner: str, message_ids: list[str], now: datetime
) -> list[str]:
    ids: list[str] = []
    async with sessions() as session:
        for message_id in message_ids:
            ids += await enqueue(session, owner, EVENT, message_id, {"m": message_id}, now=now)
        await session.commit()
    return ids


async def test_one_endpoints_backlog_cannot_fill_a_batch(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    policy = local_policy.model_copy(update={"batch_size": 10, "max_in_flight_per_endpoint": 3})
    await _subscribe(sessions, "busy", "http://busy.local/h", policy, clock())
    await _subscribe(sessions, "quiet", "http://quiet.local/h", policy, clock())
    await _enqueue(sessions, "busy", [f"b{i}" for i in range(40)], clock() - timedelta(minutes=5))
    await _enqueue(sessions, "quiet", ["q0", "q1"], clock())
    hosts: Counter[str] = Counter()

    def answer(request: httpx.Request) -> httpx.Response:
        hosts[request.url.host] += 1
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        report = await deliver_due(sessions, client, clock(), policy=policy)
    # the older backlog of one endpoint no longer takes the whole batch
    assert hosts == {"busy.local": 3, "quiet.local": 2}
    assert report.succeeded == 5


async def test_a_hung_endpoint_does_not_delay_another_endpoints_webhooks(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    policy = local_policy.model_copy(
        update={
            "timeout_seconds": 60,
            "claim_lease_seconds": 400,
            "poll_interval_seconds": 0.05,
            "max_in_flight_per_endpoint": 4,
        }
    )
    await _subscribe(sessions, "n2", "http://hung.local/h", policy, clock())
    await _subscribe(sessions, "n1", "http://fast.local/h", policy, clock())
    await _enqueue(sessions, "n2", [f"slow{i}" for i in range(60)], clock())
    release = asyncio.Event()
    fast_received = asyncio.Event()
    in_flight = Counter[str]()
    peak = Counter[str]()

    async def answer(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] += 1
        peak[host] = max(peak[host], in_flight[host])
        try:
            if host == "hung.local":
                await release.wait()  # accepts the request and does not answer
            else:
                fast_received.set()
            return httpx.Response(200)
        finally:
            in_flight[host] -= 1

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        worker = WebhookWorker(sessions, policy=policy, clock=clock, http_client=client)
        run = asyncio.create_task(worker.run_once())
        await asyncio.sleep(0.2)  # the worker is busy with n2's backlog
        await _enqueue(sessions, "n1", ["fast0"], clock())
        await asyncio.wait_for(fast_received.wait(), GUARD)
        assert peak["hung.local"] <= policy.max_in_flight_per_endpoint
        release.set()
        await asyncio.wait_for(run, GUARD)
        while (await worker.run_once()).claimed:
            pass
        await worker.aclose()
    async with sessions() as session:
        statuses = Counter((await session.execute(select(WebhookDeliveryRow.status))).scalars())  # type: ignore[call-overload]
    assert statuses == {"succeeded": 61}


async def test_a_failing_endpoint_gets_one_attempt_at_a_time(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    policy = local_policy.model_copy(update={"max_in_flight_per_endpoint": 5})
    await _subscribe(sessions, "n2", "http://down.local/h", policy, clock())
    await _enqueue(sessions, "n2", [f"m{i}" for i in range(20)], clock())

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        first = await deliver_due(sessions, client, clock(), policy=policy)
        second = await deliver_due(sessions, client, clock(), policy=policy)
    assert first.claimed == 5  # healthy so far: up to the per-endpoint limit
    assert second.claimed == policy.max_in_flight_per_failing_endpoint == 1


async def test_name_resolution_counts_against_the_attempts_timeout(
    sessions: SessionFactory, clock: Clock
) -> None:
    strict = WebhookPolicy(timeout_seconds=0.2)
    hang = asyncio.Event()
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        if len(calls) > 1:  # at delivery time the DNS server stops answering
            await hang.wait()
        return ["93.184.216.34"]

    async with sessions() as session:
        await create_subscription(
            session,
            owner_id="n1",
            url="https://hooks.partner.example/in",
            policy=strict,
            resolver=resolver,
            now=clock(),
        )
        await session.commit()
    (delivery_id,) = await _enqueue(sessions, "n1", ["m1"], clock())
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        report = await asyncio.wait_for(
            deliver_due(sessions, c, clock(), policy=strict, resolver=resolver), GUARD
        )
    assert report.retrying == 1
    async with sessions() as session:
        row = await session.get(WebhookDeliveryRow, delivery_id)
    assert row is not None and row.last_error and "timed out" in row.last_error


async def test_each_attempt_is_signed_and_logged_with_the_time_it_is_sent(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    policy = local_policy.model_copy(update={"batch_size": 5, "max_concurrency": 1})
    await _subscribe(sessions, "n1", "http://slow.local/h", policy, clock())
    delivery_ids = await _enqueue(sessions, "n1", [f"m{i}" for i in range(5)], clock())
    sent: list[tuple[int, datetime]] = []

    def answer_in_3_seconds(request: httpx.Request) -> httpx.Response:
        sent.append((int(request.headers["webhook-timestamp"]), clock()))
        clock.advance(seconds=3)  # each answer takes 3 s of the worker's clock
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer_in_3_seconds)) as client:
        worker = WebhookWorker(sessions, policy=policy, clock=clock, http_client=client)
        await worker.run_once()
    assert len(sent) == 5
    assert [signed for signed, _ in sent] == [int(at.timestamp()) for _, at in sent]
    async with sessions() as session:
        logged = sorted(
            [
                a.attempted_at.replace(tzinfo=UTC)
                for d in delivery_ids
                for a in await list_attempts(session, scope=OwnerScope.everyone(), delivery_id=d)
            ]
        )
    assert logged == sorted(at for _, at in sent)


async def test_an_idle_gap_restarts_the_failure_count_so_one_blip_days_later_disables_nothing(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    answers = {"code": 503}

    def endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers["code"])

    sub = await _subscribe(sessions, "n1", "http://partner.local/h", local_policy, clock())
    start = clock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
        # day 0-1: down for a day; m1 goes through its whole schedule and is given up
        await _enqueue(sessions, "n1", ["m1"], clock())
        for _ in local_policy.retry_schedule_seconds:
            await deliver_due(sessions, client, clock(), policy=local_policy)
            clock.advance(hours=12)
        # day 6: nothing was sent for days; one 502 on the next message's first attempt
        answers["code"] = 502
        clock.set(start + timedelta(days=6))
        (m2,) = await _enqueue(sessions, "n1", ["m2"], clock())
        report = await deliver_due(sessions, client, clock(), policy=local_policy)
    assert report.disabled == [] and report.retrying == 1
    async with sessions() as session:
        row = await session.get(WebhookSubscriptionRow, sub)
        pending = await session.get(WebhookDeliveryRow, m2)
    assert row is not None and row.enabled is True
    assert row.failing_since is not None
    assert row.failing_since.replace(tzinfo=UTC) == start + timedelta(days=6)
    assert pending is not None and pending.status == "pending"


async def test_an_endpoint_failing_continuously_with_a_steady_trickle_of_messages_is_disabled(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    # Every message is given up after its own schedule, but attempts never pause for long:
    # a give-up alone does not restart the count.
    one_shot = local_policy.model_copy(update={"retry_schedule_seconds": (0,)})

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    sub = await _subscribe(sessions, "n1", "http://partner.local/h", one_shot, clock())
    start = clock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        for half_day in range(11):
            clock.set(start + timedelta(hours=12 * half_day))
            await _enqueue(sessions, "n1", [f"m{half_day}"], clock())
            report = await deliver_due(sessions, client, clock(), policy=one_shot)
    assert [d.cause for d in report.disabled] == ["failing"]
    async with sessions() as session:
        row = await session.get(WebhookSubscriptionRow, sub)
    assert row is not None and row.enabled is False


async def test_two_workers_together_keep_an_endpoint_within_its_in_flight_limit(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    policy = local_policy.model_copy(
        update={"poll_interval_seconds": 0.05, "max_in_flight_per_endpoint": 3}
    )
    await _subscribe(sessions, "n2", "http://slow.local/h", policy, clock())
    await _enqueue(sessions, "n2", [f"m{i}" for i in range(12)], clock())
    release = asyncio.Event()
    limit_reached = asyncio.Event()
    seen: list[str] = []
    in_flight = {"now": 0, "peak": 0}

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["webhook-id"])
        if len(seen) >= policy.max_in_flight_per_endpoint:
            limit_reached.set()
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        try:
            await release.wait()
            return httpx.Response(200)
        finally:
            in_flight["now"] -= 1

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        workers = [
            WebhookWorker(sessions, policy=policy, clock=clock, http_client=client)
            for _ in range(2)
        ]
        runs = [asyncio.create_task(w.run_once()) for w in workers]
        await asyncio.wait_for(limit_reached.wait(), GUARD)
        await asyncio.sleep(0.3)  # both workers look for more while the first attempts hang
        assert in_flight["peak"] == policy.max_in_flight_per_endpoint
        release.set()
        await asyncio.wait_for(asyncio.gather(*runs), GUARD)
        for worker in workers:
            while (await worker.run_once()).claimed:
                pass
            await worker.aclose()
    assert sorted(seen) == sorted(f"m{i}" for i in range(12))  # each once
