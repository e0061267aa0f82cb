"""A technician on the way may have their trip called off (SCH-6: the centre sends someone else;
SCH-10: the customer postpones); once they are on site the visit is fieldwork's until it ends
there: dispatch neither moves, cancels nor postpones it, and its end closes the order whoever
holds it (SCH-8, SCH-10, SCH-12); a change that crosses the arrival gives the visit back to the
technician on site, and a postponement that crosses it drops the visit booked to replace it; an
emergency after a visit that ended is dispatched (INT-7, INT-8); a call-back about an earlier
visit does not abandon the visit already booked after it (FBK-7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from scheduling_support import DONGYING, Harness, created, local, near

from contracts.common import Channel
from contracts.envelope import EventEnvelope
from contracts.feedback import RevisitRequested
from contracts.fieldwork import (
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    TechnicianArrived,
    TechnicianDeparted,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import DuplicateLinked
from contracts.scheduling import RevisitReason
from scheduling.service_layer import handlers
from servicekit.migrations import upgrade


def _z(moment: Any) -> str:
    return str(moment.isoformat()).replace("+00:00", "Z")


async def _held(harness: Harness) -> tuple[str, str, str]:
    """o1 placed with one of t1 / t2: (visit id, holder, the other technician)."""
    await harness.add_technician("t1")
    await harness.add_technician("t2", home=near(DONGYING, north_km=1))
    await harness.feed(created("o1"))
    order = await harness.order("o1")
    holder = order["technician_id"]
    assert order["status"] == "assigned" and holder in {"t1", "t2"}
    return order["visit_id"], holder, "t2" if holder == "t1" else "t1"


async def _depart(harness: Harness, visit_id: str, technician_id: str) -> None:
    harness.clock.now = local(9, 40)
    await harness.feed(
        TechnicianDeparted(
            order_id="o1", visit_id=visit_id, technician_id=technician_id, eta=local(9, 55)
        )
    )


async def _arrive(harness: Harness, visit_id: str, technician_id: str) -> None:
    harness.clock.now = local(9, 55)
    await harness.feed(
        TechnicianArrived(
            order_id="o1", visit_id=visit_id, technician_id=technician_id, arrived_at=local(9, 55)
        )
    )


async def _complete(harness: Harness, visit_id: str, technician_id: str) -> None:
    common = {"order_id": "o1", "visit_id": visit_id, "technician_id": technician_id}
    await harness.feed(RepairCompleted(**common, tested=True, sure_fixed=True, on_site_minutes=30))
    await harness.feed(
        VisitClosed(**common, outcome=VisitOutcome.COMPLETED, closed_at=harness.clock.now)
    )


async def _send(harness: Harness, technician_id: str, reason: str) -> httpx.Response:
    """The dispatcher (the harness's default key) gives the order to ``technician_id``."""
    return await harness.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": technician_id, "reason": reason}
    )


