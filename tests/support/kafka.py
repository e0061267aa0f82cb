"""Broker helpers for tests: unique topics, reading a topic from the start, producing raw bytes,
and running an :class:`~servicekit.consumer.EventConsumer` as a task."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from contracts.topics import dead_letter_topic
from servicekit.consumer import EventConsumer, EventFilter, EventHandler
from servicekit.embedded import EmbeddedBroker
from servicekit.kafka import KafkaPublisher, ensure_topics, producer_config
from servicekit.settings import KafkaSettings


def unique_topic(prefix: str = "test") -> str:
    """A topic name no other test uses."""
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


async def new_topic(
    settings: KafkaSettings, *, prefix: str = "test", with_dlt: bool = False
) -> str:
    """Create a fresh topic (and its ``.dlt`` when asked) with ``settings.topic_partitions``."""
    topic = unique_topic(prefix)
    topics = [topic, dead_letter_topic(topic)] if with_dlt else [topic]
    await ensure_topics(settings, topics)
    return topic


def _reader(settings: KafkaSettings) -> AIOKafkaConsumer:
    # No group: reads every partition from the start and commits nothing.
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


async def read_records(
    settings: KafkaSettings, topic: str, *, count: int, within: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """The first ``count`` records of ``topic`` (all partitions), waiting up to ``within`` seconds.

    Raises ``AssertionError`` with what arrived when fewer than ``count`` did in time.
    """
    reader = _reader(settings)
    await reader.start()
    try:
        partitions = await _partitions(reader, topic, within=within)
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within
        while len(records) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{topic}: expected {count} records within {within}s, got {len(records)}: "
                    f"{[r.value for r in records]!r}"
                )
            batches = await reader.getmany(timeout_ms=int(min(remaining, 0.2) * 1000))
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await reader.stop()


async def message_count(settings: KafkaSettings, topic: str, *, within: float = 5.0) -> int:
    """How many records ``topic`` holds (sum of the partitions' end offsets)."""
    reader = _reader(settings)
    await reader.start()
    try:
        partitions = await _partitions(reader, topic, within=within)
        offsets = await reader.end_offsets(partitions)
        return sum(offsets.values())
    finally:
        await reader.stop()


async def _partitions(
    reader: AIOKafkaConsumer, topic: str, *, within: float
) -> list[TopicPartition]:
    deadline = time.monotonic() + within
    while True:
        ids = reader.partitions_for_topic(topic)
        if ids:
            return [TopicPartition(topic, p) for p in sorted(ids)]
        if time.monotonic() >= deadline:
            raise AssertionError(f"topic {topic} has no partitions after {within}s")
        await reader._client.force_metadata_update()  # the public API has no "refresh now"
        await asyncio.sleep(0.02)


async def produce(
    settings: KafkaSettings,
    topic: str,
    values: Sequence[bytes],
    *,
    key: bytes | None = b"key",
    headers: Sequence[Sequence[tuple[str, bytes]]] | None = None,
) -> None:
    """Send ``values`` to ``topic`` in order with one key (so one partition) and wait for acks;
    ``headers`` gives each message's headers."""
    producer = AIOKafkaProducer(**producer_config(settings, "test-producer"))
    await producer.start()
    try:
        for n, value in enumerate(values):
            await producer.send_and_wait(
                topic, value, key=key, headers=list(headers[n]) if headers else None
            )
    finally:
        await producer.stop()


def header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    """The value of header ``name`` decoded as UTF-8, or None."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


@contextlib.asynccontextmanager
async def running_consumer(
    settings: KafkaSettings,
    *,
    topic: str,
    group_id: str,
    handler: EventHandler,
    start_timeout: float = 15.0,
    accepts: EventFilter | None = None,
) -> AsyncIterator[tuple[EventConsumer, asyncio.Task[None]]]:
    """Run an ``EventConsumer`` on ``topic`` as a task; stop it (or reap it if cancelled) after."""
    dead_letters = KafkaPublisher(settings, client_id=f"{group_id}-dlt")
    consumer = EventConsumer(
        settings=settings,
        topics=[topic],
        group_id=group_id,
        service="test",
        handler=handler,
        dead_letters=dead_letters,
        accepts=accepts,
    )
    task = asyncio.create_task(consumer.run(), name=f"consumer-{group_id}")
    try:
        started = asyncio.create_task(consumer.started.wait())
        done, _ = await asyncio.wait(
            {started, task}, timeout=start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if started not in done:
            started.cancel()
            raise AssertionError(f"consumer {group_id} did not start within {start_timeout}s")
        yield consumer, task
    finally:
        consumer.stop()
        if not task.done():
            try:
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        elif not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        await dead_letters.stop()


def crash(broker: EmbeddedBroker) -> None:
    """Kill ``broker`` as a crash would (SIGKILL), then reap it.

    A polite stop makes Tansu drain connected clients for about five seconds; a crash is both the
    harsher case and instant.
    """
    process = broker._process  # the kit exposes no "kill"; tests need the abrupt kind of stop
    if process is not None:
        process.kill()
        process.wait(timeout=5)
    broker.stop()
