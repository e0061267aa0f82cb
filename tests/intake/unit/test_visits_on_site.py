"""Who is at the customer's, visit by visit (INT-7, SCH-12), and what late dispatch events make
of an order closed by phone (INT-4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.base import EventData
from contracts.common import Address, AssigneeKind, Channel, Customer, Fault, Product
from contracts.fieldwork import CustomerNotHome, TechnicianArrived, VisitClosed, VisitOutcome
from contracts.scheduling import OrderAssigned
from intake.domain.exceptions import TechnicianOnSite
from intake.domain.model import Order, OrderStatus, TimelineEntry

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _order() -> Order:
    return Order.take(
        customer=Customer(name="王芳", phones=["+8613800138000"], address=Address(detail="x")),
        product=Product(line="water_heater", model="JSQ24-12"),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        now=NOW,
    )


def _at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def _seen(
    order: Order,
    event_type: str,
    minutes: int,
    payload: EventData | None = None,
    *,
    event_id: str | None = None,
) -> None:
    order.observe(
        TimelineEntry(
            event_id=event_id or f"{event_type}-{minutes}",
            type=event_type,
            version=1,
            time=_at(minutes),
            source="/fsm/test",
        ),
        payload,
    )


def _assigned(order: Order, visit_id: str, minutes: int) -> None:
    _seen(
        order,
        "OrderAssigned",
        minutes,
        OrderAssigned(
            order_id=order.id,
            visit_id=visit_id,
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="d-1",
        ),
        event_id=f"assigned-{visit_id}",
    )


def _arrived(order: Order, visit_id: str, minutes: int, *, event_id: str | None = None) -> None:
    payload = TechnicianArrived(
        order_id=order.id, visit_id=visit_id, technician_id="t-1", arrived_at=_at(minutes)
    )
    _seen(order, "TechnicianArrived", minutes, payload, event_id=event_id or f"arr-{visit_id}")


def _closed(order: Order, visit_id: str, minutes: int, *, event_id: str | None = None) -> None:
    payload = VisitClosed(
        order_id=order.id,
        visit_id=visit_id,
        technician_id="t-1",
        outcome=VisitOutcome.ABORTED,
        closed_at=_at(minutes),
    )
    _seen(order, "VisitClosed", minutes, payload, event_id=event_id or f"closed-{visit_id}")


def test_int_7_a_visit_closed_at_the_same_instant_as_its_arrival_is_over_whatever_the_ids() -> None:
    # The close's event id sorts before the arrival's: the visit is over all the same.
    order = _order()
    _assigned(order, "v-1", 5)
    _arrived(order, "v-1", 60, event_id="zz-arrival")
    _closed(order, "v-1", 60, event_id="aa-close")
    assert not order.technician_on_site(_at(24 * 60))
    _assigned(order, "v-2", 120)
    assert order.status is OrderStatus.ASSIGNED
    order.cancel(reason="客户不修了", cancelled_by="agent-1")


def test_sch_12_a_revisit_closed_before_its_device_dated_arrival_leaves_nobody_on_site() -> None:
    # The revisit's arrival was logged by a device clock minutes ahead of the server that dated
    # its close (fieldwork tolerates the skew): the close sorts before the arrival it ends.
    order = _order()
    _assigned(order, "v-1", 5)
    _arrived(order, "v-1", 60)
    _closed(order, "v-1", 90)
    _assigned(order, "v-2", 120)
    _arrived(order, "v-2", 200)
    _closed(order, "v-2", 197)
    assert not order.technician_on_site(_at(24 * 60))
    _assigned(order, "v-3", 300)
    assert order.status is OrderStatus.ASSIGNED
    order.cancel(reason="客户不修了", cancelled_by="agent-1")


def test_int_7_the_end_of_one_visit_does_not_take_another_visits_technician_off_site() -> None:
    order = _order()
    _assigned(order, "v-1", 5)
    _arrived(order, "v-1", 60)
    _arrived(order, "v-2", 70)  # a second technician sent to help
    _closed(order, "v-2", 80)
    assert order.technician_on_site(_at(24 * 60))
    assert order.technician_on_site(_at(85))
    assert not order.technician_on_site(_at(65 - 10))
    _closed(order, "v-1", 100)
    assert not order.technician_on_site(_at(24 * 60))


def test_int_7_customer_not_home_ends_its_own_visit_only() -> None:
    order = _order()
    _arrived(order, "v-1", 60)
    _arrived(order, "v-2", 61)
    _seen(
        order,
        "CustomerNotHome",
        70,
        CustomerNotHome(order_id=order.id, visit_id="v-2", technician_id="t-2", arrived_at=_at(61)),
    )
    assert order.technician_on_site(_at(80))
    _seen(order, "RepairFailed", 75)
    assert order.status is OrderStatus.FAILED
    with pytest.raises(TechnicianOnSite):
        order.cancel(reason="x", cancelled_by="agent-1")


def test_int_7_a_close_dated_before_its_arrival_ends_it_at_any_later_time() -> None:
    order = _order()
    _arrived(order, "v-1", 60)
    _closed(order, "v-1", 57)
    assert not order.technician_on_site(_at(58))
    assert not order.technician_on_site(_at(61))


def test_int_4_a_late_assignment_does_not_reopen_an_order_resolved_by_phone() -> None:
    # Scheduling placed the order before it heard of the phone resolution; fieldwork calls the
    # visit off. The order stays resolved: its call-back can follow it up, or reopen it.
    order = _order()
    _seen(order, "OrderResolvedRemotely", 10)
    _assigned(order, "v-1", 11)
    _seen(order, "AppointmentConfirmed", 12)
    assert order.status is OrderStatus.RESOLVED_REMOTELY
    _seen(order, "FollowUpCompleted", 130)
    assert order.status is OrderStatus.FOLLOWED_UP


def test_int_4_a_reopened_order_is_dispatched_again() -> None:
    order = _order()
    _seen(order, "OrderResolvedRemotely", 10)
    _seen(order, "OrderReopened", 20)
    _assigned(order, "v-1", 21)
    assert order.status is OrderStatus.ASSIGNED
    other = _order()
    _seen(other, "OrderResolvedRemotely", 10)
    _seen(other, "RevisitRequested", 130)
    _assigned(other, "v-1", 131)
    assert other.status is OrderStatus.ASSIGNED
