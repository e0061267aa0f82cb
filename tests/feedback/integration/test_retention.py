"""Erasing an order's personal data when billing says its retention is over (BIL-11), through the
consumer handler on SQLite and PostgreSQL: nothing personal is left in feedback's rows, the API
shows the order erased, the quality figures do not change, and a late event brings nothing
back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from feedback_support import (
    FRIDAY,
    MONDAY,
    Harness,
    arrived,
    assigned,
    closed,
    created,
    local,
    repaired,
    scores,
)
from sqlalchemy import select

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import Channel
from contracts.fieldwork import CustomerSignedOff, Rating, SignOff
from contracts.intake import DuplicateLinked
from feedback.adapters.tables import FEEDBACK_REGISTRY

NAME = "王芳"
PHONE = "13800138000"
ERASED = "[erased]"


def expired(order_id: str, at: datetime) -> OrderRetentionExpired:
    """Billing's word that the order's retention is over."""
    return OrderRetentionExpired(
        order_id=order_id,
        retention_class=RetentionClass.FREE,
        ended_at=at - timedelta(days=366),
        expired_at=at,
    )


def linked(order_id: str, at: datetime, phone: str, words: str) -> DuplicateLinked:
    """A later report of the customer, from ``phone``, in their ``words``."""
    return DuplicateLinked(
        order_id=order_id,
        reported_at=at,
        channel=Channel.HOTLINE,
        caller_phone=f"+86{phone}",
        fault_description=words,
    )


def signed_unhappy(order_id: str, visit_id: str, technician_id: str) -> CustomerSignedOff:
    """The customer signed dissatisfied, with their signature and comments."""
    return CustomerSignedOff(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        repair_quality=Rating.DISSATISFIED,
        service_attitude=Rating.SATISFIED,
        sign_off=SignOff.SIGNED,
        signature_ref=f"signatures/{NAME}.png",
        comments=f"{NAME}: 还要再看看",
    )


PERSONAL_DATA_ERASED = "https://fsm.example/problems/personal-data-erased"


def assert_personal_data_erased(response: httpx.Response, *, anonymised_at: datetime) -> None:
    """The answer intake, scheduling and fieldwork give a command on an order whose personal
    data was erased (BIL-11): 409 problem+json of the same type and title, with `anonymised_at`."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["type"], problem["title"], problem["status"]) == (
        PERSONAL_DATA_ERASED,
        "Personal data erased",
        409,
    )
    assert datetime.fromisoformat(problem["anonymised_at"]) == anonymised_at
    assert "BIL-11" in problem["detail"]


async def stored_rows(harness: Harness) -> list[dict[str, Any]]:
    """Every row of feedback's own tables, as column -> value."""
    rows: list[dict[str, Any]] = []
    async with harness.runtime.session_factory() as session:
        for table in FEEDBACK_REGISTRY.metadata.sorted_tables:
            result = await session.execute(select(table))
            rows.extend({"table": table.name, **dict(r._mapping)} for r in result)
    return rows


