"""Alembic migrations per service, run on the service's own async engine.

Each service's ``migrations/env.py`` calls :func:`run_env`; :func:`upgrade` runs them from inside
an event loop (start-up, CLI, tests) by handing Alembic a connection.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from servicekit.db import KIT_REGISTRY, advisory_xact_lock, make_engine


def alembic_config(script_location: Path, url: str) -> Config:
    """An Alembic config for one service's migrations directory."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def kit_metadata() -> MetaData:
    """Metadata of the kit tables (outbox, inbox, api_key) found in every service database."""
    from servicekit import auth, idempotency, inbox, outbox  # noqa: F401  (kit tables)

    return KIT_REGISTRY.metadata


def run_env(*service_metadata: MetaData) -> None:
    """Body of a service's ``env.py``: migrate on the connection handed over by :func:`upgrade`.

    Pass the service's own metadata and any shared table sets it mounts (e.g. webhooks).
    """
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through servicekit.migrations.upgrade or `fsm migrate`")
    context.configure(
        connection=connection,
        target_metadata=[kit_metadata(), *service_metadata],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``.

    Replicas of a service that start together each call this; on PostgreSQL they take turns, so
    the first migrates and the others find the schema at ``revision`` (SQLite's writers take
    turns already).
    """
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await advisory_xact_lock(conn, "fsm.migrations")

            def _run(sync_conn: Connection) -> None:
                config = alembic_config(script_location, url)
                config.attributes["connection"] = sync_conn
                command.upgrade(config, revision)

            await conn.run_sync(_run)
    finally:
        await engine.dispose()


async def autogenerate(script_location: Path, message: str, *, rev_id: str | None = None) -> None:
    """Write a new revision for the difference between the models and a scratch SQLite database
    migrated to head (development tool: ``fsm makemigration <service> <message>``)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/scratch.db"
        await upgrade(script_location, url)
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:

                def _run(sync_conn: Connection) -> None:
                    config = alembic_config(script_location, url)
                    config.attributes["connection"] = sync_conn
                    command.revision(config, message=message, autogenerate=True, rev_id=rev_id)

                await conn.run_sync(_run)
        finally:
            await engine.dispose()
