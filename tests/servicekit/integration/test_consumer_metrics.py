"""What /metrics says of the consumers, against the real broker: how far each consumer group is
behind on each partition, and how many messages the dead-letter topics hold, a figure read from
the broker, so a restart of the service does not reset it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from support.broker import Broker
from support.events import envelope
from support.kafka import message_count, new_topic, produce, running_consumer
from support.waiting import wait_until

from contracts.envelope import EventEnvelope
from contracts.topics import dead_letter_topic, events_topic
from fsm.services import build
from servicekit.consumer import report_dead_letters
from servicekit.kafka import ensure_topics
from servicekit.metrics import DEAD_LETTER_MESSAGES
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker


def _lag(group_id: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value(
        "fsm_consumer_lag",
        {"service": "test", "group": group_id, "topic": topic, "partition": "0"},
    )


async def test_consumer_lag_counts_the_messages_of_a_partition_not_handled_yet(
    kafka_settings: KafkaSettings,
) -> None:
    topic = await new_topic(kafka_settings)
    group_id = f"group-{uuid.uuid4().hex[:12]}"
    await produce(kafka_settings, topic, [envelope().to_bytes() for _ in range(5)])
    second_may_go = asyncio.Event()
    handled: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        if len(handled) == 1:
            await second_may_go.wait()
        handled.append(event.id)

    async with running_consumer(kafka_settings, topic=topic, group_id=group_id, handler=handler):
        await wait_until(lambda: _lag(group_id, topic) == 4, message="a lag of 4 behind")
        assert len(handled) == 1

        second_may_go.set()
        await wait_until(lambda: len(handled) == 5, message="all five handled")
        await wait_until(lambda: _lag(group_id, topic) == 0, message="no lag once caught up")


async def test_the_dead_letter_count_is_read_from_the_broker_so_a_restart_keeps_it(
    kafka_settings: KafkaSettings,
) -> None:
    topic = await new_topic(kafka_settings, with_dlt=True)
    dlt = dead_letter_topic(topic)
    good = envelope()
    handled: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        handled.append(event.id)

    await produce(kafka_settings, topic, [b"not json {", b"[1, 2", good.to_bytes()])
    async with running_consumer(
        kafka_settings, topic=topic, group_id=f"group-{uuid.uuid4().hex[:12]}", handler=handler
    ):
        await wait_until(lambda: handled, message="the event after the poison ones")
    DEAD_LETTER_MESSAGES.clear()  # what a restart does to the process's metrics

    counts = await report_dead_letters(kafka_settings, service="test", topics=[dlt])

    assert counts == {dlt: 2}
    assert (
        REGISTRY.get_sample_value("fsm_dead_letter_messages", {"service": "test", "topic": dlt})
        == 2
    )


async def test_a_service_reports_the_dead_letters_of_its_events_topic(
    broker: Broker, tmp_path: Path
) -> None:
    runtime = build(
        "billing",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}",
        kafka=broker.settings(topic_partitions=1),
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )
    dlt = dead_letter_topic(events_topic("billing"))
    await ensure_topics(runtime.settings.kafka, [dlt])
    try:
        counts = await runtime.report_dead_letters()
    finally:
        await runtime.engine.dispose()

    assert counts == {dlt: await message_count(runtime.settings.kafka, dlt)}
    assert (
        REGISTRY.get_sample_value("fsm_dead_letter_messages", {"service": "billing", "topic": dlt})
        == counts[dlt]
    )
