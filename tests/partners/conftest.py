"""Partner-network test fixtures: scheduling runtimes on a real database (SQLite and PostgreSQL)
with a chosen policy, and a real HTTP receiver for webhooks."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _support in (_TESTS / "partners", _TESTS / "scheduling", _TESTS / "webhooks"):
    if str(_support) not in sys.path:
        sys.path.insert(0, str(_support))

from partner_support import MakeHarness  # noqa: E402
from scheduling_support import MONDAY_8AM, Clock, Harness, scheduling_harness  # noqa: E402
from webhook_testkit import Receiver  # noqa: E402

from scheduling.domain.policy import PartnerWebhooks, SchedulingPolicy  # noqa: E402

LOCAL_WEBHOOKS = PartnerWebhooks(allow_private_addresses=True, require_https=False)
"""What tests and `make run` users set: receivers on 127.0.0.1 over plain http."""


@pytest.fixture
async def make_harness(database_url: str, tmp_path: Path) -> AsyncIterator[MakeHarness]:
    """Builds scheduling runtimes with a given policy (migrated, admin client, settable clock)."""
    async with AsyncExitStack() as stack:

        async def build(policy: SchedulingPolicy) -> Harness:
            policy_file = tmp_path / f"policy-{id(policy)}.yaml"
            harness = await stack.enter_async_context(
                scheduling_harness(database_url, policy_file, Clock(MONDAY_8AM), policy=policy)
            )
            stack.push_async_callback(harness.runtime.app.state.webhook_worker.aclose)
            return harness

        yield build


@pytest.fixture
async def partners(make_harness: MakeHarness) -> Harness:
    """Scheduling with local webhook receivers allowed and fast day plans."""
    return await make_harness(
        SchedulingPolicy(plan_time_limit_seconds=0.3, webhooks=LOCAL_WEBHOOKS)
    )


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
    """A real HTTP receiver on 127.0.0.1, reset for this test."""
    _receiver_server.reset()
    yield _receiver_server
    _receiver_server.reset()
