"""What other services' outcomes make of an order, through intake's consumer, and the periodic
close of orders whose follow-up is done, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from contracts.base import EventData
from contracts.common import AssigneeKind, Channel
from contracts.feedback import (
    ComplaintClosed,
    ComplaintFiled,
    FollowUpCompleted,
    RevisitRequested,
)
from contracts.fieldwork import (
    RepairCompleted,
    TechnicianArrived,
    UnitReturned,
    UnitTakenBack,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import OrderClosed
from contracts.scheduling import OrderAssigned
from intake.domain.policy import IntakePolicy

from .conftest import Intake

QUIET = timedelta(days=IntakePolicy().close_after_quiet_days)


async def _status(intake: Intake, order_id: str) -> str:
    return str((await intake.admin.get(f"/v1/orders/{order_id}")).json()["status"])


async def _deliver_in_turn(intake: Intake, *events: EventData) -> None:
    """Each event a minute after the one before, as the services published them."""
    for event in events:
        intake.clock.advance(minutes=1)
        await intake.deliver(event)


async def _visit(intake: Intake, order_id: str, *, work: EventData) -> None:
    """The order assigned, the technician at the door, ``work`` done, the visit closed."""
    visit = {"order_id": order_id, "visit_id": "v-1", "technician_id": "t-1"}
    await _deliver_in_turn(
        intake,
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="d-1",
        ),
        TechnicianArrived(**visit, arrived_at=intake.clock() + timedelta(minutes=2)),
        work,
        VisitClosed(
            **visit,
            outcome=VisitOutcome.TAKEN_BACK
            if isinstance(work, UnitTakenBack)
            else VisitOutcome.COMPLETED,
            closed_at=intake.clock() + timedelta(minutes=4),
        ),
    )


def _repair(order_id: str) -> RepairCompleted:
    return RepairCompleted(
        order_id=order_id,
        visit_id="v-1",
        technician_id="t-1",
        tested=True,
        sure_fixed=True,
        on_site_minutes=30,
    )


def _call_back(order_id: str, task_id: str, *, satisfied: bool) -> FollowUpCompleted:
    return FollowUpCompleted(
        order_id=order_id, task_id=task_id, reached=True, problem_solved=True, satisfied=satisfied
    )


# FLD-6, FLD-9 --------------------------------------------------------------------------------


async def test_fld_6_a_unit_returned_unrepaired_leaves_the_order_failed_until_a_revisit(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    await _visit(
        intake,
        order_id,
        work=UnitTakenBack(
            order_id=order_id,
            visit_id="v-1",
            technician_id="t-1",
            receipt_number="R-1",
            promised_return_date=date(2025, 6, 6),
        ),
    )
    assert await _status(intake, order_id) == "taken_back"
    intake.clock.advance(days=5)
    await intake.deliver(
        UnitReturned(
            order_id=order_id, receipt_number="R-1", returned_at=intake.clock(), repaired=False
        )
    )
    assert await _status(intake, order_id) == "failed"
    # The call-back after the return is read against the stored timeline: still failed.
    await _deliver_in_turn(intake, _call_back(order_id, "fbk-3", satisfied=True))
    assert await _status(intake, order_id) == "failed"
    await _deliver_in_turn(
        intake, RevisitRequested(order_id=order_id, reason="机器拿回来了但没修好")
    )
    assert await _status(intake, order_id) == "verified"


# Closing (FBK-7, FBK-10) ---------------------------------------------------------------------


async def test_fbk_7_fbk_10_an_order_followed_up_satisfied_closes_once_quiet_and_no_complaint(
    intake: Intake, make_order: Any
) -> None:
    close = intake.runtime.app.state.close_settled_orders
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    await _visit(intake, order_id, work=_repair(order_id))
    await _deliver_in_turn(intake, _call_back(order_id, "fbk-3", satisfied=True))
    satisfied_at = intake.clock()
    assert await _status(intake, order_id) == "followed_up"
    await _deliver_in_turn(
        intake,
        ComplaintFiled(
            order_id=order_id, complaint_id="c-1", channel=Channel.HOTLINE, description="态度差"
        ),
    )
    intake.clock.advance(days=30)
    assert await close() == 0  # FBK-10: the complaint is still open
    await _deliver_in_turn(
        intake,
        ComplaintClosed(
            order_id=order_id,
            complaint_id="c-1",
            cause="沟通不足",
            owner="网点经理",
            preventive_action="培训",
            at_fault=False,
        ),
    )
    complaint_closed_at = intake.clock()
    intake.clock.advance(seconds=QUIET.total_seconds() - 1)
    assert await close() == 0
    intake.clock.advance(seconds=1)
    assert await close() == 1
    assert await close() == 0

    read = (await intake.admin.get(f"/v1/orders/{order_id}")).json()
    assert read["status"] == "closed"
    assert read["timeline"][-1]["type"] == "OrderClosed"
    assert await intake.events("OrderClosed") == [
        OrderClosed(order_id=order_id, satisfied_at=satisfied_at, quiet_since=complaint_closed_at)
    ]
    # FBK-7: a later call-back finds the problem back; the order is open for the revisit.
    await _deliver_in_turn(intake, RevisitRequested(order_id=order_id, reason="又打不着火了"))
    assert await _status(intake, order_id) == "verified"


async def test_fld_12_a_dissatisfied_call_back_never_closes_the_order(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    await _visit(intake, order_id, work=_repair(order_id))
    await _deliver_in_turn(intake, _call_back(order_id, "fbk-3", satisfied=False))
    assert await _status(intake, order_id) == "followed_up"
    intake.clock.advance(days=365)
    assert await intake.runtime.app.state.close_settled_orders() == 0
    assert await intake.events("OrderClosed") == []


# FLD-2, FLD-11: facts logged offline, dated when they happened -------------------------------


async def test_fld_2_an_arrival_logged_before_the_assignment_was_entered_is_read_after_it(
    intake: Intake, make_order: Any
) -> None:
    # The technician went at once on a phone call; the dispatcher entered the assignment later;
    # the app synced the arrival later still, dated when it happened.
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    arrived_at = intake.clock() + timedelta(minutes=5)
    intake.clock.advance(minutes=10)
    await intake.deliver(
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="d-1",
        )
    )
    intake.clock.advance(minutes=30)
    await intake.deliver(
        TechnicianArrived(
            order_id=order_id, visit_id="v-1", technician_id="t-1", arrived_at=arrived_at
        ),
        at=arrived_at,
    )
    # Read back from the store (ordered by time there), then moved again by a later event.
    await _deliver_in_turn(
        intake,
        VisitClosed(
            order_id=order_id,
            visit_id="v-1",
            technician_id="t-1",
            outcome=VisitOutcome.DECLINED,
            closed_at=intake.clock() + timedelta(minutes=1),
        ),
    )
    order = (await intake.admin.get(f"/v1/orders/{order_id}")).json()
    assert [e["type"] for e in order["timeline"]] == [
        "OrderCreated",
        "OrderAssigned",
        "TechnicianArrived",
        "VisitClosed",
    ]
    assert datetime.fromisoformat(order["timeline"][2]["time"]) == arrived_at
    assert order["status"] == "on_site"
