"""A taken-back unit returned unrepaired (FLD-6, FLD-9, FBK-12) and work done before an order's
cancellation (FBK-2..FBK-4, FBK-7, FBK-8), from the event stream to the REST API, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from feedback_support import (
    MONDAY,
    Harness,
    arrived,
    assigned,
    cancelled,
    closed,
    created,
    local,
    repaired,
    returned,
    scores,
    taken_back,
)

from contracts.fieldwork import VisitOutcome

THURSDAY = MONDAY + timedelta(days=3)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _issues(harness: Harness, order_id: str) -> list[dict[str, object]]:
    response = await harness.client.get("/v1/issues", params={"order_id": order_id})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# -- a unit back unrepaired (FLD-6, FLD-9, FBK-12) -----------------------------------------------


async def test_fbk_12_a_unit_returned_unrepaired_is_an_open_issue_and_gets_no_call_back(
    harness: Harness,
) -> None:
    ten = local(MONDAY, 10)
    await harness.emit(created("o-tb"), ten - timedelta(hours=5))
    await harness.emit(assigned("o-tb", "v-1", "tech-1", "net-1"), ten - timedelta(hours=2))
    await harness.emit(taken_back("o-tb", "v-1", "tech-1"), ten)
    await harness.emit(closed("o-tb", "v-1", "tech-1", ten, outcome=VisitOutcome.TAKEN_BACK), ten)
    [after_take_back] = await harness.tasks("o-tb")
    assert await _issues(harness, "o-tb") == []

    thursday_ten = local(THURSDAY, 10)
    harness.clock.set(thursday_ten)
    await harness.emit(returned("o-tb", thursday_ten, repaired=False), thursday_ten)
    await harness.emit(returned("o-tb", thursday_ten, repaired=False), thursday_ten)  # again

    # No satisfaction call-back about the return: only the one after the take-back visit.
    assert [t["task_id"] for t in await harness.tasks("o-tb")] == [after_take_back["task_id"]]
    [issue] = await _issues(harness, "o-tb")
    assert (issue["visit_id"], issue["technician_id"], issue["network_id"]) == (
        "v-1",
        "tech-1",
        "net-1",
    )
    assert "unrepaired" in str(issue["reason"]) and "TB-o-tb" in str(issue["reason"])
    # To the department the same day (Thursday 18:00), to the company after 2 working days.
    assert issue["level"] == "department"
    assert issue["department_due_at"] == iso(local(THURSDAY, 18))
    assert issue["company_due_at"] == iso(local(THURSDAY + timedelta(days=4), 10))
    [escalated] = await harness.staged("IssueEscalated")
    assert (escalated.order_id, escalated.level, escalated.visit_id) == (
        "o-tb",
        "department",
        "v-1",
    )

    harness.clock.set(local(THURSDAY + timedelta(days=4), 10))
    swept = await harness.runtime.app.state.sweep()
    assert swept["issues_escalated"] == 1
    assert [e.level for e in await harness.staged("IssueEscalated")] == ["department", "company"]
    # Nothing was repaired: no work done to sample (FBK-4), own brand though it is (100 %).
    assert swept["sampled"] == 0


# -- work done before the order's cancellation ----------------------------------------------------


async def _offline_repair(harness: Harness, order_id: str, *, done: datetime, tested: bool) -> None:
    """A repair done ``done`` (RepairCompleted and VisitClosed carry that time) by tech-1."""
    await harness.emit(arrived(order_id, "v-1", "tech-1", done - timedelta(hours=1)), done)
    await harness.emit(repaired(order_id, "v-1", "tech-1", tested=tested, sure=tested), done)
    await harness.emit(closed(order_id, "v-1", "tech-1", done), done)


async def test_fbk_3_fbk_4_a_repair_done_before_the_cancellation_and_synced_after_is_followed_up(
    harness: Harness,
) -> None:
    for order_id in ("o-tested", "o-untested", "o-after"):
        await harness.emit(created(order_id), local(MONDAY, 8))  # own brand: sampled at 100 %
        await harness.emit(assigned(order_id, "v-1", "tech-1"), local(MONDAY, 8))
        # The dispatcher cancels at 11:00 while the technician works offline.
        await harness.emit(cancelled(order_id), local(MONDAY, 11))
    harness.clock.set(local(MONDAY, 12))  # the app syncs

    await _offline_repair(harness, "o-tested", done=local(MONDAY, 10), tested=True)
    await _offline_repair(harness, "o-untested", done=local(MONDAY, 10), tested=False)
    await _offline_repair(harness, "o-after", done=local(MONDAY, 11, 30), tested=True)

    [tested] = await harness.tasks("o-tested")
    assert (tested["reason_rule"], tested["status"], tested["visit_id"]) == ("FBK-3", "open", "v-1")
    [untested] = await harness.tasks("o-untested")
    assert (untested["reason_rule"], untested["status"]) == ("FBK-2", "open")
    assert await harness.tasks("o-after") == []  # done after the cancellation
    assert {t["task_id"] for t in await harness.due()} == {tested["task_id"], untested["task_id"]}

    harness.clock.set(local(THURSDAY, 8, 30))
    assert (await harness.runtime.app.state.sweep())["sampled"] == 2
    sampled = (await harness.client.get("/v1/call-backs", params={"rule": "FBK-4"})).json()["items"]
    assert sorted(t["order_id"] for t in sampled) == ["o-tested", "o-untested"]
    assert {t["selection"]["rate_percent"] for t in sampled} == {100}


async def test_fbk_3_a_cancellation_heard_after_the_work_keeps_its_call_back_and_stops_the_rest(
    harness: Harness,
) -> None:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10))
    unfinished = local(MONDAY, 11)
    await harness.emit(
        closed("o-1", "v-2", "tech-1", unfinished, outcome=VisitOutcome.UNFINISHED), unfinished
    )
    assert len(await _issues(harness, "o-1")) == 1

    harness.clock.set(local(MONDAY, 12))
    await harness.emit(cancelled("o-1"), local(MONDAY, 12))

    statuses = {t["visit_id"]: t["status"] for t in await harness.tasks("o-1")}
    assert statuses == {"v-1": "open", "v-2": "cancelled"}
    assert await _issues(harness, "o-1") == []  # the unfinished work will not be done


async def test_fbk_7_a_dissatisfied_call_back_about_work_before_the_cancellation_is_an_issue(
    harness: Harness,
) -> None:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10))
    await harness.emit(cancelled("o-1"), local(MONDAY, 11))
    harness.clock.set(local(MONDAY, 14))
    [task] = await harness.due()

    answered = await harness.answer(
        task["task_id"], reached=True, satisfied=False, scores=scores(3, 3)
    )

    assert "order was cancelled" in answered["follow_up"]
    assert await harness.staged("RevisitRequested") == []  # nobody would book it
    [issue] = await _issues(harness, "o-1")
    assert issue["visit_id"] == "v-1" and "cancelled" in str(issue["reason"])
    chains = (await harness.client.get("/v1/orders/o-1/revisit-chains")).json()["chains"]
    assert [c["status"] for c in chains] == ["cancelled"]


async def test_fbk_8_a_sheet_missing_for_work_done_before_the_cancellation_is_flagged(
    harness: Harness,
) -> None:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10), sign=False)
    await harness.completed_visit("o-2", "v-2", "tech-1", at=local(MONDAY, 10), sign=False)
    await harness.emit(cancelled("o-1"), local(MONDAY, 11))
    await harness.emit(cancelled("o-2"), local(MONDAY, 9))  # before its work: not checked

    harness.clock.set(local(MONDAY, 10) + timedelta(hours=25))

    assert (await harness.runtime.app.state.sweep())["sheets_flagged"] == 1
    [suspicion] = await harness.staged("FraudSuspected")
    assert (suspicion.order_id, suspicion.visit_id) == ("o-1", "v-1")