def personal_in(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose values still hold the customer's name or phone."""
    return [
        row
        for row in rows
        if NAME in (text := json.dumps(row, ensure_ascii=False, default=str)) or PHONE in text
    ]


async def order_with_personal_data(harness: Harness) -> dict[str, str]:
    """An order with the customer's name and phone in its file, a survey's comments, a finding's
    note, a closed complaint's texts and an issue's resolution; the ids to read them back."""
    await harness.emit(created("o-1", fault=f"{NAME}说热水器打不着火"), local(MONDAY, 8))
    await harness.emit(
        linked("o-1", local(MONDAY, 8, 30), PHONE, f"{NAME}又打电话"), local(MONDAY, 8, 30)
    )
    await harness.emit(assigned("o-1", "v-1", "tech-1", "net-9"), local(MONDAY, 8, 45))
    await harness.emit(arrived("o-1", "v-1", "tech-1", local(MONDAY, 9)), local(MONDAY, 9))
    await harness.emit(repaired("o-1", "v-1", "tech-1"), local(MONDAY, 10))
    await harness.emit(signed_unhappy("o-1", "v-1", "tech-1"), local(MONDAY, 10))
    await harness.emit(closed("o-1", "v-1", "tech-1", local(MONDAY, 10)), local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))
    [task] = await harness.due()
    await harness.answer(
        task["task_id"],
        reached=True,
        satisfied=True,
        scores=scores(9, 8, punctuality="fair") | {"comments": f"{NAME} 说 +86{PHONE} 可以打"},
    )
    [finding] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    dismissed = await harness.client.post(
        f"/v1/conduct-findings/{finding['finding_id']}/dismiss",
        json={"note": f"{NAME} was told of the traffic jam"},
    )
    assert dismissed.status_code == 200, dismissed.text
    [issue] = (await harness.client.get("/v1/issues")).json()["items"]
    resolved = await harness.client.post(
        f"/v1/issues/{issue['issue_id']}/resolve",
        json={"resolution": f"called {NAME} back at {PHONE}"},
    )
    assert resolved.status_code == 200, resolved.text
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"{NAME}投诉技师迟到, 电话 {PHONE}",
            "confirmed_by_customer": True,
            "order_id": "o-1",
            "level": 1,
            "staff_fault_class": "C",
        },
    )
    assert filed.status_code == 201, filed.text
    url = f"/v1/complaints/{filed.json()['complaint_id']}"
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(
            f"{url}/advance", json={"to": stage, "owner": "lead-1", "note": f"{NAME} 已联系"}
        )
        assert step.status_code == 200, step.text
    closure = await harness.client.post(
        f"{url}/close",
        json={
            "cause": f"{NAME}家的路堵",
            "owner": "lead-1",
            "preventive_action": "plan routes",
            "at_fault": True,
            "summary": f"{NAME} accepted the apology",
        },
    )
    assert closure.status_code == 200, closure.text
    return {
        "task": task["task_id"],
        "finding": finding["finding_id"],
        "issue": issue["issue_id"],
        "complaint": url,
    }


async def figures(harness: Harness) -> list[Any]:
    """The quality figures of the week, by technician and by network."""
    found = []
    for by in ("technician", "network"):
        response = await harness.client.get(
            "/v1/quality-figures",
            params={"start": MONDAY.isoformat(), "end": FRIDAY.isoformat(), "by": by},
        )
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


async def test_bil_11_retention_over_erases_every_personal_value_and_keeps_the_figures(
    harness: Harness,
) -> None:
    ids = await order_with_personal_data(harness)
    assert personal_in(await stored_rows(harness))  # the scan sees them while they are kept
    before = await figures(harness)

    harness.clock.set(local(MONDAY, 14) + timedelta(days=400))
    await harness.emit(expired("o-1", harness.clock()))

    assert personal_in(await stored_rows(harness)) == []
    harness.clock.set(local(MONDAY, 14))
    assert await figures(harness) == before

    order = (await harness.client.get("/v1/orders/o-1/events")).json()
    assert order["anonymised_at"] is not None
    summaries = {e["type"]: e["summary"] for e in order["events"]}
    assert summaries["OrderCreated"]["customer.name"] == ERASED
    assert summaries["OrderCreated"]["fault.description"] == ERASED
    assert summaries["DuplicateLinked"]["caller_phone"] is None
    assert summaries["DuplicateLinked"]["fault_description"] == ERASED
    assert summaries["CustomerSignedOff"]["signature_ref"] is None
    assert summaries["CustomerSignedOff"]["comments"] == ERASED
    assert summaries["CustomerSignedOff"]["repair_quality"] == "dissatisfied"  # not personal
    task = (await harness.client.get(f"/v1/call-backs/{ids['task']}")).json()
    assert task["survey"]["scores"]["comments"] == ERASED
    assert task["survey"]["scores"]["service_attitude"] == 9
    [finding] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    assert (finding["note"], finding["status"]) == (ERASED, "dismissed")
    [issue] = (await harness.client.get("/v1/issues", params={"open_only": False})).json()["items"]
    assert issue["resolution"] == ERASED
    complaint = (await harness.client.get(ids["complaint"])).json()
    assert complaint["anonymised_at"] == order["anonymised_at"]
    assert complaint["description"] == ERASED
    assert {s["note"] for s in complaint["stages"]} == {None, ERASED}
    assert complaint["closure"]["cause"] == ERASED
    assert complaint["closure"]["summary"] == ERASED
    assert (complaint["closure"]["at_fault"], complaint["staff_fault_class"]) == (True, "C")


