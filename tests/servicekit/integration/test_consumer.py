"""The consumer loop: poison and failing messages go to ``<topic>.dlt`` with the error in headers
while the next message is processed; offsets are committed only after processing, so what a
stopped consumer did not finish is redelivered; retries apply a flaky handler once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from support.broker import Broker
from support.events import envelope
from support.inbox import apply, create_effect_table, effect_event_ids
from support.kafka import header, message_count, new_topic, produce, read_records, running_consumer
from support.waiting import wait_until

from contracts.envelope import EventEnvelope
from contracts.intake import OrderCancelled
from contracts.topics import dead_letter_topic
from servicekit.db import SessionFactory
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker


def group() -> str:
    return f"group-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def handover_settings(broker: Broker) -> KafkaSettings:
    """Settings for a group whose member is replaced: the shortest session the kit allows.

    aiokafka sends no LeaveGroup from generation 0, which is Tansu's first generation, so the
    successor's join waits for the stopped member's session to expire.
    """
    return broker.settings(topic_partitions=1, session_timeout_ms=3000, heartbeat_interval_ms=300)


async def test_message_that_is_not_json_goes_to_the_dlt_and_the_next_is_processed(
    kafka_settings: KafkaSettings,
) -> None:
    topic = await new_topic(kafka_settings, with_dlt=True)
    good = envelope()
    handled: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        handled.append(event.id)

    await produce(kafka_settings, topic, [b"not json {", good.to_bytes()])
    async with running_consumer(kafka_settings, topic=topic, group_id=group(), handler=handler):
        await wait_until(lambda: handled, message="the message after the poison to be handled")

    assert handled == [good.id]
    [dead] = await read_records(kafka_settings, dead_letter_topic(topic), count=1)
    assert dead.value == b"not json {"
    assert dead.key == b"key"
    assert header(dead, "dlt-error-class") == "ValidationError"
    assert "JSON" in (header(dead, "dlt-error-message") or "")
    assert header(dead, "dlt-attempts") == "1"
    assert header(dead, "dlt-original-topic") == topic
    assert header(dead, "dlt-original-offset") == "0"


async def test_event_whose_handler_keeps_failing_goes_to_the_dlt_after_max_attempts(
    kafka_settings: KafkaSettings,
) -> None:
    topic = await new_topic(kafka_settings, with_dlt=True)
    bad, good = envelope(note="cannot be applied"), envelope()
    calls: Counter[uuid.UUID] = Counter()
    handled: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        calls[event.id] += 1
        if event.id == bad.id:
            raise RuntimeError(f"cannot apply {event.id}")
        handled.append(event.id)

    await produce(kafka_settings, topic, [bad.to_bytes(), good.to_bytes()])
    async with running_consumer(kafka_settings, topic=topic, group_id=group(), handler=handler):
        await wait_until(lambda: handled, message="the message after the failing one")

    assert handled == [good.id]
    assert calls[bad.id] == kafka_settings.max_attempts == 3
    [dead] = await read_records(kafka_settings, dead_letter_topic(topic), count=1)
    assert dead.value == bad.to_bytes()
    assert header(dead, "dlt-error-class") == "RuntimeError"
    assert header(dead, "dlt-error-message") == f"cannot apply {bad.id}"
    assert header(dead, "dlt-attempts") == "3"
    assert "RuntimeError" in (header(dead, "dlt-error-trace") or "")


async def test_handler_failing_twice_then_succeeding_is_applied_once_and_not_dead_lettered(
    kafka_settings: KafkaSettings, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await create_effect_table(engine)
    topic = await new_topic(kafka_settings, with_dlt=True)
    event = envelope()
    attempts: list[bool] = []

    async def flaky(event: EventEnvelope) -> None:
        fail = len(attempts) < 2
        attempts.append(fail)
        # Each failed try wrote its effect and rolled it back; only the third commits.
        await apply(session_factory, event, fail=fail)

    await produce(kafka_settings, topic, [event.to_bytes()])
    async with running_consumer(kafka_settings, topic=topic, group_id=group(), handler=flaky):
        await wait_until(lambda: len(attempts) >= 3, message="three tries of the flaky handler")

    assert attempts == [True, True, False]
    assert await effect_event_ids(session_factory) == [str(event.id)]
    assert await message_count(kafka_settings, dead_letter_topic(topic)) == 0


async def test_an_unreachable_database_is_waited_for_in_place_and_never_dead_letters_the_event(
    kafka_settings: KafkaSettings,
) -> None:
    topic = await new_topic(kafka_settings, with_dlt=True)
    event = envelope()
    calls: list[str] = []

    async def handler(event: EventEnvelope) -> None:
        if len(calls) < kafka_settings.max_attempts + 2:  # more failures than max_attempts
            calls.append("refused")
            raise ConnectionRefusedError("[Errno 111] Connect call failed ('127.0.0.1', 5432)")
        calls.append("applied")

    await produce(kafka_settings, topic, [event.to_bytes()])
    async with running_consumer(kafka_settings, topic=topic, group_id=group(), handler=handler):
        await wait_until(lambda: "applied" in calls, message="the event applied", within=30)

    assert calls.count("applied") == 1
    assert await message_count(kafka_settings, dead_letter_topic(topic)) == 0


async def test_an_outage_longer_than_the_retry_budget_restarts_the_consumer_on_the_same_event(
    broker: Broker,
) -> None:
    settings = broker.settings(topic_partitions=1, transient_retry_seconds=0.5)
    topic = await new_topic(settings, with_dlt=True)
    first, second = envelope(), envelope()
    database_back_at = asyncio.get_running_loop().time() + 4.0
    applied: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        if asyncio.get_running_loop().time() < database_back_at:
            raise OSError("database unreachable")
        applied.append(event.id)

    await produce(settings, topic, [first.to_bytes(), second.to_bytes()])
    async with running_consumer(settings, topic=topic, group_id=group(), handler=handler):
        await wait_until(lambda: len(applied) >= 2, message="both events applied", within=40)

    assert applied == [first.id, second.id]
    assert await message_count(settings, dead_letter_topic(topic)) == 0


async def test_messages_a_stopped_consumer_did_not_finish_are_redelivered_and_applied_once(
    handover_settings: KafkaSettings, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await create_effect_table(engine)
    topic = await new_topic(handover_settings, with_dlt=True)
    events = [envelope("order-1", note=f"#{i}") for i in range(5)]
    group_id = group()
    first_seen: list[uuid.UUID] = []
    stuck = asyncio.Event()

    async def commits_the_third_then_hangs(event: EventEnvelope) -> None:
        first_seen.append(event.id)
        await apply(session_factory, event)
        if event.id == events[2].id:
            stuck.set()
            await asyncio.Event().wait()  # effect committed, handler never returns

    await produce(handover_settings, topic, [e.to_bytes() for e in events])
    async with running_consumer(
        handover_settings, topic=topic, group_id=group_id, handler=commits_the_third_then_hangs
    ) as (_, task):
        await asyncio.wait_for(stuck.wait(), timeout=15)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert first_seen == [e.id for e in events[:3]]

    second_seen: list[tuple[uuid.UUID, bool]] = []

    async def inbox_handler(event: EventEnvelope) -> None:
        second_seen.append((event.id, await apply(session_factory, event)))

    async with running_consumer(
        handover_settings, topic=topic, group_id=group_id, handler=inbox_handler
    ):
        await wait_until(lambda: len(second_seen) >= 3, message="the successor to get 3 messages")

    # 1-2 were handled and their offsets committed; 3 was still in hand, so it comes again
    # with 4 and 5, and the inbox turns its replay into a no-op.
    assert second_seen == [(events[2].id, False), (events[3].id, True), (events[4].id, True)]
    assert await effect_event_ids(session_factory) == [str(e.id) for e in events]
    assert await message_count(handover_settings, dead_letter_topic(topic)) == 0


async def test_events_the_service_does_not_apply_are_skipped_unread_and_committed(
    handover_settings: KafkaSettings,
) -> None:
    topic = await new_topic(handover_settings, with_dlt=True)
    created = envelope("order-1")
    cancelled = EventEnvelope.wrap(
        OrderCancelled(order_id="order-1", reason="fixed itself", cancelled_by="agent-7")
    )
    untyped = envelope("order-1", note="sent without a ce_type header")
    group_id = group()
    seen: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        seen.append(event.id)

    def typed(event: EventEnvelope) -> list[tuple[str, bytes]]:
        return [("ce_type", event.type.encode())]

    # The skipped event is last, so only its own commit moves the group past it.
    await produce(
        handover_settings,
        topic,
        [created.to_bytes(), untyped.to_bytes(), cancelled.to_bytes()],
        headers=[typed(created), [], typed(cancelled)],
    )
    async with running_consumer(
        handover_settings,
        topic=topic,
        group_id=group_id,
        handler=handler,
        accepts=lambda name: name == "OrderCreated",
    ):
        await wait_until(lambda: len(seen) >= 2, message="the applied events")
        await asyncio.sleep(0.5)  # time to (wrongly) hand over the skipped one too
    # Without a header the consumer cannot tell the type unread: the handler gets it.
    assert seen == [created.id, untyped.id]

    later = envelope("order-2")
    await produce(handover_settings, topic, [later.to_bytes()], headers=[typed(later)])
    everything: list[uuid.UUID] = []

    async def unfiltered(event: EventEnvelope) -> None:
        everything.append(event.id)

    async with running_consumer(
        handover_settings, topic=topic, group_id=group_id, handler=unfiltered
    ):
        await wait_until(lambda: everything, message="the event after the skipped one")
    assert everything == [later.id]
