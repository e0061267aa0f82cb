"""Structured JSON logs (structlog) carrying the correlation id of the current flow."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog


@contextmanager
def service_context(name: str) -> Iterator[None]:
    """Bind ``service=name`` to every log line of the enclosed work, the tasks it starts
    included (they copy the context): under ``fsm run`` five services share one stream, and
    lines of the shared kit (outbox, consumer, HTTP) say which service they are about."""
    with structlog.contextvars.bound_contextvars(service=name):
        yield


def add_order_id(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``order_id`` on a ``*.event_recorded`` line whose event's subject is an order, as on
    every other line about an order (the envelope calls it ``subject``)."""
    event = event_dict.get("event")
    subject = event_dict.get("subject")
    if (
        isinstance(event, str)
        and event.endswith(".event_recorded")
        and subject
        and "order_id" not in event_dict
    ):
        from contracts.registry import REGISTRY

        model = REGISTRY.get(str(event_dict.get("type")))
        if model is not None and model.subject_field == "order_id":
            event_dict["order_id"] = subject
    return event_dict


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog output through one JSON (or console) renderer on stderr."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_order_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own logging config (when a server was built with its default ``log_config``)
    # gives its loggers handlers and stops them propagating: their lines would bypass ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # aiokafka logs each failed reconnect at ERROR, so the level above does not stop them: a
    # service's broker watch tells an outage once instead.
    from servicekit.broker_watch import quiet_connection_noise

    quiet_connection_noise()
