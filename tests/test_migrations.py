"""Every service's Alembic migrations build exactly the schema its models describe, on SQLite and
on PostgreSQL (a model changed without a migration fails here, not in production)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from fsm.services import SERVICE_NAMES
from servicekit.db import make_engine
from servicekit.migrations import kit_metadata, upgrade
from servicekit.webhooks import WEBHOOK_REGISTRY

#: Kit tables a service keeps beyond the outbox, inbox, keys and idempotency records.
EXTRA_METADATA = {"scheduling": [WEBHOOK_REGISTRY.metadata]}


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_reach_the_models_schema(service: str, database_url: str) -> None:
    spec = importlib.import_module(f"{service}.bootstrap").SPEC
    await upgrade(spec.migrations_dir, database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync: Connection) -> list[Any]:
                merged = MetaData()
                for metadata in (kit_metadata(), spec.metadata, *EXTRA_METADATA.get(service, [])):
                    for table in metadata.tables.values():
                        table.to_metadata(merged)
                context = MigrationContext.configure(sync, opts={"compare_type": False})
                return list(compare_metadata(context, merged))

            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
