"""Scheduling test fixtures: a harness around a runtime on a real database."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from scheduling_support import ADMIN_KEY, MONDAY_8AM, Clock, Harness  # noqa: E402

from scheduling.bootstrap import bootstrap  # noqa: E402
from scheduling.domain.policy import SchedulingPolicy  # noqa: E402
from scheduling.settings import SchedulingSettings  # noqa: E402


@pytest.fixture
async def harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = Clock(MONDAY_8AM)
    # the shipped defaults, but day plans solved for a fraction of a second: tests stay fast
    policy = SchedulingPolicy(plan_time_limit_seconds=0.3).model_dump(mode="json")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"scheduling": policy}))
    runtime = bootstrap(
        SchedulingSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            policy_file=policy_file,
        ),
        clock=clock,
    )
    await runtime.migrate()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://scheduling",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield Harness(runtime=runtime, clock=clock, client=client)
    await runtime.engine.dispose()
