"""Dates a technician or agent gives that cannot be meant: a take-back's promised return beyond
the policy's longest promise or already past (FLD-6), a coordination contact dated before the
order had any visit (FLD-15)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from servicekit.runtime import ServiceRuntime
from tests.fieldwork.conftest import Clock, act, ok, on_site, order, take_back_action, upload
from tests.fieldwork.integration.test_ticket_contacts import ticket_of_unfinished_order


async def _ready_to_take_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> str:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    return await upload(admin, "v-1", "photo")


@pytest.mark.parametrize(
    "promised",
    [
        "9999-12-31",
        "2026-04-02",  # 31 days after Monday 2026-03-02: beyond the default 30
        "2026-03-01",  # yesterday
    ],
)
async def test_fld_6_a_promised_return_beyond_the_longest_promise_or_past_is_a_422(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, promised: str
) -> None:
    photo = await _ready_to_take_back(runtime, admin, clock)

    refused = await act(admin, "v-1", **take_back_action(photo, promised))

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["rule"], refused.json()["field"]) == ("FLD-6", "promised_return_date")
    assert (await admin.get("/v1/take-backs/R-1")).status_code == 404


@pytest.mark.parametrize("promised", ["2026-03-02", "2026-04-01"])  # today, today + 30 days
async def test_fld_6_a_promised_return_from_today_to_the_longest_promise_is_taken(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, promised: str
) -> None:
    photo = await _ready_to_take_back(runtime, admin, clock)

    await ok(admin, "v-1", **take_back_action(photo, promised))

    taken = (await admin.get("/v1/take-backs/R-1")).json()
    assert taken["promised_return_date"] == promised


async def test_fld_15_a_contact_dated_before_the_order_had_any_visit_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    ticket_id = await ticket_of_unfinished_order(runtime, admin, clock)
    url = f"/v1/coordination-tickets/{ticket_id}/contacts"

    for at in ("2000-01-01T00:00:00+08:00", (clock.now - timedelta(days=30)).isoformat()):
        refused = await admin.post(url, json={"by": "agent-1", "note": "约周六上午", "at": at})

        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (refused.json()["rule"], refused.json()["field"]) == ("FLD-15", "at")
    assert (await admin.get(f"/v1/coordination-tickets/{ticket_id}")).json()["contacts"] == []
