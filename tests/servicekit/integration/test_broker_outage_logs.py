"""A broker outage in the log: one warning when the broker becomes unreachable (naming it and what
waits), one line when it is back (with how long it was down), a reminder at the configured
interval in between, and not a line per retry of the relay, the consumer or aiokafka's clients.
Errors that are not the broker being away are still logged every time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.testing import capture_logs
from support.events import envelope
from support.kafka import crash
from support.waiting import wait_until

from contracts.envelope import EventEnvelope
from contracts.topics import dead_letter_topic
from servicekit.broker_watch import BrokerWatch
from servicekit.consumer import EventConsumer
from servicekit.db import SessionFactory
from servicekit.embedded import EmbeddedBroker, free_port
from servicekit.kafka import KafkaPublisher, ensure_topics
from servicekit.outbox import OutboxMessage, OutboxRelay, add_to_outbox, pending_count
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker

# Lines an operator reads during an outage whatever else happens: what was published and consumed.
_ROUTINE = {"outbox.event_published", "consumer.assigned"}


def _outage_settings(port: int, **overrides: Any) -> KafkaSettings:
    return KafkaSettings(
        bootstrap=f"127.0.0.1:{port}",
        fetch_max_wait_ms=10,
        request_timeout_ms=1000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        topic_partitions=1,
        enable_idempotence=False,
        outage_probe_seconds=0.2,
        **overrides,
    )


async def _commit(session_factory: SessionFactory, event: EventEnvelope, topic: str) -> None:
    async with session_factory() as session:
        await add_to_outbox(session, event, topic=topic)
        await session.commit()


async def _attempts(session_factory: SessionFactory, event: EventEnvelope) -> int:
    async with session_factory() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.event_id == str(event.id))
        )
    return row.attempts if row is not None else 0


async def test_a_broker_outage_is_logged_once_when_lost_and_once_when_back_not_per_retry(
    session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = _outage_settings(port, outage_reminder_seconds=3600)
    topic = f"outage.logs.{uuid.uuid4().hex[:8]}"
    topics = [topic, dead_letter_topic(topic)]
    first_broker = EmbeddedBroker(port=port)
    first_broker.start()
    second_broker: EmbeddedBroker | None = None
    publisher = KafkaPublisher(settings, client_id="test-relay")
    service = f"outage-{uuid.uuid4().hex[:8]}"  # its own series in the process's registry
    watch = BrokerWatch(
        settings,
        service=service,
        publishes=True,
        consumes=True,
        outbox_pending=lambda: pending_count(session_factory),
    )
    relay = OutboxRelay(
        session_factory=session_factory,
        publisher=publisher,
        service=service,
        poll_interval=0.02,
        max_backoff=0.2,
        broker=watch,
    )
    handled: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        handled.append(event.id)

    consumer = EventConsumer(
        settings=settings,
        topics=[topic],
        group_id=f"outage-{uuid.uuid4().hex[:8]}",
        service=service,
        handler=handler,
        dead_letters=publisher,
        broker=watch,
    )
    watch.start()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    before, during = envelope("order-1", note="before"), envelope("order-1", note="during")
    try:
        await ensure_topics(settings, topics)
        await _commit(session_factory, before, topic)
        relay.notify()
        await wait_until(lambda: before.id in handled, within=20, message="the first event")
        metrics_before = _broker_metrics(service)

        # What an operator sees with FSM_LOG_LEVEL=INFO (configure_logging keeps aiokafka's
        # routine INFO lines out).
        caplog.set_level(logging.INFO)
        caplog.set_level(logging.WARNING, logger="aiokafka")
        caplog.clear()
        with capture_logs() as lines:
            crash(first_broker)
            await _commit(session_factory, during, topic)
            relay.notify()
            # Enough retries for a flood: the relay's own, and aiokafka's every 100 ms meanwhile.
            await wait_until(
                lambda: _attempts(session_factory, during),
                within=20,
                message="the relay to try the event during the outage",
            )
            await wait_until(
                lambda: _attempts_at_least(session_factory, during, 8),
                within=30,
                message="eight failed attempts of the relay",
            )
            outage_lines = list(lines)
            metrics_during = _broker_metrics(service)
            aiokafka_during_outage = [r for r in caplog.records if r.name.startswith("aiokafka")]

            # Memory storage: the new broker is empty, as after losing the broker's disk.
            second_broker = EmbeddedBroker(port=port)
            second_broker.start()
            await ensure_topics(settings, topics)
            await wait_until(
                lambda: during.id in handled, within=30, message="the event after the outage"
            )
            await wait_until(lambda: not watch.down, within=10, message="the broker to be back")
        metrics_after = _broker_metrics(service)
        assert await pending_count(session_factory) == 0
    finally:
        relay.stop()
        consumer.stop()
        _, pending = await asyncio.wait(tasks, timeout=15)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await watch.close()
        await publisher.stop()
        first_broker.stop()
        if second_broker is not None:
            second_broker.stop()

    seen = [line for line in lines if line["log_level"] != "debug"]
    [lost] = _named(seen, "kafka.broker_unreachable")
    assert lost["log_level"] == "warning"
    assert lost["bootstrap"] == settings.bootstrap
    assert "outbox" in lost["affected"] and "consuming paused" in lost["affected"]
    [back] = _named(seen, "kafka.broker_reachable")
    assert back["log_level"] == "info"
    assert back["bootstrap"] == settings.bootstrap
    assert back["down_for_s"] > 0
    assert "outbox_pending" in back  # what is published now (0 if the relay found it back)
    assert not _named(seen, "kafka.broker_still_unreachable")  # the reminder is an hour away

    # The retries went on (the clients failed again and again) but none of them is a line.
    assert back["connection_failures"] >= 8
    assert not _named(seen, "outbox.publish_failed")
    assert not _named(seen, "consumer.restart")
    assert aiokafka_during_outage == [], [r.getMessage() for r in aiokafka_during_outage[:5]]
    during_outage = [
        line
        for line in outage_lines
        if line["log_level"] != "debug" and line["event"] not in _ROUTINE
    ]
    assert [line["event"] for line in during_outage] == ["kafka.broker_unreachable"]
    # After the broker is back the consumer rejoins its group: a handful of lines, not hundreds.
    aiokafka_total = [r for r in caplog.records if r.name.startswith("aiokafka")]
    assert len(aiokafka_total) <= 5, [r.getMessage() for r in aiokafka_total]

    # On /metrics: (fsm_broker_reachable, fsm_broker_outages_total), one outage declared.
    assert metrics_before == (1, 0)
    assert metrics_during == (0, 1)
    assert metrics_after == (1, 1)


def _broker_metrics(service: str) -> tuple[float | None, float | None]:
    labels = {"service": service}
    return (
        REGISTRY.get_sample_value("fsm_broker_reachable", labels),
        REGISTRY.get_sample_value("fsm_broker_outages_total", labels),
    )


async def _attempts_at_least(
    session_factory: SessionFactory, event: EventEnvelope, count: int
) -> bool:
    return await _attempts(session_factory, event) >= count


def _named(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == event]


class _SteppingClock:
    """Monotonic time that moves only when the broker is probed (each probe takes ``step`` s)."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        return self.now


