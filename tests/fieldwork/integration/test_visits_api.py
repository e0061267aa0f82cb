"""The technicians' API against a real database (SQLite and PostgreSQL): visits made from
scheduling's events, the rules of FLD-1..FLD-15 through REST and the offline batch, the events
staged in the outbox."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contracts.common import (
    AssigneeKind,
    ServiceType,
    WarrantyStatus,
)
from contracts.envelope import EventEnvelope
from contracts.identity import Role
from contracts.registry import parse_data
from contracts.scheduling import OrderAssigned, RevisitBooked, RevisitReason
from fieldwork.adapters.report import find_cjk_font
from fieldwork.domain.policy import DEFAULT_KIT
from servicekit.auth import generate_key, issued_event
from servicekit.db import aware
from servicekit.idempotency import IdempotencyRecord
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

from ..conftest import (
    ADMIN_KEY,
    PNG,
    T0,
    Clock,
    act,
    igniter_quote,
    offline_departure,
    offline_item,
    ok,
    on_site,
    order,
    outbox,
    published,
    upload,
)

SHANGHAI = timezone(timedelta(hours=8))


def _client(runtime: ServiceRuntime, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://fieldwork",
        headers={"Authorization": f"Bearer {key}"},
    )


async def issue_key(runtime: ServiceRuntime, role: Role, technician_id: str | None = None) -> str:
    raw = generate_key()
    await runtime.handle_event(
        EventEnvelope.wrap(
            issued_event(
                key_id=str(uuid.uuid4()),
                raw_key=raw,
                role=role,
                name=f"a {role}",
                network_id=None,
                technician_id=technician_id,
                expires_at=None,
            )
        )
    )
    return raw


async def test_visits_come_from_scheduling_and_technicians_see_only_their_own(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1")
    await runtime.handle_event(
        EventEnvelope.wrap(
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.MISSING_PART,
                technician_id="tech-8",
            )
        )
    )
    mine, other = (
        await issue_key(runtime, "technician", "tech-7"),
        await issue_key(runtime, "technician", "tech-8"),
    )
    async with _client(runtime, mine) as tech7, _client(runtime, other) as tech8:
        listed = (await tech7.get("/v1/visits")).json()["items"]
        assert [v["visit_id"] for v in listed] == ["v-1"]
        assert listed[0]["state"] == "scheduled" and listed[0]["allowed"] == ["depart"]
        assert listed[0]["job_type"] == "water_heater"

        assert (await tech8.get("/v1/visits/v-1")).status_code == 404
        foreign = await act(tech8, "v-1", type="depart", eta=T0.isoformat(), kit_checked=[])
        assert foreign.status_code == 404
        assert foreign.headers["content-type"].startswith("application/problem+json")
        assert [v["visit_id"] for v in (await tech8.get("/v1/visits")).json()["items"]] == ["v-2"]

    visits = (await admin.get("/v1/visits", params={"order_id": "o-1"})).json()["items"]
    assert [v["visit_id"] for v in visits] == ["v-1", "v-2"]


async def test_an_illegal_transition_answers_409_with_the_allowed_actions(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1")

    response = await act(admin, "v-1", type="arrive")

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["state"] == "scheduled" and body["allowed"] == ["depart"]


async def test_fld_1_departure_checks_the_kit_and_takes_a_loaner_from_the_inventory(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", loaner_required=True)
    eta = (T0 + timedelta(minutes=30)).isoformat()

    refused = await act(admin, "v-1", type="depart", eta=eta, kit_checked=list(DEFAULT_KIT))
    assert refused.status_code == 409
    assert refused.json()["rule"] == "FLD-1" and refused.json()["missing"] == ["loaner"]
    unknown = await act(
        admin, "v-1", type="depart", eta=eta, kit_checked=list(DEFAULT_KIT), loaner_serial="L-404"
    )
    assert unknown.status_code == 409

    assert (
        await admin.post("/v1/loaners", json={"serial": "L-1", "product_line": "water_heater"})
    ).status_code == 201
    await ok(
        admin, "v-1", type="depart", eta=eta, kit_checked=list(DEFAULT_KIT), loaner_serial="L-1"
    )

    loaners = (await admin.get("/v1/loaners")).json()["items"]
    assert [(x["serial"], x["state"]) for x in loaners] == [("L-1", "on_board")]
    departed = [e for e in await outbox(runtime) if e.event_name == "TechnicianDeparted"]
    assert departed[0].data["loaner_on_board"] is True


async def test_fld_2_an_action_taken_now_is_published_at_the_services_clock_time(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # the envelope's time is when the fact happened: the time the domain stamps on it
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    arrived = [e for e in await outbox(runtime) if e.event_name == "TechnicianArrived"]
    assert [e.time for e in arrived] == [T0 + timedelta(minutes=30)]
    assert datetime.fromisoformat(arrived[0].data["arrived_at"]) == arrived[0].time


async def test_fld_2_fld_11_actions_synced_late_are_published_at_the_time_they_happened(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # Logged offline, some before the dispatcher entered the assignment, synced an hour later:
    # each envelope carries when it happened, not the sync (no cancellation involved).
    await order(runtime, "o-1")
    left = clock.now - timedelta(minutes=30)
    arrived_at = left + timedelta(minutes=40)
    batch = [
        offline_item(
            "c-1",
            left,
            type="depart",
            eta=arrived_at.isoformat(),
            kit_checked=list(DEFAULT_KIT),
        ),
        offline_item("c-2", arrived_at, type="arrive"),
    ]
    clock.now = arrived_at + timedelta(hours=1)
    response = await admin.post("/v1/offline/batches", json={"actions": batch})

    assert [r["status"] for r in response.json()["results"]] == ["applied", "applied"]
    events = {e.event_name: e for e in await outbox(runtime)}
    assert events["TechnicianDeparted"].time == left
    assert events["TechnicianArrived"].time == arrived_at
    assert datetime.fromisoformat(events["TechnicianArrived"].data["arrived_at"]) == arrived_at


async def test_fld_1_an_installation_takes_the_installation_kit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", service_type=ServiceType.INSTALLATION)
    eta = (T0 + timedelta(minutes=30)).isoformat()

    refused = await act(admin, "v-1", type="depart", eta=eta, kit_checked=list(DEFAULT_KIT))
    assert refused.status_code == 409
    assert refused.json()["rule"] == "FLD-1"
    assert refused.json()["missing"] == ["barcode_scanner", "installation_accessories"]
    kit = [*DEFAULT_KIT, "barcode_scanner", "installation_accessories"]
    await ok(admin, "v-1", type="depart", eta=eta, kit_checked=kit)


async def knock_through_the_wait(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock, visit_id: str
) -> None:
    """FLD-2: knock (and log it) once per knock interval of the policy's wait."""
    policy = runtime.app.state.policy
    end = clock.now + timedelta(minutes=policy.not_home_after_minutes)
    while clock.now < end:
        await ok(client, visit_id, type="log_attempt", kind="door")
        clock.advance(seconds=policy.door_knock_interval_seconds)


