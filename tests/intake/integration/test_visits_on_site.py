"""Who is at the customer's, visit by visit, through intake's consumer and its store (INT-7,
SCH-12), and an order resolved by phone that scheduling placed before it heard (INT-4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contracts.common import AssigneeKind, TimeWindow
from contracts.feedback import FollowUpCompleted
from contracts.fieldwork import (
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    TechnicianArrived,
    TechnicianDeparted,
    VisitClosed,
    VisitOutcome,
)
from contracts.scheduling import AppointmentConfirmed, OrderAssigned

from .conftest import Intake


async def _status(intake: Intake, order_id: str) -> str:
    return str((await intake.admin.get(f"/v1/orders/{order_id}")).json()["status"])


def _assigned(order_id: str, visit_id: str) -> OrderAssigned:
    return OrderAssigned(
        order_id=order_id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id="t-1",
        assigned_by="d-1",
    )


async def _on_site(intake: Intake, make_order: Any) -> tuple[str, dict[str, str]]:
    """A new order whose first visit t-1 reached an hour after it was assigned: the order's id
    and the ids its technician's events name."""
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    ids = {"order_id": order_id, "technician_id": "t-1"}
    await intake.deliver(_assigned(order_id, "v-1"))
    intake.clock.advance(hours=1)
    await intake.deliver(TechnicianArrived(**ids, visit_id="v-1", arrived_at=intake.clock()))
    return order_id, ids


async def test_sch_12_a_revisit_closed_before_its_device_dated_arrival_does_not_block_cancel(
    intake: Intake, make_order: Any
) -> None:
    order_id, ids = await _on_site(intake, make_order)
    intake.clock.advance(minutes=30)
    await intake.deliver(
        VisitClosed(**ids, visit_id="v-1", outcome=VisitOutcome.DECLINED, closed_at=intake.clock())
    )
    intake.clock.advance(hours=1)
    await intake.deliver(_assigned(order_id, "v-2"))
    intake.clock.advance(hours=1)
    # The arrival logged by a device clock three minutes ahead; its visit closed at once online.
    ahead = intake.clock() + timedelta(minutes=3)
    await intake.deliver(TechnicianArrived(**ids, visit_id="v-2", arrived_at=ahead), at=ahead)
    intake.clock.advance(minutes=1)
    await intake.deliver(
        VisitClosed(**ids, visit_id="v-2", outcome=VisitOutcome.ABORTED, closed_at=intake.clock())
    )
    intake.clock.advance(hours=1)
    await intake.deliver(_assigned(order_id, "v-3"))
    assert await _status(intake, order_id) == "assigned"
    intake.clock.advance(minutes=1)
    cancelled = await intake.admin.post(f"/v1/orders/{order_id}/cancel", json={"reason": "不修了"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


async def test_int_4_an_assignment_made_before_scheduling_heard_of_the_resolution_is_no_visit(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    resolved = await intake.admin.post(
        f"/v1/orders/{order_id}/resolve-remotely",
        json={"guidance": "复位漏电保护开关", "cause": "misuse"},
    )
    assert resolved.status_code == 200, resolved.text
    intake.clock.advance(seconds=5)
    await intake.deliver(_assigned(order_id, "v-1"))
    assert await _status(intake, order_id) == "resolved_remotely"
    intake.clock.advance(hours=2)
    await intake.deliver(
        FollowUpCompleted(
            order_id=order_id, task_id="fbk-1", reached=True, problem_solved=True, satisfied=True
        )
    )
    assert await _status(intake, order_id) == "followed_up"


async def test_fld_2_a_late_departure_of_the_visit_done_leaves_the_order_done_not_the_next(
    intake: Intake, make_order: Any
) -> None:
    # The departure's visit is read and kept: a late one of the visit done moves nothing, the
    # departure of a new visit moves the order.
    order_id, ids = await _on_site(intake, make_order)
    intake.clock.advance(minutes=30)
    await intake.deliver(
        RepairCompleted(**ids, visit_id="v-1", tested=True, sure_fixed=True, on_site_minutes=30)
    )
    assert await _status(intake, order_id) == "completed"
    # Logged by a device clock two minutes ahead, synced now.
    late = intake.clock() + timedelta(minutes=2)
    eta = late + timedelta(minutes=30)
    await intake.deliver(TechnicianDeparted(**ids, visit_id="v-1", eta=eta), at=late)
    assert await _status(intake, order_id) == "completed"
    intake.clock.advance(hours=1)
    eta = intake.clock() + timedelta(minutes=30)
    await intake.deliver(TechnicianDeparted(**ids, visit_id="v-2", eta=eta))
    assert await _status(intake, order_id) == "en_route"


async def test_int_4_no_phone_resolution_while_the_technician_is_still_on_site(
    intake: Intake, make_order: Any
) -> None:
    # The repair failed on site and the next visit is booked: the status would allow a phone
    # resolution, but the technician is still at the customer's until the visit closes.
    order_id, ids = await _on_site(intake, make_order)
    intake.clock.advance(minutes=20)
    await intake.deliver(
        RepairFailed(**ids, visit_id="v-1", reason=RepairFailureReason.MISSING_PART)
    )
    intake.clock.advance(minutes=5)
    tomorrow = intake.clock() + timedelta(days=1)
    window = TimeWindow(start=tomorrow, end=tomorrow + timedelta(hours=2))
    await intake.deliver(AppointmentConfirmed(**ids, visit_id="v-2", window=window))
    assert await _status(intake, order_id) == "appointment_confirmed"
    intake.clock.advance(minutes=1)
    guidance = {"guidance": "复位漏电保护开关", "cause": "misuse"}
    refused = await intake.admin.post(f"/v1/orders/{order_id}/resolve-remotely", json=guidance)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Technician on site"
    assert refused.json()["current_status"] == "appointment_confirmed"
    assert await intake.events("OrderResolvedRemotely") == []
    intake.clock.advance(minutes=5)
    await intake.deliver(
        VisitClosed(
            **ids, visit_id="v-1", outcome=VisitOutcome.UNFINISHED, closed_at=intake.clock()
        )
    )
    resolved = await intake.admin.post(f"/v1/orders/{order_id}/resolve-remotely", json=guidance)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved_remotely"
