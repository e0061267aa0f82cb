"""Work reopened by a revisit after a completed visit (FLD-15, FBK-7) and the installation date of
an installation completed on a visit (FLD-10, BIL-5), through the API against a real database
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from contracts.common import ServiceType
from contracts.envelope import EventEnvelope
from contracts.scheduling import RevisitBooked, RevisitReason
from fieldwork.domain.policy import DEFAULT_KIT
from servicekit.runtime import ServiceRuntime

from ..conftest import Clock, act, offline_item, ok, on_site, order, outbox, upload

INSTALLATION_KIT = [*DEFAULT_KIT, "barcode_scanner", "installation_accessories"]


async def dissatisfied_revisit(runtime: ServiceRuntime, clock: Clock) -> None:
    """The call-back found the customer dissatisfied: scheduling books visit v-2 (FBK-7)."""
    await runtime.handle_event(
        EventEnvelope.wrap(
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.CUSTOMER_DISSATISFIED,
                technician_id="tech-7",
            ),
            time=clock.now,
        )
    )


async def tickets(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = (await admin.get("/v1/coordination-tickets")).json()["items"]
    return body


async def revisit_under_way(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    """Visit v-1 repaired; the customer dissatisfied, v-2 booked and diagnosed on site."""
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="c")
    await ok(admin, "v-1", type="start_repair")
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    clock.advance(hours=3)
    await dissatisfied_revisit(runtime, clock)
    clock.advance(hours=2)
    await on_site(admin, clock, "v-2")
    await ok(admin, "v-2", type="diagnose", cause="c")


# -- FLD-15: a revisit after a completed visit ---------------------------------------------------


async def test_fld_15_fbk_7_an_unfinished_revisit_after_a_completed_visit_gets_a_ticket(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await revisit_under_way(runtime, admin, clock)
    await ok(admin, "v-2", type="missing_part", option="rebook", detail="缺点火针")
    assert (await runtime.app.state.sweep())["tickets_opened"] == 0

    clock.advance(days=1)

    assert (await runtime.app.state.sweep())["tickets_opened"] == 1
    [ticket] = await tickets(admin)
    assert ticket["order_id"] == "o-1"
    assert ticket["reason"] == "not finished since 2026-03-02 (last visit v-2: rebook)"
    assert "CoordinationTicketOpened" in [e.event_name for e in await outbox(runtime)]


async def test_fld_15_a_completed_revisit_finishes_the_reopened_work(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await revisit_under_way(runtime, admin, clock)
    await ok(admin, "v-2", type="start_repair")
    await ok(admin, "v-2", type="complete_repair", tested=False, sure_fixed=True)

    clock.advance(days=2)

    assert (await runtime.app.state.sweep())["tickets_opened"] == 0
    assert await tickets(admin) == []


# -- FLD-10 / BIL-5: the installation date ---------------------------------------------------------


async def installing(
    runtime: ServiceRuntime,
    admin: httpx.AsyncClient,
    clock: Clock,
    *,
    purchase_date: date | None = None,
) -> str:
    """An installation order, its technician inside; the photo uploaded (its ref)."""
    await order(runtime, "o-1", service_type=ServiceType.INSTALLATION, purchase_date=purchase_date)
    await on_site(admin, clock, "v-1", kit=INSTALLATION_KIT)
    return await upload(admin, "v-1", "photo")


async def complete(admin: httpx.AsyncClient, photo: str, **dates: str) -> httpx.Response:
    return await act(
        admin,
        "v-1",
        type="complete_installation",
        photo_refs=[photo],
        barcodes=["6901234567890"],
        **dates,
    )


async def installed_on(runtime: ServiceRuntime) -> str:
    [done] = [e for e in await outbox(runtime) if e.event_name == "InstallationCompleted"]
    day: str = done.data["installed_on"]
    return day


async def test_fld_10_bil_5_an_installation_date_in_the_future_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    photo = await installing(runtime, admin, clock)

    refused = await complete(admin, photo, installed_on="2026-03-05")

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["rule"] == "FLD-10" and problem["field"] == "installed_on"
    assert refused.headers["content-type"].startswith("application/problem+json")
    visit = (await admin.get("/v1/visits/v-1")).json()
    assert visit["state"] != "completed"
    assert "InstallationCompleted" not in [e.event_name for e in await outbox(runtime)]


async def test_fld_10_bil_5_an_installation_date_before_the_visit_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    photo = await installing(runtime, admin, clock)

    refused = await complete(admin, photo, installed_on="2025-10-15")

    assert refused.status_code == 409, refused.text
    assert refused.json()["rule"] == "FLD-10"
    assert refused.json()["earliest"] == "2026-03-02"


async def test_fld_10_bil_5_the_installation_date_defaults_to_the_business_day_of_completion(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # 23:20 in Shanghai on 1 March: the visit runs past midnight (UTC is still 1 March at the end).
    clock.now = datetime(2026, 3, 1, 15, 20, tzinfo=UTC)
    photo = await installing(runtime, admin, clock)
    clock.advance(minutes=30)

    done = await complete(admin, photo)

    assert done.status_code == 200, done.text
    assert done.json()["installation"]["installed_on"] == "2026-03-02"
    assert await installed_on(runtime) == "2026-03-02"


async def test_fld_10_bil_5_an_installation_date_before_the_purchase_date_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # Arrived 23:50 on 1 March in Shanghai, completed after midnight; bought on 2 March.
    clock.now = datetime(2026, 3, 1, 15, 20, tzinfo=UTC)
    photo = await installing(runtime, admin, clock, purchase_date=date(2026, 3, 2))
    clock.advance(minutes=30)

    refused = await complete(admin, photo, installed_on="2026-03-01")

    assert refused.status_code == 409, refused.text
    assert refused.json()["rule"] == "FLD-10" and "purchase date" in refused.json()["detail"]
    assert (await complete(admin, photo, installed_on="2026-03-02")).status_code == 200
    assert await installed_on(runtime) == "2026-03-02"


async def test_fld_10_bil_5_an_offline_installation_is_dated_by_the_day_it_happened(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", service_type=ServiceType.INSTALLATION)
    photo = await upload(admin, "v-1", "photo")
    t = clock.now

    def item(cid: str, minutes: int, **action: Any) -> dict[str, Any]:
        return offline_item(cid, t + timedelta(minutes=minutes), **action)

    visit = [
        item("c-1", 0, type="depart", eta=t.isoformat(), kit_checked=INSTALLATION_KIT),
        item("c-2", 30, type="arrive"),
        item(
            "c-3",
            31,
            type="door_outcome",
            outcome="customer_present",
            next_step="proceed",
            id_shown=True,
        ),
    ]
    completion = {"photo_refs": [photo], "barcodes": ["6901234567890"]}
    clock.advance(days=2)  # synced two days later, on 4 March

    synced = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                *visit,
                item(
                    "c-4", 90, type="complete_installation", installed_on="2026-03-04", **completion
                ),
            ]
        },
    )
    retried = await admin.post(
        "/v1/offline/batches",
        json={"actions": [item("c-5", 91, type="complete_installation", **completion)]},
    )

    results = {r["client_id"]: r for r in synced.json()["results"]}
    assert results["c-4"]["status"] == "refused"
    assert results["c-4"]["problem"]["rule"] == "FLD-10"
    assert retried.json()["results"][0]["status"] == "applied", retried.text
    assert await installed_on(runtime) == "2026-03-02"
