"""Delivery against a real database (SQLite and PostgreSQL) and a real HTTP receiver: signatures,
the retry schedule driven by an injected clock, 410, Retry-After, the 5-day rule, rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_testkit import Clock, Receiver, Reply, verifier_clock, verify

from servicekit.db import SessionFactory
from servicekit.webhooks import (
    DisabledEndpoint,
    OwnerScope,
    WebhookPolicy,
    create_subscription,
    deliver_due,
    enqueue,
    get_subscription,
    list_attempts,
    rotate_secret,
)
from servicekit.webhooks.tables import WebhookDeliveryRow, WebhookSubscriptionRow

OWNER = "net-1"
EVENT = "com.fsm.scheduling.OrderAssignedToNetwork.v1"


async def _subscribe(
    sessions: SessionFactory,
    url: str,
    policy: WebhookPolicy,
    *,
    owner: str = OWNER,
    event_types: list[str] | None = None,
    now: datetime | None = None,
) -> WebhookSubscriptionRow:
    async with sessions() as session:
        row = await create_subscription(
            session, owner_id=owner, url=url, event_types=event_types, policy=policy, now=now
        )
        await session.commit()
        return row


async def _enqueue(
    sessions: SessionFactory,
    message_id: str,
    payload: Any,
    *,
    now: datetime,
    owner: str = OWNER,
    event_type: str = EVENT,
) -> list[str]:
    async with sessions() as session:
        ids = await enqueue(session, owner, event_type, message_id, payload, now=now)
        await session.commit()
        return ids


async def _delivery(sessions: SessionFactory, delivery_id: str) -> WebhookDeliveryRow:
    async with sessions() as session:
        row = await session.get(WebhookDeliveryRow, delivery_id)
        assert row is not None
        return row


def _at(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def test_the_official_verifier_accepts_every_delivery_and_rejects_a_tampered_body(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    sub = await _subscribe(sessions, receiver.url(), local_policy)
    payloads = [{"order_id": f"o-{i}", "note": "热水器打不着火", "n": i} for i in range(3)]
    for i, payload in enumerate(payloads):
        await _enqueue(sessions, f"msg_{i}", payload, now=datetime.now(UTC))
    async with httpx.AsyncClient() as client:
        report = await deliver_due(sessions, client, datetime.now(UTC), policy=local_policy)
    assert report.succeeded == 3
    assert len(receiver.received) == 3
    for got in receiver.received:
        body = verify(sub.secret, got)  # raises if the signature or timestamp is wrong
        assert body in payloads
        assert got.headers["webhook-id"].startswith("msg_")
        assert got.headers["content-type"] == "application/json"
        tampered = got.body.replace(b'"n":', b'"n":1')
        with pytest.raises(WebhookVerificationError):
            verify(sub.secret, type(got)(path=got.path, headers=got.headers, body=tampered))


async def test_the_official_verifier_rejects_a_timestamp_outside_its_tolerance(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    sub = await _subscribe(sessions, receiver.url(), local_policy)
    stale = datetime.now(UTC) - timedelta(minutes=10)
    await _enqueue(sessions, "msg_old", {"a": 1}, now=stale)
    async with httpx.AsyncClient() as client:
        await deliver_due(sessions, client, stale, policy=local_policy)
    (got,) = receiver.received
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(sub.secret, got)
    with verifier_clock(stale):
        assert verify(sub.secret, got) == {"a": 1}


async def test_a_receiver_down_for_several_retry_steps_gets_the_message_once_back(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    sub = await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    (delivery_id,) = await _enqueue(sessions, "msg_down", {"order": "o-1"}, now=clock())
    receiver.script(
        Reply(503, body="maintenance"),
        Reply(500, body="boom"),
        Reply(502),
        Reply(504),
    )
    steps = local_policy.retry_schedule_seconds
    async with httpx.AsyncClient() as client:
        for attempt in range(5):
            due = _at((await _delivery(sessions, delivery_id)).next_attempt_at)
            if attempt:
                expected = steps[attempt]
                assert expected * 0.9 <= (due - clock()).total_seconds() <= expected * 1.1, (
                    "the stored next attempt follows the schedule (with jitter)"
                )
                # Just before the due time nothing is sent.
                clock.set(due - timedelta(seconds=0.5))
                assert (
                    await deliver_due(sessions, client, clock(), policy=local_policy)
                ).claimed == 0
            clock.set(due)
            await deliver_due(sessions, client, clock(), policy=local_policy)
    row = await _delivery(sessions, delivery_id)
    assert row.status == "succeeded" and row.attempts == 5
    assert len(receiver.received) == 5
    assert {r.headers["webhook-id"] for r in receiver.received} == {"msg_down"}
    final = receiver.received[-1]
    with verifier_clock(clock()):
        assert verify(sub.secret, final) == {"order": "o-1"}
    async with sessions() as session:
        attempts = await list_attempts(session, scope=OwnerScope.owner(OWNER), delivery_id=row.id)
    assert [a.status_code for a in attempts] == [503, 500, 502, 504, 200]
    assert attempts[0].response_excerpt == "maintenance"
    assert all(a.duration_ms >= 0 for a in attempts)
    # Nothing is sent again afterwards.
    clock.advance(days=2)
    async with httpx.AsyncClient() as client:
        assert (await deliver_due(sessions, client, clock(), policy=local_policy)).claimed == 0


async def test_an_unreachable_receiver_is_logged_with_the_error_and_retried(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    await _subscribe(sessions, f"http://127.0.0.1:{dead_port}/hook", local_policy, now=clock())
    (delivery_id,) = await _enqueue(sessions, "msg_refused", {"a": 1}, now=clock())
    async with httpx.AsyncClient() as client:
        report = await deliver_due(sessions, client, clock(), policy=local_policy)
    assert report.retrying == 1
    row = await _delivery(sessions, delivery_id)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error and "ConnectError" in row.last_error


async def test_http_410_disables_the_endpoint_and_fails_its_pending_deliveries(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    sub = await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    (first,) = await _enqueue(sessions, "msg_a", {"a": 1}, now=clock())
    (later,) = await _enqueue(sessions, "msg_b", {"b": 2}, now=clock() + timedelta(hours=1))
    receiver.script(Reply(410, body="gone"))
    disabled: list[DisabledEndpoint] = []

    async def on_disabled(session: AsyncSession, endpoint: DisabledEndpoint) -> None:
        disabled.append(endpoint)

    async with httpx.AsyncClient() as client:
        await deliver_due(
            sessions, client, clock(), policy=local_policy, on_endpoint_disabled=on_disabled
        )
    async with sessions() as session:
        row = await get_subscription(session, scope=OwnerScope.everyone(), subscription_id=sub.id)
    assert row.enabled is False and row.disabled_reason and "410" in row.disabled_reason
    assert [(d.subscription_id, d.cause) for d in disabled] == [(sub.id, "gone")]
    assert (await _delivery(sessions, first)).status == "failed"
    assert (await _delivery(sessions, later)).status == "failed"
    # A disabled endpoint gets nothing new.
    assert await _enqueue(sessions, "msg_c", {"c": 3}, now=clock()) == []
    clock.advance(hours=2)
    async with httpx.AsyncClient() as client:
        assert (await deliver_due(sessions, client, clock(), policy=local_policy)).claimed == 0
    assert len(receiver.received) == 1


async def test_retry_after_is_honoured(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    (delivery_id,) = await _enqueue(sessions, "msg_busy", {"a": 1}, now=clock())
    receiver.script(Reply(429, headers={"Retry-After": "3600"}))
    async with httpx.AsyncClient() as client:
        await deliver_due(sessions, client, clock(), policy=local_policy)
        due = _at((await _delivery(sessions, delivery_id)).next_attempt_at)
        # The schedule says 5 s; the receiver asked for an hour, and gets it.
        assert timedelta(hours=1) <= due - clock() <= timedelta(hours=1, seconds=1)
        clock.advance(minutes=59)
        assert (await deliver_due(sessions, client, clock(), policy=local_policy)).claimed == 0
        clock.set(due)
        assert (await deliver_due(sessions, client, clock(), policy=local_policy)).succeeded == 1


async def test_an_endpoint_failing_for_5_days_is_disabled_and_the_callback_runs_in_its_transaction(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    seen: list[int] = []

    def failing(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        return httpx.Response(500, text="down")

    sub = await _subscribe(sessions, "http://partner.local/hook", local_policy, now=clock())
    disabled: list[DisabledEndpoint] = []

    async def on_disabled(session: AsyncSession, endpoint: DisabledEndpoint) -> None:
        # The callback shares the disabling transaction: it sees the endpoint already disabled.
        row = await session.get(WebhookSubscriptionRow, endpoint.subscription_id)
        assert row is not None and row.enabled is False
        disabled.append(endpoint)

    start = clock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(failing)) as client:

        async def run() -> None:
            await deliver_due(
                sessions, client, clock(), policy=local_policy, on_endpoint_disabled=on_disabled
            )

        # One message per day keeps the endpoint failing continuously.
        for day in range(5):
            clock.set(start + timedelta(days=day))
            await _enqueue(sessions, f"msg_day_{day}", {"day": day}, now=clock())
            await run()
        clock.set(start + timedelta(days=5) - timedelta(seconds=1))
        await _enqueue(sessions, "msg_almost", {"day": 5}, now=clock())
        await run()
        async with sessions() as session:
            assert (await session.get(WebhookSubscriptionRow, sub.id)).enabled  # type: ignore[union-attr]
        assert disabled == []
        clock.set(start + timedelta(days=5))
        await _enqueue(sessions, "msg_day_5", {"day": 5}, now=clock())
        await run()
    async with sessions() as session:
        row = await session.get(WebhookSubscriptionRow, sub.id)
        assert row is not None
        pending = await session.execute(
            select(func.count())
            .select_from(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.status == "pending")  # type: ignore[arg-type]
        )
    assert row.enabled is False and row.disabled_reason and "5 days" in row.disabled_reason
    assert len(disabled) == 1 and disabled[0].cause == "failing"
    assert _at(disabled[0].failing_since) == start
    assert pending.scalar_one() == 0


async def test_a_success_ends_the_failure_streak(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    answers = {"msg_0": 500, "msg_1": 200, "msg_2": 500}
    one_shot = local_policy.model_copy(update={"retry_schedule_seconds": (0,)})

    def flaky(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers[request.headers["webhook-id"]])

    sub = await _subscribe(sessions, "http://partner.local/hook", one_shot, now=clock())
    start = clock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky)) as client:
        for i, day in enumerate([0, 3, 6]):
            clock.set(start + timedelta(days=day))
            await _enqueue(sessions, f"msg_{i}", {"i": i}, now=clock())
            await deliver_due(sessions, client, clock(), policy=one_shot)
    async with sessions() as session:
        row = await session.get(WebhookSubscriptionRow, sub.id)
    assert row is not None and row.enabled is True
    assert _at(row.failing_since) == start + timedelta(days=6)


async def test_redirects_are_not_followed(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    (delivery_id,) = await _enqueue(sessions, "msg_redirect", {"a": 1}, now=clock())
    receiver.script(Reply(307, headers={"Location": "http://169.254.169.254/latest/meta-data"}))
    async with httpx.AsyncClient(follow_redirects=True) as client:
        await deliver_due(sessions, client, clock(), policy=local_policy)
    row = await _delivery(sessions, delivery_id)
    assert row.status == "pending" and row.last_status_code == 307
    assert len(receiver.received) == 1


async def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    now = datetime.now(UTC)
    sub = await _subscribe(sessions, receiver.url(), local_policy, now=now)
    async with sessions() as session:
        rotated = await rotate_secret(
            session,
            scope=OwnerScope.owner(OWNER),
            subscription_id=sub.id,
            policy=local_policy,
            now=now,
        )
        await session.commit()
    old, new = sub.secret, rotated.secret
    assert old != new and rotated.previous_secret == old
    await _enqueue(sessions, "msg_rot", {"a": 1}, now=now)
    async with httpx.AsyncClient() as client:
        await deliver_due(sessions, client, now, policy=local_policy)
    (during,) = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(old, during) == {"a": 1}
    assert verify(new, during) == {"a": 1}

    after = now + timedelta(seconds=local_policy.secret_rotation_overlap_seconds + 1)
    await _enqueue(sessions, "msg_after", {"b": 2}, now=after)
    async with httpx.AsyncClient() as client:
        await deliver_due(sessions, client, after, policy=local_policy)
    last = receiver.received[-1]
    with verifier_clock(after):
        assert verify(new, last) == {"b": 2}
        with pytest.raises(WebhookVerificationError):
            verify(old, last)


async def test_dns_rebinding_is_refused_at_delivery_time(
    sessions: SessionFactory, clock: Clock
) -> None:
    strict = WebhookPolicy()
    answers = {"now": "93.184.216.34"}

    async def resolver(host: str, port: int) -> list[str]:
        return [answers["now"]]

    sent: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    async with sessions() as session:
        await create_subscription(
            session,
            owner_id=OWNER,
            url="https://hooks.partner.example/in",
            policy=strict,
            resolver=resolver,
            now=clock(),
        )
        await session.commit()
    (first,) = await _enqueue(sessions, "msg_pinned", {"a": 1}, now=clock())
    async with httpx.AsyncClient(transport=httpx.MockTransport(transport)) as client:
        await deliver_due(sessions, client, clock(), policy=strict, resolver=resolver)
        # The request went to the address that was checked, named by Host and SNI.
        (request,) = sent
        assert request.url.host == "93.184.216.34"
        assert request.headers["host"] == "hooks.partner.example"
        assert request.extensions["sni_hostname"] == "hooks.partner.example"
        assert (await _delivery(sessions, first)).status == "succeeded"

        answers["now"] = "169.254.169.254"  # the name now points at the metadata service
        (second,) = await _enqueue(sessions, "msg_rebound", {"a": 2}, now=clock())
        await deliver_due(sessions, client, clock(), policy=strict, resolver=resolver)
    assert len(sent) == 1
    row = await _delivery(sessions, second)
    assert row.status == "pending" and row.last_error and "SSRF" in row.last_error


async def test_body_is_the_callers_json_exactly(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    await _subscribe(sessions, receiver.url(), local_policy)
    envelope = {"id": "e-1", "type": EVENT, "data": {"order_id": "o-9", "amount": "12.50"}}
    await _enqueue(sessions, "msg_env", envelope, now=datetime.now(UTC))
    async with httpx.AsyncClient() as client:
        await deliver_due(sessions, client, datetime.now(UTC), policy=local_policy)
    (got,) = receiver.received
    assert json.loads(got.body) == envelope


async def test_an_attempt_that_breaks_in_an_unforeseen_way_fails_alone_and_the_batch_is_recorded(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    good = await _subscribe(sessions, receiver.url(), local_policy)
    odd = await _subscribe(sessions, receiver.url("odd"), local_policy, owner="net-2")
    (good_delivery,) = await _enqueue(sessions, "msg_good", {"a": 1}, now=datetime.now(UTC))
    (odd_delivery,) = await _enqueue(
        sessions, "msg_odd", {"a": 2}, now=datetime.now(UTC), owner="net-2"
    )

    class Breaks(httpx.AsyncBaseTransport):
        """Fails the way no HTTP error does for one endpoint (an odd header, say)."""

        def __init__(self) -> None:
            self.real = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/odd"):
                raise UnicodeEncodeError("ascii", "ü", 0, 1, "not ascii")
            return await self.real.handle_async_request(request)

    async with httpx.AsyncClient(transport=Breaks()) as client:
        report = await deliver_due(sessions, client, datetime.now(UTC), policy=local_policy)

    assert report.succeeded == 1 and len(receiver.received) == 1
    assert (await _delivery(sessions, good_delivery)).status == "succeeded"
    failed = await _delivery(sessions, odd_delivery)
    assert failed.status == "pending" and failed.attempts == 1
    assert good.id != odd.id
