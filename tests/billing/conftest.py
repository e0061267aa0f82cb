"""Billing test fixtures: a runtime on a real database (schema from the models) with a clock the
test sets, and an admin client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from support.db import create_tables

from billing.adapters.tables import BILLING_REGISTRY
from billing.bootstrap import bootstrap
from billing.settings import BillingSettings
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
T0 = datetime(2026, 4, 30, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai


class Clock:
    """The domain's clock, at ``T0`` until the test sets ``now``."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def runtime(database_url: str, clock: Clock) -> AsyncIterator[ServiceRuntime]:
    rt = bootstrap(
        BillingSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
        ),
        clock=clock,
    )
    # The schema from the models (fast); test_migrations_reach_the_models_schema checks that the
    # migrations build the same.
    await create_tables(rt.engine, BILLING_REGISTRY.metadata)
    yield rt
    await rt.engine.dispose()


@pytest.fixture
async def client(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app), base_url="http://billing", headers=ADMIN
    ) as c:
        yield c