async def test_bil_11_heard_twice_changes_nothing(harness: Harness) -> None:
    await order_with_personal_data(harness)
    harness.clock.set(local(MONDAY, 14) + timedelta(days=400))
    await harness.emit(expired("o-1", harness.clock()))
    erased = await stored_rows(harness)
    first = (await harness.client.get("/v1/orders/o-1/events")).json()["anonymised_at"]

    harness.clock.set(harness.clock() + timedelta(days=30))
    await harness.emit(expired("o-1", harness.clock()))  # the inbox forgot the first one

    again = await stored_rows(harness)
    recorded = [r for r in again if r not in erased]
    assert [(r["table"], r["type"]) for r in recorded] == [
        ("feedback_order_event", "OrderRetentionExpired")
    ]
    assert [r for r in erased if r not in again] == []
    assert (await harness.client.get("/v1/orders/o-1/events")).json()["anonymised_at"] == first


async def test_bil_11_a_late_event_after_erasure_stores_nothing_personal(harness: Harness) -> None:
    await order_with_personal_data(harness)
    harness.clock.set(local(MONDAY, 14) + timedelta(days=400))
    await harness.emit(expired("o-1", harness.clock()))

    # redelivered long after (the inbox forgot it), and a report and a sheet heard late
    await harness.emit(created("o-1", fault=f"{NAME}说热水器打不着火"), local(MONDAY, 8))
    await harness.emit(
        linked("o-1", local(MONDAY, 8, 30), "13900139000", f"{NAME}又打电话"),
        local(MONDAY, 8, 30),
    )
    await harness.emit(signed_unhappy("o-1", "v-1", "tech-1"), local(MONDAY, 10))

    rows = await stored_rows(harness)
    assert personal_in(rows) == []
    assert not [r for r in rows if "13900139000" in json.dumps(r, default=str)]
    order = (await harness.client.get("/v1/orders/o-1/events")).json()
    reports = [e["summary"] for e in order["events"] if e["type"] == "DuplicateLinked"]
    assert [(s["caller_phone"], s["fault_description"]) for s in reports] == [(None, ERASED)] * 2
    # nothing new to follow up on an order past its retention: nobody can call the customer
    assert [t["status"] for t in await harness.tasks("o-1")] == ["done"]
    assert (
        len((await harness.client.get("/v1/issues", params={"open_only": False})).json()["items"])
        == 1
    )


async def test_bil_11_open_call_backs_are_cancelled_an_open_complaint_is_closed_as_retention_ended(
    harness: Harness,
) -> None:
    await harness.emit(created("o-2", fault=f"{NAME}说漏水"), local(MONDAY, 8))
    await harness.completed_visit("o-2", "v-1", "tech-1", at=local(MONDAY, 10))
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"{NAME}投诉",
            "confirmed_by_customer": True,
            "order_id": "o-2",
            "staff_fault_class": "B",
        },
    )
    url = f"/v1/complaints/{filed.json()['complaint_id']}"
    advanced = await harness.client.post(
        f"{url}/advance", json={"to": "dispatched", "owner": "lead-1", "note": f"{NAME} 已联系"}
    )
    assert advanced.status_code == 200, advanced.text
    before = await figures(harness)
    by_technician = {f["key"]: f for f in before[0]["rows"]}
    assert by_technician["tech-1"]["complaints_by_class"]["B"] == 1
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)

    await harness.emit(expired("o-2", harness.clock()))

    [task] = await harness.tasks("o-2")
    assert task["status"] == "cancelled"
    assert "BIL-11" in task["cancel_reason"]
    complaint = (await harness.client.get(url)).json()
    assert (complaint["stage"], complaint["description"]) == ("closed", ERASED)
    assert complaint["closed_without_finding"] == "retention_ended"
    assert complaint["closure"] is None
    assert (complaint["allowed_next"], complaint["due_at"]) == ([], None)
    assert [(s["stage"], s["owner"]) for s in complaint["stages"]] == [
        ("accepted", complaint["taken_by"]),
        ("dispatched", "lead-1"),
        ("closed", "feedback"),
    ]
    assert complaint["stages"][1]["left_at"] == complaint["stages"][2]["entered_at"]
    assert (complaint["level"], complaint["staff_fault_class"]) == (1, "B")
    still_open = await harness.client.get("/v1/complaints", params={"open_only": True})
    assert still_open.json()["items"] == []
    for step, body in (
        ("advance", {"to": "handled", "owner": "lead-1"}),
        ("reopen", {"reason": "还是漏水"}),
    ):
        refused = await harness.client.post(f"{url}/{step}", json=body)
        assert refused.status_code == 409, refused.text
    harness.clock.set(local(MONDAY, 14))
    assert await figures(harness) == before  # counted as before: alleged class B, not cleared
    harness.clock.set(expired_at)
    refused = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"{NAME}又投诉",
            "confirmed_by_customer": True,
            "order_id": "o-2",
        },
    )
    assert_personal_data_erased(refused, anonymised_at=expired_at)
    assert personal_in(await stored_rows(harness)) == []


