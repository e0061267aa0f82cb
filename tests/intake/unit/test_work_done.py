"""Scheduling's events that crossed the end of the work or of the order (SCH-3, SCH-6, SCH-10,
SCH-12, FBK-7, INT-4): they neither reopen a done order nor change who holds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.base import EventData
from contracts.common import Address, AssigneeKind, Channel, Customer, Fault, Product, TimeWindow
from contracts.feedback import FollowUpCompleted
from contracts.fieldwork import RepairCompleted, TechnicianArrived, TechnicianDeparted, VisitClosed
from contracts.scheduling import (
    AppointmentConfirmed,
    AppointmentRescheduled,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    ReturnReason,
)
from intake.domain.model import Order, OrderStatus, TimelineEntry
from intake.domain.policy import IntakePolicy

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
POLICY = IntakePolicy()
VISIT = "visit-1"
WINDOW = TimeWindow(start=NOW + timedelta(days=1), end=NOW + timedelta(days=1, hours=2))


def _order() -> Order:
    order = Order.take(
        customer=Customer(name="王芳", phones=["+8613800138000"], address=Address(detail="x")),
        product=Product(line="water_heater", model="JSQ24-12"),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        now=NOW,
    )
    _seen(order, "OrderCreated", 0, None)
    return order


def _seen(
    order: Order, event_type: str, minutes: int, payload: EventData | None, event_id: str = ""
) -> None:
    order.observe(
        TimelineEntry(
            event_id=event_id or f"{event_type}-{minutes}",
            type=event_type,
            version=1,
            time=NOW + timedelta(minutes=minutes),
            source="/fsm/test",
        ),
        payload,
    )


def _assigned(order: Order, technician: str, visit_id: str = VISIT) -> OrderAssigned:
    return OrderAssigned(
        order_id=order.id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician,
        network_id=f"net-of-{technician}",
        assigned_by="dispatcher",
    )


def _reassigned(order: Order, technician: str, visit_id: str = VISIT) -> OrderReassigned:
    return OrderReassigned(
        order_id=order.id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician,
        network_id=f"net-of-{technician}",
        previous_assignee_kind=AssigneeKind.TECHNICIAN,
        previous_technician_id="tech-1",
        reassigned_by="dispatcher",
    )


def _returned(order: Order) -> OrderReturnedToCentre:
    return OrderReturnedToCentre(
        order_id=order.id,
        visit_id=VISIT,
        reason=ReturnReason.CANNOT_ARRIVE_ON_TIME,
        technician_id="tech-1",
    )


def _confirmed(order: Order, visit_id: str = VISIT) -> AppointmentConfirmed:
    return AppointmentConfirmed(
        order_id=order.id, visit_id=visit_id, window=WINDOW, technician_id="tech-1"
    )


def _rescheduled(order: Order, visit_id: str = VISIT) -> AppointmentRescheduled:
    return AppointmentRescheduled(
        order_id=order.id,
        visit_id=visit_id,
        new_window=WINDOW,
        reason="堵车",
        customer_consent=True,
    )


def _departed(order: Order, visit_id: str = VISIT) -> TechnicianDeparted:
    return TechnicianDeparted(
        order_id=order.id, visit_id=visit_id, technician_id="tech-1", eta=NOW + timedelta(hours=1)
    )


def _arrived(order: Order, visit_id: str = VISIT) -> TechnicianArrived:
    return TechnicianArrived(
        order_id=order.id, visit_id=visit_id, technician_id="tech-1", arrived_at=NOW
    )


def _repaired(order: Order) -> None:
    """Assigned to tech-1, who came and repaired it (visit-1)."""
    _seen(order, "OrderAssigned", 5, _assigned(order, "tech-1"))
    _seen(order, "AppointmentConfirmed", 10, _confirmed(order))
    _seen(
        order,
        "TechnicianArrived",
        60,
        TechnicianArrived(
            order_id=order.id, visit_id=VISIT, technician_id="tech-1", arrived_at=NOW
        ),
    )
    _seen(
        order,
        "RepairCompleted",
        90,
        RepairCompleted(
            order_id=order.id,
            visit_id=VISIT,
            technician_id="tech-1",
            tested=True,
            sure_fixed=True,
            on_site_minutes=30,
        ),
    )
    _seen(
        order,
        "VisitClosed",
        91,
        VisitClosed.model_validate(
            {
                "order_id": order.id,
                "visit_id": VISIT,
                "technician_id": "tech-1",
                "outcome": "completed",
                "closed_at": NOW + timedelta(minutes=91),
                "on_site_minutes": 31,
            }
        ),
    )


def _called_back(order: Order, minutes: int) -> None:
    payload = FollowUpCompleted(
        order_id=order.id, task_id="t", reached=True, satisfied=True, problem_solved=True
    )
    _seen(order, "FollowUpCompleted", minutes, payload)


CROSSING = {
    "OrderReassigned": lambda o: _reassigned(o, "tech-2"),
    "OrderReturnedToCentre": _returned,
    "AppointmentConfirmed": _confirmed,
    "AppointmentRescheduled": _rescheduled,
}


@pytest.mark.parametrize("event_type", CROSSING)
@pytest.mark.parametrize("heard_after_the_call_back", [False, True])
def test_sch_12_a_dispatch_of_the_visit_done_that_crossed_its_end_leaves_the_order_done(
    event_type: str, heard_after_the_call_back: bool
) -> None:
    # Scheduling had not heard of the completion (the app synced late) when it moved the visit.
    order = _order()
    _repaired(order)
    if not heard_after_the_call_back:
        _seen(order, event_type, 100, CROSSING[event_type](order))
        assert order.status is OrderStatus.COMPLETED
    _called_back(order, 26 * 60)
    if heard_after_the_call_back:
        _seen(order, event_type, 100, CROSSING[event_type](order))
    assert order.status is OrderStatus.FOLLOWED_UP
    assert order.closable_since is not None  # FBK-7: it can close


@pytest.mark.parametrize("event_type", CROSSING)
def test_sch_12_a_dispatch_whose_visit_cannot_be_read_leaves_a_done_order_done(
    event_type: str,
) -> None:
    order = _order()
    _repaired(order)
    _seen(order, event_type, 100, None)
    assert order.status is OrderStatus.COMPLETED


def test_int_7_a_new_visit_booked_after_the_work_was_done_moves_the_order() -> None:
    # An emergency reported while the visit ended: scheduling books another visit and places it.
    order = _order()
    _repaired(order)
    _seen(order, "OrderAssigned", 100, _assigned(order, "tech-3", visit_id="visit-2"))
    assert order.status is OrderStatus.ASSIGNED
    assert order.technician_id == "tech-3"


def test_fbk_7_after_a_revisit_request_the_next_visit_moves_the_order() -> None:
    order = _order()
    _repaired(order)
    _called_back(order, 26 * 60)
    _seen(order, "RevisitRequested", 26 * 60 + 1, None)
    _seen(order, "OrderAssigned", 26 * 60 + 5, _assigned(order, "tech-2", visit_id="visit-2"))
    assert order.status is OrderStatus.ASSIGNED
    assert order.technician_id == "tech-2"


def test_sch_12_a_reassignment_that_crossed_the_completion_keeps_who_did_the_work() -> None:
    order = _order()
    _repaired(order)
    _seen(order, "OrderReassigned", 100, _reassigned(order, "tech-2"))
    assert (order.technician_id, order.network_id) == ("tech-1", "net-of-tech-1")
    _seen(order, "OrderReturnedToCentre", 101, _returned(order))
    assert (order.technician_id, order.network_id) == ("tech-1", "net-of-tech-1")


# The holder of an order cancelled or resolved by phone (SCH-12, INT-4) -----------------------


def _ended(order: Order, how: str, minutes: int) -> None:
    _seen(order, how, minutes, None)


@pytest.mark.parametrize("how", ["OrderCancelled", "OrderResolvedRemotely"])
def test_sch_12_an_assignment_made_after_the_order_ended_gives_it_to_nobody(how: str) -> None:
    # A dispatcher's list filtered by technician must not show a cancelled or resolved order
    # under someone it was placed with after it ended (scheduling had not heard yet).
    order = _order()
    _ended(order, how, 20)
    _seen(order, "OrderAssigned", 25, _assigned(order, "tech-2"))
    assert (order.technician_id, order.network_id) == (None, None)


@pytest.mark.parametrize("how", ["OrderCancelled", "OrderResolvedRemotely"])
def test_sch_12_a_move_made_after_the_order_ended_keeps_its_holder_then(how: str) -> None:
    order = _order()
    _seen(order, "OrderAssigned", 5, _assigned(order, "tech-1"))
    _ended(order, how, 20)
    _seen(order, "OrderReassigned", 25, _reassigned(order, "tech-2"))
    assert (order.technician_id, order.network_id) == ("tech-1", "net-of-tech-1")
    _seen(order, "OrderReturnedToCentre", 26, _returned(order))
    assert (order.technician_id, order.network_id) == ("tech-1", "net-of-tech-1")


def test_sch_12_an_assignment_made_before_the_cancellation_and_heard_after_applies() -> None:
    order = _order()
    _ended(order, "OrderCancelled", 20)
    _seen(order, "OrderAssigned", 5, _assigned(order, "tech-1"))
    assert order.technician_id == "tech-1"  # who held it when it was cancelled


def test_int_4_after_a_reopening_an_assignment_gives_the_order_to_its_technician() -> None:
    order = _order()
    _ended(order, "OrderResolvedRemotely", 20)
    _seen(order, "OrderReopened", 30, None)
    _seen(order, "OrderAssigned", 35, _assigned(order, "tech-2"))
    assert order.status is OrderStatus.ASSIGNED
    assert order.technician_id == "tech-2"


# The technician's trip of the visit done, dated after its end (FLD-2, FBK-3, FBK-7) ----------

TRIP = {"TechnicianDeparted": _departed, "TechnicianArrived": _arrived}


@pytest.mark.parametrize("event_type", TRIP)
@pytest.mark.parametrize("minutes", [91, 100])  # before the visit's close sorts, and after it
@pytest.mark.parametrize("heard_after_the_call_back", [False, True])
def test_fld_2_a_trip_of_the_visit_done_dated_after_its_completion_leaves_the_order_done(
    event_type: str, minutes: int, heard_after_the_call_back: bool
) -> None:
    # The device's clock ran ahead of the one that dated the completion (fieldwork's
    # offline_clock_skew_seconds), or the app synced the trip late.
    order = _order()
    _repaired(order)
    if not heard_after_the_call_back:
        _seen(order, event_type, minutes, TRIP[event_type](order))
        assert order.status is OrderStatus.COMPLETED
    _called_back(order, 26 * 60)
    if heard_after_the_call_back:
        _seen(order, event_type, minutes, TRIP[event_type](order))
    assert order.status is OrderStatus.FOLLOWED_UP
    assert order.closable_since is not None  # FBK-7: it can close


@pytest.mark.parametrize("event_type", TRIP)
def test_fld_2_a_trip_whose_visit_cannot_be_read_leaves_a_done_order_done(event_type: str) -> None:
    order = _order()
    _repaired(order)
    _seen(order, event_type, 100, None)
    assert order.status is OrderStatus.COMPLETED


def test_int_7_a_new_visits_trip_after_the_work_was_done_moves_the_order() -> None:
    order = _order()
    _repaired(order)
    _seen(order, "TechnicianDeparted", 100, _departed(order, "visit-2"))
    assert order.status is OrderStatus.EN_ROUTE
    _seen(order, "TechnicianArrived", 110, _arrived(order, "visit-2"))
    assert order.status is OrderStatus.ON_SITE


# Scheduling's and the app's events that crossed an arrival (SCH-3, SCH-6, SCH-10, FLD-2) -------

CROSSING_THE_ARRIVAL = {
    "AppointmentConfirmed": _confirmed,
    "AppointmentRescheduled": _rescheduled,
    "TechnicianDeparted": _departed,
}


@pytest.mark.parametrize("event_type", CROSSING_THE_ARRIVAL)
@pytest.mark.parametrize("visit_id", [VISIT, "visit-2", None])
def test_sch_6_a_visit_moved_while_a_technician_is_on_site_leaves_the_order_on_site(
    event_type: str, visit_id: str | None
) -> None:
    # Of the visit under way: published before scheduling heard of the arrival (or dated by a
    # device clock behind); of the next visit (SCH-10): booked while this one goes on. Neither
    # shows the order waiting for a visit, where it could be resolved by phone meanwhile.
    order = _order()
    _seen(order, "OrderAssigned", 5, _assigned(order, "tech-1"))
    _seen(order, "AppointmentConfirmed", 10, _confirmed(order))
    _seen(order, "TechnicianArrived", 60, _arrived(order))
    payload = None if visit_id is None else CROSSING_THE_ARRIVAL[event_type](order, visit_id)
    _seen(order, event_type, 70, payload)
    assert order.status is OrderStatus.ON_SITE
    assert order.technician_id == "tech-1"


def test_fld_5_a_departure_after_a_repair_failed_with_the_technician_there_moves_it() -> None:
    # The part was missing: another technician sets out with it while the first one waits.
    order = _order()
    _seen(order, "OrderAssigned", 5, _assigned(order, "tech-1"))
    _seen(order, "TechnicianArrived", 60, _arrived(order))
    _seen(order, "RepairFailed", 70, None)
    _seen(order, "TechnicianDeparted", 80, _departed(order, "visit-2"))
    assert order.status is OrderStatus.EN_ROUTE
