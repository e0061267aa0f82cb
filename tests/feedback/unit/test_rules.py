"""Feedback's rules on the pure domain, with the real business calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from contracts.common import Channel, Customer, Fault, Product
from contracts.fieldwork import RepairCompleted, VisitClosed, VisitOutcome
from contracts.intake import DuplicateLinked, OrderCreated, OrderResolvedRemotely, OrderVerified
from feedback.adapters.calendar import UtcCalendar
from feedback.domain.case import Case, ScheduleCallBack, Visit, WorkKind, visit_call_back_window
from feedback.domain.complaints import Complaint
from feedback.domain.exceptions import ComplaintNotConfirmed, IllegalTransition
from feedback.domain.findings import OpenIssueRecord, fee_discrepancy
from feedback.domain.policy import BusinessType, ComplaintStage, FeedbackPolicy
from servicekit.calendar import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = UtcCalendar(BusinessCalendar())
POLICY = FeedbackPolicy()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


MONDAY, FRIDAY = date(2026, 3, 2), date(2026, 3, 6)
DAY = timedelta(days=1)


def order(
    *,
    brand: str | None = None,
    line: str = "water_heater",
    emergency: bool = False,
    fault: str = "不出热水",
) -> OrderCreated:
    return OrderCreated(
        order_id="o-1",
        customer=Customer.model_validate({"name": "李", "address": {"detail": "x"}}),
        product=Product(line=line, brand=brand),
        fault=Fault(description=fault),
        channel=Channel.HOTLINE,
        emergency=emergency,
    )


def case_of(created: OrderCreated) -> Case:
    case = Case(order_id=created.order_id)
    case.apply(created, at=at(MONDAY, 9), event_id="e", policy=POLICY, calendar=CALENDAR)
    return case


def test_fbk_2_the_unsure_call_back_comes_an_hour_after_the_untested_one() -> None:
    case = case_of(order())

    def due(tested: bool, sure: bool) -> datetime:
        event = RepairCompleted(
            order_id="o-1",
            visit_id="v",
            technician_id="t",
            tested=tested,
            sure_fixed=sure,
            on_site_minutes=30,
        )
        [reaction] = case.apply(
            event, at=at(FRIDAY, 16, 30), event_id="e", policy=POLICY, calendar=CALENDAR
        )
        assert isinstance(reaction, ScheduleCallBack) and reaction.rule == "FBK-2"
        return reaction.not_before

    # 1.5 working hours left on Friday; the rest on Monday morning.
    assert due(tested=False, sure=False) == at(FRIDAY + timedelta(days=3), 9, 30)
    assert due(tested=True, sure=False) == at(FRIDAY + timedelta(days=3), 10, 30)


def _repair(*, tested: bool, sure: bool) -> RepairCompleted:
    return RepairCompleted(
        order_id="o-1",
        visit_id="v",
        technician_id="t",
        tested=tested,
        sure_fixed=sure,
        on_site_minutes=30,
    )


def _remote() -> OrderResolvedRemotely:
    return OrderResolvedRemotely(order_id="o-1", guidance="g", call_back_due_at=None)


@pytest.mark.parametrize(
    ("event", "happened", "callable_from", "due"),
    [
        # FBK-1 mid-day: callable at 12:00, an hour to make the call.
        (_remote(), at(MONDAY, 10), at(MONDAY, 12), at(MONDAY, 13)),
        # FBK-2 untested, callable at 17:00: the hour fits before 18:00.
        (_repair(tested=False, sure=False), at(MONDAY, 15), at(MONDAY, 17), at(MONDAY, 18)),
        # FBK-2 unsure, callable at the close: the hour is Tuesday's first.
        (_repair(tested=True, sure=False), at(MONDAY, 15), at(MONDAY, 18), at(MONDAY, 10) + DAY),
        # FBK-2 untested late on Friday: callable Monday 09:30, due 10:30.
        (
            _repair(tested=False, sure=False),
            at(FRIDAY, 16, 30),
            at(FRIDAY + 3 * DAY, 9, 30),
            at(FRIDAY + 3 * DAY, 10, 30),
        ),
    ],
)
def test_fbk_1_and_fbk_2_a_call_back_leaves_the_minimum_working_time_to_make_the_call(
    event: OrderResolvedRemotely | RepairCompleted,
    happened: datetime,
    callable_from: datetime,
    due: datetime,
) -> None:
    [reaction] = case_of(order()).apply(
        event, at=happened, event_id="e", policy=POLICY, calendar=CALENDAR
    )

    assert isinstance(reaction, ScheduleCallBack)
    assert (reaction.not_before, reaction.due_at) == (callable_from, due)
    minimum = timedelta(minutes=POLICY.call_back_min_working_minutes)
    assert CALENDAR.working_time_between(reaction.not_before, reaction.due_at) == minimum


def test_fbk_1_and_fbk_2_the_working_window_is_the_policys() -> None:
    policy = FeedbackPolicy(call_back_min_working_minutes=90)

    reactions = [
        case_of(order()).apply(e, at=at(MONDAY, 10), event_id="e", policy=policy, calendar=CALENDAR)
        for e in (_remote(), _repair(tested=False, sure=False))
    ]

    assert [(r.not_before, r.due_at) for [r] in reactions if isinstance(r, ScheduleCallBack)] == [
        (at(MONDAY, 12), at(MONDAY, 13, 30))
    ] * 2


def test_fbk_3_a_visit_ending_late_on_friday_is_called_back_by_the_end_of_monday() -> None:
    not_before, due = visit_call_back_window(at(FRIDAY, 20), POLICY, CALENDAR)

    assert not_before == at(FRIDAY, 20)
    assert due == at(FRIDAY + timedelta(days=3), 18)


def shanghai(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=SHANGHAI).astimezone(UTC)


#: A week before a weekend, and the eve of the 2026 National Day holiday (1-7 October; Thursday
#: 8 October is the first working day after it).
WED_25_NOV, FRI_27_NOV, SUN_29_NOV, MON_30_NOV = (
    date(2026, 11, 25),
    date(2026, 11, 27),
    date(2026, 11, 29),
    date(2026, 11, 30),
)
NATIONAL_DAY_EVE, AFTER_NATIONAL_DAY = date(2026, 9, 30), date(2026, 10, 8)


@pytest.mark.parametrize(
    ("returned", "due"),
    [
        # 30 s of working time left in the 24 h: an hour of it, mostly on Monday morning.
        (shanghai(FRI_27_NOV, 17, 59, 30), shanghai(MON_30_NOV, 9, 59, 30)),
        # Exactly the minimum left: the call stays due within the 24 h.
        (shanghai(FRI_27_NOV, 17), shanghai(FRI_27_NOV, 18)),
        # Just below it: the hour runs on into Monday.
        (shanghai(FRI_27_NOV, 17, 0, 30), shanghai(MON_30_NOV, 9, 0, 30)),
        # After hours: the 24 h count from Monday 09:00, a full working day.
        (shanghai(FRI_27_NOV, 18, 0, 30), shanghai(MON_30_NOV, 18)),
        # Mid-week, mid-day: the last working moment of the 24 h, as before.
        (shanghai(WED_25_NOV, 11), shanghai(WED_25_NOV + timedelta(days=1), 11)),
        # On a Sunday: 24 h from Monday 09:00, not the 30 s of Monday they reach into.
        (shanghai(SUN_29_NOV, 9, 0, 30), shanghai(MON_30_NOV, 18)),
        # The eve of a week-long holiday: the hour is given on the first working day after it.
        (shanghai(NATIONAL_DAY_EVE, 17, 59, 30), shanghai(AFTER_NATIONAL_DAY, 9, 59, 30)),
        (shanghai(NATIONAL_DAY_EVE, 18, 0, 30), shanghai(AFTER_NATIONAL_DAY, 18)),
    ],
)
def test_fbk_3_a_call_back_is_never_due_with_less_than_the_minimum_working_time(
    returned: datetime, due: datetime
) -> None:
    not_before, due_at = visit_call_back_window(returned, POLICY, CALENDAR)

    assert (not_before, due_at) == (returned, due)
    minimum = timedelta(minutes=POLICY.call_back_min_working_minutes)
    assert CALENDAR.working_time_between(returned, due_at) >= minimum


def test_fbk_3_the_minimum_working_time_is_the_policys() -> None:
    policy = FeedbackPolicy(call_back_min_working_minutes=120)

    _, just_before_close = visit_call_back_window(
        shanghai(FRI_27_NOV, 17, 59, 30), policy, CALENDAR
    )
    _, ninety_minutes_left = visit_call_back_window(shanghai(FRI_27_NOV, 16, 30), policy, CALENDAR)
    _, mid_day = visit_call_back_window(shanghai(WED_25_NOV, 11), policy, CALENDAR)

    assert just_before_close == shanghai(MON_30_NOV, 10, 59, 30)
    assert ninety_minutes_left == shanghai(MON_30_NOV, 9, 30)
    assert mid_day == shanghai(WED_25_NOV + timedelta(days=1), 11)


def test_fbk_3_a_later_return_is_never_due_earlier_across_a_weekend() -> None:
    # Every 7 minutes from Friday 16:30 to Monday 11:00, so no boundary is hit only on the hour.
    first, last = shanghai(FRI_27_NOV, 16, 30), shanghai(MON_30_NOV, 11)
    returns = [
        first + timedelta(minutes=7 * i) for i in range((last - first) // timedelta(minutes=7))
    ]
    minimum = timedelta(minutes=POLICY.call_back_min_working_minutes)

    dues = [visit_call_back_window(r, POLICY, CALENDAR)[1] for r in returns]

    assert all(a <= b for a, b in pairwise(dues))
    left = [CALENDAR.working_time_between(r, d) for r, d in zip(returns, dues, strict=True)]
    assert min(left) == minimum


def test_fbk_3_a_customer_not_home_visit_gets_no_call_back() -> None:
    case = case_of(order())
    event = VisitClosed(
        order_id="o-1",
        visit_id="v",
        technician_id="t",
        outcome=VisitOutcome.CUSTOMER_NOT_HOME,
        closed_at=at(MONDAY, 10),
    )

    assert (
        case.apply(event, at=at(MONDAY, 10), event_id="e", policy=POLICY, calendar=CALENDAR) == []
    )


@pytest.mark.parametrize(
    ("created", "kind", "paid", "expected"),
    [
        (order(), WorkKind.REPAIR, False, BusinessType.OWN_BRAND_REPAIR),
        (order(), WorkKind.INSTALLATION, False, BusinessType.OWN_BRAND_INSTALLATION),
        (order(brand="Other"), WorkKind.INSTALLATION, False, BusinessType.OTHER_INSTALLATION),
        (order(brand="Other"), WorkKind.REPAIR, False, BusinessType.OTHER_REPAIR),
        (order(brand="Other"), WorkKind.REPAIR, True, BusinessType.PAID_REPAIR),
        (
            order(brand="Other", emergency=True, fault="厨房漏气"),
            WorkKind.REPAIR,
            False,
            BusinessType.GAS_LEAK_REPAIR,
        ),
        (
            order(brand="Other", emergency=True, line="gas_meter"),
            WorkKind.REPAIR,
            False,
            BusinessType.GAS_LEAK_REPAIR,
        ),
    ],
)
def test_fbk_4_business_types_for_sampling(
    created: OrderCreated, kind: WorkKind, paid: bool, expected: BusinessType
) -> None:
    case = case_of(created)
    visit = Visit(visit_id="v", kind=kind, paid_work=paid)

    assert case.business_type(visit, POLICY) is expected


def test_fbk_4_intakes_gas_leak_code_makes_a_gas_leak_repair_whatever_the_words() -> None:
    created = order(brand="Other", emergency=True)
    coded = Fault(description="热水器有很重的煤气味", code="gas_leak")
    case = case_of(created.model_copy(update={"fault": coded}))

    assert case.fault_code == "gas_leak"
    assert case.business_type(Visit(visit_id="v", kind=WorkKind.REPAIR), POLICY) is (
        BusinessType.GAS_LEAK_REPAIR
    )


def test_fbk_4_a_linked_report_escalated_to_an_emergency_makes_a_gas_leak_repair() -> None:
    stove = case_of(order(brand="Other", line="gas_stove", fault="打不着火"))
    heater = case_of(order(brand="Other", fault="打不着火"))
    for case, said in ((stove, None), (heater, "燃气泄漏了")):
        case.apply(
            DuplicateLinked(
                order_id="o-1",
                reported_at=at(MONDAY, 10),
                channel=Channel.HOTLINE,
                fault_description=said,
                escalated_to_emergency=True,
            ),
            at=at(MONDAY, 10),
            event_id="e2",
            policy=POLICY,
            calendar=CALENDAR,
        )
        assert case.emergency
        assert case.business_type(Visit(visit_id="v", kind=WorkKind.REPAIR), POLICY) is (
            BusinessType.GAS_LEAK_REPAIR
        )


def test_fbk_4_verification_corrects_the_product_and_fault_the_class_is_taken_from() -> None:
    case = case_of(order(brand="Other", fault="有异味"))
    case.apply(
        OrderVerified(
            order_id="o-1",
            product=Product(line="gas_pipe", brand="Vatti"),
            fault=Fault(description="管道接口漏气", code="gas_leak"),
        ),
        at=at(MONDAY, 10),
        event_id="e2",
        policy=POLICY,
        calendar=CALENDAR,
    )

    assert (case.product_line, case.brand, case.fault_code) == ("gas_pipe", "Vatti", "gas_leak")
    assert case.business_type(Visit(visit_id="v", kind=WorkKind.REPAIR), POLICY) is (
        BusinessType.GAS_LEAK_REPAIR
    )


def test_int_7_fbk_4_a_verification_escalated_to_an_emergency_makes_a_gas_leak_repair() -> None:
    stove = case_of(order(brand="Other", line="gas_stove", fault="打不着火"))
    heater = case_of(order(brand="Other", fault="打不着火"))
    for case, said in ((stove, "灶台附近有人晕倒"), (heater, "热水器燃气泄漏了，有人头晕")):
        case.apply(
            OrderVerified(
                order_id="o-1",
                fault=Fault(description=said, code="danger_to_people"),
                escalated_to_emergency=True,
                on_site_due_at=at(MONDAY, 10, 15),
            ),
            at=at(MONDAY, 10),
            event_id="e2",
            policy=POLICY,
            calendar=CALENDAR,
        )
        assert case.emergency
        assert case.business_type(Visit(visit_id="v", kind=WorkKind.REPAIR), POLICY) is (
            BusinessType.GAS_LEAK_REPAIR
        )


def test_int_7_a_verification_never_takes_back_an_emergency() -> None:
    case = case_of(order(brand="Other", emergency=True, line="gas_stove", fault="有燃气味"))
    case.apply(
        OrderVerified(order_id="o-1", fault=Fault(description="打不着火")),
        at=at(MONDAY, 10),
        event_id="e2",
        policy=POLICY,
        calendar=CALENDAR,
    )
    assert case.emergency


def test_fbk_1_the_call_back_follows_feedbacks_policy_not_the_due_time_intake_sends() -> None:
    policy = FeedbackPolicy(remote_call_back_minutes=60)
    friday_half_past_five = at(FRIDAY, 17, 30)
    event = OrderResolvedRemotely(
        order_id="o-1",
        guidance="g",
        call_back_due_at=friday_half_past_five + timedelta(minutes=120),  # 19:30, after hours
    )

    [reaction] = Case(order_id="o-1").apply(
        event, at=friday_half_past_five, event_id="e", policy=policy, calendar=CALENDAR
    )

    # Half an hour of working time left on Friday, the other half on Monday morning; then the
    # working hour the call is made in.
    assert isinstance(reaction, ScheduleCallBack) and reaction.rule == "FBK-1"
    assert reaction.not_before == at(FRIDAY + timedelta(days=3), 9, 30)
    assert reaction.due_at == at(FRIDAY + timedelta(days=3), 10, 30)


def test_fbk_8_a_fee_reported_is_checked_against_billing() -> None:
    assert fee_discrepancy(Decimal("100"), Decimal("100.00"), Decimal("0")) is None
    assert fee_discrepancy(Decimal("0"), None, Decimal("0")) is None  # nothing paid, nothing billed
    assert fee_discrepancy(Decimal("80"), None, Decimal("0")) is not None
    assert fee_discrepancy(Decimal("120"), Decimal("100"), Decimal("0")) is not None
    assert fee_discrepancy(Decimal("100.50"), Decimal("100"), Decimal("1.00")) is None


def test_fbk_10_the_loop_refuses_skips_and_unconfirmed_dispatch() -> None:
    complaint = Complaint.file(
        order_id=None,
        channel=Channel.WEB,
        description="d",
        level=1,
        staff_fault_class=None,
        taken_by="ann",
        confirmed_by_customer=False,
        now=at(MONDAY, 9),
        technician_id=None,
        network_id=None,
        policy=POLICY,
        calendar=CALENDAR,
    )

    with pytest.raises(IllegalTransition) as skipped:
        complaint.advance(
            ComplaintStage.HANDLED,
            owner="x",
            now=at(MONDAY, 9),
            note=None,
            policy=POLICY,
            calendar=CALENDAR,
        )
    with pytest.raises(ComplaintNotConfirmed):
        complaint.advance(
            ComplaintStage.DISPATCHED,
            owner="x",
            now=at(MONDAY, 9),
            note=None,
            policy=POLICY,
            calendar=CALENDAR,
        )
    assert skipped.value.allowed == ["dispatched"]
    assert complaint.order_id == complaint.complaint_id  # a complaint about no order


def test_fbk_12_an_issue_opened_on_a_saturday_goes_to_the_department_by_monday_evening() -> None:
    saturday = FRIDAY + timedelta(days=1)
    issue = OpenIssueRecord.open(
        order_id="o",
        reason="r",
        now=at(saturday, 11),
        dedupe_key="k",
        visit_id=None,
        technician_id=None,
        network_id=None,
        policy=POLICY,
        calendar=CALENDAR,
    )

    assert issue.level == "department"
    assert issue.department_due_at == at(saturday + timedelta(days=2), 18)
    assert issue.company_due_at == at(saturday + timedelta(days=3), 11)  # 2 working days
    assert not issue.sweep(at(saturday + timedelta(days=3), 10))
    assert issue.sweep(at(saturday + timedelta(days=3), 11))
    assert issue.level == "company"


def _issue_opened(now: datetime, policy: FeedbackPolicy = POLICY) -> OpenIssueRecord:
    return OpenIssueRecord.open(
        order_id="o",
        reason="r",
        now=now,
        dedupe_key="k",
        visit_id=None,
        technician_id=None,
        network_id=None,
        policy=policy,
        calendar=CALENDAR,
    )


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        # The same day while it leaves the department the minimum working time.
        (shanghai(FRI_27_NOV, 16), shanghai(FRI_27_NOV, 18)),
        (shanghai(FRI_27_NOV, 17), shanghai(FRI_27_NOV, 18)),
        # Less left: the hour runs on into Monday.
        (shanghai(FRI_27_NOV, 17, 0, 30), shanghai(MON_30_NOV, 9, 0, 30)),
        (shanghai(FRI_27_NOV, 17, 59, 30), shanghai(MON_30_NOV, 9, 59, 30)),
        # After hours: the whole next working day, as before.
        (shanghai(FRI_27_NOV, 18, 0, 30), shanghai(MON_30_NOV, 18)),
        # The eve of a week-long holiday: the hour is given on the first working day after it.
        (shanghai(NATIONAL_DAY_EVE, 17, 59, 30), shanghai(AFTER_NATIONAL_DAY, 9, 59, 30)),
    ],
)
def test_fbk_12_the_department_always_gets_the_minimum_working_time(
    opened: datetime, due: datetime
) -> None:
    issue = _issue_opened(opened)

    assert issue.department_due_at == due
    minimum = timedelta(minutes=POLICY.call_back_min_working_minutes)
    assert CALENDAR.working_time_between(opened, issue.department_due_at) >= minimum


def test_fbk_12_the_departments_minimum_working_time_is_the_policys() -> None:
    policy = FeedbackPolicy(call_back_min_working_minutes=120)

    assert _issue_opened(shanghai(FRI_27_NOV, 16), policy).department_due_at == shanghai(
        FRI_27_NOV, 18
    )
    assert _issue_opened(shanghai(FRI_27_NOV, 16, 30), policy).department_due_at == shanghai(
        MON_30_NOV, 9, 30
    )


def test_fbk_10_the_current_state_past_its_sla_is_reported_once() -> None:
    from contracts.feedback import ComplaintStageOverdue

    complaint = Complaint.file(
        order_id="o-1",
        channel=Channel.HOTLINE,
        description="d",
        level=1,
        staff_fault_class=None,
        taken_by="ann",
        confirmed_by_customer=True,
        now=at(MONDAY, 9),
        technician_id=None,
        network_id=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    complaint.events.clear()
    due = complaint.current.due_at
    assert due is not None
    assert complaint.overdue_check_at == due  # where the sweep looks for it
    assert not complaint.report_overdue(due)
    assert complaint.report_overdue(due + timedelta(minutes=1))
    assert complaint.overdue_check_at is None
    assert not complaint.report_overdue(due + timedelta(hours=3))
    [event] = complaint.events
    assert isinstance(event, ComplaintStageOverdue)
    assert (event.stage, event.owner, event.due_at) == ("accepted", "ann", due)

    complaint.advance(
        ComplaintStage.DISPATCHED,
        owner="d1",
        now=due + timedelta(hours=3),
        note=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    assert not complaint.report_overdue(due + timedelta(hours=3))  # a fresh clock
    assert complaint.overdue_check_at == complaint.current.due_at
    assert complaint.overdue_check_at is not None and complaint.overdue_check_at > due
