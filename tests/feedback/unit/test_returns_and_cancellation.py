"""What a taken-back unit's return and the order's cancellation call for, on the pure domain:
a unit back unrepaired is an issue left open (FLD-6, FLD-9, FBK-12), and the cancellation stops
following up everything but the work done before it, by the events' own times, whichever is
heard first (FBK-2..FBK-4, FBK-7). The calendar is a fake of the port: every hour is working
time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from feedback_support import apply

from contracts.fieldwork import (
    RepairCompleted,
    UnitReturned,
    UnitTakenBack,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import OrderCancelled
from feedback.domain.case import (
    CancelCallBacks,
    Case,
    ChainStatus,
    OpenIssue,
    ScheduleCallBack,
)

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


def closed(visit_id: str, at: datetime, outcome: VisitOutcome) -> VisitClosed:
    return VisitClosed(
        order_id="o-1", visit_id=visit_id, technician_id="t-1", outcome=outcome, closed_at=at
    )


def repair(case: Case, visit_id: str, at: datetime, *, tested: bool = True) -> list[object]:
    """A repair completed and its visit closed at ``at``, heard now; the reactions."""
    reactions: list[object] = []
    reactions += apply(
        case,
        RepairCompleted(
            order_id="o-1",
            visit_id=visit_id,
            technician_id="t-1",
            tested=tested,
            sure_fixed=tested,
            on_site_minutes=30,
        ),
        at,
    )
    reactions += apply(case, closed(visit_id, at, VisitOutcome.COMPLETED), at)
    return reactions


def cancel(case: Case, at: datetime) -> list[object]:
    return list(
        apply(
            case,
            OrderCancelled(order_id="o-1", reason="customer gave up", cancelled_by="agent-1"),
            at,
        )
    )


def taken_back() -> Case:
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


def returned(*, repaired: bool, visit_id: str | None = None) -> UnitReturned:
    return UnitReturned(
        order_id="o-1",
        visit_id=visit_id,
        receipt_number="TB-1",
        returned_at=hours(48),
        repaired=repaired,
    )


# -- a unit back unrepaired (FLD-6, FLD-9, FBK-12) -----------------------------------------------


def test_fbk_12_a_unit_returned_unrepaired_opens_an_issue_and_calls_for_no_call_back() -> None:
    case = taken_back()

    [reaction] = apply(case, returned(repaired=False), hours(48))

    assert isinstance(reaction, OpenIssue)
    assert reaction.visit_id == "v-1"
    assert "TB-1" in reaction.reason and "unrepaired" in reaction.reason
    # its own issue, whatever else the take-back visit left open
    assert reaction.dedupe_key == "o-1:returned-unrepaired:TB-1"
    # nothing was repaired: no work done to sample (FBK-4) or to check the sheet of (FBK-8)
    assert case.visits["v-1"].work_done_at is None


def test_fbk_3_a_unit_returned_unrepaired_on_a_visit_of_its_own_keeps_that_visits_call_back() -> (
    None
):
    case = taken_back()

    on_return = apply(case, returned(repaired=False, visit_id="v-2"), hours(48))
    on_close = apply(case, closed("v-2", hours(48), VisitOutcome.COMPLETED), hours(48))

    assert [type(r) for r in on_return] == [OpenIssue]
    [call_back] = [r for r in on_close if isinstance(r, ScheduleCallBack)]
    assert (call_back.rule, call_back.visit_id) == ("FBK-3", "v-2")


def test_fbk_7_a_chain_waiting_for_a_unit_back_unrepaired_is_named_in_its_issue() -> None:
    case = taken_back()
    chain = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(2)).chain

    [reaction] = apply(case, returned(repaired=False), hours(48))

    assert isinstance(reaction, OpenIssue)
    assert chain.chain_id in reaction.reason
    assert chain.status is ChainStatus.OPEN  # the customer is still waiting for a fix


# -- the order's cancellation, by the events' own times -------------------------------------------


def test_fbk_3_a_repair_done_before_a_cancellation_heard_after_it_is_called_back() -> None:
    case = Case(order_id="o-1")
    cancel(case, hours(3))

    # logged offline at hour 1, synced after the cancellation: the envelopes carry hour 1
    reactions = repair(case, "v-1", hours(1))

    [call_back] = reactions
    assert isinstance(call_back, ScheduleCallBack) and call_back.rule == "FBK-3"
    assert not case.cancellation_stops("v-1")


def test_fbk_2_an_untested_repair_done_before_a_cancellation_heard_after_it_is_called_back() -> (
    None
):
    case = Case(order_id="o-1")
    cancel(case, hours(3))

    [early, *_] = repair(case, "v-1", hours(1), tested=False)

    assert isinstance(early, ScheduleCallBack) and early.rule == "FBK-2"
    # RepairCompleted comes before its VisitClosed: its own time already tells
    case_before_close = Case(order_id="o-1")
    cancel(case_before_close, hours(3))
    apply(
        case_before_close,
        RepairCompleted(
            order_id="o-1",
            visit_id="v-1",
            technician_id="t-1",
            tested=False,
            sure_fixed=False,
            on_site_minutes=30,
        ),
        hours(1),
    )
    assert not case_before_close.cancellation_stops("v-1")


def test_fbk_3_work_done_after_the_cancellation_or_never_done_is_not_followed_up() -> None:
    case = Case(order_id="o-1")
    cancel(case, hours(3))

    repair(case, "v-late", hours(4))
    apply(case, closed("v-aborted", hours(3), VisitOutcome.ABORTED), hours(3))
    apply(case, closed("v-unfinished", hours(1), VisitOutcome.UNFINISHED), hours(1))

    assert case.cancellation_stops("v-late")
    assert case.cancellation_stops("v-aborted")
    assert case.cancellation_stops("v-unfinished")
    assert case.cancellation_stops(None)  # the order as a whole: phone guidance, desk work


def test_fbk_3_a_cancellation_heard_after_the_work_spares_the_call_backs_of_work_done_before() -> (
    None
):
    case = Case(order_id="o-1")
    repair(case, "v-1", hours(1))
    apply(case, closed("v-2", hours(2), VisitOutcome.UNFINISHED), hours(2))

    [reaction] = cancel(case, hours(3))

    assert isinstance(reaction, CancelCallBacks) and reaction.rule is None
    assert reaction.except_visits == frozenset({"v-1"})


def test_fbk_3_a_cancellation_heard_twice_keeps_its_first_time() -> None:
    case = Case(order_id="o-1")
    cancel(case, hours(3))
    cancel(case, hours(5))

    repair(case, "v-1", hours(4))

    assert case.cancelled_at == hours(3)
    assert case.cancellation_stops("v-1")


def test_fbk_7_a_dissatisfied_call_back_on_a_cancelled_order_requests_no_revisit() -> None:
    case = Case(order_id="o-1")
    cancel(case, hours(3))
    repair(case, "v-1", hours(1))

    outcome = case.dissatisfied(task_id="cb-1", visit_id="v-1", at=hours(5))

    assert not outcome.request_revisit
    assert outcome.order_cancelled
    assert outcome.chain.status is ChainStatus.CANCELLED
    assert outcome.chain.dissatisfied_task_ids == ["cb-1"]
    assert case.open_chain() is None  # nobody will revisit; the chain waits for nothing
