"""API keys expire by scheduling's own clock (``app.state.clock``), the one its domain uses, not
by the wall clock: a service run on a set clock agrees with itself (SCH-12: only a dispatcher
with a valid key assigns, reassigns or cancels)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from scheduling_support import Harness

from contracts.envelope import EventEnvelope
from servicekit.auth import generate_key, issued_event


async def _key_expiring(harness: Harness, expires_at: datetime) -> dict[str, str]:
    raw = generate_key()
    issued = issued_event(
        key_id=str(uuid.uuid4()),
        raw_key=raw,
        role="dispatcher",
        name="a dispatcher",
        network_id=None,
        technician_id=None,
        expires_at=expires_at,
    )
    await harness.runtime.handle_event(EventEnvelope.wrap(issued))
    return {"Authorization": f"Bearer {raw}"}


async def test_sch_12_a_key_expired_by_the_service_clock_is_refused(harness: Harness) -> None:
    # valid by the wall clock for a day more, but the service's clock is a year on
    headers = await _key_expiring(harness, datetime.now(UTC) + timedelta(days=1))
    harness.clock.now = datetime.now(UTC) + timedelta(days=365)

    response = await harness.client.get("/v1/technicians", headers=headers)

    assert response.status_code == 401, response.text


async def test_sch_12_a_key_still_valid_by_the_service_clock_is_accepted(harness: Harness) -> None:
    # expired by the wall clock, still valid by the service's clock
    headers = await _key_expiring(harness, datetime.now(UTC) - timedelta(days=1))
    harness.clock.now = datetime.now(UTC) - timedelta(days=365)

    response = await harness.client.get("/v1/technicians", headers=headers)

    assert response.status_code == 200, response.text
