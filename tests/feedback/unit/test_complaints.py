"""Complaints on the pure domain: whom they count against (INT-9, FBK-9, FBK-11), closing at
fault (FBK-9), escalation (FBK-9) and reopening (FBK-10). The calendar is a fake of the port:
every hour is working time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feedback_support import CALENDAR, apply, arrived, assigned, closed, created

from contracts.common import AssigneeKind, Channel
from contracts.feedback import ComplaintClosed, ComplaintEscalated, ComplaintReopened
from contracts.scheduling import OrderReassigned, OrderReturnedToCentre, ReturnReason
from feedback.domain.case import CENTRE, Case
from feedback.domain.complaints import Complaint, complained_about
from feedback.domain.exceptions import (
    FaultClassRequired,
    IllegalTransition,
    NotOnOrder,
    OrderNotKnownYet,
)
from feedback.domain.figures import GroupBy, compute
from feedback.domain.policy import ComplaintStage, FeedbackPolicy

POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


def worked_on() -> Case:
    """Order o-1: visit v-1 done by tech-1 for net-1, then the order reassigned to tech-2 of
    net-2."""
    case = Case(order_id="o-1")
    apply(case, created("o-1"), hours(0))
    apply(case, assigned("o-1", "v-1", "tech-1", "net-1"), hours(0))
    apply(case, closed("o-1", "v-1", "tech-1", hours(2)), hours(2))
    apply(
        case,
        OrderReassigned(
            order_id="o-1",
            visit_id="v-2",
            assignee_kind=AssigneeKind.NETWORK,
            technician_id="tech-2",
            network_id="net-2",
            previous_assignee_kind=AssigneeKind.NETWORK,
            previous_technician_id="tech-1",
            previous_network_id="net-1",
            reassigned_by="dispatcher-1",
        ),
        hours(3),
    )
    return case


def filed(*, staff_fault_class: str | None = None, level: int = 1) -> Complaint:
    return Complaint.file(
        order_id="o-1",
        channel=Channel.HOTLINE,
        description="维修后仍然漏水",
        level=2 if level == 2 else 1,
        staff_fault_class=staff_fault_class,  # type: ignore[arg-type]
        taken_by="agent-1",
        confirmed_by_customer=True,
        now=hours(0),
        technician_id="tech-1",
        network_id="net-1",
        policy=POLICY,
        calendar=CALENDAR,
    )


def followed_up(complaint: Complaint, *, from_hour: int = 0) -> Complaint:
    """Round the loop to `followed_up`, a state an hour from ``from_hour``."""
    for n, stage in enumerate(list(ComplaintStage)[1:-1], start=from_hour + 1):
        complaint.advance(
            stage, owner="mgr", now=hours(n), note=None, policy=POLICY, calendar=CALENDAR
        )
    return complaint


def close(
    complaint: Complaint,
    *,
    at_fault: bool,
    staff_fault_class: str | None = None,
    at: datetime = hours(10),
    owner: str = "network manager",
) -> None:
    complaint.close(
        cause="seal not replaced",
        owner=owner,
        preventive_action="seal checklist",
        at_fault=at_fault,
        staff_fault_class=staff_fault_class,  # type: ignore[arg-type]
        summary=None,
        compensation=None,
        now=at,
    )


# -- whom a complaint counts against (INT-9, FBK-9, FBK-11) ---------------------------------------


def test_int_9_a_complaint_on_an_order_feedback_never_heard_of_is_not_known_yet() -> None:
    with pytest.raises(OrderNotKnownYet) as refused:
        complained_about(None, order_id="ORD-DOES-NOT-EXIST", technician_id=None, network_id=None)

    assert refused.value.extensions["retryable"] is True
    assert refused.value.extensions["errors"][0]["field"] == "order_id"


def test_fbk_11_a_complaint_counts_only_against_a_technician_or_network_on_the_order() -> None:
    case = worked_on()

    for technician_id, network_id in (("tech-nobody", None), (None, "net-nobody")):
        with pytest.raises(NotOnOrder):
            complained_about(
                case, order_id="o-1", technician_id=technician_id, network_id=network_id
            )
    # who did the visit, and who holds the order now, may be complained about
    assert complained_about(case, order_id="o-1", technician_id="tech-1", network_id=None) == (
        "tech-1",
        "net-1",  # the network of tech-1's visit, not the order's holder now
    )
    assert complained_about(case, order_id="o-1", technician_id=None, network_id=None) == (
        "tech-2",
        "net-2",
    )
    assert complained_about(case, order_id="o-1", technician_id=None, network_id=CENTRE) == (
        "tech-2",
        CENTRE,
    )


def returned_after_the_visit() -> Case:
    """Order o-1: visit v-1 done by tech-1 for net-1, then the order handed back to the centre
    (the customer postponed the rest, SCH-10): nobody holds it."""
    case = Case(order_id="o-1")
    apply(case, created("o-1"), hours(0))
    apply(case, assigned("o-1", "v-1", "tech-1", "net-1"), hours(0))
    apply(case, arrived("o-1", "v-1", "tech-1", hours(1)), hours(1))
    apply(case, closed("o-1", "v-1", "tech-1", hours(2)), hours(2))
    apply(
        case,
        OrderReturnedToCentre(
            order_id="o-1",
            visit_id="v-1",
            reason=ReturnReason.CUSTOMER_POSTPONED,
            returned_by="tech-1",
            technician_id="tech-1",
            network_id="net-1",
        ),
        hours(3),
    )
    return case


def test_fbk_11_a_complaint_naming_nobody_on_an_order_back_with_the_centre_is_the_last_visits() -> (
    None
):
    case = returned_after_the_visit()

    assert complained_about(case, order_id="o-1", technician_id=None, network_id=None) == (
        "tech-1",
        "net-1",
    )
    assert case.complaint_visit() == "v-1"


def test_fbk_11_a_complaint_naming_nobody_on_an_order_back_with_the_centre_before_any_visit() -> (
    None
):
    case = Case(order_id="o-1")
    apply(case, created("o-1"), hours(0))
    apply(case, assigned("o-1", "v-1", "tech-1", "net-1"), hours(0))
    apply(
        case,
        OrderReturnedToCentre(
            order_id="o-1",
            visit_id="v-1",
            reason=ReturnReason.CANNOT_STAFF,
            returned_by="net-1",
            network_id="net-1",
        ),
        hours(1),
    )

    # nobody went: the centre, which holds the order, is complained about
    assert complained_about(case, order_id="o-1", technician_id=None, network_id=None) == (
        None,
        CENTRE,
    )


def test_fbk_11_a_complaint_naming_nobody_is_about_the_visit_its_holder_holds() -> None:
    assert worked_on().complaint_visit() == "v-2"


def test_fbk_11_a_complaint_naming_staff_but_no_order_is_refused() -> None:
    with pytest.raises(NotOnOrder) as refused:
        complained_about(None, order_id=None, technician_id="tech-1", network_id=None)

    assert refused.value.extensions["errors"][0]["field"] == "technician_id"
    # rule FBK-11: a complaint about no order counts for the centre
    assert complained_about(None, order_id=None, technician_id=None, network_id=None) == (
        None,
        "centre",
    )


# -- closing at fault (FBK-9) --------------------------------------------------------------------


def test_fbk_9_closing_at_fault_needs_a_staff_fault_class() -> None:
    complaint = followed_up(filed())

    with pytest.raises(FaultClassRequired):
        close(complaint, at_fault=True)

    assert complaint.stage is ComplaintStage.FOLLOWED_UP and complaint.closure is None
    close(complaint, at_fault=True, staff_fault_class="B")
    assert complaint.closure is not None and complaint.closure.staff_fault_class == "B"
    # the class alleged when it was filed serves when none is given at closure
    alleged = followed_up(filed(staff_fault_class="C"))
    close(alleged, at_fault=True)
    assert alleged.closure is not None and alleged.closure.staff_fault_class == "C"


# -- escalation (FBK-9) --------------------------------------------------------------------------


def test_fbk_9_escalation_records_complaint_escalated_with_the_shortened_deadline_once() -> None:
    complaint = filed()
    complaint.events.clear()

    complaint.escalate(
        now=hours(0.5), policy=POLICY, calendar=CALENDAR, reason="媒体曝光", by="agent-2"
    )
    complaint.escalate(now=hours(0.6), policy=POLICY, calendar=CALENDAR, by="agent-3")

    [event] = complaint.events
    assert isinstance(event, ComplaintEscalated)
    assert (event.level, event.stage, event.reason, event.escalated_by) == (
        2,
        "accepted",
        "媒体曝光",
        "agent-2",
    )
    assert event.due_at == complaint.current.due_at == hours(0.5)  # 1 h at level 1, halved
    assert (complaint.escalated_at, complaint.escalated_by) == (hours(0.5), "agent-2")


# -- reopening (FBK-10) --------------------------------------------------------------------------


def test_fbk_10_a_reopened_complaint_restarts_at_accepted_on_its_clock_and_keeps_its_closure() -> (
    None
):
    complaint = followed_up(filed(staff_fault_class="C"))
    with pytest.raises(IllegalTransition):
        complaint.reopen(reason="x", by="agent-2", now=hours(9), policy=POLICY, calendar=CALENDAR)
    close(complaint, at_fault=True)
    first = complaint.closure
    complaint.events.clear()

    complaint.reopen(
        reason="还是漏水", by="agent-2", now=hours(20), policy=POLICY, calendar=CALENDAR
    )

    [event] = complaint.events
    assert isinstance(event, ComplaintReopened)
    assert (event.stage, event.reason, event.reopened_by, event.level) == (
        "accepted",
        "还是漏水",
        "agent-2",
        1,
    )
    assert complaint.stage is ComplaintStage.ACCEPTED
    assert (complaint.current.owner, complaint.current.due_at) == ("agent-2", hours(21))
    assert complaint.closure is None and complaint.earlier_closures == [first]
    assert not complaint.cleared
    with pytest.raises(IllegalTransition):  # only a closed complaint reopens
        complaint.reopen(reason="x", by="agent-2", now=hours(21), policy=POLICY, calendar=CALENDAR)

    followed_up(complaint, from_hour=21)
    close(complaint, at_fault=False, at=hours(30))
    assert isinstance(complaint.events[-1], ComplaintClosed)
    assert complaint.cleared and complaint.earlier_closures == [first]


def test_fbk_11_a_reopened_complaint_counts_once_by_where_it_stands() -> None:
    complaint = followed_up(filed(staff_fault_class="C"))
    close(complaint, at_fault=False)

    def by_class() -> dict[str, int]:
        [row, _] = compute(
            cases=[],
            tasks=[],
            complaints=[complaint],
            findings=[],
            start=hours(-1),
            end=hours(100),
            group_by=GroupBy.TECHNICIAN,
            policy=POLICY,
        )
        return row.complaints_by_class

    assert by_class() == {"A": 0, "B": 0, "C": 0, "none": 0, "not_at_fault": 1}
    complaint.reopen(
        reason="还是漏水", by="agent-2", now=hours(20), policy=POLICY, calendar=CALENDAR
    )
    # open again, it counts under the class alleged, no longer as cleared, and only once
    assert by_class() == {"A": 0, "B": 0, "C": 1, "none": 0, "not_at_fault": 0}
    followed_up(complaint, from_hour=21)
    close(complaint, at_fault=True, at=hours(30))
    assert by_class() == {"A": 0, "B": 0, "C": 1, "none": 0, "not_at_fault": 0}


def test_fbk_10_the_closed_state_is_owned_by_the_closures_owner_without_spaces_around() -> None:
    complaint = followed_up(filed())

    close(complaint, at_fault=False, owner="  network manager ")

    assert complaint.closure is not None
    assert complaint.closure.owner == "network manager"
    assert (complaint.current.stage, complaint.current.owner) == (
        ComplaintStage.CLOSED,
        "network manager",
    )
