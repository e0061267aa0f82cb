"""The daily sampling job on a real database (FBK-4) and the complaint loop over REST (INT-9,
FBK-9, FBK-10), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import httpx
import yaml
from feedback_support import (
    ADMIN_KEY,
    MONDAY,
    Clock,
    Harness,
    assigned,
    closed,
    created,
    local,
    paid,
    returned,
    taken_back,
)
from sqlalchemy import select

from contracts.common import Channel, Fault
from contracts.fieldwork import VisitOutcome
from contracts.intake import DuplicateLinked, OrderCancelled, OrderVerified
from feedback.bootstrap import bootstrap
from feedback.domain.policy import FeedbackPolicy
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from feedback.settings import FeedbackSettings
from servicekit.idempotency import IdempotencyRecord

THURSDAY = MONDAY + timedelta(days=3)
SUNDAY = MONDAY - timedelta(days=1)


async def test_fbk_4_the_daily_job_samples_work_done_3_to_5_days_earlier_once_with_reasons(
    harness: Harness,
) -> None:
    await harness.emit(created("o-own"))  # no brand recorded: our own product
    await harness.completed_visit("o-own", "v-own", "tech-0", at=local(MONDAY, 10))
    for i in range(20):
        order = f"o-other-{i}"
        await harness.emit(created(order, brand="OtherBrand"))
        await harness.completed_visit(order, f"v-{i}", f"tech-{i % 4}", at=local(MONDAY, 11))
    await harness.emit(created("o-recent", brand="OtherBrand"))
    await harness.completed_visit("o-recent", "v-recent", "tech-1", at=local(THURSDAY, 7))
    sweep = harness.runtime.app.state.sweep

    harness.clock.set(local(THURSDAY, 7, 30))  # before the draw's hour
    assert (await sweep())["sampled"] is None
    harness.clock.set(local(THURSDAY, 8, 30))
    assert (await sweep())["sampled"] == 3
    assert (await sweep())["sampled"] is None  # once a day

    sampled = (await harness.client.get("/v1/call-backs", params={"rule": "FBK-4"})).json()["items"]
    own = [t for t in sampled if t["order_id"] == "o-own"]
    others = [t for t in sampled if t["order_id"] != "o-own"]
    assert len(own) == 1 and own[0]["selection"]["rate_percent"] == 100
    assert own[0]["selection"]["business_type"] == "own_brand_repair"
    assert len(others) == 2  # 10 % of 20
    assert {t["selection"]["rate_percent"] for t in others} == {10}
    assert {t["selection"]["population"] for t in others} == {20}
    assert len({t["technician_id"] for t in others}) == 2  # spread over technicians
    assert all(t["selection"]["stratum"] == t["technician_id"] for t in others)
    assert "o-recent" not in {t["order_id"] for t in sampled}

    rerun = await harness.client.post("/v1/sampling/runs", json={"day": THURSDAY.isoformat()})
    assert rerun.status_code == 409
    scheduled = [s for s in await harness.staged("FollowUpScheduled") if s.reason_rule == "FBK-4"]
    assert len(scheduled) == 3


async def test_fbk_4_a_day_written_as_a_number_is_refused_not_read_as_1970(
    harness: Harness,
) -> None:
    for day in (0, "0", 1764547200):
        refused = await harness.client.post("/v1/sampling/runs", json={"day": day})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "day"
    figures = await harness.client.get(
        "/v1/quality-figures", params={"start": "1764547200", "end": "2026-11-24"}
    )
    assert figures.status_code == 422, figures.text


async def test_fbk_4_a_paid_take_back_repair_is_sampled_from_the_day_its_unit_came_back(
    harness: Harness,
) -> None:
    ten = local(MONDAY, 10)
    await harness.emit(created("o-tb", brand="OtherBrand"), ten - timedelta(hours=5))
    await harness.emit(assigned("o-tb", "v-1", "tech-1"), ten - timedelta(hours=2))
    await harness.emit(taken_back("o-tb", "v-1", "tech-1"), ten)
    await harness.emit(
        closed("o-tb", "v-1", "tech-1", ten, outcome=VisitOutcome.TAKEN_BACK, paid=True), ten
    )
    harness.clock.set(local(THURSDAY, 9))
    while_in_workshop = await harness.client.post(
        "/v1/sampling/runs", json={"day": THURSDAY.isoformat()}
    )
    assert while_in_workshop.json()["considered"] == 0  # not done yet, so not in Monday's work

    await harness.emit(returned("o-tb", local(THURSDAY, 10)), local(THURSDAY, 10))
    harness.clock.set(local(THURSDAY + timedelta(days=3), 9))
    run = await harness.client.post(
        "/v1/sampling/runs", json={"day": (THURSDAY + timedelta(days=3)).isoformat()}
    )

    assert run.status_code == 201, run.text
    assert run.json()["by_type"] == {
        "paid_repair": {"population": 1, "selected": 1, "rate_percent": 100}
    }
    [pick] = (await harness.client.get("/v1/call-backs", params={"rule": "FBK-4"})).json()["items"]
    assert (pick["order_id"], pick["visit_id"], pick["technician_id"]) == ("o-tb", "v-1", "tech-1")


async def test_fbk_4_gas_leak_repairs_are_known_by_intakes_code_a_linked_report_or_verification(
    harness: Harness,
) -> None:
    ten = local(MONDAY, 10)
    coded = created("o-coded", brand="OtherBrand", emergency=True, fault="热水器有很重的煤气味")
    coded = coded.model_copy(
        update={"fault": Fault(description="热水器有很重的煤气味", code="gas_leak")}
    )
    await harness.emit(coded, ten - timedelta(hours=2))
    await harness.emit(
        created("o-linked", brand="OtherBrand", line="gas_stove", fault="打不着火"),
        ten - timedelta(hours=2),
    )
    await harness.emit(
        DuplicateLinked(
            order_id="o-linked",
            reported_at=ten - timedelta(hours=1),
            channel=Channel.HOTLINE,
            fault_description="闻到燃气味",
            escalated_to_emergency=True,
        ),
        ten - timedelta(hours=1),
    )
    await harness.emit(
        created("o-verified", brand="OtherBrand", fault="有异味"), ten - timedelta(hours=2)
    )
    await harness.emit(
        OrderVerified(
            order_id="o-verified",
            verified=["fault"],
            fault=Fault(description="燃气管接口漏气", code="gas_leak"),
        ),
        ten - timedelta(hours=1),
    )
    for i, order in enumerate(("o-coded", "o-linked", "o-verified")):
        await harness.completed_visit(order, f"v-{i}", f"tech-{i}", at=ten)
    harness.clock.set(local(THURSDAY, 9))

    run = await harness.client.post("/v1/sampling/runs", json={"day": THURSDAY.isoformat()})

    assert run.status_code == 201, run.text
    assert run.json()["by_type"] == {
        "gas_leak_repair": {"population": 3, "selected": 3, "rate_percent": 100}
    }


async def test_fbk_4_desk_business_is_sampled_at_its_share_balanced_over_the_desk_clerks(
    harness: Harness,
) -> None:
    for i in range(20):  # walk-in requests taken at the service hall by two clerks
        order = f"o-walk-in-{i}"
        await harness.emit(
            created(order, channel=Channel.WALK_IN, taken_by=f"clerk-{i % 2}"),
            at=local(MONDAY, 9),
        )
    await harness.emit(
        created("o-walk-in-cancelled", channel=Channel.WALK_IN, taken_by="clerk-0"),
        at=local(MONDAY, 9),
    )
    await harness.emit(
        OrderCancelled(order_id="o-walk-in-cancelled", reason="moved", cancelled_by="clerk-0"),
        at=local(MONDAY, 9, 30),
    )
    for i in range(10):  # payments taken at the desk by a third clerk
        order = f"o-hotline-{i}"
        await harness.emit(created(order), at=local(MONDAY, 9))
        payment = await harness.emit(
            paid(order, "80.00", by="clerk-2", at_desk=True), at=local(MONDAY, 10)
        )
    await harness.runtime.handle_event(payment)  # a redelivery adds no desk work
    await harness.emit(created("o-on-site"), at=local(MONDAY, 9))
    await harness.emit(paid("o-on-site", "80.00", by="tech-0", at_desk=False), at=local(MONDAY, 11))

    harness.clock.set(local(THURSDAY, 8, 30))
    assert (await harness.runtime.app.state.sweep())["sampled"] == 3

    sampled = (await harness.client.get("/v1/call-backs", params={"rule": "FBK-4"})).json()["items"]
    assert {t["selection"]["business_type"] for t in sampled} == {"desk_business"}
    assert {t["selection"]["population"] for t in sampled} == {30}  # not the cancelled one
    assert {t["selection"]["rate_percent"] for t in sampled} == {10}
    # One call-back per clerk: the sample is stratified by front-line worker.
    assert sorted(t["selection"]["clerk"] for t in sampled) == ["clerk-0", "clerk-1", "clerk-2"]
    assert all(t["selection"]["stratum"] == t["selection"]["clerk"] for t in sampled)
    by_clerk = {t["selection"]["clerk"]: t for t in sampled}
    assert by_clerk["clerk-2"]["selection"]["desk_work"] == "payment"
    assert by_clerk["clerk-0"]["selection"]["desk_work"] == "application"
    assert all(t["visit_id"] is None and t["technician_id"] is None for t in sampled)
    # Later draws balance on the clerks' call-backs, not on a technician they do not have.
    async with FeedbackUnitOfWork(harness.runtime.session_factory) as uow:
        counts = await uow.call_backs.sampled_counts_since(local(MONDAY, 0))
    assert counts == {"clerk-0": 1, "clerk-1": 1, "clerk-2": 1}


async def test_int_9_a_complaint_is_taken_at_any_hour_and_dispatched_only_once_confirmed(
    harness: Harness,
) -> None:
    await harness.emit(created("o-1"), local(SUNDAY, 1))
    await harness.emit(assigned("o-1", "v-1", "tech-1", "net-9"), local(SUNDAY, 2))
    harness.clock.set(local(SUNDAY, 3))  # 03:00 on a Sunday: not working time
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "letter",
            "description": "技师索要红包",
            "confirmed_by_customer": False,
            "order_id": "o-1",
            "level": 1,
            "staff_fault_class": "A",
            "technician_id": "tech-1",
            "network_id": "net-9",
        },
        headers={"Idempotency-Key": "letter-1"},
    )
    assert filed.status_code == 201, filed.text
    complaint = filed.json()
    assert complaint["stage"] == "accepted"
    assert filed.headers["location"] == f"/v1/complaints/{complaint['complaint_id']}"
    replay = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "letter",
            "description": "技师索要红包",
            "confirmed_by_customer": False,
            "order_id": "o-1",
            "level": 1,
            "staff_fault_class": "A",
            "technician_id": "tech-1",
            "network_id": "net-9",
        },
        headers={"Idempotency-Key": "letter-1"},
    )
    assert replay.json()["complaint_id"] == complaint["complaint_id"]
    [event] = await harness.staged("ComplaintFiled")
    assert (event.channel, event.staff_fault_class, event.confirmed_by_customer) == (
        "letter",
        "A",
        False,
    )
    url = f"/v1/complaints/{complaint['complaint_id']}"

    unconfirmed = await harness.client.post(
        f"{url}/advance", json={"to": "dispatched", "owner": "centre-lead"}
    )
    assert unconfirmed.status_code == 409
    assert (await harness.client.post(f"{url}/confirm")).status_code == 200
    dispatched = await harness.client.post(
        f"{url}/advance", json={"to": "dispatched", "owner": "centre-lead"}
    )
    assert dispatched.status_code == 200
    assert dispatched.json()["owner"] == "centre-lead"


async def test_fbk_10_every_state_of_the_loop_has_an_owner_a_blank_one_is_refused(
    harness: Harness,
) -> None:
    filed = await harness.client.post(
        "/v1/complaints",
        json={"channel": "hotline", "description": "没人回电", "confirmed_by_customer": True},
    )
    url = f"/v1/complaints/{filed.json()['complaint_id']}"

    blank = await harness.client.post(f"{url}/advance", json={"to": "dispatched", "owner": "  "})

    assert blank.status_code == 422
    assert [e["field"] for e in blank.json()["errors"]] == ["owner"]
    still = (await harness.client.get(url)).json()
    assert (still["stage"], len(still["stages"])) == ("accepted", 1)
    padded = await harness.client.post(
        f"{url}/advance", json={"to": "dispatched", "owner": " centre-lead "}
    )
    assert padded.status_code == 200, padded.text
    assert padded.json()["owner"] == "centre-lead"


async def test_fbk_10_a_complaint_goes_round_the_loop_in_order_and_closes_with_cause_owner_action(
    harness: Harness,
) -> None:
    harness.clock.set(local(MONDAY, 9))
    await harness.emit(assigned("o-1", "v-1", "tech-1"))
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": "维修后仍然漏水，技师态度差",
            "confirmed_by_customer": True,
            "staff_fault_class": "C",
            "order_id": "o-1",
            "technician_id": "tech-1",
        },
    )
    url = f"/v1/complaints/{filed.json()['complaint_id']}"
    assert filed.json()["due_at"] == "2026-03-02T02:00:00Z"  # accept: 1 working hour

    skipped = await harness.client.post(f"{url}/advance", json={"to": "handled", "owner": "x"})
    assert skipped.status_code == 409
    assert skipped.json()["allowed"] == ["dispatched"]
    early_close = await harness.client.post(
        f"{url}/close",
        json={"cause": "c", "owner": "o", "preventive_action": "p", "at_fault": True},
    )
    assert early_close.status_code == 409
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(
            f"{url}/advance", json={"to": stage, "owner": f"owner-of-{stage}"}
        )
        assert step.status_code == 200, step.text
        assert step.json()["stage"] == stage
        assert step.json()["due_at"] is not None
    escalated = await harness.client.post(f"{url}/escalate")
    assert escalated.json()["level"] == 2

    incomplete = await harness.client.post(
        f"{url}/close",
        json={
            "cause": "seal not replaced",
            "owner": " ",
            "preventive_action": "",
            "at_fault": True,
        },
    )
    assert incomplete.status_code == 422
    assert {e["field"] for e in incomplete.json()["errors"]} == {"owner", "preventive_action"}
    closed = await harness.client.post(
        f"{url}/close",
        json={
            "cause": "seal not replaced",
            "owner": "network manager",
            "preventive_action": "seal checklist in the kit list",
            "at_fault": True,
            "staff_fault_class": "C",
            "summary": "revisited, customer satisfied",
        },
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["stage"] == "closed"
    [event] = await harness.staged("ComplaintClosed")
    assert (event.cause, event.owner, event.at_fault) == (
        "seal not replaced",
        "network manager",
        True,
    )

    figures = await harness.client.get(
        "/v1/quality-figures", params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat()}
    )
    tech = next(r for r in figures.json()["rows"] if r["key"] == "tech-1")
    assert tech["complaints_by_class"] == {"A": 0, "B": 0, "C": 1, "none": 0, "not_at_fault": 0}
    assert tech["complaints_level_2"] == 1


async def test_fbk_9_a_complaint_closed_not_at_fault_counts_against_no_one(
    harness: Harness,
) -> None:
    await harness.emit(assigned("o-1", "v-1", "tech-1"))

    async def file(fault_class: str, level: int) -> str:
        filed = await harness.client.post(
            "/v1/complaints",
            json={
                "channel": "hotline",
                "description": "师傅索要红包",
                "confirmed_by_customer": True,
                "level": level,
                "staff_fault_class": fault_class,
                "order_id": "o-1",
                "technician_id": "tech-1",
            },
        )
        assert filed.status_code == 201, filed.text
        return str(filed.json()["complaint_id"])

    cleared = await file("A", 2)
    await file("B", 1)  # still open: it counts
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(
            f"/v1/complaints/{cleared}/advance", json={"to": stage, "owner": "mgr"}
        )
        assert step.status_code == 200, step.text
    closed_complaint = await harness.client.post(
        f"/v1/complaints/{cleared}/close",
        json={
            "cause": "客户误会，录音证实未索要",
            "owner": "mgr",
            "preventive_action": "收费标准上门前告知",
            "at_fault": False,
        },
    )
    assert closed_complaint.status_code == 200, closed_complaint.text
    body = closed_complaint.json()
    assert (body["closure"]["at_fault"], body["closure"]["staff_fault_class"]) == (False, None)
    assert body["staff_fault_class"] == "A"  # what was alleged, kept for the record

    figures = await harness.client.get(
        "/v1/quality-figures", params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat()}
    )
    tech = next(r for r in figures.json()["rows"] if r["key"] == "tech-1")
    assert tech["complaints_by_class"] == {"A": 0, "B": 1, "C": 0, "none": 0, "not_at_fault": 1}
    assert tech["complaints_level_2"] == 0


async def test_idempotency_keys_are_kept_as_long_as_the_policy_says(
    database_url: str, tmp_path: Path
) -> None:
    policy = FeedbackPolicy(idempotency_key_ttl_hours=2).model_dump(mode="json")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"feedback": policy}))
    runtime = bootstrap(
        FeedbackSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
            run_periodic_jobs=False,
            policy_file=policy_file,
        ),
        clock=Clock(local(MONDAY, 9)),
    )
    await runtime.migrate()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtime.app),
            base_url="http://feedback",
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": "call-1"},
        ) as client:
            filed = await client.post(
                "/v1/complaints",
                json={"channel": "hotline", "description": "没人来", "confirmed_by_customer": True},
            )
            assert filed.status_code == 201, filed.text
        async with runtime.session_factory() as session:
            [record] = (await session.execute(select(IdempotencyRecord))).scalars().all()
        assert record.expires_at - record.created_at == timedelta(hours=2)
    finally:
        await runtime.engine.dispose()


async def test_fbk_9_complaint_classes_and_levels_are_validated(harness: Harness) -> None:
    bad = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "pigeon",
            "description": "",
            "confirmed_by_customer": True,
            "level": 3,
            "staff_fault_class": "D",
        },
    )

    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "channel",
        "description",
        "level",
        "staff_fault_class",
    }


async def test_only_agents_record_call_backs_and_complaints(harness: Harness) -> None:
    technician = await harness.key("technician")

    response = await harness.client.post(
        "/v1/complaints",
        json={"channel": "web", "description": "x", "confirmed_by_customer": True},
        headers=technician,
    )
    figures = await harness.client.get(
        "/v1/quality-figures",
        params={"start": date(2026, 3, 2).isoformat(), "end": date(2026, 3, 1).isoformat()},
    )

    assert response.status_code == 403
    assert figures.status_code == 422


async def test_fbk_10_a_state_past_its_sla_raises_complaint_stage_overdue_once(
    harness: Harness,
) -> None:
    from contracts.feedback import ComplaintStageOverdue

    harness.clock.set(local(MONDAY, 9))
    filed = await harness.client.post(
        "/v1/complaints",
        json={"channel": "hotline", "description": "技师迟到两小时", "confirmed_by_customer": True},
    )
    complaint = filed.json()
    url = f"/v1/complaints/{complaint['complaint_id']}"
    sweep = harness.runtime.app.state.sweep

    harness.clock.set(local(MONDAY, 9, 59))  # accept: 1 working hour, not yet out
    assert (await sweep())["complaints_overdue"] == 0
    harness.clock.set(local(MONDAY, 10, 1))
    assert (await sweep())["complaints_overdue"] == 1
    assert (await sweep())["complaints_overdue"] == 0  # once per state
    [overdue] = await harness.staged("ComplaintStageOverdue")
    assert isinstance(overdue, ComplaintStageOverdue)
    assert (overdue.complaint_id, overdue.stage, overdue.level) == (
        complaint["complaint_id"],
        "accepted",
        1,
    )
    assert overdue.due_at.isoformat().replace("+00:00", "Z") == complaint["due_at"]

    moved = await harness.client.post(f"{url}/advance", json={"to": "dispatched", "owner": "d1"})
    assert moved.status_code == 200, moved.text
    assert (await sweep())["complaints_overdue"] == 0  # the new state has its own clock


async def test_fbk_10_the_overdue_sweep_reports_every_complaint_batch_after_batch(
    harness: Harness,
) -> None:
    from feedback.service_layer import handlers

    harness.clock.set(local(MONDAY, 9))
    ids = []
    for n in range(5):
        filed = await harness.client.post(
            "/v1/complaints",
            json={"channel": "hotline", "description": f"投诉 {n}", "confirmed_by_customer": True},
        )
        ids.append(filed.json()["complaint_id"])
    closed = await harness.client.post(
        f"/v1/complaints/{ids[0]}/advance", json={"to": "dispatched", "owner": "d1"}
    )
    assert closed.status_code == 200, closed.text
    harness.clock.set(local(MONDAY, 10, 1))  # four still waiting to be accepted, one moved on
    uow_factory = harness.runtime.app.state.uow_factory

    reported = await handlers.report_overdue_complaints(
        uow_factory=uow_factory, clock=harness.clock, batch=3
    )

    assert reported == 4
    staged = await harness.staged("ComplaintStageOverdue")
    assert sorted(e.complaint_id for e in staged) == sorted(ids[1:])
    assert (
        await handlers.report_overdue_complaints(
            uow_factory=uow_factory, clock=harness.clock, batch=3
        )
        == 0
    )


async def test_a_complaint_advance_retried_with_its_idempotency_key_advances_it_once(
    harness: Harness,
) -> None:
    harness.clock.set(local(MONDAY, 9))
    filed = await harness.client.post(
        "/v1/complaints",
        json={"channel": "hotline", "description": "没人来", "confirmed_by_customer": True},
    )
    url = f"/v1/complaints/{filed.json()['complaint_id']}"
    key = {"Idempotency-Key": "advance-1"}
    step = {"to": "dispatched", "owner": "centre-lead", "note": "第一次"}

    first = await harness.client.post(f"{url}/advance", json=step, headers=key)
    assert first.status_code == 200, first.text
    retry = await harness.client.post(f"{url}/advance", json=step, headers=key)
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    stages = (await harness.client.get(url)).json()["stages"]
    assert [s["stage"] for s in stages].count("dispatched") == 1

    other = await harness.client.post(
        f"{url}/advance", json={"to": "handled", "owner": "centre-lead"}, headers=key
    )
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert (await harness.client.get(url)).json()["stage"] == "dispatched"

    # A refused request stores no answer (its transaction rolled back): the retry is refused
    # again by the domain, not replayed.
    for _ in range(2):
        missing = await harness.client.post(
            "/v1/complaints/no-such-complaint/advance", json=step, headers=key
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert "Idempotent-Replayed" not in missing.headers


# -- a draw only for a day whose window of work is over (FBK-4) -----------------------------------


async def test_fbk_4_a_draw_for_a_day_whose_window_of_work_is_not_over_is_refused(
    harness: Harness,
) -> None:
    await harness.emit(created("o-own"))
    await harness.completed_visit("o-own", "v-own", "tech-0", at=local(MONDAY, 10))
    harness.clock.set(local(THURSDAY, 7))  # before the daily draw's hour

    for day in (THURSDAY + timedelta(days=1), THURSDAY + timedelta(days=4), date(9999, 12, 31)):
        early = await harness.client.post("/v1/sampling/runs", json={"day": day.isoformat()})
        assert early.status_code == 422, early.text
        assert early.headers["content-type"].startswith("application/problem+json")
        assert early.json()["latest_day"] == THURSDAY.isoformat()
        assert early.json()["errors"][0]["field"] == "day"
    ancient = await harness.client.post("/v1/sampling/runs", json={"day": "0001-01-02"})
    assert ancient.status_code == 422, ancient.text

    # Nothing was recorded: the day's own draw runs, and samples the work done by then.
    harness.clock.set(local(THURSDAY, 8, 30))
    assert (await harness.runtime.app.state.sweep())["sampled"] == 1
    harness.clock.set(local(THURSDAY + timedelta(days=4), 8, 30))
    later = await harness.client.post(
        "/v1/sampling/runs", json={"day": (THURSDAY + timedelta(days=4)).isoformat()}
    )
    assert later.status_code == 201, later.text


# -- whom a complaint counts against (INT-9, FBK-9, FBK-11) ---------------------------------------


def _complaint(order_id: str | None = "o-1", **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "channel": "hotline",
        "description": "师傅态度差",
        "confirmed_by_customer": True,
        **fields,
    }
    if order_id is not None:
        body["order_id"] = order_id
    return body


async def test_int_9_a_complaint_on_an_order_not_known_yet_is_refused_for_a_retry(
    harness: Harness,
) -> None:
    key = {"Idempotency-Key": "complaint-1"}

    early = await harness.client.post("/v1/complaints", json=_complaint("o-new"), headers=key)

    assert early.status_code == 422, early.text
    assert early.headers["content-type"].startswith("application/problem+json")
    problem = early.json()
    assert (problem["title"], problem["order_id"], problem["retryable"]) == (
        "Order not known yet",
        "o-new",
        True,
    )
    assert problem["errors"][0]["field"] == "order_id"
    assert await harness.staged("ComplaintFiled") == []
    assert (await harness.client.get("/v1/complaints")).json()["items"] == []

    # The order's first event arrives: the same request, retried, is taken.
    await harness.emit(created("o-new"))
    retried = await harness.client.post("/v1/complaints", json=_complaint("o-new"), headers=key)
    assert retried.status_code == 201, retried.text
    # A complaint about no particular order needs none.
    general = await harness.client.post("/v1/complaints", json=_complaint(None))
    assert general.status_code == 201, general.text


async def test_fbk_11_a_complaint_against_someone_not_on_the_order_is_refused_never_counted(
    harness: Harness,
) -> None:
    await harness.emit(created("o-1"))
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10), network_id="net-1")

    for fields, field in (
        ({"technician_id": "tech-nobody", "staff_fault_class": "A"}, "technician_id"),
        ({"network_id": "net-nobody"}, "network_id"),
    ):
        refused = await harness.client.post("/v1/complaints", json=_complaint(**fields))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == field
    no_order = await harness.client.post(
        "/v1/complaints", json=_complaint(None, technician_id="tech-1")
    )
    assert no_order.status_code == 422, no_order.text
    taken = await harness.client.post(
        "/v1/complaints", json=_complaint(technician_id="tech-1", staff_fault_class="C")
    )
    assert taken.status_code == 201, taken.text
    assert (taken.json()["technician_id"], taken.json()["network_id"]) == ("tech-1", "net-1")

    figures = await harness.client.get(
        "/v1/quality-figures", params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat()}
    )
    rows = {r["key"]: r["complaints_by_class"] for r in figures.json()["rows"]}
    assert "tech-nobody" not in rows
    assert rows["tech-1"]["C"] == 1
    assert sum(rows["all"].values()) == 1


# -- closing at fault (FBK-9) --------------------------------------------------------------------


async def _followed_up(harness: Harness, **fields: object) -> str:
    """A complaint on o-1 (tech-1's) taken round the loop to `followed_up`; its URL."""
    await harness.emit(assigned("o-1", "v-1", "tech-1"))
    filed = await harness.client.post(
        "/v1/complaints", json=_complaint(technician_id="tech-1", **fields)
    )
    assert filed.status_code == 201, filed.text
    url = f"/v1/complaints/{filed.json()['complaint_id']}"
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(f"{url}/advance", json={"to": stage, "owner": "mgr"})
        assert step.status_code == 200, step.text
    return url


def _closure(**fields: object) -> dict[str, object]:
    return {"cause": "维修工艺错误", "owner": "服务经理", "preventive_action": "培训", **fields}


async def test_fbk_9_a_complaint_closed_at_fault_needs_a_staff_fault_class(
    harness: Harness,
) -> None:
    url = await _followed_up(harness)

    unclassified = await harness.client.post(f"{url}/close", json=_closure(at_fault=True))

    assert unclassified.status_code == 422, unclassified.text
    assert unclassified.headers["content-type"].startswith("application/problem+json")
    assert unclassified.json()["errors"][0]["field"] == "staff_fault_class"
    assert (await harness.client.get(url)).json()["stage"] == "followed_up"
    assert await harness.staged("ComplaintClosed") == []
    classified = await harness.client.post(
        f"{url}/close", json=_closure(at_fault=True, staff_fault_class="B")
    )
    assert classified.status_code == 200, classified.text
    assert classified.json()["closure"]["staff_fault_class"] == "B"
    # The class alleged when it was filed is the class found, when none is given at closure.
    alleged = await _followed_up(harness, staff_fault_class="C")
    closed_alleged = await harness.client.post(f"{alleged}/close", json=_closure(at_fault=True))
    assert closed_alleged.status_code == 200, closed_alleged.text
    assert closed_alleged.json()["closure"]["staff_fault_class"] == "C"

    figures = await harness.client.get(
        "/v1/quality-figures", params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat()}
    )
    tech = next(r for r in figures.json()["rows"] if r["key"] == "tech-1")
    assert tech["complaints_by_class"] == {"A": 0, "B": 1, "C": 1, "none": 0, "not_at_fault": 0}


