"""Dead letters for ops: list what a consumer gave up on, and send it again once mended.

A message a consumer could not apply after ``FSM_KAFKA_MAX_ATTEMPTS`` tries is copied to
``<topic>.dlt`` with the error in ``dlt-*`` headers (servicekit.consumer). Once the cause is
fixed (a bug deployed, a policy value corrected), :func:`redrive` publishes the copies again to
their original topic with their original key and headers. Every consumer group reads them again;
the groups that had applied them skip them (inbox, by event id), so a re-drive, even repeated,
applies each event once where it was missing. Dead-letter topics are never changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import dead_letter_topic, events_topic
from servicekit.kafka import producer_config
from servicekit.settings import KafkaSettings

DLT_HEADER_PREFIX = "dlt-"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message and why it was given up on."""

    topic: str
    """The dead-letter topic it is in."""
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        """A header's text ('' when absent)."""
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def original_topic(self) -> str:
        """The topic it was consumed from."""
        return self.header("dlt-original-topic") or self.topic.removesuffix(".dlt")

    @property
    def consumer_group(self) -> str:
        """The consumer group that gave up on it."""
        return self.header("dlt-consumer-group")

    @property
    def event_headers(self) -> list[tuple[str, bytes]]:
        """Its headers as first published (without the dead-letter ones)."""
        return [(k, v) for k, v in self.headers if not k.startswith(DLT_HEADER_PREFIX)]

    def summary(self) -> str:
        """One line: where it is, what it is, who gave up and why."""
        error = f"{self.header('dlt-error-class')}: {self.header('dlt-error-message')}"
        key = (self.key or b"").decode(errors="replace")
        return (
            f"{self.topic}[{self.partition}]@{self.offset} "
            f"from {self.original_topic}[{self.header('dlt-original-partition')}]"
            f"@{self.header('dlt-original-offset')} "
            f"type={self.header('ce_type') or '?'} key={key} "
            f"group={self.consumer_group or '?'} attempts={self.header('dlt-attempts') or '?'} "
            f"failed_at={self.header('dlt-failed-at') or '?'} {error[:300]}"
        )


def dead_letter_topics(services: Sequence[str]) -> list[str]:
    """The dead-letter topics of the services' event topics."""
    return [dead_letter_topic(events_topic(service)) for service in services]


async def read_dead_letters(settings: KafkaSettings, topics: Sequence[str]) -> list[DeadLetter]:
    """Every message now in ``topics`` (dead-letter topics), oldest first per partition. Reads
    without a consumer group: nothing is committed, nothing changes."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        client_id=f"fsm-dead-letters-{uuid.uuid4().hex[:8]}",
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # or it is reported unclosed: the caller names the broker
        raise
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        letters.append(
                            DeadLetter(
                                topic=record.topic,
                                partition=record.partition,
                                offset=record.offset,
                                key=record.key,
                                value=record.value or b"",
                                headers=tuple(record.headers or ()),
                            )
                        )
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return letters
    finally:
        await consumer.stop()


async def redrive(settings: KafkaSettings, letters: Sequence[DeadLetter]) -> int:
    """Publish ``letters`` again to their original topics (original key and headers); returns
    how many. Consumers that applied one already skip it by its event id."""
    if not letters:
        return 0
    producer = AIOKafkaProducer(**producer_config(settings, "fsm-dead-letters"))
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # or it is reported unclosed: the caller names the broker
        raise
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                letter.value,
                key=letter.key,
                headers=letter.event_headers,
            )
    finally:
        await producer.stop()
    return len(letters)
