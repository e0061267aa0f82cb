"""Revisit chains through the service (FBK-7, FBK-11, FBK-12), on SQLite and PostgreSQL: one
revisit at a time, none while work already under way answers the customer, and an order cancelled
meanwhile closes its chain as cancelled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from feedback_support import (
    MONDAY,
    Harness,
    assigned,
    closed,
    created,
    local,
    returned,
    revisit_booked,
    scores,
    taken_back,
)

from contracts.fieldwork import RepairFailed, RepairFailureReason, VisitOutcome
from contracts.intake import OrderCancelled
from contracts.scheduling import RevisitReason
from feedback.domain.callbacks import CallBackTask
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork

TUESDAY = MONDAY + timedelta(days=1)
THURSDAY = MONDAY + timedelta(days=3)


async def chains(harness: Harness, order_id: str) -> list[dict[str, Any]]:
    response = await harness.client.get(f"/v1/orders/{order_id}/revisit-chains")
    assert response.status_code == 200, response.text
    return list(response.json()["chains"])


async def issues(harness: Harness, order_id: str) -> list[dict[str, Any]]:
    response = await harness.client.get(
        "/v1/issues", params={"open_only": False, "order_id": order_id}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def rebooked_for_a_missing_part(harness: Harness) -> None:
    """Visit 1 failed for a missing part on Monday at 10:00; scheduling booked visit 2."""
    ten = local(MONDAY, 10)
    await harness.emit(created("o-rv"))
    await harness.emit(assigned("o-rv", "v-1", "tech-1"), ten - timedelta(hours=2))
    await harness.emit(
        RepairFailed(
            order_id="o-rv",
            visit_id="v-1",
            technician_id="tech-1",
            reason=RepairFailureReason.MISSING_PART,
            next_visit_agreed=True,
        ),
        ten,
    )
    await harness.emit(closed("o-rv", "v-1", "tech-1", ten, outcome=VisitOutcome.UNFINISHED), ten)
    await harness.emit(
        revisit_booked("o-rv", "v-2", "v-1", "tech-1", reason=RevisitReason.MISSING_PART),
        ten + timedelta(minutes=5),
    )


async def test_fbk_7_a_call_back_about_a_visit_already_rebooked_requests_no_other_revisit(
    harness: Harness,
) -> None:
    await rebooked_for_a_missing_part(harness)
    harness.clock.set(local(MONDAY, 14))
    [first] = await harness.due()
    assert first["visit_id"] == "v-1"

    # Not solved yet, of course: visit 2 is on its way.
    answered = await harness.answer(
        first["task_id"], reached=True, problem_solved=False, scores=scores(9, 9)
    )

    assert await harness.staged("RevisitRequested") == []
    assert "v-2" in answered["follow_up"] and "no revisit requested" in answered["follow_up"]
    [chain] = await chains(harness, "o-rv")
    assert (chain["status"], chain["revisits_requested"], chain["visit_ids"]) == (
        "open",
        0,
        ["v-2"],
    )
    assert chain["dissatisfied_call_backs"] == [first["task_id"]]
    # The failed visit's issue is there already; a problem whose fix is under way opens no other.
    assert [i["reason"] for i in await issues(harness, "o-rv")] == ["repair failed: missing_part"]

    await harness.completed_visit("o-rv", "v-2", "tech-1", at=local(TUESDAY, 11))
    harness.clock.set(local(TUESDAY, 14))
    [second] = await harness.due()
    assert second["visit_id"] == "v-2"
    solved = await harness.answer(
        second["task_id"], reached=True, problem_solved=True, satisfied=True, scores=scores()
    )

    [chain] = await chains(harness, "o-rv")
    assert (chain["status"], chain["closed_by_task"]) == ("closed", second["task_id"])
    assert chain["closed_reason"] == "customer satisfied"
    assert "closed" in solved["follow_up"]
    assert await harness.staged("RevisitRequested") == []


async def test_fbk_7_a_customer_not_satisfied_with_a_rebooked_visit_is_followed_until_satisfied(
    harness: Harness,
) -> None:
    await rebooked_for_a_missing_part(harness)
    harness.clock.set(local(MONDAY, 14))
    [first] = await harness.due()

    await harness.answer(first["task_id"], reached=True, satisfied=False, scores=scores(3, 4))

    assert await harness.staged("RevisitRequested") == []
    dissatisfied = next(
        i for i in await issues(harness, "o-rv") if i["reason"].startswith("customer dissatisfied")
    )
    assert "v-2" in dissatisfied["reason"] and dissatisfied["resolved_at"] is None

    await harness.completed_visit("o-rv", "v-2", "tech-1", at=local(TUESDAY, 11))
    harness.clock.set(local(TUESDAY, 14))
    [second] = await harness.due()
    await harness.answer(second["task_id"], reached=True, satisfied=True, scores=scores())

    resolved = {i["issue_id"]: i for i in await issues(harness, "o-rv")}
    assert resolved[dissatisfied["issue_id"]]["resolved_at"] is not None
    [chain] = await chains(harness, "o-rv")
    assert chain["status"] == "closed"


async def test_fbk_7_a_take_back_order_gets_one_revisit_for_its_two_dissatisfied_call_backs(
    harness: Harness,
) -> None:
    ten = local(MONDAY, 10)
    await harness.emit(assigned("o-tb", "v-1", "tech-1"), ten - timedelta(hours=2))
    await harness.emit(taken_back("o-tb", "v-1", "tech-1"), ten)
    await harness.emit(closed("o-tb", "v-1", "tech-1", ten, outcome=VisitOutcome.TAKEN_BACK), ten)
    harness.clock.set(local(MONDAY, 14))
    [after_visit] = await harness.due()

    # The unit is in the workshop: its return answers the customer, not another visit now.
    waiting = await harness.answer(
        after_visit["task_id"], reached=True, satisfied=False, scores=scores(3, 3)
    )
    assert await harness.staged("RevisitRequested") == []
    assert "workshop" in waiting["follow_up"]

    thursday_ten = local(THURSDAY, 10)
    harness.clock.set(thursday_ten)
    await harness.emit(returned("o-tb", thursday_ten), thursday_ten)
    harness.clock.set(local(THURSDAY, 14))
    [after_return] = await harness.due()
    assert after_return["task_id"] != after_visit["task_id"]
    await harness.answer(
        after_return["task_id"],
        reached=True,
        problem_solved=False,
        satisfied=False,
        scores=scores(2, 2),
    )

    [revisit] = await harness.staged("RevisitRequested")
    assert (revisit.task_id, revisit.previous_visit_id) == (after_return["task_id"], "v-1")
    [chain] = await chains(harness, "o-tb")
    assert (chain["status"], chain["revisits_requested"]) == ("open", 1)
    assert chain["dissatisfied_call_backs"] == [after_visit["task_id"], after_return["task_id"]]


async def test_fbk_7_a_second_dissatisfied_call_back_waits_for_the_revisit_already_requested(
    harness: Harness,
) -> None:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))
    [fbk3] = await harness.due()
    await harness.answer(fbk3["task_id"], reached=True, satisfied=False, scores=scores(3, 3))
    # The sampled call of the same visit (FBK-4), before scheduling booked the revisit.
    async with FeedbackUnitOfWork(harness.runtime.session_factory) as uow:
        sampled = CallBackTask.schedule(
            order_id="o-1",
            rule="FBK-4",
            now=local(MONDAY, 15),
            not_before=local(MONDAY, 15),
            due_at=local(MONDAY, 17),
            dedupe_key="FBK-4:o-1:v-1",
            visit_id="v-1",
            technician_id="tech-1",
            selection={"rule": "FBK-4", "rate_percent": 100, "stratum": "tech-1"},
        )
        await uow.call_backs.save(sampled)
        await uow.commit()
    harness.clock.set(local(MONDAY, 15))

    second = await harness.answer(
        sampled.task_id, reached=True, satisfied=False, scores=scores(4, 4)
    )

    assert len(await harness.staged("RevisitRequested")) == 1
    assert "already requested" in second["follow_up"]
    [chain] = await chains(harness, "o-1")
    assert (chain["revisits_requested"], chain["awaiting_booking"]) == (1, True)

    # The one revisit is booked, done, and the customer satisfied: every dissatisfaction of the
    # chain is resolved.
    await harness.emit(revisit_booked("o-1", "v-2", "v-1", "tech-1"), local(MONDAY, 16))
    await harness.completed_visit("o-1", "v-2", "tech-1", at=local(TUESDAY, 11))
    harness.clock.set(local(TUESDAY, 14))
    [after] = await harness.due()
    await harness.answer(after["task_id"], reached=True, satisfied=True, scores=scores())
    [chain] = await chains(harness, "o-1")
    assert (chain["status"], chain["visit_ids"]) == ("closed", ["v-2"])
    assert all(i["resolved_at"] is not None for i in await issues(harness, "o-1"))


async def test_fbk_7_fbk_11_an_order_cancelled_after_a_revisit_was_requested_closes_its_chain(
    harness: Harness,
) -> None:
    await harness.completed_visit("o-gone", "v-1", "tech-1", at=local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))
    [task] = await harness.due()
    await harness.answer(task["task_id"], reached=True, satisfied=False, scores=scores(3, 3))
    assert len(await harness.staged("RevisitRequested")) == 1

    # Scheduling ignores the request: the order was cancelled before it got there.
    await harness.emit(
        OrderCancelled(order_id="o-gone", reason="客户不修了", cancelled_by="agent-1"),
        local(MONDAY, 15),
    )

    [chain] = await chains(harness, "o-gone")
    assert chain["status"] == "cancelled"
    assert chain["closed_reason"] == "order cancelled"
    assert chain["closed_at"] == "2026-03-02T07:00:00Z"  # Monday 15:00 in Shanghai
    assert chain["awaiting_booking"] is False
    assert all(i["resolved_at"] is not None for i in await issues(harness, "o-gone"))
