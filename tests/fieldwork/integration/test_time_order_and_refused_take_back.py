"""A visit's times stay in order when an action synced from a phone clock running ahead is
followed by one sent online (FLD-11), and a customer who refused the take-back keeps the unit
(FLD-6); against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from servicekit.runtime import ServiceRuntime

from ..conftest import (
    Clock,
    act,
    offline_departure,
    ok,
    on_site,
    order,
    published,
    take_back_action,
    upload,
)


async def test_fld_11_an_online_arrival_after_a_departure_synced_from_a_clock_ahead_follows_it(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    skew = runtime.app.state.policy.offline_clock_skew_seconds
    await order(runtime, "o-1")
    left = clock.now + timedelta(seconds=skew - 1)  # the phone's clock is ahead, within the skew
    batch = await admin.post(
        "/v1/offline/batches", json={"actions": [offline_departure("c-1", left)]}
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["results"][0]["status"] == "applied"

    body = await ok(admin, "v-1", type="arrive")

    departed_at = datetime.fromisoformat(body["departed_at"])
    arrived_at = datetime.fromisoformat(body["arrived_at"])
    assert arrived_at >= departed_at
    assert "TechnicianArrived" in await published(runtime)


async def test_fld_6_take_back_after_the_customer_refused_it_is_409(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    refused_by_customer = await ok(admin, "v-1", type="refuse_take_back")
    assert "take_back" not in refused_by_customer["allowed"]
    photo = await upload(admin, "v-1", "photo")

    refused = await act(admin, "v-1", **take_back_action(photo, "2026-03-09"))

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["rule"] == "FLD-6"
    assert (await admin.get("/v1/take-backs/R-1")).status_code == 404
    assert "UnitTakenBack" not in await published(runtime)
