"""The transactional outbox: what commits is published, in order per key; what rolls back never
is; and a commit made while the broker is down is published once it returns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from support.events import envelope
from support.kafka import crash, header, message_count, new_topic, read_records
from support.waiting import wait_until

from servicekit.db import SessionFactory
from servicekit.embedded import EmbeddedBroker, free_port
from servicekit.kafka import KafkaPublisher, ensure_topics
from servicekit.outbox import OutboxMessage, OutboxRelay, add_to_outbox, pending_count
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker


async def test_rolled_back_event_is_never_published(
    session_factory: SessionFactory, kafka_settings: KafkaSettings
) -> None:
    topic = await new_topic(kafka_settings)
    rolled_back, committed = envelope(note="rolled back"), envelope(note="committed")
    async with session_factory() as session:
        await add_to_outbox(session, rolled_back, topic=topic)
        await session.flush()
        await session.rollback()
    async with session_factory() as session:
        await add_to_outbox(session, committed, topic=topic)
        await session.commit()
    publisher = KafkaPublisher(kafka_settings, client_id="test-relay")
    relay = OutboxRelay(session_factory=session_factory, publisher=publisher, service="test")
    try:
        with capture_logs() as logs:
            assert await relay.publish_pending() == 1
    finally:
        await relay.release()
        await publisher.stop()

    [record] = await read_records(kafka_settings, topic, count=1)
    assert header(record, "ce_id") == str(committed.id)
    # Ops follow an order through the logs by its id: one line per event published.
    published = [line for line in logs if line["event"] == "outbox.event_published"]
    assert [(line["order_id"], line["event_id"]) for line in published] == [
        (committed.subject, str(committed.id))
    ]
    assert await message_count(kafka_settings, topic) == 1
    assert await pending_count(session_factory) == 0


async def test_committed_events_are_published_in_commit_order_per_key_and_marked_sent(
    session_factory: SessionFactory, broker: Any
) -> None:
    settings = broker.settings(topic_partitions=3)
    topic = await new_topic(settings)
    keys = ["order-a", "order-b", "order-c"]
    committed: dict[str, list[str]] = defaultdict(list)
    for round_ in range(4):
        for key in keys:
            event = envelope(key, note=f"{key} #{round_}")
            async with session_factory() as session:
                await add_to_outbox(session, event, topic=topic)
                await session.commit()
            committed[key].append(str(event.id))
    assert await pending_count(session_factory) == 12

    publisher = KafkaPublisher(settings, client_id="test-relay")
    # A small batch makes the relay go round several times, as under a backlog.
    relay = OutboxRelay(
        session_factory=session_factory, publisher=publisher, service="test", batch_size=5
    )
    try:
        published = [await relay.publish_pending() for _ in range(4)]
    finally:
        await relay.release()
        await publisher.stop()

    assert published == [5, 5, 2, 0]
    assert await pending_count(session_factory) == 0
    received: dict[str, list[str]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for record in await read_records(settings, topic, count=12):
        key = record.key.decode()
        received[key].append(header(record, "ce_id") or "")
        partitions[key].add(record.partition)
    assert received == committed
    assert all(len(p) == 1 for p in partitions.values()), partitions
    async with session_factory() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    assert all(row.published_at is not None and row.attempts == 1 for row in rows)


async def test_event_committed_while_broker_down_is_published_when_it_returns(
    session_factory: SessionFactory,
) -> None:
    port = free_port()
    settings = KafkaSettings(
        bootstrap=f"127.0.0.1:{port}",
        fetch_max_wait_ms=10,
        request_timeout_ms=1000,
        topic_partitions=1,
        enable_idempotence=False,
    )
    topic = "outbox.down.test"
    first_broker = EmbeddedBroker(port=port)
    first_broker.start()
    second_broker: EmbeddedBroker | None = None
    publisher = KafkaPublisher(settings, client_id="test-relay")
    relay = OutboxRelay(
        session_factory=session_factory,
        publisher=publisher,
        service="test",
        poll_interval=0.02,
        max_backoff=0.2,
    )
    relay_task = asyncio.create_task(relay.run())
    try:
        await ensure_topics(settings, [topic])
        before = envelope("order-1", note="before the outage")
        async with session_factory() as session:
            await add_to_outbox(session, before, topic=topic)
            await session.commit()
        relay.notify()
        await wait_until(
            lambda: _pending_is(session_factory, 0), message="the first event published"
        )

        crash(first_broker)
        during = envelope("order-1", note="during the outage")
        async with session_factory() as session:
            await add_to_outbox(session, during, topic=topic)
            await session.commit()
        relay.notify()
        failed = await wait_until(
            lambda: _row_failed_twice(session_factory, during.id),
            within=20,
            message="the relay to record two failed attempts",
        )
        assert failed.published_at is None
        assert failed.last_error
        assert not relay_task.done()
        assert await pending_count(session_factory) == 1

        # Memory storage: the new broker is empty, as after losing the broker's disk.
        second_broker = EmbeddedBroker(port=port)
        second_broker.start()
        await ensure_topics(settings, [topic])
        await wait_until(
            lambda: _pending_is(session_factory, 0),
            within=20,
            message="the outbox to drain after the broker returned",
        )
        [record] = await read_records(settings, topic, count=1)
    finally:
        relay.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(relay_task, timeout=10)
        await publisher.stop()
        first_broker.stop()
        if second_broker is not None:
            second_broker.stop()

    assert record.value == during.to_bytes()
    assert json.loads(record.value) == json.loads(during.model_dump_json())
    assert record.key == b"order-1"
    assert header(record, "ce_id") == str(during.id)
    assert header(record, "ce_type") == "fsm.OrderCreated.v1"


async def _pending_is(session_factory: SessionFactory, expected: int) -> bool:
    return await pending_count(session_factory) == expected


async def _row_failed_twice(session_factory: SessionFactory, event_id: uuid.UUID) -> Any:
    async with session_factory() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.event_id == str(event_id))
        )
    return row if row is not None and row.attempts >= 2 else None
