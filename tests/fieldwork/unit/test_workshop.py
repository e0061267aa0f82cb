"""Loaners and take-backs (FLD-1, FLD-6): a loaner of the order's product line, back in stock only
when collected, and a unit returned on a later visit of its own order (pure domain)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from contracts.fieldwork import (
    LoanerCollected,
    LoanerCollectionOverdue,
    RepairFailureReason,
    UnitReturned,
)
from fieldwork.domain.exceptions import InvalidInput, LoanerUnavailable, RuleViolation
from fieldwork.domain.policy import DEFAULT_KIT, FieldworkPolicy
from fieldwork.domain.visit import Visit
from fieldwork.domain.workshop import Loaner, LoanerState, TakeBack
from servicekit.calendar import CalendarPolicy

from .test_visit import POLICY, at, inside, new_visit

DUE = date(2026, 3, 9)
TZ = CalendarPolicy().build().tz


def lent_with_unit(loaner_serial: str | None = "L1") -> TakeBack:
    """Unit R-1 of order o-1, taken back on visit v-1 at minute 60 with ``loaner_serial``."""
    return TakeBack(
        receipt_number="R-1",
        order_id="o-1",
        visit_id="v-1",
        promised_return_date=DUE,
        taken_at=at(60),
        loaner_serial=loaner_serial,
    )


def lent_loaner() -> Loaner:
    loaner = Loaner(serial="L1", product_line="water_heater")
    loaner.lend(order_id="o-1", receipt_number="R-1", due_back=DUE, at=at(60))
    return loaner


def returned_event(take_back: TakeBack) -> UnitReturned:
    event = take_back.events[-1]
    assert isinstance(event, UnitReturned)
    return event


# -- D1: the loaner the customer keeps ---------------------------------------------------------


def test_fld_6_a_return_must_say_whether_the_loaner_lent_was_collected() -> None:
    take_back = lent_with_unit()

    with pytest.raises(InvalidInput) as refused:
        take_back.return_unit(at=at(100), today=DUE, repaired=False)

    assert refused.value.rule == "FLD-6"
    assert refused.value.extensions["field"] == "loaner_recovered"
    assert refused.value.extensions["loaner_serial"] == "L1"
    assert take_back.returned_at is None and take_back.events == []
    # nothing to say of a unit taken back without a loaner
    without = lent_with_unit(loaner_serial=None)
    without.return_unit(at=at(100), today=DUE)
    assert returned_event(without).loaner_recovered is False


def test_fld_6_a_loaner_the_customer_kept_stays_out_and_the_return_says_so() -> None:
    take_back = lent_with_unit()

    collected = take_back.return_unit(at=at(100), today=DUE, repaired=False, loaner_recovered=False)

    assert collected is False
    assert returned_event(take_back).loaner_recovered is False
    assert take_back.loaner_out == "L1" and take_back.loaner_collected_at is None
    assert take_back.loaner_collected(at=at(200)) is True
    assert take_back.loaner_out is None and take_back.loaner_collected_at == at(200)
    assert take_back.loaner_collected(at=at(300)) is False


def test_fld_6_a_loaner_collected_with_the_unit_is_recovered() -> None:
    take_back = lent_with_unit()

    assert take_back.return_unit(at=at(100), today=DUE, loaner_recovered=True) is True

    assert returned_event(take_back).loaner_recovered is True
    assert take_back.loaner_out is None and take_back.loaner_collected_at == at(100)


def test_fld_6_no_loaner_is_recovered_where_none_was_lent() -> None:
    take_back = lent_with_unit(loaner_serial=None)

    with pytest.raises(InvalidInput) as refused:
        take_back.return_unit(at=at(100), today=DUE, loaner_recovered=True)

    assert refused.value.rule == "FLD-6"
    assert refused.value.extensions["field"] == "loaner_recovered"
    assert take_back.returned_at is None and take_back.events == []
    take_back.return_unit(at=at(100), today=DUE, loaner_recovered=False)
    assert returned_event(take_back).loaner_recovered is False


def test_fld_6_a_loaner_collected_before_the_unit_came_back_needs_no_word_at_the_return() -> None:
    take_back = lent_with_unit()
    take_back.loaner_collected(at=at(90))

    assert take_back.return_unit(at=at(100), today=DUE) is False

    assert returned_event(take_back).loaner_recovered is True


def test_fld_6_a_lent_loaner_is_back_in_stock_only_collected_from_its_order() -> None:
    loaner = lent_loaner()

    with pytest.raises(LoanerUnavailable):
        loaner.board(order_id="o-2", visit_id="v-9", at=at(70))
    with pytest.raises(LoanerUnavailable):
        loaner.collect(order_id="o-2", at=at(70))
    assert loaner.lent_to("o-1")

    loaner.collect(order_id="o-1", at=at(80), condition="外壳磨损")

    assert loaner.state is LoanerState.AVAILABLE and loaner.order_id is None
    assert loaner.condition == "外壳磨损"
    with pytest.raises(LoanerUnavailable):
        loaner.collect(order_id="o-1", at=at(90))


# -- a kept loaner collected late, and chased (FLD-6) ---------------------------------------------

RETURN_DAY = date(2026, 3, 2)  # at(100): Monday 10:40 in Shanghai
COLLECT_BY = date(2026, 3, 5)  # RETURN_DAY + the default 3 days


def kept_at_return() -> TakeBack:
    """R-1 came back at ``at(100)``; the customer kept loaner L1."""
    take_back = lent_with_unit()
    take_back.return_unit(at=at(100), today=RETURN_DAY, loaner_recovered=False)
    take_back.events.clear()
    return take_back


def noon(day: date) -> datetime:
    """Noon in Shanghai of ``day``."""
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)


def check(take_back: TakeBack, day: date, policy: FieldworkPolicy = POLICY) -> bool:
    return take_back.check_loaner_overdue(now=noon(day), today=day, policy=policy, tz=TZ)


def test_fld_6_a_loaner_kept_past_its_collect_by_day_is_reported_once() -> None:
    take_back = kept_at_return()

    assert POLICY.loaner_collect_within_days == 3
    assert take_back.loaner_collect_by(policy=POLICY, tz=TZ) == COLLECT_BY
    assert check(take_back, COLLECT_BY) is False  # the whole collect-by day counts
    assert take_back.events == [] and take_back.loaner_overdue_reported_at is None
    assert check(take_back, date(2026, 3, 6)) is True
    assert check(take_back, date(2026, 3, 7)) is False

    [event] = take_back.events
    assert isinstance(event, LoanerCollectionOverdue)
    assert (event.order_id, event.receipt_number, event.loaner_serial) == ("o-1", "R-1", "L1")
    assert (event.unit_returned_at, event.collect_by) == (at(100), COLLECT_BY)
    assert event.detected_at == noon(date(2026, 3, 6))
    assert take_back.loaner_overdue_reported_at == noon(date(2026, 3, 6))


def test_fld_6_the_collect_by_day_counts_from_the_return_day_in_the_business_time_zone() -> None:
    take_back = lent_with_unit()
    # 17:30 UTC on 2 March is 01:30 on 3 March in Shanghai: the return's day is the 3rd
    take_back.return_unit(
        at=datetime(2026, 3, 2, 17, 30, tzinfo=UTC), today=date(2026, 3, 3), loaner_recovered=False
    )

    assert take_back.loaner_collect_by(policy=POLICY, tz=TZ) == date(2026, 3, 6)
    assert check(take_back, date(2026, 3, 6)) is False
    assert check(take_back, date(2026, 3, 7)) is True
    same_day = FieldworkPolicy(loaner_collect_within_days=0)
    assert kept_at_return().loaner_collect_by(policy=same_day, tz=TZ) == RETURN_DAY
    assert check(kept_at_return(), date(2026, 3, 3), policy=same_day) is True


def _collected_at_the_return() -> TakeBack:
    take_back = lent_with_unit()
    take_back.return_unit(at=at(100), today=RETURN_DAY, loaner_recovered=True)
    return take_back


def _collected_later_in_time() -> TakeBack:
    take_back = kept_at_return()
    take_back.collect_loaner(at=noon(COLLECT_BY), policy=POLICY, tz=TZ)
    return take_back


def _returned_without_a_loaner() -> TakeBack:
    take_back = lent_with_unit(loaner_serial=None)
    take_back.return_unit(at=at(100), today=RETURN_DAY)
    return take_back


NOT_CHASED: dict[str, Callable[[], TakeBack]] = {
    "collected_at_the_return": _collected_at_the_return,
    "collected_later_in_time": _collected_later_in_time,
    "no_loaner_lent": _returned_without_a_loaner,
    "unit_not_back_yet": lent_with_unit,
}


@pytest.mark.parametrize("case", NOT_CHASED)
def test_fld_6_no_loaner_is_chased_unless_kept_at_the_return_and_still_out(case: str) -> None:
    take_back = NOT_CHASED[case]()
    take_back.events.clear()

    assert check(take_back, date(2026, 4, 30)) is False

    assert take_back.events == [] and take_back.loaner_overdue_reported_at is None


@pytest.mark.parametrize(
    ("day", "late"), [(COLLECT_BY, False), (date(2026, 3, 6), True)], ids=["in_time", "late"]
)
def test_fld_6_a_loaner_kept_at_the_return_and_collected_later_is_published(
    day: date, late: bool
) -> None:
    take_back = kept_at_return()

    assert take_back.collect_loaner(at=noon(day), policy=POLICY, tz=TZ) is True

    [event] = take_back.events
    assert isinstance(event, LoanerCollected)
    assert (event.order_id, event.receipt_number, event.loaner_serial) == ("o-1", "R-1", "L1")
    assert (event.collected_at, event.late) == (noon(day), late)
    assert take_back.loaner_out is None and take_back.loaner_collected_at == noon(day)
    assert take_back.collect_loaner(at=noon(day), policy=POLICY, tz=TZ) is False
    assert len(take_back.events) == 1


def test_fld_6_a_loaner_collected_before_or_with_the_unit_publishes_no_loaner_collected() -> None:
    before = lent_with_unit()
    assert before.collect_loaner(at=at(90), policy=POLICY, tz=TZ) is True
    assert before.events == [] and before.loaner_out is None

    with_the_unit = _collected_at_the_return()
    assert with_the_unit.collect_loaner(at=at(200), policy=POLICY, tz=TZ) is False
    assert not any(isinstance(e, LoanerCollected) for e in with_the_unit.events)


# -- D3: a loaner of the order's product line ----------------------------------------------------


def test_fld_1_a_loaner_of_another_product_line_is_not_boarded() -> None:
    loaner = Loaner(serial="L-GS", product_line="gas_stove")

    with pytest.raises(RuleViolation) as refused:
        loaner.board(order_id="o-1", visit_id="v-1", at=at(0), product_line="range_hood")

    assert refused.value.rule == "FLD-1"
    assert refused.value.extensions["loaner_product_line"] == "gas_stove"
    assert refused.value.extensions["order_product_line"] == "range_hood"
    assert "gas_stove" in str(refused.value) and "range_hood" in str(refused.value)
    assert loaner.state is LoanerState.AVAILABLE and loaner.order_id is None
    # one of the order's line goes, as does any for an order intake has not described yet
    loaner.board(order_id="o-2", visit_id="v-2", at=at(1), product_line="gas_stove")
    unknown = Loaner(serial="L2", product_line="gas_stove")
    unknown.board(order_id="o-3", visit_id="v-3", at=at(1), product_line=None)
    assert loaner.state is unknown.state is LoanerState.ON_BOARD


def test_fld_6_a_loaner_of_another_product_line_is_not_lent() -> None:
    loaner = Loaner(serial="L-GS", product_line="gas_stove")

    with pytest.raises(RuleViolation) as refused:
        loaner.lend(
            order_id="o-1", receipt_number="R-1", due_back=DUE, at=at(60), product_line="range_hood"
        )

    assert refused.value.rule == "FLD-6"
    assert refused.value.extensions["order_product_line"] == "range_hood"
    assert loaner.state is LoanerState.AVAILABLE
    loaner.lend(
        order_id="o-1", receipt_number="R-1", due_back=DUE, at=at(60), product_line="gas_stove"
    )
    assert loaner.state is LoanerState.LENT


# -- D4: the visit the unit comes back on -------------------------------------------------------


def unit_return_visit(**kw: object) -> Visit:
    """Visit v-2 of order o-1, on its way after the take-back."""
    fields: dict[str, object] = {"visit_id": "v-2", "created_at": at(70)}
    fields.update(kw)
    visit = new_visit(**fields)
    visit.depart(at=at(80), eta=at(110), kit_checked=DEFAULT_KIT, policy=POLICY)
    return visit


NAMED_VISITS: dict[str, tuple[Callable[[], Visit], str]] = {
    "another_orders_visit": (
        lambda: unit_return_visit(order_id="o-2"),
        "is not a visit of order o-1",
    ),
    "the_take_back_visit": (inside, "is the visit the unit was taken back on"),
    "a_visit_not_gone": (lambda: new_visit(visit_id="v-2"), "never reached the customer"),
}


@pytest.mark.parametrize("case", sorted(NAMED_VISITS))
def test_fld_6_the_unit_comes_back_only_on_a_later_visit_of_its_order(case: str) -> None:
    take_back = lent_with_unit()
    make, problem = NAMED_VISITS[case]
    named = make()

    with pytest.raises(InvalidInput) as refused:
        take_back.return_unit(at=at(120), today=DUE, visit=named, loaner_recovered=True)

    assert refused.value.rule == "FLD-6" and problem in str(refused.value)
    assert refused.value.extensions["field"] == "visit_id"
    assert take_back.returned_at is None and take_back.events == []
    # the order's later visit brings it back
    take_back.return_unit(at=at(120), today=DUE, visit=unit_return_visit(), loaner_recovered=True)
    assert take_back.returned_visit_id == "v-2" and returned_event(take_back).visit_id == "v-2"


def test_fld_6_a_visit_over_before_the_take_back_did_not_bring_the_unit_back() -> None:
    take_back = lent_with_unit()
    earlier = inside(visit_id="v-0")
    earlier.fail(at=at(40), reason=RepairFailureReason.OTHER)

    with pytest.raises(InvalidInput, match="ended before the unit was taken back"):
        take_back.return_unit(at=at(120), today=DUE, visit=earlier, loaner_recovered=True)
