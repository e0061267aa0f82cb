"""Scheduling over its REST API and consumer handler, on SQLite and PostgreSQL: what is stored and
what is staged in the outbox (SCH-1..SCH-12)."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from scheduling_support import ADMIN_KEY, DONGYING, Harness, created, local, near, window
from support.waiting import wait_until

from contracts.common import ServiceType, TimeWindow
from contracts.feedback import RevisitRequested
from contracts.fieldwork import (
    CustomerNotHome,
    InstallationCompleted,
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    TechnicianArrived,
    TechnicianDeparted,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import OrderVerified
from contracts.scheduling import LatenessAction, LatenessKind, ReturnReason, RevisitReason
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.bootstrap import bootstrap
from scheduling.domain import commands
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import RoutingPlan, RoutingProblem
from scheduling.service_layer import handlers
from scheduling.settings import SchedulingSettings


def _w(w) -> dict[str, str]:
    return {"start": w.start.isoformat(), "end": w.end.isoformat()}


async def _assign(
    h: Harness, order_id: str, technician_id: str, reason: str = "skill"
) -> httpx.Response:
    return await h.client.post(
        f"/v1/orders/{order_id}/assignment", json={"technician_id": technician_id, "reason": reason}
    )


# -- technicians, networks ---------------------------------------------------------------------


async def test_technicians_are_registered_read_and_updated_by_dispatchers(harness: Harness) -> None:
    body = await harness.add_technician("t1", days_off=["2026-11-24"])
    assert body["skills"] == ["water_heater"] and body["days_off"] == ["2026-11-24"]
    again = await harness.client.post("/v1/technicians", json={**body, "technician_id": "t1"})
    assert again.status_code in {409, 422}
    update = {
        k: v for k, v in body.items() if k not in {"technician_id", "position", "position_at"}
    }
    update["daily_capacity"] = 3
    response = await harness.client.put("/v1/technicians/t1", json=update)
    assert response.status_code == 200 and response.json()["daily_capacity"] == 3
    listed = await harness.client.get("/v1/technicians")
    assert [t["technician_id"] for t in listed.json()["items"]] == ["t1"]


async def test_bad_technician_input_is_422_naming_the_field(harness: Harness) -> None:
    response = await harness.client.post(
        "/v1/technicians",
        json={
            "technician_id": "t1",
            "name": "x",
            "skills": [],
            "areas": ["a"],
            "home": {"lat": 99, "lon": 0},
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"skills", "home.lat"} <= fields


async def test_networks_are_dispatch_targets(harness: Harness) -> None:
    response = await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "东营网点", "skills": ["*"], "areas": ["Dongying"]},
    )
    assert response.status_code == 201
    assert (await harness.client.get("/v1/networks")).json()[0]["network_id"] == "n1"


async def test_sch_1_a_registered_network_is_located_where_get_reads_it(harness: Harness) -> None:
    body = {"network_id": "n1", "name": "东营网点", "skills": ["*"], "areas": ["Dongying"]}
    await harness.client.post("/v1/networks", json={**body, "network_id": "n2"})
    created_ = await harness.client.post("/v1/networks", json=body)
    own = await harness.key("partner", network_id="n1")

    read = await harness.client.get(created_.headers["location"])
    by_itself = await harness.client.get("/v1/networks/n1", headers=own)
    another = await harness.client.get("/v1/networks/n2", headers=own)
    unknown = await harness.client.get("/v1/networks/n9")

    assert created_.headers["location"] == "/v1/networks/n1"
    assert read.status_code == 200 and read.json()["areas"] == ["Dongying"]
    assert by_itself.status_code == 200
    # a network reads its own record only: another's answers as an unknown one
    assert another.status_code == 404 and unknown.status_code == 404


# -- SCH-1 -------------------------------------------------------------------------------------


async def test_sch_1_without_technicians_the_order_awaits_assignment(harness: Harness) -> None:
    await harness.feed(created("o1"))
    assert (await harness.order("o1"))["status"] == "awaiting_assignment"
    assert await harness.published() == []


async def test_sch_1_verified_orders_are_assigned_by_skill_area_and_workload(
    harness: Harness,
) -> None:
    await harness.add_technician("ac", skills=["air_conditioner"])
    await harness.add_technician("t1", home=near(DONGYING, north_km=1))
    await harness.add_technician("t2", home=near(DONGYING, north_km=5))
    await harness.feed(created("o1"))
    await harness.feed(created("o2", needs_verification=["product.purchase_date"]))
    assert (await harness.order("o1"))["technician_id"] == "t1"
    assert (await harness.order("o2"))["status"] == "awaiting_verification"
    await harness.feed(OrderVerified(order_id="o2", verified=["product.purchase_date"]))
    second = await harness.order("o2")
    assert second["status"] == "assigned" and second["technician_id"] == "t2"  # t1 has one already
    assigned = await harness.published("OrderAssigned")
    assert [e.technician_id for e in assigned] == ["t1", "t2"]
    assert assigned[1].assigned_by == "scheduling:auto" and "workload 0/8" in assigned[1].reason


async def test_sch_1_manual_areas_wait_for_a_dispatcher(database_url: str, tmp_path: Path) -> None:
    policy = SchedulingPolicy(assignment_mode_by_area={"Dongying": "manual"}).model_dump(
        mode="json"
    )
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"scheduling": policy}))
    runtime = bootstrap(
        SchedulingSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            policy_file=path,
        )
    )
    await runtime.migrate()
    from scheduling_support import MONDAY_8AM, Clock

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://s",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        h = Harness(runtime=runtime, clock=Clock(MONDAY_8AM), client=client)
        await h.add_technician("t1")
        await h.feed(created("o1"))
        assert (await h.order("o1"))["status"] == "awaiting_assignment"
        assert (await _assign(h, "o1", "t1")).status_code == 200
    await runtime.engine.dispose()


async def test_sch_1_a_network_takes_what_no_technician_can_and_may_hand_it_back(
    harness: Harness,
) -> None:
    await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]},
    )
    await harness.feed(created("o1"))
    order = await harness.order("o1")
    assert order["assignee_kind"] == "network" and order["network_id"] == "n1"
    partner = await harness.key("partner", network_id="n1")
    other = await harness.key("partner", network_id="n2")
    assert (await harness.client.get("/v1/orders/o1", headers=partner)).status_code == 200
    # issue 5: another network's order is indistinguishable from a missing one
    assert (await harness.client.get("/v1/orders/o1", headers=other)).status_code == 404
    response = await harness.client.post(
        "/v1/orders/o1/return",
        json={"reason": "cannot_staff", "detail": "nobody free"},
        headers=partner,
    )
    assert response.status_code == 200 and response.json()["status"] == "awaiting_assignment"
    returned = await harness.published("OrderReturnedToCentre")
    assert returned[0].reason is ReturnReason.CANNOT_STAFF and returned[0].network_id == "n1"


async def test_sch_12_automatic_placement_never_hands_a_centre_order_to_a_network_technician(
    harness: Harness,
) -> None:
    await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]},
    )
    await harness.add_technician("t-n1", network_id="n1")  # free, and the only technician
    await harness.feed(created("o1"))
    await harness.feed(created("o2", emergency=True))
    for order_id in ("o1", "o2"):
        order = await harness.order(order_id)
        assert order["technician_id"] is None, order
        assert order["assignee_kind"] in (None, "network"), order


# -- SCH-8 / SCH-12 ----------------------------------------------------------------------------


async def test_sch_12_only_dispatchers_assign_reassign_and_cancel_and_it_is_audited(
    harness: Harness,
) -> None:
    for tid in ("t1", "t2"):
        await harness.add_technician(tid, capacity=1)
    await harness.feed(created("busy"))  # t1 takes it; both have capacity 1
    await harness.feed(created("o1"))  # t2 takes it
    technician = await harness.key("technician", technician_id="t2")
    agent = await harness.key("agent")
    for headers in (technician, agent):
        response = await harness.client.post(
            "/v1/orders/o1/assignment",
            json={"technician_id": "t1", "reason": "swap"},
            headers=headers,
        )
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
    dispatcher = await harness.key("dispatcher")
    response = await harness.client.post(
        "/v1/orders/o1/assignment",
        json={"technician_id": "t1", "reason": "t2 ill"},
        headers=dispatcher,
    )
    assert response.status_code == 200 and response.json()["technician_id"] == "t1"
    reassigned = (await harness.published("OrderReassigned"))[0]
    assert (
        reassigned.previous_technician_id == "t2"
        and reassigned.reassigned_by == "dispatcher:a dispatcher"
    )
    cancel = await harness.client.post(
        "/v1/orders/o1/assignment/cancellation",
        json={"reason": "customer asked"},
        headers=dispatcher,
    )
    assert cancel.status_code == 200 and cancel.json()["status"] == "awaiting_assignment"
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("scheduling:auto", "assign"),
        ("dispatcher:a dispatcher", "reassign"),
        ("dispatcher:a dispatcher", "return_to_centre"),
    ]
    assert audit[1]["reason"] == "t2 ill"


async def test_sch_8_a_technician_reads_only_their_own_jobs(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    mine = await harness.key("technician", technician_id="t1")
    theirs = await harness.key("technician", technician_id="t9")
    assert (await harness.client.get("/v1/orders/o1", headers=mine)).status_code == 200
    assert (await harness.client.get("/v1/orders/o1", headers=theirs)).status_code == 403
    jobs = await harness.client.get("/v1/technicians/t1/jobs", headers=mine)
    assert [j["order_id"] for j in jobs.json()] == ["o1"]
    assert (await harness.client.get("/v1/technicians/t1/jobs", headers=theirs)).status_code == 403
    # nor the windows of another technician's order (their name and free time)
    assert (await harness.client.get("/v1/orders/o1/slots", headers=mine)).status_code == 200
    peeked = await harness.client.get("/v1/orders/o1/slots", headers=theirs)
    assert peeked.status_code == 403, peeked.text
    assert peeked.headers["content-type"].startswith("application/problem+json")
    # SCH-8: the technician hands it back to the centre, never directly to a colleague
    handed = await harness.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "t9", "reason": "x"}, headers=mine
    )
    assert handed.status_code == 403


async def test_sch_8_a_technician_cannot_hand_the_order_to_a_colleague_by_booking_for_them(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.add_technician("t2", home=near(DONGYING, north_km=1))
    await harness.feed(created("o1"))
    holder = (await harness.order("o1"))["technician_id"]
    colleague = "t2" if holder == "t1" else "t1"
    mine = await harness.key("technician", technician_id=holder)

    handed = await harness.client.post(
        "/v1/orders/o1/appointment",
        json={**_w(window(14)), "technician_id": colleague},
        headers=mine,
    )

    assert handed.status_code == 403, handed.text
    assert handed.headers["content-type"].startswith("application/problem+json")
    assert (await harness.order("o1"))["technician_id"] == holder
    assert await harness.published("OrderReassigned") == []
    # booking for themselves (named or not) is theirs to do
    for body in ({**_w(window(14)), "technician_id": holder}, _w(window(16))):
        booked = await harness.client.post("/v1/orders/o1/appointment", json=body, headers=mine)
        assert booked.status_code == 200, booked.text
        assert booked.json()["technician_id"] == holder


async def test_sch_12_a_network_books_its_order_only_for_its_own_technicians(
    harness: Harness,
) -> None:
    await harness.add_technician("centre", skills=["water_heater", "water_purifier"])
    await harness.add_technician("t-n2", skills=["water_purifier"], network_id="n2")
    for network in ("n1", "n2"):
        response = await harness.client.post(
            "/v1/networks",
            json={"network_id": network, "name": network, "skills": ["*"], "areas": ["*"]},
        )
        assert response.status_code == 201, response.text
    await harness.feed(created("o1", line="water_purifier"))
    o1 = await harness.client.post(
        "/v1/orders/o1/assignment", json={"network_id": "n1", "reason": "n1 serves it"}
    )
    assert o1.status_code == 200 and o1.json()["network_id"] == "n1", o1.text
    partner = await harness.key("partner", network_id="n1")

    for named in ("centre", "t-n2"):
        handed = await harness.client.post(
            "/v1/orders/o1/appointment",
            json={**_w(window(14)), "technician_id": named},
            headers=partner,
        )
        assert handed.status_code == 403, handed.text
    unnamed = await harness.client.post(
        "/v1/orders/o1/appointment", json=_w(window(14)), headers=partner
    )
    assert unnamed.status_code == 409, unnamed.text  # n1 has nobody yet
    assert unnamed.json()["alternatives"] == []  # and is offered nobody else's technicians
    order = await harness.order("o1")
    assert (order["assignee_kind"], order["network_id"]) == ("network", "n1")

    await harness.add_technician("t-n1", skills=["water_purifier"], network_id="n1")
    booked = await harness.client.post(
        "/v1/orders/o1/appointment", json=_w(window(14)), headers=partner
    )
    assert booked.status_code == 200, booked.text
    assert (booked.json()["technician_id"], booked.json()["network_id"]) == ("t-n1", "n1")


async def test_sch_12_an_illegal_transition_is_409_with_the_allowed_actions(
    harness: Harness,
) -> None:
    await harness.feed(created("o1"))
    response = await harness.client.post(
        "/v1/orders/o1/assignment/cancellation", json={"reason": "x"}
    )
    assert response.status_code == 409
    assert response.json()["allowed"] == ["assign", "book_appointment"]


# -- SCH-3 -------------------------------------------------------------------------------------


async def test_sch_3_slots_and_booking_with_409_and_alternatives_on_a_clash(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", capacity=8)
    dispatcher = await harness.key("dispatcher")
    await harness.client.post(
        "/v1/orders/x/assignment", json={"technician_id": "t1", "reason": "r"}
    )
    await harness.feed(created("far", location=near(DONGYING, north_km=25)))
    booked = await harness.client.post(
        "/v1/orders/far/appointment", json=_w(window(10, hours=1)), headers=dispatcher
    )
    assert booked.status_code == 200, booked.text
    await harness.feed(created("o1"))
    slots = await harness.client.get("/v1/orders/o1/slots?days=1")
    assert slots.status_code == 200
    starts = [s["start"] for s in slots.json()]
    assert starts and all(s["technician_id"] == "t1" for s in slots.json())
    clash = await harness.client.post(
        "/v1/orders/o1/appointment", json=_w(window(11, hours=0.5)), headers=dispatcher
    )
    assert clash.status_code == 409
    alternatives = clash.json()["alternatives"]
    assert alternatives and all(a["start"] != window(11).start.isoformat() for a in alternatives)
    fine = await harness.client.post(
        "/v1/orders/o1/appointment", json=_w(window(15)), headers=dispatcher
    )
    assert fine.status_code == 200
    assert fine.json()["appointment"]["start"].startswith("2026-11-23T07:00")


@pytest.mark.parametrize(
    ("service_type", "free_from_hour"), [(ServiceType.REPAIR, 11), (ServiceType.INSTALLATION, 12)]
)
async def test_sch_3_an_installation_holds_its_technician_for_the_installation_minutes(
    harness: Harness, service_type: ServiceType, free_from_hour: int
) -> None:
    await harness.add_technician("t1", capacity=8)
    dispatcher = await harness.key("dispatcher")
    await harness.feed(created("held", service_type=service_type))
    held = await harness.order("held")
    assert held["service_type"] == service_type.value
    booked = await harness.client.post(
        "/v1/orders/held/appointment", json=_w(window(10, hours=0.25)), headers=dispatcher
    )
    assert booked.status_code == 200, booked.text

    # Arrivals are 5-10 minutes early (SCH-4), so the held job starts 09:50-10:10 and ends 60
    # (repair) or 120 (installation) minutes later; a repair next door (no travel) in a 15-minute
    # window fits from 11:00 after a repair and only from 12:00 after an installation.
    await harness.feed(created("next"))
    for hour in (11, 12):
        wanted = window(hour, hours=0.25)
        fits = await harness.client.post(
            "/v1/orders/next/appointment", json=_w(wanted), headers=dispatcher
        )
        assert (fits.status_code == 200) is (hour >= free_from_hour), (hour, fits.text)
        if fits.status_code == 200:
            break


async def test_sch_3_sch_6_a_window_already_over_is_refused_and_no_change_goes_unpublished(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    tech = await harness.key("technician", technician_id="t1")
    booked = await harness.client.post("/v1/orders/o1/appointment", json=_w(window(14)))
    assert booked.status_code == 200, booked.text
    past = window(9, day=-3)

    moved = await harness.client.post(
        "/v1/orders/o1/reschedule",
        json={**_w(past), "reason": "typo", "customer_consent": True},
    )
    later = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "later_time", "window": _w(past)},
        headers=tech,
    )

    for refused in (moved, later):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert TimeWindow.model_validate((await harness.order("o1"))["appointment"]) == window(14)
    # confirmed, then moved on a second call: the move is published
    for body in ({"outcome": "confirmed"}, {"outcome": "confirmed", "window": _w(window(16))}):
        call = await harness.client.post("/v1/orders/o1/contact-attempts", json=body, headers=tech)
        assert call.status_code == 200, call.text
    assert TimeWindow.model_validate((await harness.order("o1"))["appointment"]) == window(16)
    moves = await harness.published("AppointmentRescheduled")
    assert (moves[-1].old_window, moves[-1].new_window) == (window(14), window(16))


async def test_sch_3_the_first_confirming_call_refuses_a_window_already_over(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    tech = await harness.key("technician", technician_id="t1")
    booked = await harness.client.post("/v1/orders/o1/appointment", json=_w(window(10)))
    assert booked.status_code == 200, booked.text
    harness.clock.now = local(13)  # the booked 10:00-12:00 is over

    refused = [
        await harness.client.post("/v1/orders/o1/contact-attempts", json=body, headers=tech)
        for body in (
            {"outcome": "confirmed"},
            {"outcome": "confirmed", "window": _w(window(11))},
            {"outcome": "details_corrected", "window": _w(window(9, day=-3))},
        )
    ]

    for response in refused:
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "already ended" in response.json()["detail"]
    order = await harness.order("o1")
    assert order["status"] == "assigned" and order["confirmed_at"] is None
    assert TimeWindow.model_validate(order["appointment"]) == window(10)
    assert await harness.published("AppointmentConfirmed") == []
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert "contact" not in [e["action"] for e in audit]
    # a window still under way can be agreed, as a reschedule can move to one
    agreed = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "confirmed", "window": _w(window(12))},
        headers=tech,
    )
    assert agreed.status_code == 200 and agreed.json()["status"] == "confirmed", agreed.text
    [confirmed] = await harness.published("AppointmentConfirmed")
    assert confirmed.window == window(12)


async def test_sch_3_sch_5_a_window_agreed_on_a_call_outside_the_shift_is_refused_with_why(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", days_off=["2026-11-24"])  # works 09:00-18:00 Mon-Sat
    await harness.feed(created("o1"))
    tech = await harness.key("technician", technician_id="t1")
    calls = [
        ({"outcome": "confirmed", "window": _w(window(19))}, "outside technician t1's shift"),
        ({"outcome": "later_time", "window": _w(window(19))}, "outside technician t1's shift"),
        ({"outcome": "later_time", "window": _w(window(10, day=1))}, "is a day off"),
        ({"outcome": "confirmed", "window": _w(window(10, day=6))}, "does not work on Sundays"),
    ]

    problems = []
    for body, reason in calls:
        refused = await harness.client.post(
            "/v1/orders/o1/contact-attempts", json=body, headers=tech
        )
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["title"] == "Window not available"
        assert reason in problem["detail"] and any(reason in r for r in problem["reasons"])
        problems.append(problem)

    assert "19:00-21:00" in problems[0]["detail"] and "09:00-18:00" in problems[0]["detail"]
    order = await harness.order("o1")
    assert order["status"] == "assigned" and order["appointment"] is None
    assert await harness.published("AppointmentConfirmed") == []
    assert await harness.published("AppointmentRescheduled") == []
    # the same story within the shift: confirmed, then a later time on the next call
    for body in (
        {"outcome": "confirmed", "window": _w(window(14))},
        {"outcome": "later_time", "window": _w(window(16))},
    ):
        call = await harness.client.post("/v1/orders/o1/contact-attempts", json=body, headers=tech)
        assert call.status_code == 200, call.text
    assert TimeWindow.model_validate((await harness.order("o1"))["appointment"]) == window(16)
    [moved] = await harness.published("AppointmentRescheduled")
    assert (moved.old_window, moved.new_window) == (window(14), window(16))


async def test_a_retried_call_record_with_its_idempotency_key_is_recorded_once(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    tech = {**await harness.key("technician", technician_id="t1"), "Idempotency-Key": "call-1"}
    body = {"outcome": "no_answer", "note": "响铃无人接"}

    first = await harness.client.post("/v1/orders/o1/contact-attempts", json=body, headers=tech)
    retry = await harness.client.post("/v1/orders/o1/contact-attempts", json=body, headers=tech)
    other = await harness.client.post(
        "/v1/orders/o1/contact-attempts", json={"outcome": "unreachable"}, headers=tech
    )

    assert first.status_code == retry.status_code == 200, first.text
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.json() == first.json()
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert [e["action"] for e in audit].count("contact") == 1, audit


# -- SCH-2 / SCH-5 -----------------------------------------------------------------------------


async def test_sch_2_no_confirmation_within_2_hours_raises_contact_overdue(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    harness.clock.now = local(9)  # on shift: the 2 hours run from the assignment
    await harness.feed(created("o1"))
    await harness.feed(created("o2"))
    tech = await harness.key("technician", technician_id="t1")
    await harness.client.post("/v1/orders/o2/appointment", json=_w(window(14)), headers=tech)
    confirm = await harness.client.post(
        "/v1/orders/o2/contact-attempts", json={"outcome": "confirmed"}, headers=tech
    )
    assert confirm.status_code == 200 and confirm.json()["status"] == "confirmed"
    harness.clock.advance(minutes=119)
    assert await harness.run_job("contact_overdue") == 0
    harness.clock.advance(minutes=1)
    assert await harness.run_job("contact_overdue") == 1
    assert await harness.run_job("contact_overdue") == 0
    overdue = await harness.published("ContactOverdue")
    assert [e.order_id for e in overdue] == ["o1"]
    assert (await harness.published("AppointmentConfirmed"))[0].order_id == "o2"


async def test_sch_5_no_answer_twice_confirms_the_agreed_time_unreached(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    tech = await harness.key("technician", technician_id="t1")
    for _ in range(2):
        r = await harness.client.post(
            "/v1/orders/o1/contact-attempts", json={"outcome": "no_answer"}, headers=tech
        )
        assert r.status_code == 200
    confirmed = await harness.published("AppointmentConfirmed")
    assert len(confirmed) == 1 and confirmed[0].customer_reached is False
    assert confirmed[0].window == window(14)


async def test_sch_2_sch_5_a_later_call_that_reaches_the_customer_confirms_the_time_again(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    tech = await harness.key("technician", technician_id="t1")
    calls = [{"outcome": "no_answer"}] * 2 + [{"outcome": "confirmed"}] * 2
    for body in calls:
        harness.clock.advance(minutes=20)
        r = await harness.client.post("/v1/orders/o1/contact-attempts", json=body, headers=tech)
        assert r.status_code == 200, r.text

    confirmed = await harness.published("AppointmentConfirmed")

    # the time stood unreached, then the customer heard it; a further call changes nothing
    assert [c.customer_reached for c in confirmed] == [False, True]
    assert {c.window for c in confirmed} == {window(14)}
    assert (await harness.order("o1"))["status"] == "confirmed"


# -- SCH-6 / SCH-7 -----------------------------------------------------------------------------


async def test_sch_6_predicted_arrival_20_minutes_past_the_window_warns_with_a_gift_before_it(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=1)]))  # 10:00-11:00
    order = await harness.order("o1")
    assert order["technician_id"] == "t1" and order["appointment"] is not None
    tech = await harness.key("technician", technician_id="t1")
    harness.clock.now = local(10, 40)
    # 20 km away at 30 km/h × 1.3 ≈ 52 min: arrival ≈ 11:32, but the technician's own ETA says 11:20
    response = await harness.client.post(
        "/v1/technicians/t1/position",
        json={
            "position": near(DONGYING, north_km=20).model_dump(),
            "eta": local(11, 20).isoformat(),
        },
        headers=tech,
    )
    assert response.status_code == 200
    late = await harness.published("ArrivalLate")
    assert len(late) == 1
    assert late[0].kind is LatenessKind.PREDICTED and late[0].minutes_late == 20
    assert late[0].action is LatenessAction.APOLOGY_AND_GIFT
    assert harness.clock.now < late[0].appointment.end  # warned before the appointment
    await harness.feed(
        TechnicianArrived(
            order_id="o1", visit_id=order["visit_id"], technician_id="t1", arrived_at=local(11, 22)
        )
    )
    actual = (await harness.published("ArrivalLate"))[-1]
    assert actual.kind is LatenessKind.ACTUAL and actual.minutes_late == 22
    refusal = await harness.client.post("/v1/orders/o1/lateness/refusal", headers=tech)
    assert refusal.status_code == 200
    assert (await harness.published("ArrivalLate"))[-1].action is LatenessAction.MANAGER_VISIT


async def test_sch_7_a_manager_sent_after_an_on_time_arrival_is_for_the_lateness_told(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=1)]))  # 10:00-11:00
    order = await harness.order("o1")
    tech = await harness.key("technician", technician_id="t1")
    harness.clock.now = local(10, 40)
    told = await harness.client.post(
        "/v1/technicians/t1/position",
        json={
            "position": near(DONGYING, north_km=20).model_dump(),
            "eta": local(11, 20).isoformat(),
        },
        headers=tech,
    )
    assert told.status_code == 200, told.text
    await harness.feed(  # the technician made up the time
        TechnicianArrived(
            order_id="o1", visit_id=order["visit_id"], technician_id="t1", arrived_at=local(10, 58)
        )
    )
    refusal = await harness.client.post("/v1/orders/o1/lateness/refusal", headers=tech)
    assert refusal.status_code == 200, refusal.text
    manager = (await harness.published("ArrivalLate"))[-1]
    assert manager.action is LatenessAction.MANAGER_VISIT
    assert (manager.kind, manager.minutes_late) == (LatenessKind.PREDICTED, 20)
    assert manager.expected_arrival == local(11, 20)


async def test_sch_7_the_manager_goes_only_for_a_recorded_lateness_and_once_per_visit(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=1)]))  # 10:00-11:00
    order = await harness.order("o1")
    tech = await harness.key("technician", technician_id="t1")

    refused = await harness.client.post("/v1/orders/o1/lateness/refusal", headers=tech)

    assert refused.status_code == 409, refused.text  # nobody was late
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await harness.published("ArrivalLate") == []
    await harness.feed(
        TechnicianArrived(
            order_id="o1", visit_id=order["visit_id"], technician_id="t1", arrived_at=local(11, 5)
        )
    )
    for _ in range(2):
        again = await harness.client.post("/v1/orders/o1/lateness/refusal", headers=tech)
        assert again.status_code == 200, again.text
    late = await harness.published("ArrivalLate")
    assert [(e.kind, e.action) for e in late] == [
        (LatenessKind.ACTUAL, LatenessAction.APOLOGY),
        (LatenessKind.ACTUAL, LatenessAction.MANAGER_VISIT),
    ]


async def test_sch_6_a_position_dated_ahead_of_the_clock_beyond_the_skew_is_refused(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    tech = await harness.key("technician", technician_id="t1")
    skew = harness.runtime.app.state.deps["policy"].position_clock_skew_seconds
    ping = {"position": near(DONGYING, north_km=30).model_dump()}

    ahead = harness.clock.now + timedelta(seconds=skew + 1)
    refused = await harness.client.post(
        "/v1/technicians/t1/position", json={**ping, "at": ahead.isoformat()}, headers=tech
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await harness.client.get("/v1/technicians/t1")).json()["position_at"] is None
    fast = harness.clock.now + timedelta(seconds=skew)
    kept = await harness.client.post(
        "/v1/technicians/t1/position", json={**ping, "at": fast.isoformat()}, headers=tech
    )
    assert kept.status_code == 200, kept.text


async def test_sch_6_a_position_ping_naming_an_order_id_longer_than_any_order_is_a_422(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    tech = await harness.key("technician", technician_id="t1")
    ping = {"position": near(DONGYING, north_km=3).model_dump()}

    for order_id in ("o" * 37, ""):
        refused = await harness.client.post(
            "/v1/technicians/t1/position", json={**ping, "order_id": order_id}, headers=tech
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["order_id"]
    assert (await harness.client.get("/v1/technicians/t1")).json()["position_at"] is None
    kept = await harness.client.post(
        "/v1/technicians/t1/position", json={**ping, "order_id": "o" * 36}, headers=tech
    )
    assert kept.status_code == 200, kept.text


@pytest.mark.parametrize(
    ("at_hours", "eta_hours", "why"),
    [
        (0, "9999-12-31T23:59:59Z", "hours after the position"),
        (0, -1, "before the position"),
        (-25, None, "hours ago"),
    ],
)
async def test_sch_6_sch_7_an_implausible_eta_or_ping_date_is_refused_and_tells_no_customer(
    harness: Harness, at_hours: int, eta_hours: int | str | None, why: str
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    booked = await harness.client.post("/v1/orders/o1/appointment", json=_w(window(10)))
    assert booked.status_code == 200, booked.text
    harness.clock.now = local(8)
    tech = await harness.key("technician", technician_id="t1")
    at = harness.clock.now + timedelta(hours=at_hours)
    ping: dict[str, object] = {
        "position": near(DONGYING, north_km=5).model_dump(),
        "at": at.isoformat(),
        "order_id": "o1",
    }
    if isinstance(eta_hours, int):
        ping["eta"] = (at + timedelta(hours=eta_hours)).isoformat()
    elif eta_hours is not None:
        ping["eta"] = eta_hours

    refused = await harness.client.post("/v1/technicians/t1/position", json=ping, headers=tech)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert why in refused.json()["detail"]
    assert (await harness.client.get("/v1/technicians/t1")).json()["position_at"] is None
    assert await harness.published("ArrivalLate") == []
    policy = harness.runtime.app.state.deps["policy"]
    ping["at"] = harness.clock.now.isoformat()
    ping["eta"] = (harness.clock.now + timedelta(hours=policy.eta_horizon_hours)).isoformat()
    kept = await harness.client.post("/v1/technicians/t1/position", json=ping, headers=tech)
    assert kept.status_code == 200, kept.text


async def test_sch_6_a_position_older_than_the_one_known_does_not_replace_it(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    tech = await harness.key("technician", technician_id="t1")
    harness.clock.now = local(10)
    newer = near(DONGYING, north_km=3)
    for position, at in ((newer, local(10)), (near(DONGYING, north_km=30), local(9, 30))):
        response = await harness.client.post(
            "/v1/technicians/t1/position",
            json={"position": position.model_dump(), "at": at.isoformat()},
            headers=tech,
        )
        assert response.status_code == 200, response.text

    stored = (await harness.client.get("/v1/technicians/t1")).json()
    assert stored["position"] == newer.model_dump()
    assert datetime.fromisoformat(stored["position_at"]) == local(10)


async def test_sch_6_a_backdated_ping_cannot_claim_the_customer_was_warned_in_time(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    booked = await harness.client.post("/v1/orders/o1/appointment", json=_w(window(10)))
    assert booked.status_code == 200, booked.text
    harness.clock.now = local(11)  # too late to call ahead of a 10:00 appointment
    tech = await harness.key("technician", technician_id="t1")

    response = await harness.client.post(
        "/v1/technicians/t1/position",
        json={
            "position": near(DONGYING, north_km=5).model_dump(),
            "at": local(9).isoformat(),
            "eta": local(12, 20).isoformat(),
        },
        headers=tech,
    )

    assert response.status_code == 200, response.text
    [late] = await harness.published("ArrivalLate")
    assert late.minutes_late == 20 and late.customer_notified is False


async def test_sch_6_a_departure_with_a_late_eta_warns_from_the_fieldwork_event(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=1)]))
    order = await harness.order("o1")
    harness.clock.now = local(10, 30)
    await harness.feed(
        TechnicianDeparted(
            order_id="o1", visit_id=order["visit_id"], technician_id="t1", eta=local(11, 10)
        )
    )
    late = await harness.published("ArrivalLate")
    assert late[0].minutes_late == 10 and late[0].action is LatenessAction.APOLOGY
    assert (await harness.order("o1"))["status"] == "en_route"


# -- SCH-4 / SCH-9 -----------------------------------------------------------------------------


async def test_sch_4_the_day_plan_is_optimised_checked_and_gives_departures(
    harness: Harness,
) -> None:
    for tid in ("t1", "t2"):
        await harness.add_technician(tid)
    for i in range(4):
        await harness.feed(
            created(
                f"o{i}",
                location=near(DONGYING, east_km=3 * i),
                preferred=[window(10 + 2 * (i % 2))],
            )
        )
    response = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")
    assert response.status_code == 200, response.text
    plan = response.json()
    assert {v["order_id"] for v in plan["visits"]} == {f"o{i}" for i in range(4)}
    assert plan["unassigned"] == []
    order = await harness.order("o1")
    assert order["planned_departure"] is not None
    stored = await harness.client.get("/v1/plans/2026-11-23")
    assert stored.status_code == 200 and stored.json()["dirty"] is False


@pytest.mark.parametrize(
    ("holder", "closer"),
    [
        pytest.param({}, {"areas": ["Binzhou"]}, id="closer-one-serves-another-area"),
        pytest.param({}, {"network_id": "n2"}, id="centre-order-closer-one-in-a-network"),
        pytest.param({"network_id": "n2"}, {}, id="network-order-closer-one-at-the-centre"),
        pytest.param(
            {"network_id": "n1"}, {"network_id": "n2"}, id="network-order-closer-one-elsewhere"
        ),
    ],
)
async def test_sch_1_sch_12_the_day_plan_moves_a_job_only_to_a_technician_who_may_take_it(
    harness: Harness, holder: dict[str, Any], closer: dict[str, Any]
) -> None:
    await harness.add_technician("far", home=near(DONGYING, north_km=25), **holder)
    await harness.add_technician("near", home=near(DONGYING, east_km=1), **closer)
    await harness.feed(created("o1"))
    tomorrow = window(10, day=1)
    booked = await harness.client.post(
        "/v1/orders/o1/appointment", json={**_w(tomorrow), "technician_id": "far"}
    )
    assert booked.status_code == 200, booked.text
    network = booked.json()["network_id"]

    response = await harness.client.post(
        f"/v1/plans/{tomorrow.start.date().isoformat()}/optimisation"
    )

    assert response.status_code == 200, response.text
    plan = response.json()
    assert [(v["order_id"], v["technician_id"]) for v in plan["visits"]] == [("o1", "far")]
    assert plan["dirty"] is False  # solved within the bounds, not held back at the end
    order = await harness.order("o1")
    assert (order["technician_id"], order["network_id"]) == ("far", network)
    moves = await harness.published("OrderReassigned")
    assert not [e for e in moves if e.reassigned_by == handlers.PLANNER]


async def test_sch_4_the_service_keeps_answering_while_a_day_plan_is_solved(
    harness: Harness,
) -> None:
    # The solver runs for seconds (plan_time_limit_seconds); on the event loop it would stall
    # every request, event and group heartbeat of the service meanwhile.
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    solving, answered = threading.Event(), threading.Event()
    pyvrp = PyVrpSolver()

    class SolverWaitingForARequest:
        def solve(self, problem: RoutingProblem, **options: Any) -> RoutingPlan:
            solving.set()
            if not answered.wait(timeout=10):
                raise AssertionError("no request was answered while the solver ran")
            return pyvrp.solve(problem, **options)

    deps = harness.runtime.app.state.deps
    optimisation = asyncio.create_task(
        handlers.optimise_day(
            commands.OptimiseDay(day=local(8).date(), actor=commands.Actor("planner", "admin")),
            uow=harness.runtime.app.state.uow_factory(),
            clock=deps["clock"],
            policy=deps["policy"],
            travel=deps["travel"],
            tz=deps["tz"],
            solver=SolverWaitingForARequest(),
        )
    )
    await wait_until(solving.is_set, message="the solver to start")
    order = await asyncio.wait_for(harness.order("o1"), timeout=5)
    answered.set()

    assert order["order_id"] == "o1"
    plan = await asyncio.wait_for(optimisation, timeout=15)
    assert [v["order_id"] for v in plan["visits"]] == ["o1"]  # type: ignore[attr-defined]


async def test_sch_9_an_emergency_is_inserted_into_the_live_plan_and_replanned_in_the_background(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=near(DONGYING, north_km=15))
    await harness.add_technician("t2", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(14)]))
    harness.clock.now = local(10)
    assert (
        await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.2")
    ).status_code == 200
    await harness.feed(created("gas", emergency=True, needs_verification=["customer.address"]))
    order = await harness.order("gas")
    assert order["status"] == "assigned" and order["technician_id"] == "t2"
    assert order["appointment"]["end"] == (local(10) + timedelta(minutes=15)).isoformat().replace(
        "+00:00", "Z"
    )
    assigned = next(e for e in await harness.published("OrderAssigned") if e.order_id == "gas")
    assert "insertion" in (assigned.reason or "")
    assert (await harness.client.get("/v1/plans/2026-11-23")).json()["dirty"] is True
    assert await harness.run_job("replan") == 1
    plan = (await harness.client.get("/v1/plans/2026-11-23")).json()
    assert plan["dirty"] is False and "gas" in {v["order_id"] for v in plan["visits"]}


# -- SCH-10 / SCH-11 / FBK-7 -------------------------------------------------------------------


async def test_sch_10_repair_failed_for_a_part_books_a_revisit_with_the_same_technician(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    first = (await harness.order("o1"))["visit_id"]
    await harness.feed(
        RepairFailed(
            order_id="o1",
            visit_id=first,
            technician_id="t1",
            reason=RepairFailureReason.MISSING_PART,
        )
    )
    revisit = (await harness.published("RevisitBooked"))[0]
    assert revisit.reason is RevisitReason.MISSING_PART and revisit.previous_visit_id == first
    order = await harness.order("o1")
    assert order["visit_id"] == revisit.visit_id and order["technician_id"] == "t1"
    assert order["visits"][1]["reason"] == "missing_part"


async def test_a_visit_that_ends_declined_or_taken_back_frees_the_technician(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    for order_id, outcome in (("o1", VisitOutcome.DECLINED), ("o2", VisitOutcome.TAKEN_BACK)):
        await harness.feed(created(order_id))
        visit_id = (await harness.order(order_id))["visit_id"]
        await harness.feed(
            VisitClosed(
                order_id=order_id,
                visit_id=visit_id,
                technician_id="t1",
                outcome=outcome,
                closed_at=harness.clock.now,
            )
        )
        assert (await harness.order(order_id))["status"] == "visit_done", outcome


async def test_a_closed_earlier_visit_does_not_end_the_revisit_booked_after_it(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    first = (await harness.order("o1"))["visit_id"]
    await harness.feed(
        RepairFailed(
            order_id="o1",
            visit_id=first,
            technician_id="t1",
            reason=RepairFailureReason.MISSING_PART,
        )
    )
    await harness.feed(
        VisitClosed(
            order_id="o1",
            visit_id=first,
            technician_id="t1",
            outcome=VisitOutcome.UNFINISHED,
            closed_at=harness.clock.now,
        )
    )
    order = await harness.order("o1")
    assert order["visit_id"] != first and order["status"] != "visit_done"


def _reports_of_a_visit(visit_id: str, at: Any) -> dict[str, Any]:
    common = {"order_id": "o1", "visit_id": visit_id, "technician_id": "t1"}
    return {
        "departed": TechnicianDeparted(**common, eta=at),
        "arrived": TechnicianArrived(**common, arrived_at=at),
        "repaired": RepairCompleted(**common, tested=True, sure_fixed=True, on_site_minutes=5),
        "installed": InstallationCompleted(**common, installed_on=at.date()),
        "failed": RepairFailed(**common, reason=RepairFailureReason.MISSING_PART),
        "not_home": CustomerNotHome(**common, arrived_at=at, waited_minutes=6, phoned=True),
        "closed": VisitClosed(**common, outcome=VisitOutcome.COMPLETED, closed_at=at),
    }


# An arrival is the exception: the postponement crossed it, and the technician on site keeps the
# visit (SCH-10; test_visit_under_way.py, "an arrival crossing a postponement").
@pytest.mark.parametrize(
    "report", [r for r in _reports_of_a_visit("v", local(9)) if r != "arrived"]
)
async def test_sch_10_an_earlier_visits_report_leaves_the_visit_after_it_alone(
    harness: Harness, report: str
) -> None:
    await harness.add_technician("t1")
    await harness.add_technician("t2", home=near(DONGYING, north_km=1))
    await harness.feed(created("o1"))
    first = (await harness.order("o1"))["visit_id"]
    postponed = await harness.client.post(
        "/v1/orders/o1/postponement", json={"reason": "customer called"}
    )
    assert postponed.status_code == 200, postponed.text
    assert (await _assign(harness, "o1", "t2", reason="next visit")).status_code == 200
    before = await harness.order("o1")
    assert before["visit_id"] != first

    await harness.feed(_reports_of_a_visit(first, harness.clock.now)[report])

    after = await harness.order("o1")
    assert after == before
    assert len(await harness.published("RevisitBooked")) == 1  # the postponement's, no other
    assert await harness.published("ArrivalLate") == []


async def test_sch_10_a_postponement_returns_the_order_to_the_centre(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    tech = await harness.key("technician", technician_id="t1")
    response = await harness.client.post(
        "/v1/orders/o1/postponement", json={"reason": "出差"}, headers=tech
    )
    assert response.status_code == 200
    assert (
        response.json()["status"] == "awaiting_assignment" and len(response.json()["visits"]) == 2
    )
    returned = (await harness.published("OrderReturnedToCentre"))[0]
    assert returned.reason is ReturnReason.CUSTOMER_POSTPONED and returned.detail == "出差"


async def test_sch_11_product_elsewhere_without_going_now_rebooks_a_visit(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    tech = await harness.key("technician", technician_id="t1")
    where = near(DONGYING, north_km=3).model_dump()
    go = await harness.client.post(
        "/v1/orders/o1/relocation",
        json={"location": where, "go_now": True, "customer_consent": True},
        headers=tech,
    )
    assert (
        go.status_code == 200 and go.json()["location"] == where and len(go.json()["visits"]) == 1
    )
    later = await harness.client.post(
        "/v1/orders/o1/relocation",
        json={"location": where, "go_now": False, "customer_consent": True, "note": "at the shop"},
        headers=tech,
    )
    assert later.status_code == 200 and len(later.json()["visits"]) == 2
    assert (await harness.published("RevisitBooked"))[0].reason is RevisitReason.OTHER


async def test_fbk_7_a_dissatisfied_customer_gets_a_revisit_assigned_again(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    await harness.feed(RevisitRequested(order_id="o1", reason="still leaking"))
    revisit = (await harness.published("RevisitBooked"))[0]
    assert revisit.reason is RevisitReason.CUSTOMER_DISSATISFIED
    assigned = await harness.published("OrderAssigned")
    assert [e.visit_id for e in assigned][-1] == revisit.visit_id


async def test_int_4_guidance_found_not_solved_at_the_call_back_gets_a_visit(
    harness: Harness,
) -> None:
    from contracts.intake import OrderResolvedRemotely

    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    await harness.feed(OrderResolvedRemotely(order_id="o1", guidance="reset the breaker"))
    assert (await harness.order("o1"))["status"] == "closed_remotely"

    await harness.feed(RevisitRequested(order_id="o1", reason="problem not solved at call-back"))

    [revisit] = await harness.published("RevisitBooked")
    assert revisit.reason is RevisitReason.CUSTOMER_DISSATISFIED
    assert [e.visit_id for e in await harness.published("OrderAssigned")][-1] == revisit.visit_id
    assert (await harness.order("o1"))["status"] == "assigned"


# -- INT-7 / INT-8: an open order reported again as an emergency -------------------------------


async def test_int_7_an_escalated_duplicate_is_placed_again_as_an_emergency(
    harness: Harness,
) -> None:
    from contracts.common import Channel
    from contracts.intake import DuplicateLinked

    await harness.add_technician("far", home=near(DONGYING, north_km=15))
    await harness.add_technician("near", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(16)]))
    booked = await harness.order("o1")
    assert booked["status"] == "assigned" and not booked["emergency"]
    harness.clock.now = local(10)
    await harness.feed(
        DuplicateLinked(
            order_id="o1",
            reported_at=local(10),
            channel=Channel.HOTLINE,
            fault_description="现在闻到燃气味",
            linked_by="agent-1",
            escalated_to_emergency=True,
        )
    )
    order = await harness.order("o1")
    assert order["emergency"] is True and order["status"] == "assigned"
    assert order["appointment"]["end"] == (local(10) + timedelta(minutes=15)).isoformat().replace(
        "+00:00", "Z"
    )
    returned = await harness.published("OrderReturnedToCentre")
    assert [r.order_id for r in returned] == ["o1"] and "emergency" in (returned[0].detail or "")
    assert [e.order_id for e in await harness.published("OrderAssigned")] == ["o1", "o1"]


async def test_int_8_an_ordinary_duplicate_changes_nothing_in_dispatch(harness: Harness) -> None:
    from contracts.common import Channel
    from contracts.intake import DuplicateLinked

    await harness.add_technician("t1", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1"))
    before = await harness.order("o1")
    await harness.feed(DuplicateLinked(order_id="o1", reported_at=local(10), channel=Channel.WEB))
    after = await harness.order("o1")
    assert after["status"] == before["status"] and after["technician_id"] == "t1"
    assert not after["emergency"]
    assert await harness.published("OrderReturnedToCentre") == []


# -- SCH-1 daily capacity ----------------------------------------------------------------------


async def test_sch_1_sch_3_a_preferred_window_already_over_does_not_stop_the_next_being_tried(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    tomorrow = window(14, day=1)
    await harness.feed(
        created("o1", needs_verification=["purchase_date"], preferred=[window(9), tomorrow])
    )
    harness.clock.now = local(12)  # verified only after the first window ended

    await harness.feed(OrderVerified(order_id="o1", verified=["purchase_date"]))

    order = await harness.order("o1")
    assert order["technician_id"] == "t1"
    assert TimeWindow.model_validate(order["appointment"]) == tomorrow


async def test_sch_1_auto_assignment_passes_over_a_technician_off_today(harness: Harness) -> None:
    await harness.add_technician("off", days_off=["2026-11-23"])
    await harness.add_technician("on", home=near(DONGYING, north_km=5))
    await harness.feed(created("o1"))  # "on" holds one job, "off" none

    for order_id in ("o2", "o3"):
        await harness.feed(created(order_id))

    assert {(await harness.order(o))["technician_id"] for o in ("o1", "o2", "o3")} == {"on"}


async def test_sch_1_on_a_sunday_the_order_goes_at_once_to_a_technician_for_monday(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")  # Monday to Saturday
    harness.clock.now = local(10, day=-1)

    await harness.feed(created("o1"))

    assert (await harness.order("o1"))["technician_id"] == "t1"
    [assigned] = await harness.published("OrderAssigned")
    assert "Monday 2026-11-23" in assigned.reason, assigned.reason


async def test_sch_1_a_preferred_window_goes_to_no_technician_already_full_that_day(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", capacity=1)
    await harness.feed(created("o1", preferred=[window(9)]))
    await harness.feed(created("o2", preferred=[window(15)]))
    await harness.feed(created("tomorrow", preferred=[window(9, day=1)]))

    assert (await harness.order("o1"))["technician_id"] == "t1"
    # t1 could reach o2 at 15:00, but one job a day is all he takes: o2 is his tomorrow's,
    # its time agreed on the call, and the window asked for tomorrow finds that day full too
    assigned = {e.order_id: e for e in await harness.published("OrderAssigned")}
    assert assigned["o2"].appointment is None and "Tuesday" in assigned["o2"].reason
    assert assigned["tomorrow"].appointment is None
    assert "Wednesday" in assigned["tomorrow"].reason


async def test_sch_1_booking_a_window_passes_over_a_technician_full_that_day(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", capacity=1)
    dispatcher = await harness.key("dispatcher")
    await harness.feed(created("o1", preferred=[window(9)]))
    await harness.feed(created("o2"))  # placed with t1 for tomorrow: handed back to book it
    await harness.client.post("/v1/orders/o2/assignment/cancellation", json={"reason": "book"})
    assert (await harness.order("o2"))["technician_id"] is None

    full = await harness.client.post(
        "/v1/orders/o2/appointment", json=_w(window(15)), headers=dispatcher
    )
    assert full.status_code == 409, full.text
    assert all(a["start"] != window(15).start.isoformat() for a in full.json()["alternatives"])
    await harness.add_technician("t2", capacity=1)  # as near as t1, listed after him
    booked = await harness.client.post(
        "/v1/orders/o2/appointment", json=_w(window(15)), headers=dispatcher
    )
    assert booked.status_code == 200, booked.text
    assert booked.json()["technician_id"] == "t2"


async def test_sch_1_jobs_booked_for_later_days_do_not_fill_a_technicians_today(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", capacity=1)
    await harness.feed(created("tomorrow", preferred=[window(9, day=1)]))
    assert (await harness.order("tomorrow"))["technician_id"] == "t1"

    await harness.feed(created("today"))  # no window: its time is agreed on the call (SCH-2)
    await harness.feed(created("also-today"))

    assert (await harness.order("today"))["technician_id"] == "t1"
    # t1's today is full, his tomorrow booked: the next day he has room
    assigned = {e.order_id: e for e in await harness.published("OrderAssigned")}
    assert "Wednesday 2026-11-25" in assigned["also-today"].reason
    assert "2026-11" not in assigned["today"].reason
