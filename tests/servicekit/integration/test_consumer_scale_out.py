"""Scaling a service out: two consumers of one group share a topic's partitions, and the group
rebalances when the second joins and when the first leaves, while events flow. Every event is
applied once (the inbox turns the replays a rebalance causes into no-ops), and each order's events
are first applied in the order they were produced (keys are order ids, so an order's events share
a partition)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine
from support.broker import Broker
from support.events import envelope
from support.inbox import apply, create_effect_table, effect_event_ids
from support.kafka import message_count, new_topic, running_consumer
from support.waiting import wait_until

from contracts.envelope import EventEnvelope
from contracts.topics import dead_letter_topic
from servicekit.consumer import EventHandler
from servicekit.db import SessionFactory
from servicekit.kafka import producer_config
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker

ORDERS = 12
EVENTS_PER_ORDER = 10


@pytest.fixture
def group_settings(broker: Broker) -> KafkaSettings:
    """Four partitions, and short group sessions so the rebalances are quick."""
    return broker.settings(topic_partitions=4, session_timeout_ms=3000, heartbeat_interval_ms=300)


async def _produce_keyed(settings: KafkaSettings, topic: str, events: list[EventEnvelope]) -> None:
    producer = AIOKafkaProducer(**producer_config(settings, "scale-out-test"))
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, event.to_bytes(), key=event.subject.encode())
    finally:
        await producer.stop()


async def test_a_consumer_joining_and_one_leaving_mid_stream_apply_each_event_once_in_order(
    group_settings: KafkaSettings, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await create_effect_table(engine)
    topic = await new_topic(group_settings, with_dlt=True)
    group_id = f"group-{uuid.uuid4().hex[:12]}"
    orders = [f"order-{n:02d}" for n in range(ORDERS)]
    events = [
        envelope(order, note=f"#{step}") for step in range(EVENTS_PER_ORDER) for order in orders
    ]
    position = {event.id: step for step, event in enumerate(events)}
    applied_by: dict[str, list[uuid.UUID]] = defaultdict(list)
    first_applied: list[EventEnvelope] = []

    def handler_of(member: str) -> EventHandler:
        async def handle(event: EventEnvelope) -> None:
            await asyncio.sleep(0.01)  # a handler's work, so the rebalances land mid-stream
            if await apply(session_factory, event):
                applied_by[member].append(event.id)
                first_applied.append(event)

        return handle

    await _produce_keyed(group_settings, topic, events)
    first = running_consumer(
        group_settings, topic=topic, group_id=group_id, handler=handler_of("first")
    )
    second = running_consumer(
        group_settings,
        topic=topic,
        group_id=group_id,
        handler=handler_of("second"),
        start_timeout=30,
    )
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(first)
        await wait_until(
            lambda: len(applied_by["first"]) >= 20,
            within=30,
            message="the first consumer to apply 20 events",
        )
        async with second:
            await wait_until(
                lambda: len(applied_by["second"]) >= 10,
                within=30,
                message="the second consumer to get partitions and apply 10 events",
            )
            # The first leaves mid-stream; the second takes over its partitions.
            await stack.aclose()
            left_at = len(applied_by["first"])
            await wait_until(
                lambda: len(first_applied) == len(events),
                within=60,
                message="every event to be applied once",
            )
            assert len(applied_by["first"]) == left_at

    assert sorted(await effect_event_ids(session_factory)) == sorted(str(e.id) for e in events)
    assert await message_count(group_settings, dead_letter_topic(topic)) == 0
    for order in orders:
        steps = [position[e.id] for e in first_applied if e.subject == order]
        assert steps == sorted(steps), f"{order}'s events were applied out of order: {steps}"
