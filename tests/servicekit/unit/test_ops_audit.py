"""Ops audit (probe 33): the embedded broker's session, service names and order ids on log
lines, example secrets in production."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
from collections.abc import Iterator

import pytest
import structlog
from pydantic import ValidationError
from uvicorn.config import LOGGING_CONFIG

from servicekit.embedded import EmbeddedBroker
from servicekit.logging import configure_logging, service_context


def test_ops4_the_embedded_broker_runs_in_its_own_session() -> None:
    # Ctrl-C in a terminal signals the foreground process group: the broker must not be in it,
    # so only EmbeddedBroker.stop() stops it (after the outboxes drained).
    with EmbeddedBroker() as broker:
        assert broker._process is not None
        pid = broker._process.pid
        assert os.getsid(pid) == pid
        assert os.getpgid(pid) != os.getpgid(0)
    assert not broker.running


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    configure_logging(level="INFO", json=True)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_ops8_every_line_logged_within_a_service_names_it(
    json_logs: io.StringIO,
) -> None:
    with service_context("billing"):
        structlog.get_logger("servicekit.outbox").warning("outbox.publish_failed")
        logging.getLogger("uvicorn.error").error("stdlib line")
    structlog.get_logger("fsm").info("outside")

    lines = _lines(json_logs)
    assert [line.get("service") for line in lines] == ["billing", "billing", None]


def test_ops8_uvicorn_lines_come_through_ours_after_uvicorns_own_logging_config() -> None:
    # a server built earlier with uvicorn's default log_config left its loggers with their own
    # handlers and no propagation: configure_logging takes them back
    logging.config.dictConfig(LOGGING_CONFIG)
    stream = io.StringIO()
    configure_logging(level="INFO", json=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        with service_context("billing"):
            logging.getLogger("uvicorn.error").error("stdlib line")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
    [line] = _lines(stream)
    assert (line["event"], line["service"]) == ("stdlib line", "billing")


def test_ops8_an_event_recorded_about_an_order_carries_order_id(
    json_logs: io.StringIO,
) -> None:
    log = structlog.get_logger("billing.service_layer.handlers")
    log.info("billing.event_recorded", type="fsm.OrderCreated.v1", subject="order-1")
    log.info("billing.event_recorded", type="fsm.ApiKeyIssued.v1", subject="key-1")

    order, key = _lines(json_logs)
    assert order["order_id"] == "order-1" and order["subject"] == "order-1"
    assert "order_id" not in key


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://fsm:example-postgres-password-change-me@db:5432/intake",
        "postgresql+asyncpg://fsm:example-postgres-password-change-me@db/intake?ssl=require",
    ],
)
def test_ops9_production_refuses_the_example_database_password(url: str) -> None:
    from intake.settings import IntakeSettings

    with pytest.raises(ValidationError) as refused:
        IntakeSettings(environment="production", database_url=url, port=8001)

    message = str(refused.value)
    assert "FSM_INTAKE_DATABASE_URL" in message and "example" in message
    assert "example-postgres-password-change-me" not in message


def test_ops9_production_accepts_a_database_password_of_its_own() -> None:
    from intake.settings import IntakeSettings

    url = "postgresql+asyncpg://fsm:s3cret-of-our-own@db:5432/intake"
    assert IntakeSettings(environment="production", database_url=url).database_url == url