# -- escalation and reopening (FBK-9, FBK-10) ----------------------------------------------------


async def test_fbk_9_escalating_a_complaint_publishes_complaint_escalated_once(
    harness: Harness,
) -> None:
    await harness.emit(created("o-1"))
    filed = await harness.client.post("/v1/complaints", json=_complaint())
    url = f"/v1/complaints/{filed.json()['complaint_id']}"

    escalated = await harness.client.post(f"{url}/escalate", json={"reason": "客户投诉到媒体"})
    again = await harness.client.post(f"{url}/escalate")

    assert escalated.status_code == 200, escalated.text
    assert again.status_code == 200, again.text
    body = escalated.json()
    assert (body["level"], body["escalation_reason"]) == (2, "客户投诉到媒体")
    assert body["escalated_by"] is not None
    [event] = await harness.staged("ComplaintEscalated")
    assert (event.complaint_id, event.order_id, event.level, event.stage) == (
        body["complaint_id"],
        "o-1",
        2,
        "accepted",
    )
    assert (event.reason, event.escalated_by) == ("客户投诉到媒体", body["escalated_by"])
    assert event.due_at.isoformat().replace("+00:00", "Z") == body["due_at"]  # 30 working min
    assert body["due_at"] == "2026-03-02T01:30:00Z"


