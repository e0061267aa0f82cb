"""Database helpers: throwaway PostgreSQL databases and schema creation without Alembic."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.migrations import kit_metadata

POSTGRES_ADMIN_DSN = os.environ.get(
    "FSM_TEST_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""Where test databases are created (any database of a server that lets us CREATE DATABASE)."""


def database_url(name: str, admin_dsn: str = POSTGRES_ADMIN_DSN) -> str:
    """The SQLAlchemy async URL of database ``name`` on the admin DSN's server."""
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg", path=f"/{name}"))


async def create_database(admin_dsn: str = POSTGRES_ADMIN_DSN) -> str:
    """Create an empty database ``fsm_test_<random>`` and return its name."""
    name = f"fsm_test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(admin_dsn, timeout=3)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str, admin_dsn: str = POSTGRES_ADMIN_DSN) -> None:
    """Drop database ``name``, disconnecting whoever is still attached."""
    conn = await asyncpg.connect(admin_dsn, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_tables(engine: AsyncEngine, *extra: MetaData) -> None:
    """Create the kit tables (outbox, inbox, api_key) and the tables of ``extra``."""
    async with engine.begin() as conn:
        for metadata in (kit_metadata(), *extra):
            await conn.run_sync(metadata.create_all)
