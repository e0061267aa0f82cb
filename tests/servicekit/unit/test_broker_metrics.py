"""A broker outage on /metrics: ``fsm_broker_reachable{service}`` is 1 while the service runs and
reaches its broker, 0 from the moment an outage is declared until the broker answers again, and
``fsm_broker_outages_total{service}`` counts the outages declared (not the failures, not the
reminders)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from structlog.testing import capture_logs
from support.waiting import wait_until

from fsm.services import build
from servicekit.broker_watch import BrokerWatch
from servicekit.settings import KafkaSettings


class _Broker:
    """What the watch's probe finds; each probe takes ``step`` seconds of the watch's clock."""

    def __init__(self, step: float) -> None:
        self.answers = True
        self.now = 1000.0
        self.step = step

    def clock(self) -> float:
        return self.now

    async def probe(self) -> bool:
        self.now += self.step
        return self.answers


def _watch(broker: _Broker, service: str) -> BrokerWatch:
    settings = KafkaSettings(
        bootstrap="kafka.example:9092", outage_reminder_seconds=60, outage_probe_seconds=0.01
    )
    return BrokerWatch(
        settings,
        service=service,
        publishes=True,
        consumes=True,
        probe=broker.probe,
        clock=broker.clock,
    )


def _reachable(service: str) -> float | None:
    return REGISTRY.get_sample_value("fsm_broker_reachable", {"service": service})


def _outages(service: str) -> float | None:
    return REGISTRY.get_sample_value("fsm_broker_outages_total", {"service": service})


def _service() -> str:
    # Unique: every test's series live in the one process registry (as under `fsm run`).
    return f"metrics-{uuid.uuid4().hex[:8]}"


async def test_the_gauge_is_0_during_a_declared_outage_and_the_counter_counts_outages() -> None:
    broker, service = _Broker(step=30), _service()
    watch = _watch(broker, service)
    try:
        assert _reachable(service) is None  # not running yet: no figure rather than a guess
        watch.start()
        assert (_reachable(service), _outages(service)) == (1, 0)

        broker.answers = False
        with capture_logs() as lines:
            with watch.watching():
                for _ in range(50):  # aiokafka's clients, retrying
                    logging.getLogger("aiokafka").error(
                        "Unable connect to node with id %s: %s",
                        1,
                        ConnectionRefusedError(111, "Connect call failed"),
                    )
            assert await watch.unreachable(KafkaConnectionError("Unable to bootstrap")) is True
            assert (_reachable(service), _outages(service)) == (0, 1)
            await wait_until(
                lambda: any(line["event"] == "kafka.broker_still_unreachable" for line in lines),
                message="a reminder",
            )
            # Retries and reminders are the same outage.
            assert await watch.unreachable(KafkaConnectionError("Unable to bootstrap")) is True
            assert (_reachable(service), _outages(service)) == (0, 1)

            broker.answers = True
            await wait_until(lambda: not watch.down, message="the broker back")
        assert (_reachable(service), _outages(service)) == (1, 1)

        broker.answers = False
        assert await watch.unreachable(KafkaConnectionError("Unable to bootstrap")) is True
        assert (_reachable(service), _outages(service)) == (0, 2)
        await watch.reachable()  # a publish went through before the next probe
        assert (_reachable(service), _outages(service)) == (1, 2)
    finally:
        await watch.close()


async def test_a_failure_the_broker_contradicts_is_no_outage_on_metrics() -> None:
    broker, service = _Broker(step=1), _service()
    watch = _watch(broker, service)
    try:
        watch.start()
        assert await watch.unreachable(KafkaConnectionError("one node away")) is False
        assert (_reachable(service), _outages(service)) == (1, 0)
    finally:
        await watch.close()


async def test_each_service_has_its_own_series_in_the_shared_registry() -> None:
    broker, lost, fine = _Broker(step=1), _service(), _service()
    lost_watch, fine_watch = _watch(broker, lost), _watch(_Broker(step=1), fine)
    try:
        lost_watch.start()
        fine_watch.start()
        broker.answers = False
        assert await lost_watch.unreachable(KafkaConnectionError("Unable to bootstrap")) is True
        assert (_reachable(lost), _outages(lost)) == (0, 1)
        assert (_reachable(fine), _outages(fine)) == (1, 0)
    finally:
        await lost_watch.close()
        await fine_watch.close()


async def test_a_service_shows_its_broker_reachable_once_it_runs(tmp_path: Path) -> None:
    runtime = build(
        "intake",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}",
        bootstrap_api_key="broker-metrics-admin-key-0123456789",
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )
    await runtime.start()
    try:
        assert _reachable("intake") == 1
        assert _outages("intake") is not None  # the series exists before the first outage
    finally:
        await runtime.stop()
