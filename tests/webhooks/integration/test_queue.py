"""Enqueue inside the caller's transaction, fan-out, redelivery, replay, concurrent workers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from webhook_testkit import Clock, Receiver, Reply

from servicekit.db import SessionFactory
from servicekit.webhooks import (
    DeliveryInFlight,
    EndpointDisabled,
    InvalidMessage,
    InvalidReplayRange,
    OwnerScope,
    WebhookPolicy,
    create_subscription,
    deliver_due,
    enqueue,
    purge_finished_before,
    redeliver,
    replay,
    update_subscription,
)
from servicekit.webhooks.delivery import _claim
from servicekit.webhooks.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookMessageRow,
    WebhookSubscriptionRow,
)

EVENT = "com.fsm.scheduling.OrderAssignedToNetwork.v1"


async def _subscribe(
    sessions: SessionFactory,
    url: str,
    policy: WebhookPolicy,
    owner: str = "net-1",
    event_types: list[str] | None = None,
    now: datetime | None = None,
) -> str:
    async with sessions() as session:
        row = await create_subscription(
            session, owner_id=owner, url=url, event_types=event_types, policy=policy, now=now
        )
        await session.commit()
        return row.id


async def _count(sessions: SessionFactory, table: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_enqueue_commits_or_rolls_back_with_the_callers_transaction(
    sessions: SessionFactory, local_policy: WebhookPolicy
) -> None:
    await _subscribe(sessions, "http://partner.local/hook", local_policy)
    async with sessions() as session:
        await enqueue(session, "net-1", EVENT, "msg_rolled_back", {"a": 1})
        await session.rollback()
    assert await _count(sessions, WebhookDeliveryRow) == 0
    async with sessions() as session:
        ids = await enqueue(session, "net-1", EVENT, "msg_committed", {"a": 1})
        await session.commit()
    assert len(ids) == 1 and await _count(sessions, WebhookDeliveryRow) == 1


async def test_enqueue_fans_out_to_the_owners_enabled_matching_subscriptions_only(
    sessions: SessionFactory, local_policy: WebhookPolicy
) -> None:
    all_events = await _subscribe(sessions, "http://a.local/", local_policy)
    filtered_in = await _subscribe(
        sessions, "http://b.local/", local_policy, event_types=["com.fsm.scheduling.*"]
    )
    await _subscribe(sessions, "http://c.local/", local_policy, event_types=["other.type"])
    paused = await _subscribe(sessions, "http://d.local/", local_policy)
    await _subscribe(sessions, "http://e.local/", local_policy, owner="net-2")
    async with sessions() as session:
        await update_subscription(
            session,
            scope=OwnerScope.owner("net-1"),
            subscription_id=paused,
            enabled=False,
            policy=local_policy,
        )
        ids = await enqueue(session, "net-1", EVENT, "msg_fan", {"a": 1})
        await session.commit()
        targets = set(
            (
                await session.execute(
                    select(WebhookDeliveryRow.subscription_id).where(  # type: ignore[call-overload]
                        WebhookDeliveryRow.id.in_(ids)  # type: ignore[attr-defined]
                    )
                )
            ).scalars()
        )
    assert targets == {all_events, filtered_in}


async def test_a_message_standing_for_another_event_reaches_the_endpoints_that_asked_for_it(
    sessions: SessionFactory, local_policy: WebhookPolicy
) -> None:
    # an OrderWithdrawn stands for the OrderReassigned that took the order (SCH-12)
    for_it = await _subscribe(
        sessions, "http://a.local/", local_policy, event_types=["other.Withdrawn.v1"]
    )
    for_the_event = await _subscribe(sessions, "http://b.local/", local_policy, event_types=[EVENT])
    await _subscribe(sessions, "http://c.local/", local_policy, event_types=["other.type"])
    async with sessions() as session:
        ids = await enqueue(
            session, "net-1", "other.Withdrawn.v1", "msg_for", {"a": 1}, also_for=[EVENT]
        )
        again = await enqueue(
            session, "net-1", "other.Withdrawn.v1", "msg_for", {"a": 1}, also_for=[EVENT]
        )
        await session.commit()
        targets = set(
            (
                await session.execute(
                    select(WebhookDeliveryRow.subscription_id).where(  # type: ignore[call-overload]
                        WebhookDeliveryRow.id.in_(ids)  # type: ignore[attr-defined]
                    )
                )
            ).scalars()
        )
    assert targets == {for_it, for_the_event} and again == []


async def test_the_same_message_id_is_enqueued_once_per_owner(
    sessions: SessionFactory, local_policy: WebhookPolicy
) -> None:
    await _subscribe(sessions, "http://a.local/", local_policy)
    for _ in range(2):
        async with sessions() as session:
            await enqueue(session, "net-1", EVENT, "msg_dup", {"a": 1})
            await session.commit()
    assert await _count(sessions, WebhookMessageRow) == 1
    assert await _count(sessions, WebhookDeliveryRow) == 1


async def test_an_owner_without_subscriptions_stores_nothing(sessions: SessionFactory) -> None:
    async with sessions() as session:
        assert await enqueue(session, "net-9", EVENT, "msg_x", {"a": 1}) == []
        await session.commit()
    assert await _count(sessions, WebhookMessageRow) == 0


@pytest.mark.parametrize("message_id", ["", "has space", "x" * 201, "line\nbreak"])
async def test_unusable_message_ids_are_refused(sessions: SessionFactory, message_id: str) -> None:
    async with sessions() as session:
        with pytest.raises(InvalidMessage):
            await enqueue(session, "net-1", EVENT, message_id, {"a": 1})


async def test_redeliver_sends_one_message_again_with_the_same_webhook_id(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    async with sessions() as session:
        (delivery_id,) = await enqueue(session, "net-1", EVENT, "msg_again", {"a": 1}, now=clock())
        await session.commit()
    async with httpx.AsyncClient() as client:
        await deliver_due(sessions, client, clock(), policy=local_policy)
        async with sessions() as session:
            with pytest.raises(LookupError):
                await redeliver(session, scope=OwnerScope.owner("net-2"), delivery_id=delivery_id)
            row = await redeliver(
                session, scope=OwnerScope.owner("net-1"), delivery_id=delivery_id, now=clock()
            )
            await session.commit()
        assert row.status == "pending" and row.attempts == 0
        await deliver_due(sessions, client, clock(), policy=local_policy)
    assert [r.headers["webhook-id"] for r in receiver.received] == ["msg_again", "msg_again"]
    assert await _count(sessions, WebhookAttemptRow) == 2


async def test_replay_resends_a_time_range_including_what_a_disabled_endpoint_missed(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    sub = await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    start = clock()
    receiver.script(Reply(410))
    async with httpx.AsyncClient() as client:
        async with sessions() as session:
            await enqueue(session, "net-1", EVENT, "msg_1", {"n": 1}, now=start)
            await session.commit()
        await deliver_due(sessions, client, start, policy=local_policy)  # 410: disabled
        for n, minutes in ((2, 10), (3, 20), (4, 30)):
            async with sessions() as session:
                await enqueue(
                    session,
                    "net-1",
                    EVENT,
                    f"msg_{n}",
                    {"n": n},
                    now=start + timedelta(minutes=minutes),
                )
                await session.commit()
        scope = OwnerScope.owner("net-1")
        async with sessions() as session:
            with pytest.raises(EndpointDisabled):
                await replay(session, scope=scope, subscription_id=sub, since=start)
            await update_subscription(
                session, scope=scope, subscription_id=sub, enabled=True, policy=local_policy
            )
            scheduled = await replay(
                session,
                scope=scope,
                subscription_id=sub,
                since=start,
                until=start + timedelta(minutes=25),
                now=clock.advance(hours=1),
            )
            await session.commit()
        assert scheduled == 3  # msg_1 failed; msg_2 and msg_3 were never sent; msg_4 is later
        await deliver_due(sessions, client, clock(), policy=local_policy)
    assert sorted(r.headers["webhook-id"] for r in receiver.received[1:]) == [
        "msg_1",
        "msg_2",
        "msg_3",
    ]


async def test_purge_deletes_old_finished_messages_with_their_log_and_keeps_pending_ones(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy, clock: Clock
) -> None:
    await _subscribe(sessions, receiver.url(), local_policy, now=clock())
    start = clock()
    receiver.script(Reply(200), Reply(500))
    async with httpx.AsyncClient() as client:
        for message_id in ("msg_delivered", "msg_retrying"):
            async with sessions() as session:
                await enqueue(session, "net-1", EVENT, message_id, {"m": message_id}, now=start)
                await session.commit()
            await deliver_due(sessions, client, start, policy=local_policy)
        async with sessions() as session:
            await enqueue(
                session, "net-1", EVENT, "msg_recent", {"m": 3}, now=start + timedelta(days=2)
            )
            await session.commit()
    assert await _count(sessions, WebhookAttemptRow) == 2

    purged = await purge_finished_before(sessions, start + timedelta(days=1), batch=1)

    assert purged == 1
    async with sessions() as session:
        kept = set((await session.execute(select(WebhookMessageRow.message_id))).scalars())
        statuses = set((await session.execute(select(WebhookDeliveryRow.status))).scalars())
    assert kept == {"msg_retrying", "msg_recent"}  # still retried, or not old enough
    assert statuses == {"pending"}
    assert await _count(sessions, WebhookAttemptRow) == 1  # the retried one's failed attempt
    assert await purge_finished_before(sessions, start + timedelta(days=1)) == 0


async def test_concurrent_workers_never_send_a_delivery_twice(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    await _subscribe(sessions, receiver.url(), local_policy)
    now = datetime.now(UTC)
    async with sessions() as session:
        for i in range(40):
            await enqueue(session, "net-1", EVENT, f"msg_{i}", {"i": i}, now=now)
        await session.commit()
    policy = local_policy.model_copy(update={"batch_size": 7})
    async with httpx.AsyncClient() as client:
        for _ in range(10):
            await asyncio.gather(
                *(deliver_due(sessions, client, now, policy=policy) for _ in range(4))
            )
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert sorted(ids) == sorted(f"msg_{i}" for i in range(40))


async def test_redelivering_a_delivery_in_flight_is_refused_and_leaves_its_claim(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    await _subscribe(sessions, "http://partner.local/hook", local_policy, now=clock())
    async with sessions() as session:
        (delivery_id,) = await enqueue(session, "net-1", EVENT, "msg_busy", {"a": 1}, now=clock())
        await session.commit()
    (claimed,) = await _claim(sessions, clock(), local_policy, limit=10)  # an attempt starts
    scope = OwnerScope.owner("net-1")
    async with sessions() as session:
        with pytest.raises(DeliveryInFlight):
            await redeliver(
                session, scope=scope, delivery_id=delivery_id, now=clock.advance(seconds=1)
            )
        await session.commit()
    # Still leased by the attempt in flight: no second worker may send it meanwhile.
    assert await _claim(sessions, clock(), local_policy, limit=10) == []
    async with sessions() as session:
        row = await session.get(WebhookDeliveryRow, delivery_id)
        assert row is not None and row.claim_token == claimed.claim_token
    # Once the lease is over (the attempt's worker died) it can be sent again by hand.
    later = clock.advance(seconds=local_policy.claim_lease_seconds + 1)
    async with sessions() as session:
        row = await redeliver(session, scope=scope, delivery_id=delivery_id, now=later)
        await session.commit()
    assert row.claim_token is None and row.status == "pending"


@pytest.mark.parametrize("until_after_since", [timedelta(hours=-1), timedelta(0)])
async def test_a_replay_range_ending_before_it_starts_is_refused(
    sessions: SessionFactory,
    local_policy: WebhookPolicy,
    clock: Clock,
    until_after_since: timedelta,
) -> None:
    sub = await _subscribe(sessions, "http://partner.local/hook", local_policy, now=clock())
    async with sessions() as session:
        with pytest.raises(InvalidReplayRange, match="until"):
            await replay(
                session,
                scope=OwnerScope.owner("net-1"),
                subscription_id=sub,
                since=clock(),
                until=clock() + until_after_since,
            )


async def test_changing_an_endpoints_url_restarts_its_failure_streak(
    sessions: SessionFactory, local_policy: WebhookPolicy, clock: Clock
) -> None:
    sub = await _subscribe(sessions, "http://broken.local/hook", local_policy, now=clock())
    failing_since = clock() - timedelta(days=3)
    async with sessions() as session:
        row = await session.get(WebhookSubscriptionRow, sub)
        assert row is not None
        row.failing_since = failing_since
        await session.commit()
    scope = OwnerScope.owner("net-1")
    async with sessions() as session:
        same = await update_subscription(
            session,
            scope=scope,
            subscription_id=sub,
            url="http://broken.local/hook",
            description="unchanged URL",
            policy=local_policy,
        )
        await session.commit()
        assert same.failing_since is not None  # the same URL: its failures still count
        fixed = await update_subscription(
            session,
            scope=scope,
            subscription_id=sub,
            url="http://fixed.local/hook",
            policy=local_policy,
        )
        await session.commit()
    assert fixed.failing_since is None
