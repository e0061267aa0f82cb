"""Request/event context carried through a flow: correlation and causation ids (contextvars)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)


def correlation_id() -> str | None:
    """The current flow's correlation id, if any."""
    return _correlation_id.get()


def causation_id() -> str | None:
    """The id of the request or event being handled, if any."""
    return _causation_id.get()


@contextmanager
def flow_context(*, correlation: str | None, causation: str | None) -> Iterator[None]:
    """Set correlation/causation ids (and bind them to log lines) for the enclosed work."""
    t1 = _correlation_id.set(correlation)
    t2 = _causation_id.set(causation)
    with structlog.contextvars.bound_contextvars(
        correlation_id=correlation, causation_id=causation
    ):
        try:
            yield
        finally:
            _correlation_id.reset(t1)
            _causation_id.reset(t2)
