"""Who is at the customer's, visit by visit (INT-7, SCH-12), and what late dispatch events make
of an order closed by phone (INT-4)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.base import EventData
from contracts.common import (
    Address,
    AssigneeKind,
    Channel,
    Customer,
    Fault,
    Product,
    TimeWindow,
)
from contracts.fieldwork import (
    CustomerNotHome,
    RepairFailed,
    RepairFailureReason,
    TechnicianArrived,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import OrderResolvedRemotely, OrderVerified, RemoteResolutionCause
from contracts.scheduling import AppointmentConfirmed, OrderAssigned
from intake.domain.exceptions import InvalidTransition, TechnicianOnSite
from intake.domain.model import ALLOWED_FROM, Order, OrderStatus, TimelineEntry
from intake.domain.policy import IntakePolicy
from intake.domain.rules import WarrantyTable
from servicekit.calendar import BusinessCalendar

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


def _failed_with_next_visit_booked(order: Order) -> None:
    """The repair failed on site (FLD-5) and the next visit was booked while the technician of
    the first is still at the customer's: the status allows every pre-visit command again."""
    _assigned(order, "v-1", 5)
    _arrived(order, "v-1", 60)
    _seen(
        order,
        "RepairFailed",
        80,
        RepairFailed(
            order_id=order.id,
            visit_id="v-1",
            technician_id="t-1",
            reason=RepairFailureReason.MISSING_PART,
            next_visit_agreed=True,
        ),
    )
    _seen(
        order,
        "AppointmentConfirmed",
        85,
        AppointmentConfirmed(
            order_id=order.id,
            visit_id="v-2",
            window=TimeWindow(start=_at(24 * 60), end=_at(26 * 60)),
            technician_id="t-1",
        ),
    )
    assert order.status is OrderStatus.APPOINTMENT_CONFIRMED
    assert order.status in ALLOWED_FROM["resolve_remotely"]
    assert order.technician_on_site(_at(90))


def _resolve(order: Order) -> OrderResolvedRemotely:
    return order.resolve_remotely(
        guidance="复位漏电保护开关",
        cause=RemoteResolutionCause.MISUSE,
        resolved_by="agent-1",
        now=_at(90),
        calendar=BusinessCalendar(),
        policy=IntakePolicy(),
    )


def test_int_4_no_phone_resolution_while_a_technician_is_on_site() -> None:
    order = _order()
    _failed_with_next_visit_booked(order)
    order.events.clear()
    with pytest.raises(TechnicianOnSite) as refused:
        _resolve(order)
    assert refused.value.action == "resolve_remotely"
    assert refused.value.extensions == {"current_status": "appointment_confirmed"}
    assert order.events == []


def test_int_4_a_phone_resolution_is_possible_again_once_the_visit_is_closed() -> None:
    order = _order()
    _failed_with_next_visit_booked(order)
    _closed(order, "v-1", 95)
    assert isinstance(_resolve(order), OrderResolvedRemotely)


def test_int_4_the_status_is_still_named_first_while_the_order_is_on_site() -> None:
    order = _order()
    _assigned(order, "v-1", 5)
    _arrived(order, "v-1", 60)
    with pytest.raises(InvalidTransition):
        _resolve(order)


def test_int_2_the_technicians_findings_on_site_may_still_correct_the_order() -> None:
    # Guard, not a change: verification stops no work, and a technician at the customer's is
    # who finds the real model or fault (the next visit's parts and loaner follow from it).
    order = _order()
    _failed_with_next_visit_booked(order)
    verified = order.verify(
        reported_on=date(2026, 11, 20),
        warranty=WarrantyTable(),
        verified_by="agent-1",
        now=_at(90),
        policy=IntakePolicy(),
        calendar=BusinessCalendar(),
        product=Product(line="water_heater", model="JSQ24-16"),
        override=True,
    )
    assert isinstance(verified, OrderVerified)
