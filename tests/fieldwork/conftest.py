"""Fieldwork test fixtures: a runtime on a real database (migrated) with evidence on disk and a
clock the test moves, and an admin client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fieldwork.adapters.storage import FileEvidenceStore
from fieldwork.bootstrap import bootstrap
from fieldwork.settings import FieldworkSettings
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


class Clock:
    """The domain's clock, at ``T0`` until the test sets or advances ``now``."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[ServiceRuntime]:
    rt = bootstrap(
        FieldworkSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            data_dir=tmp_path,
        ),
        clock=clock,
        store=FileEvidenceStore(tmp_path / "evidence"),
    )
    await rt.migrate()
    yield rt
    await rt.engine.dispose()


@pytest.fixture
async def admin(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://fieldwork",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client