def _refused_under_way(response: httpx.Response, where: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Technician already on the way or on site"
    assert where in problem["detail"] and "fieldwork" in problem["detail"]


# -- SCH-8 / SCH-12: no reassignment once the technician is on site ------------------------------


async def test_sch_8_sch_12_reassigning_a_technician_on_site_is_refused(harness: Harness) -> None:
    visit_id, holder, other = await _held(harness)
    await _depart(harness, visit_id, holder)
    await _arrive(harness, visit_id, holder)
    before = await harness.order("o1")

    response = await _send(harness, other, "too slow")

    _refused_under_way(response, "on site")
    assert await harness.order("o1") == before
    assert await harness.published("OrderReassigned") == []
    booked = await harness.client.post(
        "/v1/orders/o1/appointment",
        json={"start": _z(local(14)), "end": _z(local(16)), "technician_id": other},
    )
    assert booked.status_code == 409, booked.text
    assert (await harness.order("o1"))["technician_id"] == holder


# -- SCH-6: late on the way, the centre sends someone else --------------------------------------


async def test_sch_6_a_technician_late_on_the_way_is_replaced_by_the_centre(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    await _depart(harness, visit_id, holder)

    response = await _send(harness, other, "堵车, 改派")

    assert response.status_code == 200, response.text
    order = response.json()
    assert (order["status"], order["technician_id"], order["visit_id"]) == (
        "assigned",
        other,
        visit_id,
    )
    [moved] = await harness.published("OrderReassigned")
    assert (moved.technician_id, moved.previous_technician_id) == (other, holder)
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert [a["action"] for a in audit[-2:]] == ["trip_called_off", "reassign"]
    # the new technician sets off and completes; the former one's trip is over
    await _depart(harness, visit_id, other)
    assert (await harness.order("o1"))["status"] == "en_route"
    await _arrive(harness, visit_id, other)
    await _complete(harness, visit_id, other)
    assert (await harness.order("o1"))["status"] == "visit_done"


async def test_sch_8_an_arrival_crossing_a_reassignment_gives_the_visit_back_to_who_is_there(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    await _depart(harness, visit_id, holder)
    moved = await _send(harness, other, "堵车, 改派")
    assert moved.status_code == 200, moved.text

    # fieldwork had the former technician at the door before it heard of the move
    await _arrive(harness, visit_id, holder)

    order = await harness.order("o1")
    assert (order["status"], order["technician_id"]) == ("on_site", holder)
    _, back = await harness.published("OrderReassigned")
    assert (back.technician_id, back.previous_technician_id) == (holder, other)
    assert back.visit_id == visit_id and back.reassigned_by == "scheduling:auto"
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "kept_by_arrived_technician"
    await _complete(harness, visit_id, holder)
    assert (await harness.order("o1"))["status"] == "visit_done"


async def test_sch_9_the_day_plan_does_not_move_a_job_whose_technician_has_left_for_it(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.add_technician("t2", home=near(DONGYING, north_km=1))
    await harness.feed(created("o1"))
    booked = await harness.client.post(
        "/v1/orders/o1/appointment",
        json={"start": _z(local(10)), "end": _z(local(12)), "technician_id": "t1"},
    )
    assert booked.status_code == 200 and booked.json()["technician_id"] == "t1", booked.text
    await _depart(harness, booked.json()["visit_id"], "t1")
    # t1 off today: the solver no longer has t1's route to pin the job to, and gives it to t2
    body = (await harness.client.get("/v1/technicians/t1")).json()
    update = {
        k: v for k, v in body.items() if k not in {"technician_id", "position", "position_at"}
    }
    update["days_off"] = [local(10).date().isoformat()]
    assert (await harness.client.put("/v1/technicians/t1", json=update)).status_code == 200

    response = await harness.client.post("/v1/plans/2026-11-23/optimisation?time_limit=0.3")

    assert response.status_code == 200, response.text
    order = await harness.order("o1")
    assert (order["status"], order["technician_id"]) == ("en_route", "t1")
    moves = await harness.published("OrderReassigned")
    assert not [e for e in moves if e.reassigned_by == handlers.PLANNER]


# -- SCH-10 / SCH-12: no cancellation, hand-back or postponement on site ------------------------


async def test_sch_10_sch_12_cancelling_returning_or_postponing_a_visit_on_site_is_refused(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    await _depart(harness, visit_id, holder)
    await _arrive(harness, visit_id, holder)
    before = await harness.order("o1")
    technician = await harness.key("technician", technician_id=holder)
    dispatcher = await harness.key("dispatcher")

    attempts = [
        ("/v1/orders/o1/assignment/cancellation", {"reason": "客户要求换人"}, dispatcher),
        ("/v1/orders/o1/return", {"reason": "cannot_arrive_on_time"}, technician),
        ("/v1/orders/o1/postponement", {"reason": "客户临时有事"}, technician),
        ("/v1/orders/o1/relocation", _RELOCATION, technician),
    ]
    for path, body, headers in attempts:
        _refused_under_way(await harness.client.post(path, json=body, headers=headers), "on site")

    assert await harness.order("o1") == before
    assert await harness.published("OrderReturnedToCentre") == []
    assert await harness.published("RevisitBooked") == []


_RELOCATION = {
    "location": near(DONGYING, north_km=3).model_dump(),
    "go_now": False,
    "customer_consent": False,
}


async def test_sch_11_a_rebooking_for_another_address_on_the_way_still_goes_through_fieldwork(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    await _depart(harness, visit_id, holder)
    technician = await harness.key("technician", technician_id=holder)

    response = await harness.client.post(
        "/v1/orders/o1/relocation", json=_RELOCATION, headers=technician
    )

    _refused_under_way(response, "on the way")
    assert await harness.published("RevisitBooked") == []


@pytest.mark.parametrize("action", ["cancellation", "return", "postponement"])
async def test_sch_6_sch_10_a_trip_on_the_way_is_called_off_by_the_centre_or_the_technician(
    harness: Harness, action: str
) -> None:
    visit_id, holder, _ = await _held(harness)
    await _depart(harness, visit_id, holder)
    technician = await harness.key("technician", technician_id=holder)
    dispatcher = await harness.key("dispatcher")
    path, body, headers = {
        "cancellation": (
            "/v1/orders/o1/assignment/cancellation",
            {"reason": "客户要求换人"},
            dispatcher,
        ),
        "return": ("/v1/orders/o1/return", {"reason": "cannot_arrive_on_time"}, technician),
        "postponement": ("/v1/orders/o1/postponement", {"reason": "客户临时有事"}, technician),
    }[action]

    response = await harness.client.post(path, json=body, headers=headers)

    assert response.status_code == 200, response.text
    [returned] = await harness.published("OrderReturnedToCentre")
    assert returned.visit_id == visit_id and returned.technician_id == holder
    revisits = await harness.published("RevisitBooked")
    order = await harness.order("o1")
    if action == "postponement":
        [revisit] = revisits
        assert revisit.previous_visit_id == visit_id and order["visit_id"] == revisit.visit_id
    else:
        assert revisits == [] and order["visit_id"] == visit_id
    assert order["status"] != "en_route" and order["arrived_at"] is None
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert "trip_called_off" in [a["action"] for a in audit]


async def test_sch_10_on_site_the_postponement_goes_through_fieldwork_which_books_the_revisit(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    await _depart(harness, visit_id, holder)
    await _arrive(harness, visit_id, holder)
    technician = await harness.key("technician", technician_id=holder)
    refused = await harness.client.post(
        "/v1/orders/o1/postponement", json={"reason": "客户临时有事"}, headers=technician
    )
    assert "SCH-10" in refused.json()["detail"]

    await harness.feed(
        RepairFailed(
            order_id="o1",
            visit_id=visit_id,
            technician_id=holder,
            reason=RepairFailureReason.NEEDS_SECOND_VISIT,
            detail="customer postponed",
        )
    )

    [revisit] = await harness.published("RevisitBooked")
    assert revisit.previous_visit_id == visit_id and revisit.reason is RevisitReason.WORK_UNFINISHED
    order = await harness.order("o1")
    assert order["visit_id"] == revisit.visit_id and order["status"] == "assigned"


async def test_sch_12_a_repair_completed_after_the_assignment_was_cancelled_ends_the_order(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    cancelled = await harness.client.post(
        "/v1/orders/o1/assignment/cancellation", json={"reason": "师傅请假"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "awaiting_assignment"

    # fieldwork had the visit under way with the technician, who completed it
    await _complete(harness, visit_id, holder)

    order = await harness.order("o1")
    assert order["status"] == "visit_done" and order["visit_id"] == visit_id
    again = await _send(harness, holder, "重新派工")
    assert again.status_code == 409, again.text
    assert len(await harness.published("OrderAssigned")) == 1  # the first one only


async def test_sch_12_a_departure_crossing_a_cancellation_leaves_the_order_with_the_centre(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    cancelled = await harness.client.post(
        "/v1/orders/o1/assignment/cancellation", json={"reason": "师傅请假"}
    )
    assert cancelled.status_code == 200

    await _depart(harness, visit_id, holder)  # fieldwork calls this trip off when it hears

    order = await harness.order("o1")
    assert (order["status"], order["technician_id"]) == ("awaiting_assignment", None)
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "departure_after_change"
    assert order["predicted_arrival"] is None


async def test_sch_12_an_arrival_crossing_a_cancellation_keeps_the_visit_with_the_technician(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    await _depart(harness, visit_id, holder)
    cancelled = await harness.client.post(
        "/v1/orders/o1/assignment/cancellation", json={"reason": "客户要求换人"}
    )
    assert cancelled.status_code == 200, cancelled.text

    await _arrive(harness, visit_id, holder)  # at the door before fieldwork heard

    order = await harness.order("o1")
    assert (order["status"], order["technician_id"]) == ("on_site", holder)
    _, back = await harness.published("OrderAssigned")
    assert back.technician_id == holder and back.visit_id == visit_id
    placed = await _send(harness, other, "placed again")
    _refused_under_way(placed, "on site")
    await _complete(harness, visit_id, holder)
    assert (await harness.order("o1"))["status"] == "visit_done"


# -- INT-7 / INT-8: an emergency reported after a visit that ended -------------------------------


async def test_int_7_an_emergency_reported_after_a_declined_visit_is_dispatched_at_once(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    await _depart(harness, visit_id, holder)
    await _arrive(harness, visit_id, holder)
    await harness.feed(
        VisitClosed(
            order_id="o1",
            visit_id=visit_id,
            technician_id=holder,
            outcome=VisitOutcome.DECLINED,
            closed_at=local(10, 20),
        )
    )
    assert (await harness.order("o1"))["status"] == "visit_done"
    harness.clock.now = local(11)

    await harness.feed(
        DuplicateLinked(
            order_id="o1",
            reported_at=local(11),
            channel=Channel.HOTLINE,
            fault_description="热水器有燃气味",
            linked_by="agent-1",
            escalated_to_emergency=True,
        )
    )

    order = await harness.order("o1")
    assert order["emergency"] is True and order["status"] == "assigned"
    assert order["technician_id"] in {"t1", "t2"} and len(order["visits"]) == 2
    assert order["appointment"]["end"] == _z(local(11) + timedelta(minutes=15))
    [revisit] = await harness.published("RevisitBooked")
    assert revisit.previous_visit_id == visit_id and revisit.visit_id == order["visit_id"]
    placed = (await harness.published("OrderAssigned"))[-1]
    assert placed.visit_id == order["visit_id"] and "emergency" in (placed.reason or "")


# -- FBK-7: a call-back about visit 1 while visit 2 is booked or under way ----------------------


@pytest.mark.parametrize("departed", [False, True], ids=["booked", "en-route"])
async def test_fbk_7_a_call_back_about_an_earlier_visit_does_not_abandon_the_next_one(
    harness: Harness, departed: bool
) -> None:
    first, holder, _ = await _held(harness)
    await harness.feed(
        RepairFailed(
            order_id="o1",
            visit_id=first,
            technician_id=holder,
            reason=RepairFailureReason.MISSING_PART,
            next_visit_agreed=True,
        )
    )
    second = (await harness.order("o1"))["visit_id"]
    assert second != first
    if departed:
        await _depart(harness, second, holder)
    before = await harness.order("o1")

    await harness.feed(
        RevisitRequested(
            order_id="o1",
            previous_visit_id=first,
            reason="problem not solved at call-back",
            requested_by="agent-1",
        )
    )

    assert await harness.order("o1") == before  # same visit, same holder, same status
    assert len(await harness.published("RevisitBooked")) == 1  # the missing part's only
    assert len(await harness.published("OrderAssigned")) == 1
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "revisit_request_attached"
    # visit 2 then fixes it, and the order is done
    if not departed:
        await _depart(harness, second, holder)
    await _arrive(harness, second, holder)
    await _complete(harness, second, holder)
    assert (await harness.order("o1"))["status"] == "visit_done"


async def test_fbk_7_a_call_back_about_the_latest_visit_books_a_revisit(harness: Harness) -> None:
    first, holder, _ = await _held(harness)
    await harness.feed(
        RepairFailed(
            order_id="o1",
            visit_id=first,
            technician_id=holder,
            reason=RepairFailureReason.MISSING_PART,
        )
    )
    second = (await harness.order("o1"))["visit_id"]
    await _depart(harness, second, holder)
    await _arrive(harness, second, holder)
    await _complete(harness, second, holder)

    await harness.feed(
        RevisitRequested(order_id="o1", previous_visit_id=second, reason="still leaking")
    )

    revisits = await harness.published("RevisitBooked")
    assert [r.previous_visit_id for r in revisits] == [first, second]
    assert revisits[-1].reason is RevisitReason.CUSTOMER_DISSATISFIED
    order = await harness.order("o1")
    assert order["visit_id"] == revisits[-1].visit_id and len(order["visits"]) == 3


# -- SCH-10: an arrival crossing a postponement ---------------------------------------------------


async def _postponed(harness: Harness, visit_id: str, holder: str) -> str:
    """The holder on the way to ``visit_id`` when the customer postpones at 9:45: the id of the
    visit booked to replace it."""
    await _depart(harness, visit_id, holder)
    harness.clock.now = local(9, 45)
    technician = await harness.key("technician", technician_id=holder)
    response = await harness.client.post(
        "/v1/orders/o1/postponement", json={"reason": "客户临时有事"}, headers=technician
    )
    assert response.status_code == 200, response.text
    revisit = response.json()["visit_id"]
    assert revisit != visit_id
    return str(revisit)


async def _postponed_and_placed(harness: Harness, visit_id: str, holder: str, other: str) -> str:
    """:func:`_postponed`, then the dispatcher places the replacement with ``other``."""
    revisit = await _postponed(harness, visit_id, holder)
    placed = await _send(harness, other, "重新派工")
    assert placed.status_code == 200 and placed.json()["visit_id"] == revisit, placed.text
    return revisit


def _arrival(visit_id: str, technician_id: str, at: Any) -> TechnicianArrived:
    return TechnicianArrived(
        order_id="o1", visit_id=visit_id, technician_id=technician_id, arrived_at=at
    )


@pytest.mark.parametrize("arrived_at", [local(9, 44), local(9, 55)], ids=["before", "after"])
async def test_sch_10_an_arrival_crossing_a_postponement_keeps_the_visit_until_it_ends(
    harness: Harness, arrived_at: Any
) -> None:
    visit_id, holder, _ = await _held(harness)
    revisit = await _postponed(harness, visit_id, holder)
    harness.clock.now = local(9, 56)

    # fieldwork had the technician at the door before it heard of the postponement
    await harness.feed(_arrival(visit_id, holder, arrived_at))

    order = await harness.order("o1")
    assert (order["status"], order["technician_id"], order["visit_id"]) == (
        "on_site",
        holder,
        visit_id,
    )
    assert [v["visit_id"] for v in order["visits"]] == [visit_id]
    assert order["arrived_at"] == _z(arrived_at)
    back = (await harness.published("OrderAssigned"))[-1]
    assert (back.visit_id, back.technician_id, back.assigned_by) == (
        visit_id,
        holder,
        "scheduling:auto",
    )
    [returned] = await harness.published("OrderReturnedToCentre")  # the postponement's only
    assert returned.visit_id == visit_id
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "kept_by_arrived_technician"
    assert audit[-1]["detail"]["superseded_visit_id"] == revisit
    await _complete(harness, visit_id, holder)
    order = await harness.order("o1")
    assert (order["status"], order["visit_id"]) == ("visit_done", visit_id)


async def test_sch_10_an_arrival_crossing_a_postponement_takes_the_placed_revisit_back(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    revisit = await _postponed_and_placed(harness, visit_id, holder, other)

    await _arrive(harness, visit_id, holder)

    order = await harness.order("o1")
    assert (order["status"], order["technician_id"], order["visit_id"]) == (
        "on_site",
        holder,
        visit_id,
    )
    _, taken_back = await harness.published("OrderReturnedToCentre")
    assert (taken_back.visit_id, taken_back.technician_id) == (revisit, other)
    assert taken_back.returned_by == "scheduling:auto"
    back = (await harness.published("OrderAssigned"))[-1]
    assert (back.visit_id, back.technician_id) == (visit_id, holder)
    # the visit on site is unfinished: the next visit follows it, with the same technician
    await harness.feed(
        RepairFailed(
            order_id="o1",
            visit_id=visit_id,
            technician_id=holder,
            reason=RepairFailureReason.MISSING_PART,
        )
    )
    _, rebooked = await harness.published("RevisitBooked")
    assert rebooked.previous_visit_id == visit_id and rebooked.visit_id != revisit
    order = await harness.order("o1")
    assert (order["visit_id"], order["technician_id"]) == (rebooked.visit_id, holder)
    assert [v["number"] for v in order["visits"]] == [1, 2]


async def test_sch_10_an_arrival_crossing_a_postponement_leaves_a_revisit_under_way_alone(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    revisit = await _postponed_and_placed(harness, visit_id, holder, other)
    await _depart(harness, revisit, other)
    before = await harness.order("o1")
    assigned = await harness.published("OrderAssigned")

    await _arrive(harness, visit_id, holder)

    assert await harness.order("o1") == before
    assert (before["status"], before["technician_id"]) == ("en_route", other)
    assert await harness.published("OrderAssigned") == assigned
    assert len(await harness.published("OrderReturnedToCentre")) == 1  # the postponement's
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "arrival_ignored"
    assert audit[-1]["detail"]["current_visit_id"] == revisit


async def test_sch_10_an_arrival_crossing_a_postponement_heard_twice_changes_nothing(
    harness: Harness,
) -> None:
    visit_id, holder, _ = await _held(harness)
    await _postponed(harness, visit_id, holder)
    harness.clock.now = local(9, 56)
    envelope = EventEnvelope.wrap(_arrival(visit_id, holder, local(9, 55)))
    await harness.runtime.handle_event(envelope)
    after = await harness.order("o1")
    published = await harness.published()
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()

    harness.clock.now = local(9, 58)
    await harness.runtime.handle_event(envelope)  # redelivered
    await harness.feed(_arrival(visit_id, holder, local(9, 55)))  # published again

    assert after["visit_id"] == visit_id and after["status"] == "on_site"
    assert await harness.order("o1") == after
    assert await harness.published() == published
    assert (await harness.client.get("/v1/orders/o1/audit")).json() == audit


# -- SCH-10: an arrival crossing a chain of postponements -----------------------------------------


async def _postponed_again(harness: Harness, revisit: str) -> str:
    """The dispatcher postpones ``revisit`` at 9:50, before anyone heard of an arrival at the
    visit it replaced: the id of the visit booked to replace it in turn."""
    harness.clock.now = local(9, 50)
    response = await harness.client.post(
        "/v1/orders/o1/postponement", json={"reason": "客户又改了时间"}
    )
    assert response.status_code == 200, response.text
    again = response.json()["visit_id"]
    assert again != revisit
    return str(again)


async def test_sch_10_an_arrival_crossing_a_chain_of_postponements_takes_the_last_revisit_back(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    revisit = await _postponed_and_placed(harness, visit_id, holder, other)
    again = await _postponed_again(harness, revisit)
    placed = await _send(harness, other, "重新派工")
    assert placed.status_code == 200 and placed.json()["visit_id"] == again, placed.text

    await _arrive(harness, visit_id, holder)

    order = await harness.order("o1")
    assert (order["status"], order["technician_id"], order["visit_id"]) == (
        "on_site",
        holder,
        visit_id,
    )
    assert [v["visit_id"] for v in order["visits"]] == [visit_id]
    *_, taken_back = await harness.published("OrderReturnedToCentre")
    assert (taken_back.visit_id, taken_back.technician_id) == (again, other)
    assert taken_back.returned_by == "scheduling:auto"
    back = (await harness.published("OrderAssigned"))[-1]
    assert (back.visit_id, back.technician_id) == (visit_id, holder)
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "kept_by_arrived_technician"
    assert audit[-1]["detail"]["dropped_visit_ids"] == f"{revisit}, {again}"
    # heard again: nothing changes; the visit on site then ends the order
    published = await harness.published()
    await harness.feed(_arrival(visit_id, holder, local(9, 55)))
    assert await harness.order("o1") == order and await harness.published() == published
    await _complete(harness, visit_id, holder)
    order = await harness.order("o1")
    assert (order["status"], order["visit_id"]) == ("visit_done", visit_id)


async def test_sch_10_an_arrival_crossing_a_chain_of_postponements_leaves_it_once_someone_left(
    harness: Harness,
) -> None:
    visit_id, holder, other = await _held(harness)
    revisit = await _postponed_and_placed(harness, visit_id, holder, other)
    await _depart(harness, revisit, other)
    again = await _postponed_again(harness, revisit)  # the trip to the revisit is called off
    before = await harness.order("o1")
    published = await harness.published()

    await _arrive(harness, visit_id, holder)

    assert await harness.order("o1") == before
    assert (before["status"], before["visit_id"]) == ("awaiting_assignment", again)
    assert await harness.published() == published
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert audit[-1]["action"] == "arrival_ignored"
    assert (audit[-1]["detail"]["current_visit_id"], audit[-1]["detail"]["under_way_visit_id"]) == (
        again,
        revisit,
    )


async def test_sch_10_a_chain_stored_before_0008_keeps_the_trip_called_off_on_the_way(
    harness: Harness,
) -> None:
    # The revisit someone had left for was postponed by a version that did not yet record it:
    # migration 0008 finds it from the trip called off at the instant the next visit was booked.
    visit_id, holder, other = await _held(harness)
    revisit = await _postponed_and_placed(harness, visit_id, holder, other)
    await _depart(harness, revisit, other)
    again = await _postponed_again(harness, revisit)
    dispatch_order = sa.table(
        "dispatch_order", sa.column("order_id", sa.String), sa.column("visits", sa.JSON)
    )
    version = sa.text("SELECT version_num FROM alembic_version")
    async with harness.runtime.engine.begin() as conn:
        head = (await conn.execute(version)).scalar_one()
        recorded = (await conn.execute(sa.select(dispatch_order.c.visits))).scalar_one()
        before_0008 = [
            {k: v for k, v in visit.items() if k != "previous_under_way"} for visit in recorded
        ]
        await conn.execute(dispatch_order.update().values(visits=before_0008))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0007'"))
    assert [visit["previous_under_way"] for visit in recorded] == [False, True, True]

    # 0008 alone: the schema is at the head already, later revisions must not run again
    runtime = harness.runtime
    await upgrade(runtime.spec.migrations_dir, runtime.settings.resolved_database_url, "0008")

    async with harness.runtime.engine.begin() as conn:
        migrated = (await conn.execute(sa.select(dispatch_order.c.visits))).scalar_one()
        await conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :head").bindparams(head=head)
        )
    assert [visit.get("previous_under_way", False) for visit in migrated] == [False, True, True]
    before = await harness.order("o1")
    await _arrive(harness, visit_id, holder)
    assert await harness.order("o1") == before and before["visit_id"] == again
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert (audit[-1]["action"], audit[-1]["detail"]["under_way_visit_id"]) == (
        "arrival_ignored",
        revisit,
    )