async def complaint_open_at_retention_end(
    harness: Harness, *, confirmed: bool
) -> tuple[str, datetime]:
    """A complaint about o-2 still open when o-2's retention ends (closed then as
    ``retention_ended``): its URL and the moment of the erasure."""
    await harness.emit(created("o-2", fault=f"{NAME}说漏水"), local(MONDAY, 8))
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"{NAME}投诉",
            "confirmed_by_customer": confirmed,
            "order_id": "o-2",
        },
    )
    assert filed.status_code == 201, filed.text
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)
    await harness.emit(expired("o-2", expired_at))
    return f"/v1/complaints/{filed.json()['complaint_id']}", expired_at


async def test_bil_11_a_complaint_closed_at_retention_end_is_left_as_it_is_when_heard_again(
    harness: Harness,
) -> None:
    url, _ = await complaint_open_at_retention_end(harness, confirmed=True)
    first = (await harness.client.get(url)).json()

    harness.clock.set(harness.clock() + timedelta(days=30))
    await harness.emit(expired("o-2", harness.clock()))  # the inbox forgot the first one

    assert (await harness.client.get(url)).json() == first


async def test_bil_11_a_complaint_naming_an_erased_order_is_refused_409_personal_data_erased(
    harness: Harness,
) -> None:
    await harness.emit(created("o-3", fault=f"{NAME}说漏水"), local(MONDAY, 8))
    await harness.completed_visit("o-3", "v-1", "tech-1", at=local(MONDAY, 10))
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)
    await harness.emit(expired("o-3", expired_at))
    order = (await harness.client.get("/v1/orders/o-3/events")).json()
    assert datetime.fromisoformat(order["anonymised_at"]) == expired_at

    refused = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"{NAME}又投诉",
            "confirmed_by_customer": True,
            "order_id": "o-3",
            "technician_id": "tech-1",
        },
    )

    assert_personal_data_erased(refused, anonymised_at=expired_at)
    listed = await harness.client.get("/v1/complaints", params={"open_only": False})
    assert listed.json()["items"] == []  # nothing was recorded
    # the same complaint without the order is taken, as the detail says
    filed = await harness.client.post(
        "/v1/complaints",
        json={"channel": "hotline", "description": "投诉", "confirmed_by_customer": True},
    )
    assert filed.status_code == 201, filed.text


async def visited_on_monday(harness: Harness, *order_ids: str) -> None:
    """Each order taken at 08:00 on Monday (its fault naming the customer) and visited by
    tech-1 at 10:00; the clock then at 14:00, their call-backs due."""
    for order_id in order_ids:
        await harness.emit(created(order_id, fault=f"{NAME}说漏水"), local(MONDAY, 8))
        await harness.completed_visit(order_id, "v-1", "tech-1", at=local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))