def _probe_back_after(clock: _SteppingClock, failed_probes: int) -> Callable[[], Any]:
    probes = 0

    async def probe() -> bool:
        nonlocal probes
        probes += 1
        clock.now += clock.step
        return probes > failed_probes

    return probe


async def test_a_long_outage_is_recalled_every_reminder_interval_not_every_retry() -> None:
    settings = KafkaSettings(
        bootstrap="kafka.example:9092", outage_reminder_seconds=60, outage_probe_seconds=0.01
    )
    clock = _SteppingClock(step=30)
    watch = BrokerWatch(
        settings,
        service="test",
        publishes=True,
        consumes=False,
        probe=_probe_back_after(clock, failed_probes=7),
        clock=clock,
    )
    try:
        with capture_logs() as lines:
            with watch.watching():
                for _ in range(200):  # aiokafka's clients, retrying every 100 ms
                    logging.getLogger("aiokafka").error(
                        "Unable connect to node with id %s: %s",
                        1,
                        ConnectionRefusedError(111, "Connect call failed"),
                    )
            assert await watch.unreachable(KafkaConnectionError("Unable to bootstrap")) is True
            await wait_until(lambda: not watch.down, message="the broker back")
    finally:
        await watch.close()

    events = [(line["event"], line.get("down_for_s")) for line in lines]
    # Down when the first probe failed (t=30), reminded at 60, 120, 180 s, back at 210 s.
    assert events == [
        ("kafka.broker_unreachable", None),
        ("kafka.broker_still_unreachable", 60),
        ("kafka.broker_still_unreachable", 120),
        ("kafka.broker_still_unreachable", 180),
        ("kafka.broker_reachable", 210),
    ]
    assert lines[0]["affected"] == "publishing held in the outbox"
    assert lines[0]["bootstrap"] == "kafka.example:9092"
    assert lines[-1]["connection_failures"] >= 200


async def test_a_failure_while_the_broker_answers_is_logged_on_every_retry(
    session_factory: SessionFactory,
) -> None:
    """Not an outage (the broker answers the probe): the relay's failure is a real error, and
    each retry says so, as does an error that has nothing to do with connections."""

    class RefusingPublisher:
        def __init__(self, errors: list[Exception]) -> None:
            self.errors = errors

        async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            raise self.errors.pop(0) if self.errors else AssertionError("no more sends")

    async def answers() -> bool:
        return True

    settings = KafkaSettings(bootstrap="kafka.example:9092")
    watch = BrokerWatch(settings, service="test", publishes=True, consumes=False, probe=answers)
    publisher = RefusingPublisher(
        [KafkaConnectionError("one node away"), ValueError("message too large")] * 2
    )
    relay = OutboxRelay(
        session_factory=session_factory,
        publisher=publisher,  # type: ignore[arg-type]
        service="test",
        poll_interval=0.01,
        max_backoff=0.01,
        broker=watch,
    )
    await _commit(session_factory, envelope("order-1"), "outage.real.errors")
    task = asyncio.create_task(relay.run())
    try:
        with capture_logs() as lines:
            await wait_until(
                lambda: len(_named(lines, "outbox.publish_failed")) >= 4,
                message="four failed publishes logged",
            )
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=10)
        await watch.close()

    errors = [line["error"] for line in _named(lines, "outbox.publish_failed")][:4]
    assert errors == [
        "KafkaConnectionError('one node away')",
        "ValueError('message too large')",
        "KafkaConnectionError('one node away')",
        "ValueError('message too large')",
    ]
    assert all(line["log_level"] == "warning" for line in _named(lines, "outbox.publish_failed"))
    assert not _named(lines, "kafka.broker_unreachable")
    assert not watch.down
