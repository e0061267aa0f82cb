"""Feedback test fixtures: a harness around a runtime on a real database with a settable clock."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from feedback_support import ADMIN_KEY, MONDAY, Clock, Harness, local  # noqa: E402

from feedback.bootstrap import bootstrap  # noqa: E402
from feedback.settings import FeedbackSettings  # noqa: E402


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    clock = Clock(local(MONDAY, 9))
    runtime = bootstrap(
        FeedbackSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            run_periodic_jobs=False,
        ),
        clock=clock,
    )
    await runtime.migrate()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://feedback",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield Harness(runtime=runtime, clock=clock, client=client)
    await runtime.engine.dispose()