async def test_fbk_10_a_closed_complaint_reopened_goes_round_the_loop_again_and_counts_once(
    harness: Harness,
) -> None:
    url = await _followed_up(harness, staff_fault_class="C")
    too_early = await harness.client.post(f"{url}/reopen", json={"reason": "还是漏水"})
    assert too_early.status_code == 409, too_early.text
    first = await harness.client.post(f"{url}/close", json=_closure(at_fault=True))
    assert first.status_code == 200, first.text
    harness.clock.set(local(MONDAY, 15))

    blank = await harness.client.post(f"{url}/reopen", json={"reason": "  "})
    assert blank.status_code == 422, blank.text
    reopened = await harness.client.post(f"{url}/reopen", json={"reason": "还是漏水"})

    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert (body["stage"], body["allowed_next"], body["closure"]) == (
        "accepted",
        ["dispatched"],
        None,
    )
    assert body["due_at"] == "2026-03-02T08:00:00Z"  # accepting it again: 1 working hour
    assert body["earlier_closures"] == [first.json()["closure"]]
    assert body["stages"][-1]["note"] == "reopened: 还是漏水"
    [event] = await harness.staged("ComplaintReopened")
    assert (event.complaint_id, event.stage, event.reason) == (
        body["complaint_id"],
        "accepted",
        "还是漏水",
    )
    assert event.reopened_by == body["owner"]

    async def tech_1() -> dict[str, int]:
        figures = await harness.client.get(
            "/v1/quality-figures", params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat()}
        )
        row = next(r for r in figures.json()["rows"] if r["key"] == "tech-1")
        return dict(row["complaints_by_class"])

    assert await tech_1() == {"A": 0, "B": 0, "C": 1, "none": 0, "not_at_fault": 0}
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(f"{url}/advance", json={"to": stage, "owner": "mgr"})
        assert step.status_code == 200, step.text
    second = await harness.client.post(f"{url}/close", json=_closure(at_fault=False))
    assert second.status_code == 200, second.text
    assert second.json()["earlier_closures"] == [first.json()["closure"]]
    assert len(await harness.staged("ComplaintClosed")) == 2
    assert await tech_1() == {"A": 0, "B": 0, "C": 0, "none": 0, "not_at_fault": 1}


async def test_int_9_a_complaint_of_only_spaces_records_nothing_and_is_refused(
    harness: Harness,
) -> None:
    for blank in ("   ", "\u3000\n"):
        refused = await harness.client.post(
            "/v1/complaints", json=_complaint(None, description=blank)
        )

        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["description"]
    assert (await harness.client.get("/v1/complaints")).json()["items"] == []
    assert await harness.staged("ComplaintFiled") == []