async def test_fld_2_not_home_is_refused_too_early_without_knocking_or_without_a_phone_call(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    policy = runtime.app.state.policy
    await order(runtime, "o-1")
    await ok(admin, "v-1", type="depart", eta=T0.isoformat(), kit_checked=list(DEFAULT_KIT))
    await ok(admin, "v-1", type="arrive")
    await ok(admin, "v-1", type="log_attempt", kind="door")
    clock.advance(minutes=policy.not_home_after_minutes - 1)
    early = await act(admin, "v-1", type="not_home", note="请回电")
    assert early.status_code == 409 and early.json()["rule"] == "FLD-2"
    clock.advance(minutes=1)
    await ok(admin, "v-1", type="log_attempt", kind="phone")
    unknocked = await act(admin, "v-1", type="not_home", note="请回电")
    assert unknocked.status_code == 409
    assert unknocked.headers["content-type"].startswith("application/problem+json")
    problem = unknocked.json()
    assert problem["rule"] == "FLD-2" and "Knock again" in problem["detail"]
    assert problem["knock_interval_seconds"] == policy.door_knock_interval_seconds
    assert problem["unknocked_from"]

    await knock_through_the_wait(runtime, admin, clock, "v-1")
    unphoned = await act(admin, "v-1", type="not_home", note="请回电")
    assert unphoned.status_code == 409 and "Phone" in unphoned.json()["detail"]

    await ok(admin, "v-1", type="log_attempt", kind="phone")
    note = await upload(admin, "v-1", "note")
    body = await ok(admin, "v-1", type="not_home", note_photo_ref=note, neighbours_asked=True)

    assert body["state"] == "not_home" and body["not_home_note_ref"] == note
    assert (await published(runtime))[-2:] == ["CustomerNotHome", "VisitClosed"]


async def test_fld_4_the_customer_declines_while_billings_quote_is_awaited(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    waiting = await ok(
        admin, "v-1", type="diagnose", cause="点火针老化", parts=[{"part_no": "P-1", "name": "针"}]
    )
    assert waiting["state"] == "awaiting_consent" and "decline_quote" in waiting["allowed"]
    requested = parse_data(
        next(e for e in await outbox(runtime) if e.event_name == "QuoteRequested")
    )

    clock.advance(minutes=15)
    body = await ok(admin, "v-1", type="decline_quote", reason="不等了")
    await runtime.handle_event(
        EventEnvelope.wrap(igniter_quote(requested.request_id))  # type: ignore[attr-defined]
    )

    assert body["state"] == "declined"
    after = (await admin.get("/v1/visits/v-1")).json()
    assert after["state"] == "declined" and after["quote"]["status"] == "declined"
    assert after["quote"]["quote_id"] is None
    names = await published(runtime)
    assert "QuoteDeclined" not in names and names[-1] == "VisitClosed"
    closed = next(e for e in await outbox(runtime) if e.event_name == "VisitClosed")
    assert closed.data["outcome"] == "declined" and closed.data["paid_work"] is False


async def test_fld_4_fld_5_a_visit_awaiting_the_quote_fails_and_is_rebooked(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="c", parts=[{"part_no": "P-1", "name": "针"}])

    body = await ok(admin, "v-1", type="fail", reason="needs_second_visit", detail="收费标准未发布")

    assert body["state"] == "failed"
    assert (await published(runtime))[-2:] == ["RepairFailed", "VisitClosed"]


async def test_fld_4_work_marked_chargeable_on_an_in_warranty_unit_is_quoted_as_not_covered(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.IN_WARRANTY)
    await on_site(admin, clock, "v-1")

    body = await ok(
        admin,
        "v-1",
        type="diagnose",
        cause="人为损坏",
        chargeable=True,
        work_items=[
            {"kind": "fee", "description": "维修工时", "fee_code": "W02"},
            {"kind": "part", "description": "点火针", "part_no": "P-1"},
            {
                "kind": "part",
                "description": "密封圈",
                "part_no": "P-2",
                "covered_by_warranty": True,
            },
        ],
    )

    assert body["state"] == "awaiting_consent"
    requested = next(e for e in await outbox(runtime) if e.event_name == "QuoteRequested")
    assert requested.data["warranty_status"] == "in_warranty"
    assert [i["covered_by_warranty"] for i in requested.data["items"]] == [False, False, True]


async def test_fld_4_out_of_warranty_repair_needs_billings_quote_and_a_signed_acceptance(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    body = await ok(
        admin,
        "v-1",
        type="diagnose",
        cause="点火针老化",
        parts=[{"part_no": "P-1", "name": "点火针"}],
    )
    assert body["state"] == "awaiting_consent"
    requested = next(e for e in await outbox(runtime) if e.event_name == "QuoteRequested")
    request = parse_data(requested)

    for action in (
        {"type": "start_repair"},
        {"type": "complete_repair", "tested": False, "sure_fixed": True},
    ):
        refused = await act(admin, "v-1", **action)
        assert refused.status_code == 409 and refused.json()["rule"] == "FLD-4"
    early = await act(admin, "v-1", type="accept_quote", quote_id="q-1", signature_ref="x")
    assert early.status_code == 409

    await runtime.handle_event(
        EventEnvelope.wrap(igniter_quote(request.request_id))  # type: ignore[attr-defined]
    )
    unsigned = await act(admin, "v-1", type="accept_quote", quote_id="q-1", signature_ref="x")
    assert unsigned.status_code == 409
    signature = await upload(admin, "v-1", "signature")
    await ok(admin, "v-1", type="accept_quote", quote_id="q-1", signature_ref=signature)
    clock.advance(minutes=20)
    done = await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)

    assert done["state"] == "completed"
    names = await published(runtime)
    assert names.index("QuoteAccepted") < names.index("RepairCompleted")
    closed = next(e for e in await outbox(runtime) if e.event_name == "VisitClosed")
    assert closed.data["paid_work"] is True


async def test_fld_4_the_offline_batch_cannot_complete_an_unconsented_repair_either(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    t = T0 + timedelta(minutes=1)

    def item(cid: str, minutes: int, **action: Any) -> dict[str, Any]:
        return {
            "client_id": cid,
            "visit_id": "v-1",
            "occurred_at": (t + timedelta(minutes=minutes)).isoformat(),
            "action": action,
        }

    batch = [
        item("c-5", 60, type="complete_repair", tested=False, sure_fixed=True),
        item("c-1", 0, type="depart", eta=T0.isoformat(), kit_checked=list(DEFAULT_KIT)),
        item("c-2", 30, type="arrive"),
        item(
            "c-3",
            31,
            type="door_outcome",
            outcome="customer_present",
            next_step="proceed",
            id_shown=True,
        ),
        item(
            "c-4",
            40,
            type="diagnose",
            cause="点火针老化",
            parts=[{"part_no": "P-1", "name": "点火针"}],
        ),
    ]
    clock.advance(hours=3)
    response = await admin.post("/v1/offline/batches", json={"actions": batch})

    assert response.status_code == 200, response.text
    results = {r["client_id"]: r for r in response.json()["results"]}
    assert [results[c]["status"] for c in ("c-1", "c-2", "c-3", "c-4")] == ["applied"] * 4
    assert results["c-5"]["status"] == "refused"
    assert results["c-5"]["problem"]["rule"] == "FLD-4"
    assert "RepairCompleted" not in await published(runtime)
    arrived = next(e for e in await outbox(runtime) if e.event_name == "TechnicianArrived")
    assert arrived.data["arrived_at"] == (t + timedelta(minutes=30)).isoformat().replace(
        "+00:00", "Z"
    )

    replay = await admin.post("/v1/offline/batches", json={"actions": batch[1:3]})
    assert [r["status"] for r in replay.json()["results"]] == ["duplicate", "duplicate"]
    assert (await published(runtime)).count("TechnicianArrived") == 1

    late = await admin.post(
        "/v1/offline/batches",
        json={"actions": [item("c-9", 35, type="escalate", description="E9")]},
    )
    refused = late.json()["results"][0]
    assert refused["status"] == "refused" and "Out of order" in refused["reason"]


async def test_an_offline_client_id_reused_for_a_different_action_is_refused_not_duplicate(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    left = clock.now - timedelta(minutes=30)
    depart = offline_departure("c-1", left, eta_in=timedelta(minutes=20))
    first = await admin.post(
        "/v1/offline/batches",
        json={"actions": [depart, offline_item("c-1", left + timedelta(minutes=1), type="arrive")]},
    )
    arrive = offline_item("c-1", left + timedelta(minutes=20), type="arrive")
    reused = await admin.post("/v1/offline/batches", json={"actions": [arrive]})
    # the same action, its time written in another zone, is a replay
    same = {**depart, "occurred_at": left.astimezone(SHANGHAI).isoformat()}
    replayed = await admin.post("/v1/offline/batches", json={"actions": [same]})

    assert [r["status"] for r in first.json()["results"]] == ["applied", "refused"]
    [refused] = reused.json()["results"]
    assert refused["status"] == "refused" and refused["type"] == "arrive"
    assert "client_id c-1 reused for a different action" in refused["reason"]
    assert refused["problem"] == {"rule": "offline", "client_id": "c-1"}
    assert [r["status"] for r in replayed.json()["results"]] == ["duplicate"]
    assert (await admin.get("/v1/visits/v-1")).json()["state"] == "departed"
    assert "TechnicianArrived" not in await published(runtime)


async def test_take_back_journey_lends_a_loaner_returns_the_unit_and_reclaims_the_loaner(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", loaner_required=True)
    await admin.post("/v1/loaners", json={"serial": "L-1", "product_line": "water_heater"})
    await ok(
        admin,
        "v-1",
        type="depart",
        eta=T0.isoformat(),
        kit_checked=list(DEFAULT_KIT),
        loaner_serial="L-1",
    )
    clock.advance(minutes=30)
    await ok(admin, "v-1", type="arrive")
    await ok(
        admin,
        "v-1",
        type="door_outcome",
        outcome="customer_present",
        next_step="proceed",
        id_shown=True,
    )
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    photo = await upload(admin, "v-1", "photo")
    await ok(
        admin,
        "v-1",
        type="take_back",
        receipt_number="R-100",
        appearance="外壳有划痕",
        photo_refs=[photo],
        promised_return_date="2026-03-09",
        unit_serial="SN-1",
    )

    loaner = (await admin.get("/v1/loaners")).json()["items"][0]
    assert (loaner["state"], loaner["receipt_number"], loaner["due_back"]) == (
        "lent",
        "R-100",
        "2026-03-09",
    )
    progress = await admin.post(
        "/v1/take-backs/R-100/progress", json={"stage": "repaired", "note": "换主板"}
    )
    assert progress.json()["progress"][0]["stage"] == "repaired"
    [step] = [e for e in await outbox(runtime) if e.event_name == "WorkshopProgressRecorded"]
    assert (step.subject, step.data["receipt_number"], step.data["stage"]) == (
        "o-1",
        "R-100",
        "repaired",
    )
    assert step.data["note"] == "换主板" and step.data["promised_return_date"] == "2026-03-09"

    clock.now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    assert (await runtime.app.state.sweep())["overdue"] == 1
    assert (await runtime.app.state.sweep())["overdue"] == 0

    returned = await admin.post(
        "/v1/take-backs/R-100/return", json={"repaired": True, "loaner_recovered": True}
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["returned_at"] is not None
    loaner = (await admin.get("/v1/loaners")).json()["items"][0]
    assert (loaner["state"], loaner["order_id"]) == ("available", None)

    events = await outbox(runtime)
    names = [e.event_name for e in events]
    for step in (
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "UnitTakenBack",
        "UnitReturnOverdue",
        "UnitReturned",
    ):
        assert step in names
    back = parse_data(next(e for e in events if e.event_name == "UnitReturned"))
    assert back.loaner_recovered is True and back.on_time is False  # type: ignore[attr-defined]
    again = await admin.post("/v1/take-backs/R-100/return", json={"loaner_recovered": True})
    assert again.status_code == 409


async def test_fld_10_uploads_are_validated_and_stored_under_the_data_dir(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    await order(runtime, "o-1")
    wrong = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "photo"},
        content=b"%PDF-1.4",
        headers={"Content-Type": "application/pdf"},
    )
    lying = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "photo"},
        content=b"GIF89a....",
        headers={"Content-Type": "image/png"},
    )
    big = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "photo"},
        content=PNG + b"\x00" * (10 * 1024 * 1024),
        headers={"Content-Type": "image/png"},
    )
    assert (wrong.status_code, lying.status_code, big.status_code) == (415, 415, 413)

    ref = await upload(admin, "v-1", "photo")
    assert (tmp_path / "evidence" / ref).read_bytes() == PNG


async def test_fld_11_on_site_time_is_summed_over_the_orders_visits(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="缺配件")
    clock.advance(minutes=12, seconds=30)
    await ok(admin, "v-1", type="missing_part", option="rebook", detail="缺点火针")
    await runtime.handle_event(
        EventEnvelope.wrap(
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.MISSING_PART,
                technician_id="tech-7",
            )
        )
    )
    clock.advance(days=1)
    await on_site(admin, clock, "v-2")
    await ok(admin, "v-2", type="start_repair")
    clock.advance(minutes=20, seconds=15)
    await ok(admin, "v-2", type="complete_repair", tested=False, sure_fixed=True)

    body = (await admin.get("/v1/orders/o-1/visits")).json()
    assert [v["on_site_seconds"] for v in body["visits"]] == [750, 1215]
    assert body["total_on_site_seconds"] == 1965
    assert body["total_on_site_minutes"] == 32.75
    closed = [e for e in await outbox(runtime) if e.event_name == "VisitClosed"][-1]
    assert closed.data["service_seconds_total"] == 1965


