"""The consumer loop: at-least-once delivery made effectively-once by the handler's inbox.

Offsets are committed per partition only after every message before them was handled (applied,
skipped as a duplicate, or dead-lettered). A message whose handler keeps failing goes to
``<topic>.dlt`` with the error in its headers after ``max_attempts`` tries, and the loop goes on.
A handler failing because the database is unreachable or busy is no reason to give up on the
message: it is retried in place for ``transient_retry_seconds``, then the consumer restarts with
backoff and reads it again, for as long as the outage lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord
from prometheus_client import Gauge
from pydantic import ValidationError

from contracts.envelope import EventEnvelope, event_name_of
from contracts.topics import dead_letter_topic
from servicekit import context
from servicekit.broker_watch import BrokerWatch, is_connection_error
from servicekit.db import is_transient
from servicekit.kafka import Publisher, make_consumer, topic_message_counts
from servicekit.metrics import (
    CONSUMER_LAG,
    DEAD_LETTER_MESSAGES,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
)
from servicekit.settings import KafkaSettings

log = structlog.get_logger(__name__)

EventHandler = Callable[[EventEnvelope], Awaitable[None]]
EventFilter = Callable[[str], bool]
"""Whether a service applies events of a name (e.g. ``OrderCreated``)."""


class PoisonMessage(Exception):
    """A handler's signal that retrying cannot help: dead-letter the message at once."""


class DatabaseUnavailable(Exception):
    """The handler kept failing on an unreachable or busy database: read the message again
    after a restart instead of dead-lettering it."""


class _CommitOnRevoke(ConsumerRebalanceListener):
    """Commits what was processed on partitions being taken away, and stops work on them."""

    def __init__(self, loop: EventConsumer) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._loop.revoked.update(revoked)
        await self._loop.commit_processed(revoked)
        self._loop.forget_lag(revoked)  # the new owner reports it

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._loop.revoked.difference_update(assigned)
        log.info("consumer.assigned", partitions=[f"{tp.topic}:{tp.partition}" for tp in assigned])


