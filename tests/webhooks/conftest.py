"""Fixtures of the webhook kit tests: webhook tables on the ``database_url`` database, a real
HTTP receiver (one per module), a settable clock."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from webhook_testkit import Clock, Receiver  # noqa: E402

from servicekit.db import SessionFactory, make_engine, make_session_factory  # noqa: E402
from servicekit.webhooks import WEBHOOK_REGISTRY, WebhookPolicy  # noqa: E402

LOCAL_POLICY = WebhookPolicy(allow_private_addresses=True, require_https=False, jitter_ratio=0.1)
"""Local receivers live on 127.0.0.1 over plain http: the ops switches tests and dev turn on."""


@pytest.fixture
async def wh_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh SQLite or PostgreSQL database with the webhook tables."""
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(WEBHOOK_REGISTRY.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(wh_engine: AsyncEngine) -> SessionFactory:
    """Sessions on :func:`wh_engine`."""
    return make_session_factory(wh_engine)


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Iterator[Receiver]:
    """The real HTTP receiver, reset for this test."""
    _receiver_server.reset()
    yield _receiver_server
    _receiver_server.reset()


@pytest.fixture
def clock() -> Clock:
    """A settable clock starting at the current time."""
    return Clock()


@pytest.fixture
def local_policy() -> WebhookPolicy:
    """Policy for local receivers (private addresses and http allowed)."""
    return LOCAL_POLICY