async def test_bil_11_call_back_actions_on_an_erased_order_are_refused_409_personal_data_erased(
    harness: Harness,
) -> None:
    # o-4's call-back is still open when its retention ends (cancelled then); o-5's was done
    # before. Whatever the task's state, acting on it is refused as erased (as in intake,
    # scheduling and fieldwork), not as an illegal transition.
    await visited_on_monday(harness, "o-4", "o-5")
    [done] = await harness.tasks("o-5")
    await harness.answer(done["task_id"], reached=True, satisfied=True, scores=scores(9, 9))
    [open_task] = await harness.tasks("o-4")
    claimed = await harness.client.post(f"/v1/call-backs/{open_task['task_id']}/claim")
    assert claimed.status_code == 200, claimed.text
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)
    for order_id in ("o-4", "o-5"):
        await harness.emit(expired(order_id, expired_at))

    for task_id in (open_task["task_id"], done["task_id"]):
        claim = await harness.client.post(f"/v1/call-backs/{task_id}/claim")
        assert_personal_data_erased(claim, anonymised_at=expired_at)
        outcome = await harness.client.post(
            f"/v1/call-backs/{task_id}/outcome",
            json={"reached": True, "satisfied": True, "scores": scores(8, 8)},
        )
        assert_personal_data_erased(outcome, anonymised_at=expired_at)
        not_reached = await harness.client.post(
            f"/v1/call-backs/{task_id}/outcome", json={"reached": False}
        )
        assert_personal_data_erased(not_reached, anonymised_at=expired_at)
    assert [t["status"] for t in await harness.tasks("o-4")] == ["cancelled"]
    assert [t["status"] for t in await harness.tasks("o-5")] == ["done"]
    assert personal_in(await stored_rows(harness)) == []


async def closed_complaint(harness: Harness, order_id: str | None) -> str:
    """A complaint about ``order_id`` (none: no particular order) taken round the loop and
    closed by its owner with a fault finding (FBK-10); its URL."""
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"{NAME}投诉",
            "confirmed_by_customer": True,
            "order_id": order_id,
        },
    )
    assert filed.status_code == 201, filed.text
    url = f"/v1/complaints/{filed.json()['complaint_id']}"
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(f"{url}/advance", json={"to": stage, "owner": "lead-1"})
        assert step.status_code == 200, step.text
    closure = await harness.client.post(f"{url}/close", json=CLOSURE)
    assert closure.status_code == 200, closure.text
    return url


CLOSURE = {
    "cause": "路堵",
    "owner": "lead-1",
    "preventive_action": "plan routes",
    "at_fault": False,
}

COMPLAINT_COMMANDS: list[tuple[str, dict[str, Any] | None]] = [
    ("reopen", {"reason": f"{NAME}还是不满意"}),
    ("advance", {"to": "accepted", "owner": "lead-1", "note": f"{NAME} 已联系"}),
    ("advance", {"to": "dispatched", "owner": "lead-1"}),
    ("escalate", {"reason": f"{NAME}找了媒体"}),
    ("close", CLOSURE),
    ("confirm", None),
]
"""Every command the API takes on a complaint (FBK-9, FBK-10, INT-9)."""


async def test_bil_11_fbk_10_every_command_on_a_complaint_closed_before_erasure_is_refused_409(
    harness: Harness,
) -> None:
    # A complaint about o-6 closed by its owner before o-6's retention ended (so left closed,
    # with its finding, at erasure), and one about no particular order.
    await harness.emit(created("o-6", fault=f"{NAME}说漏水"), local(MONDAY, 8))
    await harness.completed_visit("o-6", "v-1", "tech-1", at=local(MONDAY, 10))
    url = await closed_complaint(harness, "o-6")
    elsewhere = await closed_complaint(harness, None)
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)
    await harness.emit(expired("o-6", expired_at))
    before = (await harness.client.get(url)).json()
    assert (before["stage"], before["closed_without_finding"]) == ("closed", None)
    rows = await stored_rows(harness)

    for command, body in COMPLAINT_COMMANDS:
        refused = await harness.client.post(f"{url}/{command}", json=body)
        assert_personal_data_erased(refused, anonymised_at=expired_at)

    assert (await harness.client.get(url)).json() == before  # reads still answer, unchanged
    assert await stored_rows(harness) == rows  # nothing recorded, nothing published
    # a complaint about no particular order goes round the loop again as before
    reopened = await harness.client.post(f"{elsewhere}/reopen", json={"reason": "还是不满意"})
    assert reopened.status_code == 200, reopened.text
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(
            f"{elsewhere}/advance", json={"to": stage, "owner": "lead-1"}
        )
        assert step.status_code == 200, step.text
    escalated = await harness.client.post(f"{elsewhere}/escalate", json={"reason": "媒体"})
    assert escalated.status_code == 200, escalated.text
    closure = await harness.client.post(f"{elsewhere}/close", json=CLOSURE)
    assert closure.status_code == 200, closure.text
    assert closure.json()["anonymised_at"] is None