async def test_fld_15_an_order_unfinished_at_the_end_of_the_day_gets_a_coordination_ticket(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")
    assert (await runtime.app.state.sweep())["tickets_opened"] == 0

    clock.advance(days=1)
    assert (await runtime.app.state.sweep())["tickets_opened"] == 1
    assert (await runtime.app.state.sweep())["tickets_opened"] == 0
    ticket = (await admin.get("/v1/coordination-tickets")).json()["items"][0]
    assert ticket["owner"] == "team_lead" and ticket["next_check_due"] == "2026-03-18"
    tid = ticket["ticket_id"]
    logged = await admin.post(
        f"/v1/coordination-tickets/{tid}/contacts", json={"by": "agent-1", "note": "约周六上午"}
    )
    assert logged.json()["contacts"][0]["note"] == "约周六上午"
    owner = await admin.put(f"/v1/coordination-tickets/{tid}/owner", json={"owner": "lead-2"})
    assert owner.json()["owner"] == "lead-2"

    clock.now = datetime(2026, 3, 18, 2, 0, tzinfo=UTC)
    assert (await runtime.app.state.sweep())["checks_due"] == 1
    checked = await admin.post(f"/v1/coordination-tickets/{tid}/checks", json={"by": "lead-2"})
    assert checked.json()["next_check_due"] == "2026-04-02"
    assert "CoordinationTicketOpened" in await published(runtime)
    assert "CoordinationCheckDue" in await published(runtime)


async def test_fld_15_public_area_work_has_three_days_before_a_coordination_ticket(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", public_area=True)
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")

    for _ in range(3):
        clock.advance(days=1)
        assert (await runtime.app.state.sweep())["tickets_opened"] == 0
    assert (await admin.get("/v1/coordination-tickets")).json()["items"] == []

    clock.advance(days=1)
    assert (await runtime.app.state.sweep())["tickets_opened"] == 1
    [ticket] = (await admin.get("/v1/coordination-tickets")).json()["items"]
    assert ticket["order_id"] == "o-1"


FONT = find_cjk_font()


@pytest.mark.skipif(
    FONT is None, reason="no CJK font installed (apt-get install fonts-wqy-microhei)"
)
async def test_the_service_report_is_a_chinese_pdf_with_what_was_done_and_charged(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    from pypdf import PdfReader

    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="点火针老化")
    await ok(admin, "v-1", type="start_repair")
    await ok(
        admin,
        "v-1",
        type="record_work",
        description="更换点火针",
        parts=[{"part_no": "P-1", "name": "点火针", "serial": "SN-77"}],
    )
    clock.advance(minutes=25)
    await ok(
        admin, "v-1", type="complete_repair", tested=False, sure_fixed=True, remedy="更换点火针"
    )
    await ok(
        admin,
        "v-1",
        type="sign_off",
        signed=False,
        repair_quality="satisfied",
        service_attitude="very_satisfied",
    )

    response = await admin.get("/v1/visits/v-1/report.pdf")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    for expected in (
        "上门服务报告",
        "王芳",
        "点火针老化",
        "更换点火针",
        "SN-77",
        "未试机",
        "客户拒绝签字",
        "非常满意",
        "无收费",
    ):
        assert expected in text, expected


async def test_the_orders_events_route_still_lists_what_fieldwork_recorded(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1")

    body = (await admin.get("/v1/orders/o-1/events")).json()

    assert [e["type"] for e in body["events"]] == ["OrderCreated", "OrderAssigned"]


async def test_take_back_journey_shows_every_step_on_the_orders_timeline_at_intake(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, tmp_path: Path
) -> None:
    from intake.bootstrap import bootstrap as intake_bootstrap
    from intake.settings import IntakeSettings

    intake = intake_bootstrap(
        IntakeSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}",
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
        )
    )
    await intake.migrate()
    try:
        async with _client(intake, ADMIN_KEY) as desk:
            created = await desk.post(
                "/v1/orders",
                json={
                    "customer": {"name": "王芳", "phone": "13800138000", "address": "西四路100号"},
                    "product": {
                        "line": "water_heater",
                        "model": "JSQ24",
                        "purchase_date": "2025-03-01",
                    },
                    "fault": {"description": "热水器打不着火"},
                    "channel": "hotline",
                },
            )
            assert created.status_code == 201, created.text
            order_id = created.json()["id"]
            async with intake.session_factory() as session:
                rows = (await session.execute(select(OutboxMessage))).scalars().all()
            for row in rows:
                await runtime.handle_event(EventEnvelope.model_validate_json(row.payload))
            assigned = EventEnvelope.wrap(
                OrderAssigned(
                    order_id=order_id,
                    visit_id="v-9",
                    assignee_kind=AssigneeKind.TECHNICIAN,
                    technician_id="tech-7",
                    assigned_by="dispatcher-1",
                )
            )
            await runtime.handle_event(assigned)
            await intake.handle_event(assigned)

            await admin.post("/v1/loaners", json={"serial": "L-1", "product_line": "water_heater"})
            await ok(
                admin,
                "v-9",
                type="depart",
                eta=T0.isoformat(),
                kit_checked=list(DEFAULT_KIT),
                loaner_serial="L-1",
            )
            clock.advance(minutes=30)
            await ok(admin, "v-9", type="arrive")
            await ok(
                admin,
                "v-9",
                type="door_outcome",
                outcome="customer_present",
                next_step="proceed",
                id_shown=True,
            )
            await ok(admin, "v-9", type="diagnose", cause="主板故障", take_back_needed=True)
            photo = await upload(admin, "v-9", "photo")
            await ok(
                admin,
                "v-9",
                type="take_back",
                receipt_number="R-9",
                appearance="完好",
                photo_refs=[photo],
                promised_return_date="2026-03-09",
            )
            clock.advance(days=3)
            returned = await admin.post(
                "/v1/take-backs/R-9/return", json={"loaner_recovered": True}
            )
            assert returned.status_code == 200, returned.text
            assert (await admin.get("/v1/loaners")).json()["items"][0]["state"] == "available"

            for envelope in await outbox(runtime):
                await intake.handle_event(envelope)
            timeline = (await desk.get(f"/v1/orders/{order_id}")).json()["timeline"]
    finally:
        await intake.engine.dispose()

    steps = [entry["type"] for entry in timeline]
    for step in (
        "OrderCreated",
        "OrderAssigned",
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "UnitTakenBack",
        "VisitClosed",
        "UnitReturned",
    ):
        assert step in steps, step


async def test_idempotency_keys_are_kept_as_long_as_the_policy_says(
    runtime: ServiceRuntime,
    admin: httpx.AsyncClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await order(runtime, "o-1")
    policy = runtime.app.state.policy.model_copy(update={"idempotency_key_ttl_hours": 2})
    monkeypatch.setattr(runtime.app.state, "policy", policy)
    departed = await admin.post(
        "/v1/visits/v-1/actions",
        json={
            "action": {
                "type": "depart",
                "eta": (clock.now + timedelta(minutes=30)).isoformat(),
                "kit_checked": list(DEFAULT_KIT),
            }
        },
        headers={"Idempotency-Key": "depart-1"},
    )
    assert departed.status_code == 200, departed.text
    async with runtime.session_factory() as session:
        [record] = (await session.execute(select(IdempotencyRecord))).scalars().all()
    assert aware(record.expires_at) - aware(record.created_at) == timedelta(hours=2)


async def test_workshop_progress_retried_with_its_idempotency_key_is_recorded_once(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    await ok(
        admin,
        "v-1",
        type="take_back",
        receipt_number="R-7",
        appearance="外壳完好",
        photo_refs=[await upload(admin, "v-1", "photo")],
        promised_return_date="2026-03-09",
        unit_serial="SN-7",
    )
    key = {"Idempotency-Key": "progress-1"}
    step = {"stage": "repaired", "note": "换主板"}

    first = await admin.post("/v1/take-backs/R-7/progress", json=step, headers=key)
    assert first.status_code == 200, first.text
    retry = await admin.post("/v1/take-backs/R-7/progress", json=step, headers=key)
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len((await admin.get("/v1/take-backs/R-7")).json()["progress"]) == 1
    recorded = [e for e in await outbox(runtime) if e.event_name == "WorkshopProgressRecorded"]
    assert len(recorded) == 1

    other = await admin.post(
        "/v1/take-backs/R-7/progress", json={"stage": "tested", "note": None}, headers=key
    )
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert len((await admin.get("/v1/take-backs/R-7")).json()["progress"]) == 1

    # A refused request stores no answer (its transaction rolled back): the retry is refused
    # again by the domain, not replayed.
    for _ in range(2):
        missing = await admin.post("/v1/take-backs/R-404/progress", json=step, headers=key)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert "Idempotent-Replayed" not in missing.headers
