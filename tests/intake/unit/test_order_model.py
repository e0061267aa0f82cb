"""The order aggregate (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.common import Address, Channel, Customer, Fault, Product
from contracts.intake import OrderCreated
from intake.domain.model import ALLOWED_FROM, OPEN_STATUSES, Order, OrderStatus, TimelineEntry

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _order(**overrides: object) -> Order:
    fields: dict[str, object] = {
        "customer": Customer(name="王芳", phones=["+8613800138000"], address=Address(detail="x")),
        "product": Product(line="water_heater", model="JSQ24-12"),
        "fault": Fault(description="热水器打不着火"),
        "channel": Channel.HOTLINE,
        "now": NOW,
    }
    fields.update(overrides)
    return Order.take(**fields)  # type: ignore[arg-type]


def _entry(event_type: str, minutes: int, event_id: str | None = None) -> TimelineEntry:
    return TimelineEntry(
        event_id=event_id or f"{event_type}-{minutes}",
        type=event_type,
        version=1,
        time=NOW + timedelta(minutes=minutes),
        source="/fsm/test",
    )


def test_int_1_taking_an_order_records_order_created_with_what_was_taken() -> None:
    order = _order(needs_verification=["product.purchase_date"], emergency=True)
    assert len(order.events) == 1
    event = order.events[0]
    assert isinstance(event, OrderCreated)
    assert event.order_id == order.id
    assert event.customer.phones == ["+8613800138000"]
    assert event.emergency is True
    assert event.subject() == order.id


def test_int_2_missing_details_travel_with_the_order() -> None:
    order = _order(needs_verification=["product.purchase_date", "product.model"])
    assert order.needs_verification == ["product.purchase_date", "product.model"]
    assert order.events[0].needs_verification == ["product.purchase_date", "product.model"]  # type: ignore[attr-defined]


def test_status_follows_the_timeline_in_event_time_order_whatever_the_arrival_order() -> None:
    order = _order()
    assert order.observe(_entry("TechnicianArrived", 30))
    assert order.observe(_entry("OrderAssigned", 10))
    assert order.observe(_entry("OrderCreated", 0))
    assert [e.type for e in order.timeline] == [
        "OrderCreated",
        "OrderAssigned",
        "TechnicianArrived",
    ]
    assert order.status is OrderStatus.ON_SITE


def test_the_same_event_seen_twice_is_on_the_timeline_once() -> None:
    order = _order()
    assert order.observe(_entry("OrderCreated", 0, "e1"))
    assert not order.observe(_entry("OrderCreated", 0, "e1"))
    assert len(order.timeline) == 1


def test_a_cancelled_order_stays_cancelled_until_reopened() -> None:
    order = _order()
    order.observe(_entry("OrderCancelled", 5))
    order.observe(_entry("OrderAssigned", 6))
    assert order.status is OrderStatus.CANCELLED
    order.observe(_entry("OrderReopened", 7))
    assert order.status is OrderStatus.RECEIVED


def test_int_8_a_call_back_while_the_unit_is_in_the_workshop_leaves_the_order_open() -> None:
    order = _order()
    for event_type, minutes in (("OrderCreated", 0), ("OrderAssigned", 5), ("UnitTakenBack", 60)):
        order.observe(_entry(event_type, minutes))
    order.observe(_entry("FollowUpCompleted", 24 * 60))
    assert order.status is OrderStatus.TAKEN_BACK
    order.observe(_entry("UnitReturned", 3 * 24 * 60))
    order.observe(_entry("FollowUpCompleted", 4 * 24 * 60))
    assert order.status is OrderStatus.FOLLOWED_UP


def test_fbk_7_a_revisit_requested_at_the_call_back_reopens_the_order_for_dispatch() -> None:
    order = _order()
    for event_type, minutes in (("OrderCreated", 0), ("OrderResolvedRemotely", 5)):
        order.observe(_entry(event_type, minutes))
    order.observe(_entry("FollowUpCompleted", 125))
    order.observe(_entry("RevisitRequested", 125, "zz-after-the-call-back"))
    assert order.status is OrderStatus.VERIFIED and order.status in OPEN_STATUSES
    order.observe(_entry("OrderAssigned", 130))
    assert order.status is OrderStatus.ASSIGNED


def test_sch_6_an_assignment_that_crossed_the_arrival_keeps_the_order_on_site() -> None:
    # The centre sent someone else while the first technician was en route; the arrival crossed
    # it, and scheduling gave the visit back to the technician at the door.
    order = _order()
    for event_type, minutes, event_id in (
        ("OrderCreated", 0, None),
        ("OrderAssigned", 5, None),
        ("TechnicianDeparted", 30, None),
        ("OrderReassigned", 58, "to-the-second-technician"),
        ("TechnicianArrived", 59, None),
        ("OrderReassigned", 60, "back-to-the-technician-on-site"),
    ):
        order.observe(_entry(event_type, minutes, event_id))
    assert order.status is OrderStatus.ON_SITE
    assert order.status not in ALLOWED_FROM["cancel"]


def test_sch_10_a_return_that_crossed_an_arrival_synced_late_keeps_the_order_on_site() -> None:
    order = _order()
    order.observe(_entry("OrderAssigned", 5))
    order.observe(_entry("OrderReturnedToCentre", 40))
    assert order.status is OrderStatus.VERIFIED
    order.observe(_entry("TechnicianArrived", 38))  # logged offline, synced after the return
    order.observe(_entry("OrderAssigned", 41, "given-back"))
    assert order.status is OrderStatus.ON_SITE


def test_fbk_7_a_revisit_request_while_a_technician_is_at_the_door_keeps_it_on_site() -> None:
    order = _order()
    order.observe(_entry("OrderAssigned", 5))
    order.observe(_entry("TechnicianArrived", 60))
    order.observe(_entry("RevisitRequested", 70))
    assert order.status is OrderStatus.ON_SITE


def test_after_the_visit_ends_an_assignment_moves_the_order_again() -> None:
    # Customer not home, rebooked: the next assignment is a real one.
    order = _order()
    for event_type, minutes in (
        ("OrderAssigned", 5),
        ("TechnicianArrived", 60),
        ("CustomerNotHome", 75),
        ("VisitClosed", 75),
        ("OrderAssigned", 80),
    ):
        order.observe(_entry(event_type, minutes))
    assert order.status is OrderStatus.ASSIGNED
    # ...and a call-back that finds the customer dissatisfied after a finished visit reopens it.
    order.observe(_entry("TechnicianArrived", 24 * 60))
    order.observe(_entry("RepairCompleted", 24 * 60 + 30))
    order.observe(_entry("VisitClosed", 24 * 60 + 31))
    order.observe(_entry("RevisitRequested", 2 * 24 * 60))
    assert order.status is OrderStatus.VERIFIED


def test_fbk_7_a_revisit_request_attached_to_the_visit_under_way_leaves_its_status() -> None:
    # Racing RevisitBooked: the call-back's request reached scheduling after the next visit was
    # booked, and was attached to it; the order is still assigned, not back in the queue.
    order = _order()
    for event_type, minutes in (
        ("OrderAssigned", 5),
        ("TechnicianArrived", 60),
        ("RepairFailed", 90),
        ("VisitClosed", 91),
        ("OrderAssigned", 120),
        ("RevisitRequested", 130),
    ):
        order.observe(_entry(event_type, minutes))
    assert order.status is OrderStatus.ASSIGNED
    order.observe(_entry("TechnicianDeparted", 200))
    order.observe(_entry("RevisitRequested", 210, "another-call-back"))
    assert order.status is OrderStatus.EN_ROUTE


def test_fbk_7_a_revisit_request_while_the_unit_is_in_the_workshop_leaves_it_there() -> None:
    order = _order()
    for event_type, minutes in (
        ("OrderAssigned", 5),
        ("TechnicianArrived", 60),
        ("UnitTakenBack", 90),
        ("VisitClosed", 91),
        ("RevisitRequested", 24 * 60),
    ):
        order.observe(_entry(event_type, minutes))
    assert order.status is OrderStatus.TAKEN_BACK