async def test_bil_11_fbk_10_a_complaint_closed_at_retention_end_refuses_every_command_409(
    harness: Harness,
) -> None:
    url, expired_at = await complaint_open_at_retention_end(harness, confirmed=False)
    before = (await harness.client.get(url)).json()
    assert before["closed_without_finding"] == "retention_ended"
    rows = await stored_rows(harness)

    for command, body in COMPLAINT_COMMANDS:
        refused = await harness.client.post(f"{url}/{command}", json=body)
        assert_personal_data_erased(refused, anonymised_at=expired_at)

    assert (await harness.client.get(url)).json() == before
    assert await stored_rows(harness) == rows


async def test_bil_11_fbk_12_resolving_an_issue_of_an_erased_order_is_refused_409(
    harness: Harness,
) -> None:
    # o-7's issue was resolved before its retention ended; o-8's was still open (resolved then).
    # Whatever its state, resolving it is refused as erased, not as an illegal transition.
    await visited_on_monday(harness, "o-7", "o-8")
    issues = {}
    for order_id in ("o-7", "o-8"):
        [task] = await harness.tasks(order_id)
        await harness.answer(task["task_id"], reached=True, satisfied=False, scores=scores(3, 3))
        listed = await harness.client.get("/v1/issues", params={"order_id": order_id})
        [issues[order_id]] = listed.json()["items"]
    resolved = await harness.client.post(
        f"/v1/issues/{issues['o-7']['issue_id']}/resolve", json={"resolution": "fixed"}
    )
    assert resolved.status_code == 200, resolved.text
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)
    for order_id in ("o-7", "o-8"):
        await harness.emit(expired(order_id, expired_at))
    rows = await stored_rows(harness)

    for issue in issues.values():
        refused = await harness.client.post(
            f"/v1/issues/{issue['issue_id']}/resolve", json={"resolution": f"called {NAME}"}
        )
        assert_personal_data_erased(refused, anonymised_at=expired_at)

    assert await stored_rows(harness) == rows


async def test_bil_11_fbk_6_a_pending_conduct_finding_is_still_decided_after_erasure(
    harness: Harness,
) -> None:
    # A fair/poor answer is about the technician's conduct (FBK-6), not the customer: it stays
    # pending at erasure and is still decided, for the quality figures (FBK-11); the note given
    # then is not kept (it may name the customer).
    await harness.emit(created("o-9", fault=f"{NAME}说漏水"), local(MONDAY, 8))
    await harness.completed_visit("o-9", "v-1", "tech-1", at=local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))
    [task] = await harness.tasks("o-9")
    await harness.answer(
        task["task_id"], reached=True, satisfied=True, scores=scores(9, 9, dress="poor")
    )
    expired_at = local(MONDAY, 14) + timedelta(days=400)
    harness.clock.set(expired_at)
    await harness.emit(expired("o-9", expired_at))
    [finding] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    assert finding["status"] == "pending"

    confirmed = await harness.client.post(
        f"/v1/conduct-findings/{finding['finding_id']}/confirm",
        json={"note": f"{NAME} confirmed it"},
    )

    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["note"]) == ("confirmed", ERASED)
    assert personal_in(await stored_rows(harness)) == []
