"""FLD-15: the dated contact log of a coordination ticket holds contacts that happened."""

from __future__ import annotations

from datetime import timedelta

import httpx

from servicekit.runtime import ServiceRuntime
from tests.fieldwork.conftest import Clock, ok, on_site, order


async def ticket_of_unfinished_order(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> str:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")
    clock.advance(days=1)
    assert (await runtime.app.state.sweep())["tickets_opened"] == 1
    ticket_id: str = (await admin.get("/v1/coordination-tickets")).json()["items"][0]["ticket_id"]
    return ticket_id


async def test_fld_15_a_contact_dated_in_the_future_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    ticket_id = await ticket_of_unfinished_order(runtime, admin, clock)
    url = f"/v1/coordination-tickets/{ticket_id}/contacts"

    future = await admin.post(
        url,
        json={
            "by": "agent-1",
            "note": "约周六上午",
            "at": (clock.now + timedelta(days=2)).isoformat(),
        },
    )

    assert future.status_code == 422, future.text
    assert future.headers["content-type"].startswith("application/problem+json")
    assert (future.json()["rule"], future.json()["field"]) == ("FLD-15", "at")
    assert (await admin.get(f"/v1/coordination-tickets/{ticket_id}")).json()["contacts"] == []


async def test_fld_15_a_contact_dated_earlier_or_by_a_clock_a_little_ahead_is_logged(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    ticket_id = await ticket_of_unfinished_order(runtime, admin, clock)
    url = f"/v1/coordination-tickets/{ticket_id}/contacts"

    for note, at in (
        ("未接", clock.now - timedelta(hours=20)),
        ("约周六上午", clock.now + timedelta(minutes=4)),  # within the clock skew allowed
    ):
        logged = await admin.post(url, json={"by": "agent-1", "note": note, "at": at.isoformat()})
        assert logged.status_code == 200, logged.text

    contacts = (await admin.get(f"/v1/coordination-tickets/{ticket_id}")).json()["contacts"]
    assert [c["note"] for c in contacts] == ["未接", "约周六上午"]