class EventConsumer:
    """Consumes ``topics`` in consumer group ``group_id`` and hands each envelope to ``handler``."""

    def __init__(
        self,
        *,
        settings: KafkaSettings,
        topics: Sequence[str],
        group_id: str,
        service: str,
        handler: EventHandler,
        dead_letters: Publisher,
        max_batch: int = 100,
        accepts: EventFilter | None = None,
        idle_lag_every: float = 1.0,
        broker: BrokerWatch | None = None,
    ) -> None:
        self._settings = settings
        self._topics = list(topics)
        self._group_id = group_id
        self._service = service
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_batch = max_batch
        self._accepts = accepts
        self._consumer: AIOKafkaConsumer | None = None
        self._processed: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self._idle_lag_every = idle_lag_every
        self._idle_lag_due = 0.0
        self._broker = broker
        self.revoked: set[TopicPartition] = set()
        self.started = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to end after the message in hand."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stopped, reconnecting with backoff when the broker goes away (told
        once by the ``broker`` watch, when there is one, rather than on every restart)."""
        watching = self._broker.watching() if self._broker else contextlib.nullcontext()
        with watching:
            await self._run()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._consume()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(5.0, 0.2 * 2 ** min(failures, 5))
                if (
                    self._broker is not None
                    and is_connection_error(exc)
                    and await self._broker.unreachable(exc)
                ):
                    log.debug("consumer.restart", error=repr(exc), retry_in_s=delay)
                else:
                    log.warning("consumer.restart", error=repr(exc), retry_in_s=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _consume(self) -> None:
        consumer = make_consumer(
            self._settings, group_id=self._group_id, client_id=f"{self._service}-consumer"
        )
        consumer.subscribe(self._topics, listener=_CommitOnRevoke(self))
        self._consumer = consumer
        self._processed.clear()
        try:
            await consumer.start()
            self.started.set()
            await self._broker_answered()
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_batch)
                if batches:
                    await self._broker_answered()
                for tp, records in batches.items():
                    lag = self._lag(tp)
                    for record in records:
                        if self._stopping.is_set() or tp in self.revoked:
                            break
                        await self._process(record)
                        self._processed[tp] = record.offset + 1
                        # The high watermark came with the fetch: no request to the broker.
                        highwater = consumer.highwater(tp)
                        if highwater is not None:
                            lag.set(max(0, highwater - record.offset - 1))
                # One commit request for every partition of the poll, each up to its last
                # handled record (a revoked one was committed by the rebalance listener).
                await self.commit_processed(list(batches))
                await self._report_idle_lag(consumer, busy=batches.keys())
        finally:
            try:
                await self.commit_processed(list(self._processed))
            finally:
                self._consumer = None
                await consumer.stop()

    async def _broker_answered(self) -> None:
        if self._broker is not None:
            await self._broker.reachable()

    def _lag(self, tp: TopicPartition) -> Gauge:
        return CONSUMER_LAG.labels(self._service, self._group_id, tp.topic, str(tp.partition))

    async def _report_idle_lag(
        self, consumer: AIOKafkaConsumer, *, busy: Collection[TopicPartition]
    ) -> None:
        """The lag of the assigned partitions that had nothing in the poll (each handled
        record sets its partition's), at most every ``idle_lag_every`` seconds: every record
        returned before was handled, so the position is the next offset to handle."""
        now = asyncio.get_running_loop().time()
        if now < self._idle_lag_due:
            return
        self._idle_lag_due = now + self._idle_lag_every
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)  # None until a fetch of the partition answered
            if tp in busy or tp in self.revoked or highwater is None:
                continue
            self._lag(tp).set(max(0, highwater - await consumer.position(tp)))

    def forget_lag(self, partitions: Collection[TopicPartition]) -> None:
        """Drop the lag of ``partitions`` (no longer this consumer's)."""
        for tp in partitions:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._service, self._group_id, tp.topic, str(tp.partition))

    async def commit_processed(self, partitions: Sequence[TopicPartition]) -> None:
        """Commit the offsets handled so far on ``partitions`` (a rebalance may refuse it)."""
        consumer = self._consumer
        offsets = {tp: self._processed.pop(tp) for tp in partitions if tp in self._processed}
        if consumer is None or not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on; the new owner re-reads from the last commit and the inbox
            # turns the replays into no-ops.
            log.warning("consumer.commit_failed", error=repr(exc))

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        event_type = _header(record, "ce_type")
        if self._accepts is not None and event_type is not None:
            name = event_name_of(event_type)
            if not self._accepts(name):
                # Not applied by this service: skipped unread (the relay sets the header), as
                # the handler would skip it after parsing the whole event.
                EVENTS_CONSUMED.labels(self._service, name, "skipped").inc()
                return
        try:
            envelope = EventEnvelope.from_bytes(record.value or b"")
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(record, exc, attempts=1)
            return
        attempts = 0
        last_error: BaseException | None = None
        loop = asyncio.get_running_loop()
        transient_until = loop.time() + self._settings.transient_retry_seconds
        transient_failures = 0
        with flow_of(envelope):
            while attempts < self._settings.max_attempts:
                try:
                    await self._handler(envelope)
                    EVENTS_CONSUMED.labels(self._service, envelope.event_name, "ok").inc()
                    return
                except PoisonMessage as exc:
                    attempts += 1
                    last_error = exc
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        # The message is fine, the database is not: wait for it, and hand the
                        # message back (uncommitted) rather than dead-letter it.
                        transient_failures += 1
                        log.warning(
                            "consumer.database_unavailable",
                            event_type=envelope.type,
                            event_id=str(envelope.id),
                            error=repr(exc),
                        )
                        if self._stopping.is_set() or loop.time() >= transient_until:
                            raise DatabaseUnavailable(repr(exc)) from exc
                        await asyncio.sleep(min(5.0, 0.1 * 2 ** min(transient_failures, 6)))
                        continue
                    attempts += 1
                    last_error = exc
                    log.warning(
                        "consumer.handler_failed",
                        event_type=envelope.type,
                        event_id=str(envelope.id),
                        attempt=attempts,
                        error=repr(exc),
                    )
                    if attempts < self._settings.max_attempts:
                        await asyncio.sleep(self._settings.retry_backoff_ms / 1000 * attempts)
            EVENTS_CONSUMED.labels(self._service, envelope.event_name, "dead_lettered").inc()
            assert last_error is not None
            await self._dead_letter(record, last_error, attempts=attempts)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int
    ) -> None:
        topic = dead_letter_topic(record.topic)
        headers = list(record.headers or ())
        headers += [
            ("dlt-original-topic", record.topic.encode()),
            ("dlt-original-partition", str(record.partition).encode()),
            ("dlt-original-offset", str(record.offset).encode()),
            ("dlt-consumer-group", self._group_id.encode()),
            ("dlt-error-class", type(error).__name__.encode()),
            ("dlt-error-message", str(error)[:4000].encode()),
            ("dlt-error-trace", "".join(traceback.format_exception(error))[-8000:].encode()),
            ("dlt-attempts", str(attempts).encode()),
            ("dlt-failed-at", datetime.now(UTC).isoformat().encode()),
        ]
        future = await self._dead_letters.send(
            topic, record.value or b"", key=record.key, headers=headers
        )
        await future
        EVENTS_DEAD_LETTERED.labels(self._service, record.topic).inc()
        log.error(
            "consumer.dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=repr(error),
        )


async def report_dead_letters(
    settings: KafkaSettings, *, service: str, topics: Sequence[str]
) -> dict[str, int]:
    """Set ``fsm_dead_letter_messages`` of ``topics`` (dead-letter topics) to what the broker
    holds; returns the counts. Unlike a counter of this process's sends, it is the same figure
    after a restart, and falls when a topic's retention removes old messages."""
    counts = await topic_message_counts(settings, topics)
    for topic, count in counts.items():
        DEAD_LETTER_MESSAGES.labels(service, topic).set(count)
    return counts


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


def flow_of(envelope: EventEnvelope) -> AbstractContextManager[None]:
    """Context of handling ``envelope``: same correlation id, caused by this event."""
    return context.flow_context(correlation=envelope.correlationid, causation=str(envelope.id))
