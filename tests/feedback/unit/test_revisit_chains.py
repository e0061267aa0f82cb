"""Revisit chains on the pure domain (FBK-7, FBK-11): one revisit at a time, none while work
already under way answers the customer, and a chain left open by a cancelled order closed as
such. The calendar is a fake of the port: every hour is working time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from feedback_support import apply

from contracts.fieldwork import (
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    UnitReturned,
    UnitTakenBack,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import OrderCancelled
from contracts.scheduling import RevisitBooked, RevisitReason
from feedback.domain.case import Case, ChainStatus, ScheduleCallBack
from feedback.domain.policy import FeedbackPolicy

POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


def closed(visit_id: str, at: datetime, outcome: VisitOutcome) -> VisitClosed:
    return VisitClosed(
        order_id="o-1", visit_id=visit_id, technician_id="t-1", outcome=outcome, closed_at=at
    )


def completed(case: Case, visit_id: str, at: datetime) -> None:
    apply(
        case,
        RepairCompleted(
            order_id="o-1",
            visit_id=visit_id,
            technician_id="t-1",
            tested=True,
            sure_fixed=True,
            on_site_minutes=30,
        ),
        at,
    )
    apply(case, closed(visit_id, at, VisitOutcome.COMPLETED), at)


def booked(case: Case, visit_id: str, after: str, at: datetime, reason: RevisitReason) -> None:
    apply(
        case,
        RevisitBooked(
            order_id="o-1",
            visit_id=visit_id,
            previous_visit_id=after,
            reason=reason,
            technician_id="t-1",
        ),
        at,
    )


def rebooked_for_a_missing_part() -> Case:
    """Visit 1 failed for a missing part; visit 2 is booked and not done yet."""
    case = Case(order_id="o-1")
    apply(
        case,
        RepairFailed(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            reason=RepairFailureReason.MISSING_PART,
        ),
        hours(0),
    )
    apply(case, closed("v-1", hours(0), VisitOutcome.UNFINISHED), hours(0))
    booked(case, "v-2", "v-1", hours(0.5), RevisitReason.MISSING_PART)
    return case


def taken_back() -> Case:
    """Visit 1 took the unit to the workshop (receipt TB-1)."""
    case = Case(order_id="o-1")
    apply(
        case,
        UnitTakenBack(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            receipt_number="TB-1",
            promised_return_date=date(2026, 3, 9),
        ),
        hours(0),
    )
    apply(case, closed("v-1", hours(0), VisitOutcome.TAKEN_BACK), hours(0))
    return case


def test_fbk_7_a_call_back_about_a_visit_a_booked_revisit_follows_requests_no_other() -> None:
    case = rebooked_for_a_missing_part()

    outcome = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(2))

    assert not outcome.request_revisit
    assert outcome.under_way is not None and "v-2" in outcome.under_way
    chain = outcome.chain
    assert (chain.status, chain.requests, chain.visit_ids) == (ChainStatus.OPEN, 0, ["v-2"])
    assert chain.origin_visit_id == "v-1"

    # The revisit already booked answers it: its satisfied call-back closes the chain.
    completed(case, "v-2", hours(5))
    assert case.satisfied(task_id="cb-2", visit_id="v-2", at=hours(6)) is chain
    assert chain.status is ChainStatus.CLOSED and chain.closed_by_task == "cb-2"


def test_fbk_7_a_later_visit_done_answers_until_its_own_call_back_is_made() -> None:
    case = rebooked_for_a_missing_part()
    completed(case, "v-2", hours(5))

    waiting = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(6), pending_visits={"v-2"})
    assert not waiting.request_revisit
    assert waiting.chain.visit_ids == ["v-2"]

    # Once visit 2 is called back too, a customer still not satisfied gets the next revisit,
    # after the latest visit.
    again = case.dissatisfied(task_id="cb-3", visit_id="v-1", at=hours(8))
    assert again.request_revisit
    assert again.previous_visit_id == "v-2"
    assert again.chain is waiting.chain and again.chain.requests == 1


def test_fbk_7_one_revisit_at_a_time_in_a_chain() -> None:
    case = Case(order_id="o-1")
    completed(case, "v-1", hours(0))

    first = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(2))
    # e.g. the sampled FBK-4 call of the same visit, before scheduling booked the revisit
    second = case.dissatisfied(task_id="cb-4", visit_id="v-1", at=hours(3))

    assert first.request_revisit and first.chain.awaiting_booking
    assert not second.request_revisit
    assert second.chain is first.chain
    assert (first.chain.requests, first.chain.dissatisfied_tasks) == (1, ["cb-1", "cb-4"])

    booked(case, "v-2", "v-1", hours(4), RevisitReason.CUSTOMER_DISSATISFIED)
    assert not first.chain.awaiting_booking
    assert not case.dissatisfied(task_id="cb-5", visit_id="v-1", at=hours(5)).request_revisit
    completed(case, "v-2", hours(6))
    after = case.dissatisfied(task_id="cb-6", visit_id="v-2", at=hours(7))
    assert after.request_revisit and after.previous_visit_id == "v-2"
    assert first.chain.requests == 2


def test_fbk_7_a_take_back_call_back_waits_for_the_units_return() -> None:
    case = taken_back()

    in_workshop = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(2))

    assert not in_workshop.request_revisit
    assert in_workshop.under_way is not None and "workshop" in in_workshop.under_way
    [reaction] = apply(
        case,
        UnitReturned(order_id="o-1", receipt_number="TB-1", returned_at=hours(48)),
        hours(48),
    )
    assert isinstance(reaction, ScheduleCallBack)
    assert reaction.dedupe_key in in_workshop.chain.answering_call_backs

    # The call after the return was made (no longer pending) and the customer is still not
    # satisfied: now, and only now, a revisit.
    after_return = case.dissatisfied(task_id="cb-2", visit_id="v-1", at=hours(50))
    assert after_return.request_revisit
    assert after_return.chain is in_workshop.chain and after_return.chain.requests == 1


def test_fbk_7_the_call_back_after_a_units_return_closes_the_chain_that_waited_for_it() -> None:
    case = taken_back()
    chain = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(2)).chain
    [reaction] = apply(
        case,
        UnitReturned(order_id="o-1", receipt_number="TB-1", returned_at=hours(48)),
        hours(48),
    )
    assert isinstance(reaction, ScheduleCallBack)

    # A satisfied answer about the take-back visit itself closes nothing...
    assert case.satisfied(task_id="cb-x", visit_id="v-1", at=hours(49)) is None
    # ...the call after the return does.
    closed_chain = case.satisfied(
        task_id="cb-2", visit_id="v-1", at=hours(50), call_back_key=reaction.dedupe_key
    )
    assert closed_chain is chain and chain.status is ChainStatus.CLOSED


def test_fbk_11_an_order_cancelled_closes_its_open_chain_as_cancelled() -> None:
    case = Case(order_id="o-1")
    completed(case, "v-1", hours(0))
    chain = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(2)).chain

    apply(
        case,
        OrderCancelled(order_id="o-1", reason="customer gave up", cancelled_by="agent-1"),
        hours(3),
    )

    assert chain.status is ChainStatus.CANCELLED
    assert (chain.closed_at, chain.closed_reason) == (hours(3), "order cancelled")
    assert not chain.awaiting_booking
    assert case.open_chain() is None
    # A revisit booked late for the cancelled order joins no chain.
    booked(case, "v-2", "v-1", hours(4), RevisitReason.CUSTOMER_DISSATISFIED)
    assert chain.visit_ids == []
