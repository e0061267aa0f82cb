"""Kafka clients configured from settings: producer, consumers, admin (topics) and a probe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from servicekit.settings import KafkaSettings

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    """What the outbox relay and the DLT need from a producer."""

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        """Enqueue a message; the returned future resolves when the broker acknowledged it."""
        ...


class KafkaPublisher:
    """A lazily started aiokafka producer that survives the broker being down at start-up."""

    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**producer_config(self._settings, self._client_id))
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        """Enqueue ``value`` for ``topic``; restarts the producer after a broker loss."""
        producer = await self._ensure()
        try:
            return await producer.send(topic, value, key=key, headers=headers)
        except Exception:
            await self.reset()
            raise

    async def reset(self) -> None:
        """Drop the producer so the next send reconnects."""
        async with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                try:
                    await asyncio.wait_for(producer.stop(), timeout=5)
                except Exception as exc:  # a dead broker may make stop() fail; we drop it anyway
                    log.debug("kafka.producer_stop_failed", error=repr(exc))

    async def stop(self) -> None:
        """Flush and close."""
        await self.reset()


def producer_config(settings: KafkaSettings, client_id: str) -> dict[str, Any]:
    """aiokafka producer keyword arguments."""
    acks: int | str = settings.acks if settings.acks == "all" else int(settings.acks)
    return {
        "bootstrap_servers": settings.bootstrap,
        "client_id": client_id,
        "acks": acks,
        "enable_idempotence": settings.enable_idempotence,
        "request_timeout_ms": settings.request_timeout_ms,
        "linger_ms": 0,
    }


def consumer_config(settings: KafkaSettings, *, group_id: str, client_id: str) -> dict[str, Any]:
    """aiokafka consumer keyword arguments: manual commits, deliberate offset reset."""
    return {
        "bootstrap_servers": settings.bootstrap,
        "group_id": group_id,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.auto_offset_reset,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "request_timeout_ms": max(settings.request_timeout_ms, settings.session_timeout_ms + 5000),
    }


def make_consumer(settings: KafkaSettings, *, group_id: str, client_id: str) -> AIOKafkaConsumer:
    """A consumer with :func:`consumer_config`; subscribe it yourself."""
    return AIOKafkaConsumer(**consumer_config(settings, group_id=group_id, client_id=client_id))


async def ensure_topics(settings: KafkaSettings, topics: Sequence[str]) -> list[str]:
    """Create the missing ``topics``; returns those created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap, request_timeout_ms=settings.request_timeout_ms
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            num_partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor,
                        )
                        for t in missing
                    ]
                )
        return missing
    finally:
        await admin.close()


async def topic_message_counts(settings: KafkaSettings, topics: Sequence[str]) -> dict[str, int]:
    """How many messages each of ``topics`` holds now (per partition, end offset less beginning
    offset: what a reader from the start gets), from the broker, without a consumer group; a
    topic that does not exist is left out."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        client_id="fsm-topic-sizes",
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await reader.start()
    try:
        await reader.topics()  # metadata of every topic, so partitions_for_topic knows them
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        starts = await reader.beginning_offsets(partitions)
        ends = await reader.end_offsets(partitions)
        counts: dict[str, int] = {}
        for tp in partitions:
            counts[tp.topic] = counts.get(tp.topic, 0) + ends[tp] - starts[tp]
        return counts
    finally:
        await reader.stop()


async def broker_reachable(settings: KafkaSettings, *, within: float = 2.0) -> bool:
    """Whether the broker answers a metadata request within ``within`` seconds."""
    timeout = within
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap, request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout)
        await asyncio.wait_for(admin.list_topics(), timeout=timeout)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception as exc:  # closing a client that never connected may raise
            log.debug("kafka.admin_close_failed", error=repr(exc))
