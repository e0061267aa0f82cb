"""aiokafka's records about failed connections are the broker watch's to tell (once); every other
record of aiokafka is logged as before, and a connection failure is still there at DEBUG."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import CommitFailedError, NodeNotReadyError

from servicekit.broker_watch import BrokerWatch
from servicekit.settings import KafkaSettings


async def _answers() -> bool:
    return True


def _watch() -> BrokerWatch:
    return BrokerWatch(
        KafkaSettings(bootstrap="kafka.example:9092"),
        service="test",
        publishes=True,
        consumes=True,
        probe=_answers,
    )


async def test_connection_failures_are_kept_out_of_the_log_and_counted_by_the_watch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    watch = _watch()
    try:
        with watch.watching():
            logging.getLogger("aiokafka").error(
                "Unable connect to node with id %s: %s", 1, ConnectionRefusedError(111, "refused")
            )
            logging.getLogger("aiokafka.consumer.fetcher").error(
                "Failed fetch messages from %s: %s", 1, NodeNotReadyError("node 1")
            )
            logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
    finally:
        await watch.close()

    assert caplog.records == []
    assert watch.connection_failures == 3


async def test_other_aiokafka_errors_are_still_logged_at_their_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    watch = _watch()
    try:
        with watch.watching():
            logging.getLogger("aiokafka.consumer.group_coordinator").error(
                "OffsetCommit failed before join, ignoring: %s", CommitFailedError("rebalanced")
            )
            logging.getLogger("aiokafka.cluster").error(
                "Topic %s not found in cluster metadata", "fsm.intake.events"
            )
            # With the broker up (no outage), an expired session is a real sign: a stalled loop.
            logging.getLogger("aiokafka.consumer.group_coordinator").error(
                "Heartbeat session expired - marking coordinator dead"
            )
    finally:
        await watch.close()

    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("ERROR", "OffsetCommit failed before join, ignoring"),
        ("ERROR", "Topic fsm.intake.events not found in cluster metadata"),
        ("ERROR", "Heartbeat session expired - marking coordinator dead"),
    ]
    assert watch.connection_failures == 0


def test_at_debug_a_connection_failure_is_still_shown_as_a_debug_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _watch()  # puts the filter on aiokafka's loggers
    logging.getLogger("aiokafka").error(
        "Unable connect to node with id %s: %s", 1, ConnectionRefusedError(111, "refused")
    )

    [record] = caplog.records
    assert record.levelname == "DEBUG"
    assert record.getMessage().startswith("Unable connect to node with id 1")
