"""Shared fixtures: the broker (embedded Tansu or ``FSM_KAFKA_BOOTSTRAP``), a fresh database per
test on SQLite and PostgreSQL, and testcontainers for machines with Docker."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

# Make the helper package importable as ``support`` whatever pytest's import mode is.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from support.broker import Broker  # noqa: E402
from support.containers import docker_available  # noqa: E402
from support.db import (  # noqa: E402
    POSTGRES_ADMIN_DSN,
    create_database,
    create_tables,
    drop_database,
)
from support.db import database_url as postgres_database_url  # noqa: E402

from servicekit.db import SessionFactory, make_engine, make_session_factory  # noqa: E402
from servicekit.embedded import EmbeddedBroker  # noqa: E402
from servicekit.settings import KafkaSettings  # noqa: E402


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """``FSM_KAFKA_BOOTSTRAP`` when set, else an embedded Tansu broker for the whole session.

    Tests share it, so every test uses topics and groups with a unique suffix.
    """
    external = os.environ.get("FSM_KAFKA_BOOTSTRAP")
    if external:
        yield Broker(bootstrap=external)
        return
    embedded = EmbeddedBroker()
    embedded.start()
    try:
        yield Broker(bootstrap=embedded.bootstrap, embedded=embedded)
    finally:
        embedded.stop()


@pytest.fixture
def kafka_settings(broker: Broker) -> KafkaSettings:
    """Test ``KafkaSettings`` for the session broker (single-partition topics)."""
    return broker.settings(topic_partitions=1)


_postgres_unreachable: list[str] = []


def _server(dsn: str) -> str:
    parts = urlsplit(dsn)  # host and port only: never print a password
    return f"{parts.hostname}:{parts.port or 5432}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file under ``tmp_path`` or a fresh PostgreSQL database that is
    dropped afterwards. PostgreSQL tests skip with the reason when the server is unreachable."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{(tmp_path / 'test.db').as_posix()}"
        return
    if _postgres_unreachable:
        pytest.skip(_postgres_unreachable[0])
    try:
        name = await create_database()
    except Exception as exc:  # refused, timed out, refused auth: all mean "no PostgreSQL here"
        _postgres_unreachable.append(
            f"PostgreSQL unreachable at {_server(POSTGRES_ADMIN_DSN)} "
            f"({type(exc).__name__}: {exc}); set FSM_TEST_POSTGRES_ADMIN_DSN to point at one"
        )
        pytest.skip(_postgres_unreachable[0])
    try:
        yield postgres_database_url(name)
    finally:
        await drop_database(name)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` with the kit tables (outbox, inbox, api_key) created."""
    engine = make_engine(database_url)
    try:
        await create_tables(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions on :func:`engine`."""
    return make_session_factory(engine)


def _require_docker() -> None:
    available, why = docker_available()
    if not available:
        pytest.skip(f"no Docker engine: {why}")


@pytest.fixture(scope="session")
def kafka_container() -> Iterator[str]:
    """Bootstrap address of an Apache Kafka testcontainer (skips without Docker)."""
    _require_docker()
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer() as container:
        yield container.get_bootstrap_server()


@pytest.fixture(scope="session")
def postgres_container() -> Iterator[str]:
    """Async SQLAlchemy URL of a PostgreSQL testcontainer (skips without Docker)."""
    _require_docker()
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
        yield container.get_connection_url()
