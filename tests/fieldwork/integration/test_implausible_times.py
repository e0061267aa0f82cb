"""Times that cannot be true are refused with 422 problem+json, through the API and the offline
batch, before anything is published (SCH-6, SCH-7, BIL-3, BIL-5, FLD-11): an offline action dated
before its visit existed too; against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from fieldwork.domain.policy import DEFAULT_KIT, FieldworkPolicy
from servicekit.runtime import ServiceRuntime

from ..conftest import Clock, act, offline_departure, offline_item, ok, on_site, order, published
from .test_order_changes import deliver, reassigned, stored_visit, technician

POLICY = FieldworkPolicy()


def problem_of(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    return body


async def test_sch_6_sch_7_a_departure_with_an_eta_in_year_9999_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1")

    refused = await act(
        admin, "v-1", type="depart", eta="9999-12-31T23:59:59Z", kit_checked=list(DEFAULT_KIT)
    )

    problem = problem_of(refused)
    assert problem["rule"] == "SCH-6" and problem["field"] == "eta"
    assert f"{POLICY.eta_horizon_hours} hours after the departure" in str(problem["detail"])
    assert (await admin.get("/v1/visits/v-1")).json()["state"] == "scheduled"
    assert "TechnicianDeparted" not in await published(runtime)


async def test_sch_6_a_departure_with_an_eta_before_it_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")

    refused = await act(
        admin,
        "v-1",
        type="depart",
        eta=(clock.now - timedelta(hours=1)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )

    assert "before the departure" in str(problem_of(refused)["detail"])
    await ok(
        admin,
        "v-1",
        type="depart",
        eta=(clock.now + timedelta(minutes=40)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )


async def test_sch_6_an_offline_departure_is_bounded_by_its_own_time(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    left = clock.now - timedelta(hours=3)

    batch = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                offline_item(
                    "c-1",
                    left,
                    type="depart",
                    eta="9999-12-31T23:59:59Z",
                    kit_checked=list(DEFAULT_KIT),
                ),
                offline_item(
                    "c-2",
                    left + timedelta(seconds=1),
                    type="depart",
                    eta=(left + timedelta(minutes=30)).isoformat(),
                    kit_checked=list(DEFAULT_KIT),
                ),
            ]
        },
    )

    assert batch.status_code == 200, batch.text
    first, second = batch.json()["results"]
    assert first["status"] == "refused" and first["problem"]["rule"] == "SCH-6"
    assert second["status"] == "refused"  # after a refused action of the visit
    assert "TechnicianDeparted" not in await published(runtime)


async def test_fld_11_an_offline_action_dated_years_back_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await ok(
        admin,
        "v-1",
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )

    batch = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                {
                    "client_id": "c-1",
                    "visit_id": "v-1",
                    "occurred_at": "0001-01-01T00:00:00Z",
                    "action": {"type": "arrive"},
                },
            ]
        },
    )

    assert batch.status_code == 200, batch.text
    [result] = batch.json()["results"]
    assert result["status"] == "refused"
    assert f"more than {POLICY.offline_max_age_days} days ago" in result["reason"]
    assert (await admin.get("/v1/visits/v-1")).json()["state"] == "departed"
    assert "TechnicianArrived" not in await published(runtime)


async def test_bil_3_bil_5_work_dated_outside_the_visit_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    fee = {"kind": "fee", "fee_code": "W01", "description": "上门费"}

    late_item = await act(
        admin,
        "v-1",
        type="diagnose",
        cause="c",
        work_items=[{**fee, "handled_at": "9999-12-31T23:59:59Z"}],
    )
    future_installation = await act(
        admin, "v-1", type="diagnose", cause="c", work_items=[fee], installed_on="9999-12-31"
    )

    assert problem_of(late_item)["field"] == "work_items.0.handled_at"
    assert problem_of(future_installation)["field"] == "installed_on"
    assert "DiagnosisRecorded" not in await published(runtime)
    await ok(admin, "v-1", type="diagnose", cause="c", work_items=[fee], installed_on="2026-03-01")


async def test_sch_8_an_offline_arrival_dated_years_back_takes_no_visit_back(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await deliver(runtime, reassigned("tech-8", previous="tech-7"), clock.now)

    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches",
            json={
                "actions": [
                    {
                        "client_id": "c-1",
                        "visit_id": "v-1",
                        "occurred_at": "0001-01-01T00:00:00Z",
                        "action": {"type": "arrive"},
                    }
                ]
            },
        )

    assert synced.status_code == 200, synced.text
    assert [r["status"] for r in synced.json()["results"]] == ["refused"]
    visit = await stored_visit(runtime, "v-1")
    assert visit.technician_id == "tech-8"
    assert [(h.technician_id, h.handed_to) for h in visit.handovers] == [("tech-7", "tech-8")]


async def test_fld_11_sch_7_offline_actions_dated_before_the_visit_existed_are_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")  # v-1 assigned 20 hours before the clock
    created_at = (await stored_visit(runtime, "v-1")).created_at
    left = created_at - timedelta(days=2)

    batch = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                offline_departure("c-1", left, eta_in=timedelta(minutes=20)),
                offline_item("c-2", left + timedelta(minutes=20), type="arrive"),
            ]
        },
    )

    assert batch.status_code == 200, batch.text
    first, second = batch.json()["results"]
    assert first["status"] == second["status"] == "refused"
    assert "before the visit existed" in first["reason"]
    earliest = created_at - timedelta(
        seconds=POLICY.offline_clock_skew_seconds,
        minutes=POLICY.offline_before_assignment_minutes,
    )
    assert first["problem"] == {"rule": "offline", "earliest": earliest.isoformat()}
    assert (await admin.get("/v1/visits/v-1")).json()["state"] == "scheduled"
    assert not {"TechnicianDeparted", "TechnicianArrived"} & set(await published(runtime))
    # from a dispatcher's call before the assignment was entered (and a phone clock behind by
    # the skew) on, it is taken
    taken = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                offline_item(
                    "c-3",
                    earliest,
                    type="depart",
                    eta=(clock.now + timedelta(minutes=20)).isoformat(),
                    kit_checked=list(DEFAULT_KIT),
                )
            ]
        },
    )
    assert [r["status"] for r in taken.json()["results"]] == ["applied"]


async def test_sch_8_fld_11_an_offline_arrival_before_the_visit_existed_takes_no_visit_back(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await deliver(runtime, reassigned("tech-8", previous="tech-7"), clock.now)
    before_the_visit = (await stored_visit(runtime, "v-1")).created_at - timedelta(days=2)

    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches",
            json={"actions": [offline_item("c-1", before_the_visit, type="arrive")]},
        )

    assert synced.status_code == 200, synced.text
    assert [r["status"] for r in synced.json()["results"]] == ["refused"]
    visit = await stored_visit(runtime, "v-1")
    assert visit.technician_id == "tech-8"
    assert [(h.technician_id, h.handed_to) for h in visit.handovers] == [("tech-7", "tech-8")]
