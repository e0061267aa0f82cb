"""FLD-4 over the API: an out-of-warranty repair starts from the diagnosis, online or offline."""

from __future__ import annotations

from datetime import timedelta

import httpx

from contracts.common import WarrantyStatus
from servicekit.runtime import ServiceRuntime
from tests.fieldwork.conftest import Clock, act, offline_item, ok, on_site, order, published


async def test_fld_4_an_out_of_warranty_repair_without_a_diagnosis_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")

    refused = await act(admin, "v-1", type="start_repair")

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["rule"], refused.json()["instead"]) == ("FLD-4", "diagnose")
    visit = await ok(
        admin,
        "v-1",
        type="diagnose",
        cause="点火针老化",
        parts=[{"part_no": "P-1", "name": "点火针"}],
    )
    assert visit["state"] == "awaiting_consent"
    assert "QuoteRequested" in await published(runtime)


async def test_fld_4_an_offline_repair_without_a_diagnosis_is_refused_and_stops_the_visit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    t = clock.now
    clock.advance(minutes=40)

    batch = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                offline_item("c-1", t + timedelta(minutes=5), type="start_repair"),
                offline_item(
                    "c-2",
                    t + timedelta(minutes=30),
                    type="complete_repair",
                    tested=False,
                    sure_fixed=True,
                ),
            ]
        },
    )

    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["status"] for r in results] == ["refused", "refused"]
    assert results[0]["problem"]["rule"] == "FLD-4"
    assert "client id c-1" in results[1]["reason"]
    assert "RepairCompleted" not in await published(runtime)
