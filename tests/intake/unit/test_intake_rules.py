"""Intake's decision rules and SLA clocks (pure domain, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contracts.common import Address, Channel, Customer, Fault, Product, TimeWindow, WarrantyStatus
from contracts.fieldwork import TechnicianArrived
from contracts.intake import DuplicateLinked, SlaBreachWithdrawn, SlaClock
from contracts.scheduling import AppointmentConfirmed, AppointmentRescheduled
from intake.domain.exceptions import DetailsStillMissing, InvalidTransition, NothingToVerify
from intake.domain.model import Order, OrderStatus, TimelineEntry, start_clocks
from intake.domain.policy import IntakePolicy
from intake.domain.rules import (
    WarrantyTable,
    add_months,
    future_dates,
    is_emergency,
    loaner_required,
    missing_details,
    oldest_plausible_date,
    same_address,
    same_product,
    unusable_windows,
)
from servicekit.calendar import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = IntakePolicy()
CALENDAR = BusinessCalendar()
CUSTOMER = Customer(
    name="王芳", phones=["+8613800138000"], address=Address(detail="西四路100号3单元502")
)
PRODUCT = Product(line="water_heater", model="JSQ24-12", purchase_date=date(2025, 3, 1))
FAULT = Fault(description="热水器打不着火")
TABLE = WarrantyTable(months_by_line={"water_heater": 12})


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def _entry(event_type: str, at: datetime, event_id: str | None = None) -> TimelineEntry:
    return TimelineEntry(
        event_id=event_id or f"{event_type}-{at.isoformat()}",
        type=event_type,
        version=1,
        time=at,
        source="/fsm/test",
    )


def _order(now: datetime, *, emergency: bool = False, **changes: object) -> Order:
    fields: dict[str, object] = {
        "customer": CUSTOMER,
        "product": PRODUCT,
        "fault": FAULT,
        "channel": Channel.HOTLINE,
        "now": now,
        "emergency": emergency,
        "clocks": start_clocks(now, calendar=CALENDAR, policy=POLICY, emergency=emergency),
    }
    fields.update(changes)
    order = Order.take(**fields)  # type: ignore[arg-type]
    order.observe(_entry("OrderCreated", now))
    order.events.clear()
    return order


# INT-2 ---------------------------------------------------------------------------------------


def test_int_2_missing_or_doubtful_details_are_listed() -> None:
    vague = Customer(name="x", phones=[], address=Address(detail="东营"), organisation="某公司")
    assert missing_details(vague, Product(line="water_heater"), Fault(description="坏了")) == [
        "customer.address",
        "customer.phones",
        "customer.contact_person",
        "product.model",
        "product.purchase_date",
        "fault.description",
    ]
    assert missing_details(CUSTOMER, PRODUCT, FAULT) == []
    structured = CUSTOMER.model_copy(update={"address": Address(province="山东省", city="东营市")})
    assert missing_details(structured, PRODUCT, FAULT) == ["customer.address"]


def test_int_2_an_address_of_blank_parts_is_missing() -> None:
    blank = Address(province=" ", street="   ", detail="\u3000")
    for address in (blank, Address(street="   "), Address(city="东营市", street=" ", detail=" ")):
        customer = CUSTOMER.model_copy(update={"address": address})
        assert missing_details(customer, PRODUCT, FAULT) == ["customer.address"], address
    complete = Address(city=" 东营市 ", street=" 西四路 ")
    assert missing_details(CUSTOMER.model_copy(update={"address": complete}), PRODUCT, FAULT) == []


def test_int_2_verification_with_details_still_missing_needs_a_dispatcher() -> None:
    order = _order(_at("2025-05-30T10:00:00"), product=Product(line="water_heater"))
    order.needs_verification = missing_details(order.customer, order.product, order.fault)
    with pytest.raises(DetailsStillMissing) as refused:
        order.verify(
            now=order.created_at,
            policy=POLICY,
            calendar=CALENDAR,
            reported_on=date(2025, 5, 30),
            warranty=TABLE,
            verified_by="agent 7",
        )
    assert refused.value.missing == ["product.model", "product.purchase_date"]
    assert order.events == []
    event = order.verify(
        now=order.created_at,
        policy=POLICY,
        calendar=CALENDAR,
        reported_on=date(2025, 5, 30),
        warranty=TABLE,
        verified_by="dispatcher 1",
        override=True,
    )
    assert event.dispatch_override and event.overridden_by == "dispatcher 1"
    assert event.unverified == ["product.model", "product.purchase_date"]
    assert not order.awaiting_verification


def test_int_2_a_purchase_date_before_the_policy_floor_is_doubtful() -> None:
    oldest = oldest_plausible_date(date(2025, 5, 30), POLICY)
    assert oldest == date(1995, 5, 30)  # 30 years (purchase_date_floor_years)
    for implausible in (date(1, 1, 1), date(1900, 1, 1), date(1995, 5, 29)):
        product = PRODUCT.model_copy(update={"purchase_date": implausible})
        assert missing_details(CUSTOMER, product, FAULT, oldest_plausible=oldest) == [
            "product.purchase_date"
        ], implausible
    old_but_plausible = PRODUCT.model_copy(update={"purchase_date": date(1995, 5, 30)})
    assert missing_details(CUSTOMER, old_but_plausible, FAULT, oldest_plausible=oldest) == []


def test_int_2_an_installation_before_the_purchase_or_the_floor_is_doubtful() -> None:
    oldest = oldest_plausible_date(date(2025, 5, 30), POLICY)
    for installed in (date(2025, 2, 28), date(1, 1, 1)):
        product = PRODUCT.model_copy(update={"installation_date": installed})
        assert missing_details(CUSTOMER, product, FAULT, oldest_plausible=oldest) == [
            "product.installation_date"
        ], installed
    same_day = PRODUCT.model_copy(update={"installation_date": date(2025, 3, 1)})
    assert missing_details(CUSTOMER, same_day, FAULT, oldest_plausible=oldest) == []
    ancient = Product(line="water_heater", model="JSQ24-12", installation_date=date(1, 1, 1))
    assert missing_details(CUSTOMER, ancient, FAULT, oldest_plausible=oldest) == [
        "product.purchase_date",
        "product.installation_date",
    ]


def test_int_2_a_doubtful_purchase_date_stays_to_verify_until_confirmed() -> None:
    now = _at("2025-05-30T10:00:00")
    oldest = oldest_plausible_date(date(2025, 5, 30), POLICY)
    ancient = PRODUCT.model_copy(update={"purchase_date": date(1900, 1, 1)})
    order = _order(now, product=ancient, needs_verification=["product.purchase_date"])
    with pytest.raises(DetailsStillMissing) as refused:
        order.verify(
            now=order.created_at,
            policy=POLICY,
            calendar=CALENDAR,
            reported_on=date(2025, 5, 30),
            warranty=TABLE,
            verified_by="agent 7",
            confirmed=["customer.address"],
            oldest_plausible=oldest,
        )
    assert refused.value.missing == ["product.purchase_date"]
    event = order.verify(
        now=order.created_at,
        policy=POLICY,
        calendar=CALENDAR,
        reported_on=date(2025, 5, 30),
        warranty=TABLE,
        verified_by="agent 7",
        confirmed=["product.purchase_date"],
        oldest_plausible=oldest,
    )
    assert event.verified == ["product.purchase_date"] and event.unverified == []


def test_int_2_a_product_date_after_the_calendar_day_is_refused() -> None:
    today = date(2025, 5, 30)
    assert future_dates(PRODUCT, today=today) == []
    tomorrow = PRODUCT.model_copy(
        update={"purchase_date": date(2025, 5, 31), "installation_date": date(2999, 1, 1)}
    )
    assert [p.field for p in future_dates(tomorrow, today=today)] == [
        "product.purchase_date",
        "product.installation_date",
    ]
    assert future_dates(PRODUCT.model_copy(update={"purchase_date": today}), today=today) == []


def _window(start: str, end: str) -> TimeWindow:
    return TimeWindow(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))


def test_int_2_preferred_windows_out_of_any_sane_range_are_refused() -> None:
    now = _at("2025-05-30T10:00:00")
    refused = {
        # the audit's: an end in year 9999 or a start in year 1 has no UTC value at all
        "0001-01-01T00:30:00+08:00 2025-05-31T12:00:00+08:00": ["0:window_too_long"],
        "2025-05-31T09:00:00+08:00 9999-12-31T23:00:00-05:00": ["0:window_too_long"],
        "9999-12-31T20:00:00-05:00 9999-12-31T23:00:00-05:00": ["0.start:window_beyond_horizon"],
        "0001-01-01T00:30:00+08:00 0001-01-01T01:30:00+08:00": ["0.end:window_over"],
        "2025-05-30T08:00:00+08:00 2025-05-30T09:44:00+08:00": ["0.end:window_over"],
        "2025-07-29T10:01:00+08:00 2025-07-29T12:00:00+08:00": ["0.start:window_beyond_horizon"],
        "2025-06-03T09:00:00+08:00 2025-07-03T09:00:00+08:00": ["0:window_too_long"],
        "2025-06-03T09:00:00+08:00 2025-06-04T09:00:01+08:00": ["0:window_too_long"],
        "2025-06-03T09:00:00+08:00 2025-06-03T09:00:00+08:00": ["0:value_error"],
    }
    for text, expected in refused.items():
        problems = unusable_windows([_window(*text.split())], now=now, policy=POLICY)
        found = [f"{p.field.removeprefix('preferred_windows.')}:{p.type}" for p in problems]
        assert found == expected, text


def test_int_2_preferred_windows_the_policy_allows_are_accepted() -> None:
    now = _at("2025-05-30T10:00:00")
    fine = [
        "2025-05-30T09:00:00+08:00 2025-05-30T09:45:00+08:00",  # typed as the call ended (grace)
        "2025-05-30T09:00:00+08:00 2025-05-30T11:00:00+08:00",  # the current hour
        "2025-06-03T00:00:00+08:00 2025-06-04T00:00:00+08:00",  # a whole day
        "2025-07-29T10:00:00+08:00 2025-07-29T12:00:00+08:00",  # 60 days ahead
        "2025-06-03T01:00:00Z 2025-06-03T03:00:00Z",  # any offset
    ]
    windows = [_window(*text.split()) for text in fine]
    assert unusable_windows(windows, now=now, policy=POLICY) == []
    stricter = IntakePolicy(preferred_window_max_hours=2, preferred_window_horizon_days=5)
    assert [p.field for p in unusable_windows(windows, now=now, policy=stricter)] == [
        "preferred_windows.2",
        "preferred_windows.3.start",
    ]


def test_int_2_nothing_to_verify_is_refused() -> None:
    order = _order(_at("2025-05-30T10:00:00"))
    with pytest.raises(NothingToVerify):
        order.verify(
            now=order.created_at,
            policy=POLICY,
            calendar=CALENDAR,
            reported_on=date(2025, 5, 30),
            warranty=TABLE,
            verified_by="agent 7",
        )


# INT-3 ---------------------------------------------------------------------------------------


def test_int_3_friday_1750_before_a_public_holiday_replies_by_the_next_working_day() -> None:
    clocks = start_clocks(
        _at("2025-05-30T17:50:00"), calendar=CALENDAR, policy=POLICY, emergency=False
    )
    assert clocks[SlaClock.REPLY].due_at == _at("2025-06-03T16:50:00")
    assert clocks[SlaClock.HANDOVER].due_at == _at("2025-06-03T09:50:00")
    assert SlaClock.EMERGENCY_ON_SITE not in clocks


def test_int_3_a_clock_breaches_once_and_a_late_stop_is_still_a_breach() -> None:
    now = _at("2025-05-30T10:00:00")
    order = _order(now)
    order.observe(_entry("OrderAssigned", now + timedelta(hours=2)))  # an hour late
    assert order.report_breaches(now + timedelta(minutes=59)) == []
    [late] = order.report_breaches(now + timedelta(hours=3))
    assert late.clock is SlaClock.HANDOVER and late.due_at == _at("2025-05-30T11:00:00")
    assert order.report_breaches(now + timedelta(hours=4)) == []


def test_int_3_int_7_a_clock_is_breached_only_after_its_due_time() -> None:
    # "within 1 hour" (INT-3), "within 15 minutes" (INT-7): the due time itself is in time.
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken, emergency=True)
    on_site = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert order.report_breaches(on_site.due_at) == []
    [late] = order.report_breaches(on_site.due_at + timedelta(microseconds=1))
    assert late.clock is SlaClock.EMERGENCY_ON_SITE
    handover = order.clocks[SlaClock.HANDOVER]
    assert handover.due_at == _at("2025-05-30T11:00:00")
    assert order.report_breaches(handover.due_at) == []
    assert not handover.is_breached_by(handover.due_at)
    assert handover.is_breached_by(handover.due_at + timedelta(microseconds=1))


def test_int_3_a_clock_stopped_exactly_at_its_due_time_is_met_with_no_breach_ever() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken, emergency=True)
    due = order.clocks[SlaClock.EMERGENCY_ON_SITE].due_at
    assert order.report_breaches(due) == []  # the sweep at the due time reports nothing...
    order.observe(_entry("TechnicianArrived", due), _arrived(order, due))
    timer = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert timer.stopped_at == due and timer.settled
    assert order.events == []  # ...so there is no breach to withdraw
    assert order.report_breaches(taken + timedelta(days=3)) == []
    handover = order.clocks[SlaClock.HANDOVER]
    assert handover.stopped_at == due and not handover.is_breached_by(taken + timedelta(days=3))


def test_int_3_a_confirmed_appointment_is_the_reply_unless_the_customer_was_not_reached() -> None:
    now = _at("2025-05-30T10:00:00")
    window_start = _at("2025-06-03T09:00:00")
    for reached, stopped in ((True, True), (False, False)):
        order = _order(now)
        confirmed = AppointmentConfirmed.model_validate(
            {
                "order_id": order.id,
                "visit_id": "v",
                "technician_id": "t",
                "window": {"start": window_start, "end": window_start + timedelta(hours=2)},
                "customer_reached": reached,
            }
        )
        order.observe(_entry("AppointmentConfirmed", now + timedelta(hours=1)), confirmed)
        assert (order.clocks[SlaClock.REPLY].stopped_at is not None) is stopped


def test_int_3_a_confirmed_appointment_whose_data_cannot_be_read_is_no_reply() -> None:
    # As for a reschedule (below): unread data proves neither that the customer was reached
    # nor that they were told a time, so the reply clock keeps running.
    now = _at("2025-05-30T10:00:00")
    order = _order(now)
    order.observe(_entry("AppointmentConfirmed", now + timedelta(hours=1)), None)
    assert order.clocks[SlaClock.REPLY].stopped_at is None
    assert order.status is OrderStatus.APPOINTMENT_CONFIRMED  # still on the timeline


def test_int_3_a_reschedule_the_customer_agreed_to_is_the_reply() -> None:
    now = _at("2025-05-30T10:00:00")
    window_start = _at("2025-06-04T09:00:00")
    for consent, stopped in ((True, True), (False, False), (None, False)):
        order = _order(now)
        rescheduled = AppointmentRescheduled.model_validate(
            {
                "order_id": order.id,
                "visit_id": "v",
                "new_window": {"start": window_start, "end": window_start + timedelta(hours=2)},
                "reason": "客户回电，改约周三",
                "requested_by": "customer",
                "customer_consent": bool(consent),
            }
        )
        payload = None if consent is None else rescheduled  # unread data proves no consent
        order.observe(_entry("AppointmentRescheduled", now + timedelta(hours=2)), payload)
        reply = order.clocks[SlaClock.REPLY]
        assert reply.stopped_at == (now + timedelta(hours=2) if stopped else None), consent
        assert order.clocks[SlaClock.HANDOVER].stopped_at is None


def _arrived(order: Order, at: datetime) -> TechnicianArrived:
    return TechnicianArrived(order_id=order.id, visit_id="v", technician_id="t", arrived_at=at)


def test_int_3_int_7_an_arrival_logged_offline_stops_the_clocks_at_the_arrival() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken, emergency=True)
    arrived, synced = taken + timedelta(minutes=10), taken + timedelta(minutes=40)
    order.observe(_entry("TechnicianArrived", synced), _arrived(order, arrived))
    for clock in (SlaClock.EMERGENCY_ON_SITE, SlaClock.HANDOVER, SlaClock.REPLY):
        assert order.clocks[clock].stopped_at == arrived
    assert order.report_breaches(taken + timedelta(hours=1)) == []


def test_int_7_a_breach_disproved_by_an_arrival_synced_late_is_withdrawn() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken, emergency=True)
    breached = taken + timedelta(minutes=20)
    [breach] = order.report_breaches(breached)
    assert breach.clock is SlaClock.EMERGENCY_ON_SITE
    order.events.clear()
    arrived = taken + timedelta(minutes=12)
    order.observe(
        _entry("TechnicianArrived", taken + timedelta(minutes=40)), _arrived(order, arrived)
    )
    [withdrawn] = [e for e in order.events if isinstance(e, SlaBreachWithdrawn)]
    assert (withdrawn.clock, withdrawn.met_at, withdrawn.breached_at, withdrawn.due_at) == (
        SlaClock.EMERGENCY_ON_SITE,
        arrived,
        breached,
        breach.due_at,
    )
    timer = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert timer.breached_at is None and timer.settled
    # settled for good: not reported again, and nothing more to withdraw
    assert order.report_breaches(taken + timedelta(hours=2)) == []
    assert timer.withdraw_disproved_breach() is None


def test_int_7_a_breach_confirmed_by_a_late_arrival_stands() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken, emergency=True)
    order.report_breaches(taken + timedelta(minutes=20))
    order.events.clear()
    late = taken + timedelta(minutes=18)
    order.observe(_entry("TechnicianArrived", taken + timedelta(minutes=25)), _arrived(order, late))
    assert not [e for e in order.events if isinstance(e, SlaBreachWithdrawn)]
    timer = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert timer.breached_at == taken + timedelta(minutes=20)
    assert timer.stopped_at == late


def test_int_7_an_arrival_time_counts_between_the_clock_start_and_the_event_time() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken, emergency=True)
    published = taken + timedelta(minutes=20)
    # a device clock ahead of the bus proves nothing: the event time is the latest stop
    order.observe(
        _entry("TechnicianArrived", published), _arrived(order, published + timedelta(hours=1))
    )
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].stopped_at == published

    order = _order(taken)
    escalated = taken + timedelta(minutes=30)
    order.link_duplicate(
        reported_at=escalated,
        channel=Channel.HOTLINE,
        caller_phone=None,
        fault_description="燃气味",
        linked_by="agent-1",
        emergency=True,
        calendar=CALENDAR,
        policy=POLICY,
    )
    # logged before the escalation, synced after it: met the moment the clock started
    order.observe(
        _entry("TechnicianArrived", escalated + timedelta(minutes=20)),
        _arrived(order, escalated - timedelta(minutes=5)),
    )
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].stopped_at == escalated
    # an arrival published before a clock started still does not stop it
    early = _order(taken)
    early.observe(_entry("TechnicianArrived", taken - timedelta(minutes=1)), _arrived(early, taken))
    assert early.clocks[SlaClock.HANDOVER].stopped_at is None


def test_int_7_an_arrival_dated_before_the_escalation_and_synced_after_meets_it_at_start() -> None:
    # The app dates the arrival's event when it happened (before the escalation started the
    # on-site clock); intake heard it after: met the moment the clock started, no breach.
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    escalated = taken + timedelta(minutes=30)
    _escalate(order, escalated)
    arrived = escalated - timedelta(minutes=5)
    offline = TimelineEntry(
        event_id="arrived-offline",
        type="TechnicianArrived",
        version=1,
        time=arrived,
        source="/fsm/fieldwork",
        heard_at=escalated + timedelta(minutes=20),
    )
    order.observe(offline, _arrived(order, arrived))
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].stopped_at == escalated
    assert order.report_breaches(escalated + timedelta(hours=1)) == []
    # the other clocks, started when the order was taken, stop when the technician arrived
    assert order.clocks[SlaClock.HANDOVER].stopped_at == arrived


def test_int_7_an_arrival_dated_and_heard_after_the_due_time_is_still_a_breach() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    escalated = taken + timedelta(minutes=30)
    _escalate(order, escalated)
    [breach] = order.report_breaches(escalated + timedelta(minutes=16))
    late = escalated + timedelta(minutes=20)
    order.observe(
        TimelineEntry(
            event_id="arrived-late",
            type="TechnicianArrived",
            version=1,
            time=late,
            source="/fsm/fieldwork",
            heard_at=late + timedelta(minutes=30),
        ),
        _arrived(order, late),
    )
    timer = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert (timer.stopped_at, timer.breached_at) == (late, breach.breached_at)


# INT-4 ---------------------------------------------------------------------------------------


def test_int_4_resolve_remotely_schedules_the_call_back_and_only_then_reopen() -> None:
    now = _at("2025-05-30T10:00:00")
    order = _order(now)
    with pytest.raises(InvalidTransition) as refused:
        order.reopen(reason="x", reopened_by="a", now=now, calendar=CALENDAR, policy=POLICY)
    assert refused.value.allowed == ["resolved_remotely"]
    event = order.resolve_remotely(
        guidance="打开燃气阀",
        cause="misuse",
        resolved_by="a",
        now=now,
        calendar=CALENDAR,
        policy=POLICY,
    )
    assert event.call_back_due_at == now + timedelta(hours=2)
    order.observe(_entry("OrderResolvedRemotely", now))
    assert order.status is OrderStatus.RESOLVED_REMOTELY
    later = now + timedelta(days=1)
    order.reopen(reason="没用", reopened_by="a", now=later, calendar=CALENDAR, policy=POLICY)
    assert order.clocks[SlaClock.REPLY].started_at == later
    assert order.clocks[SlaClock.REPLY].stopped_at is None
    assert SlaClock.EMERGENCY_ON_SITE not in order.clocks


def test_int_4_fbk_1_the_call_back_is_due_in_working_time_as_feedback_schedules_it() -> None:
    friday_evening = _at("2025-06-06T17:30:00")
    event = _order(friday_evening).resolve_remotely(
        guidance="打开燃气阀",
        cause="misuse",
        resolved_by="a",
        now=friday_evening,
        calendar=CALENDAR,
        policy=POLICY,
    )
    # 30 working minutes on Friday, 90 on Monday morning; not Friday 19:30 when nobody calls
    assert event.call_back_due_at == _at("2025-06-09T10:30:00")
    assert event.call_back_due_at is not None and event.call_back_due_at.utcoffset() == timedelta(0)
    before_the_holiday = _at("2025-05-30T17:30:00")  # Dragon Boat Festival: Sat 31 May - Mon 2 June
    event = _order(before_the_holiday).resolve_remotely(
        guidance="打开燃气阀",
        cause="misuse",
        resolved_by="a",
        now=before_the_holiday,
        calendar=CALENDAR,
        policy=POLICY,
    )
    assert event.call_back_due_at == _at("2025-06-03T10:30:00")


def test_int_4_int_7_a_reopened_emergency_gets_a_new_on_site_clock() -> None:
    now = _at("2025-05-30T10:00:00")
    order = _order(now, emergency=True)
    order.resolve_remotely(
        guidance="关阀开窗",
        cause="other",
        resolved_by="a",
        now=now,
        calendar=CALENDAR,
        policy=POLICY,
    )
    order.observe(_entry("OrderResolvedRemotely", now + timedelta(minutes=2)))
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].stopped_at is not None
    later = now + timedelta(minutes=30)
    order.reopen(reason="仍有燃气味", reopened_by="a", now=later, calendar=CALENDAR, policy=POLICY)
    on_site = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert (on_site.started_at, on_site.due_at, on_site.stopped_at) == (
        later,
        later + timedelta(minutes=15),
        None,
    )
    [breach] = order.report_breaches(later + timedelta(minutes=16))
    assert breach.clock is SlaClock.EMERGENCY_ON_SITE


def _resolved_emergency(taken: datetime) -> Order:
    order = _order(taken, emergency=True)
    order.resolve_remotely(
        guidance="关阀开窗",
        cause="other",
        resolved_by="a",
        now=taken,
        calendar=CALENDAR,
        policy=POLICY,
    )
    order.observe(_entry("OrderResolvedRemotely", taken + timedelta(minutes=1)))
    return order


@pytest.mark.parametrize(
    ("arrival_time", "heard"),
    [
        (20, None),  # the technician already on the way got there after the phone resolution
        (-5, 20),  # an arrival logged offline before the resolution, synced after it
        (31, 20),  # dated by a device clock ahead of intake's, heard before the reopening
    ],
)
def test_int_4_int_7_reopening_while_the_technician_is_on_site_meets_the_clocks_at_once(
    arrival_time: int, heard: int | None
) -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _resolved_emergency(taken)
    arrival = replace(
        _entry("TechnicianArrived", taken + timedelta(minutes=arrival_time)),
        source="/fsm/fieldwork",
        heard_at=None if heard is None else taken + timedelta(minutes=heard),
    )
    order.observe(arrival, _arrived(order, arrival.time))
    assert order.status is OrderStatus.RESOLVED_REMOTELY
    reopened = taken + timedelta(minutes=30)
    order.reopen(
        reason="仍有燃气味", reopened_by="a", now=reopened, calendar=CALENDAR, policy=POLICY
    )
    # The arrival stops all three (STOPPED_BY): it is heard already, so nothing else will.
    for clock in (SlaClock.EMERGENCY_ON_SITE, SlaClock.HANDOVER, SlaClock.REPLY):
        timer = order.clocks[clock]
        assert (timer.started_at, timer.stopped_at) == (reopened, reopened), clock
    assert order.report_breaches(reopened + timedelta(days=3)) == []


def test_int_4_int_7_reopening_after_the_technician_left_starts_the_clocks() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _resolved_emergency(taken)
    order.observe(_entry("TechnicianArrived", taken + timedelta(minutes=10)))
    order.observe(_entry("VisitClosed", taken + timedelta(minutes=20)))
    reopened = taken + timedelta(minutes=30)
    order.reopen(
        reason="仍有燃气味", reopened_by="a", now=reopened, calendar=CALENDAR, policy=POLICY
    )
    assert all(timer.stopped_at is None for timer in order.clocks.values())
    [breach] = order.report_breaches(reopened + timedelta(minutes=16))
    assert breach.clock is SlaClock.EMERGENCY_ON_SITE


def test_int_3_int_4_an_appointment_of_the_visit_called_off_is_no_reply_to_the_reopening() -> None:
    # The phone resolution called the booked visit off (scheduling, fieldwork): the reopening
    # is a new promise that only the revisit scheduling books for it answers.
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    confirmed = AppointmentConfirmed(
        order_id=order.id,
        visit_id="v",
        technician_id="t",
        window=TimeWindow(start=taken + timedelta(hours=3), end=taken + timedelta(hours=5)),
        customer_reached=True,
    )
    order.observe(_entry("AppointmentConfirmed", taken + timedelta(minutes=5)), confirmed)
    order.resolve_remotely(
        guidance="打开燃气阀",
        cause="misuse",
        resolved_by="a",
        now=taken,
        calendar=CALENDAR,
        policy=POLICY,
    )
    order.observe(_entry("OrderResolvedRemotely", taken + timedelta(minutes=10)))
    reopened = taken + timedelta(hours=1)
    order.reopen(reason="没用", reopened_by="a", now=reopened, calendar=CALENDAR, policy=POLICY)
    assert order.clocks[SlaClock.REPLY].stopped_at is None
    order.observe(
        _entry("AppointmentConfirmed", reopened + timedelta(minutes=5), event_id="again"),
        confirmed.model_copy(update={"visit_id": "v-2"}),
    )
    assert order.clocks[SlaClock.REPLY].stopped_at == reopened + timedelta(minutes=5)


# INT-5 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "on", "status"),
    [
        (PRODUCT, date(2026, 2, 28), WarrantyStatus.IN_WARRANTY),
        (PRODUCT, date(2026, 3, 1), WarrantyStatus.OUT_OF_WARRANTY),
        (Product(line="water_heater"), date(2025, 5, 1), WarrantyStatus.UNKNOWN),
        (Product(line="robot", purchase_date=date(2025, 3, 1)), date(2025, 5, 1), "unknown"),
        (
            PRODUCT.model_copy(update={"commercial_use": True}),
            date(2025, 5, 1),
            WarrantyStatus.OUT_OF_WARRANTY,
        ),
    ],
)
def test_int_5_warranty_status_from_purchase_date_line_and_commercial_use(
    product: Product, on: date, status: str
) -> None:
    assert TABLE.status(product, on=on) == status


def test_int_5_months_are_calendar_months() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 15), 3) == date(2025, 2, 15)


# INT-6, INT-7, INT-8 -------------------------------------------------------------------------


def test_int_6_take_back_is_predicted_by_line_or_fault_code() -> None:
    assert loaner_required(Product(line="microwave_oven"), FAULT, POLICY)
    assert loaner_required(PRODUCT, Fault(description="x", code="compressor_failure"), POLICY)
    assert not loaner_required(PRODUCT, FAULT, POLICY)


def test_int_7_emergency_codes_and_the_15_minute_wall_clock_target() -> None:
    assert is_emergency(False, Fault(description="有燃气味", code="gas_leak"), POLICY)
    assert not is_emergency(False, FAULT, POLICY)
    night = _at("2025-05-30T23:00:00")
    clocks = start_clocks(night, calendar=CALENDAR, policy=POLICY, emergency=True)
    assert clocks[SlaClock.EMERGENCY_ON_SITE].due_at == night + timedelta(minutes=15)
    order = _order(night, emergency=True)
    order.observe(_entry("TechnicianArrived", night + timedelta(minutes=12)))
    assert order.report_breaches(night + timedelta(hours=1)) == []


def test_int_8_same_product_by_serial_else_by_line_and_model() -> None:
    a = Product(line="water_heater", model="JSQ24-12", serial="SN 1")
    assert same_product(a, a.model_copy(update={"serial": "sn1", "model": "other"}))
    assert not same_product(a, a.model_copy(update={"serial": "SN2"}))
    assert same_product(a, Product(line="water_heater", model="jsq24-12"))
    assert not same_product(a, Product(line="air_conditioner", model="JSQ24-12"))
    assert not same_product(Product(line="water_heater"), Product(line="water_heater"))


def test_int_8_without_a_model_the_same_line_at_the_same_address_is_the_same_product() -> None:
    known = Product(line="water_heater", model="JSQ24-12")
    vague = Product(line="water_heater")
    assert same_product(known, vague, same_place=True)
    assert not same_product(known, vague, same_place=False)
    assert not same_product(known, Product(line="gas_stove"), same_place=True)
    assert not same_product(known, vague.model_copy(update={"model": "other"}), same_place=True)
    flat = Address(city="东营市", detail="西四路100号 3单元 501")
    assert same_address(flat, Address(city="东营市", detail="西四路100号3单元501"))
    assert not same_address(flat, Address(city="东营市", detail="西四路100号 3单元 502"))
    assert not same_address(Address(), Address())


def _escalate(
    order: Order,
    at: datetime,
    *,
    fault_description: str = "现在闻到燃气味",
    linked_by: str = "agent-1",
) -> DuplicateLinked:
    return order.link_duplicate(
        reported_at=at,
        channel=Channel.HOTLINE,
        caller_phone=None,
        fault_description=fault_description,
        linked_by=linked_by,
        emergency=True,
        calendar=CALENDAR,
        policy=POLICY,
    )


def test_int_7_int_8_an_emergency_report_of_an_open_order_escalates_it_once() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    assert SlaClock.EMERGENCY_ON_SITE not in order.clocks
    later = taken + timedelta(hours=2)
    event = _escalate(order, later)
    assert event.escalated_to_emergency is True
    assert order.emergency is True
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].due_at == later + timedelta(minutes=15)

    again = _escalate(
        order, later + timedelta(minutes=5), fault_description="燃气味还在", linked_by="agent-2"
    )
    assert again.escalated_to_emergency is False  # already one: the first clock keeps running
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].due_at == later + timedelta(minutes=15)


def test_int_7_int_8_escalating_while_the_technician_is_on_site_meets_the_target_at_once() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    order.observe(_entry("TechnicianArrived", taken + timedelta(minutes=50)))
    escalated = taken + timedelta(minutes=55)
    _escalate(order, escalated)
    on_site = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert order.emergency is True
    assert (on_site.started_at, on_site.stopped_at) == (escalated, escalated)
    assert on_site.due_at == escalated + timedelta(minutes=15)
    assert order.report_breaches(escalated + timedelta(hours=1)) == []


def test_int_7_int_8_escalating_after_the_technician_left_starts_the_clock() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    order.observe(_entry("TechnicianArrived", taken + timedelta(minutes=50)))
    order.observe(_entry("VisitClosed", taken + timedelta(minutes=90)))
    assert order.status is OrderStatus.ON_SITE  # a visit with no work leaves the status
    escalated = taken + timedelta(hours=2)
    _escalate(order, escalated)
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].stopped_at is None
    [breach] = order.report_breaches(escalated + timedelta(minutes=16))
    assert breach.clock is SlaClock.EMERGENCY_ON_SITE


def test_int_8_an_ordinary_duplicate_does_not_escalate() -> None:
    order = _order(_at("2025-05-30T10:00:00"))
    event = order.link_duplicate(
        reported_at=_at("2025-05-30T11:00:00"),
        channel=Channel.WEB,
        caller_phone=None,
        fault_description="还是打不着火",
        linked_by=None,
    )
    assert event.escalated_to_emergency is False
    assert order.emergency is False
    assert SlaClock.EMERGENCY_ON_SITE not in order.clocks


def _verify(order: Order, at: datetime, *, policy: IntakePolicy = POLICY, **details: Any) -> Any:
    return order.verify(
        reported_on=order.created_at.astimezone(SHANGHAI).date(),
        warranty=TABLE,
        verified_by="agent 7",
        now=at,
        policy=policy,
        calendar=CALENDAR,
        **details,
    )


def test_int_7_a_fault_code_corrected_to_an_emergency_at_verification_escalates_the_order() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    assert SlaClock.EMERGENCY_ON_SITE not in order.clocks
    verified_at = taken + timedelta(minutes=40)
    event = _verify(
        order, verified_at, fault=Fault(description="灶具周围有燃气味", code="gas_leak")
    )
    assert event.escalated_to_emergency is True
    assert event.on_site_due_at == verified_at + timedelta(minutes=15)
    assert order.emergency is True
    on_site = order.clocks[SlaClock.EMERGENCY_ON_SITE]
    assert (on_site.started_at, on_site.stopped_at) == (verified_at, None)
    [breach] = order.report_breaches(verified_at + timedelta(minutes=16))
    assert breach.clock is SlaClock.EMERGENCY_ON_SITE


def test_int_7_the_emergency_codes_and_target_at_verification_are_the_policys() -> None:
    taken = _at("2025-05-30T10:00:00")
    policy = IntakePolicy(emergency_fault_codes=["co_alarm"], emergency_on_site_minutes=10)
    ordinary = _verify(
        _order(taken), taken, policy=policy, fault=Fault(description="有燃气味", code="gas_leak")
    )
    assert ordinary.escalated_to_emergency is False and ordinary.on_site_due_at is None
    order = _order(taken)
    event = _verify(
        order, taken, policy=policy, fault=Fault(description="一氧化碳报警", code="co_alarm")
    )
    assert event.escalated_to_emergency is True
    assert event.on_site_due_at == taken + timedelta(minutes=10)


def test_int_7_verification_never_de_escalates_nor_restarts_an_emergency() -> None:
    taken = _at("2025-05-30T10:00:00")
    gas = Fault(description="燃气味很大", code="gas_leak")
    order = _order(taken, emergency=True, fault=gas)
    due = order.clocks[SlaClock.EMERGENCY_ON_SITE].due_at
    event = _verify(
        order, taken + timedelta(minutes=5), fault=Fault(description="打不着火", code="E1")
    )
    assert event.escalated_to_emergency is False and event.on_site_due_at is None
    assert order.emergency is True
    assert order.clocks[SlaClock.EMERGENCY_ON_SITE].due_at == due
    flagged = _order(taken, emergency=True)  # the agent's flag, no emergency code
    again = _verify(flagged, taken + timedelta(minutes=5), fault=gas)
    assert again.escalated_to_emergency is False  # already one: its first clock keeps running
    assert flagged.clocks[SlaClock.EMERGENCY_ON_SITE].due_at == taken + timedelta(minutes=15)


def test_int_6_verification_re_derives_the_loaner_from_the_corrected_line_and_fault_code() -> None:
    taken = _at("2025-05-30T10:00:00")
    order = _order(taken)
    assert order.loaner_required is False
    microwave = Product(line="microwave_oven", model="M1", purchase_date=date(2025, 3, 1))
    event = _verify(order, taken + timedelta(minutes=10), product=microwave)
    assert event.loaner_required is True and order.loaner_required is True
    assert event.escalated_to_emergency is False and order.emergency is False
    event = _verify(order, taken + timedelta(minutes=20), product=PRODUCT)
    assert event.loaner_required is False and order.loaner_required is False
    compressor = Fault(description="压缩机不启动", code="compressor_failure")
    event = _verify(order, taken + timedelta(minutes=30), fault=compressor)
    assert event.loaner_required is True and order.loaner_required is True
    # a verification that corrects neither still says what the prediction is
    event = _verify(order, taken + timedelta(minutes=40), confirmed=["customer.address"])
    assert event.loaner_required is True


def test_int_6_int_7_a_verification_correcting_neither_re_derives_nothing() -> None:
    # The policy's lists changed since intake (the line now a take-back one, the fault code now
    # an emergency): nothing the agent corrected says so, so the order keeps what it was given.
    taken = _at("2025-05-30T10:00:00")
    order = _order(
        taken,
        product=Product(line="water_dispenser", model="YR-1", purchase_date=date(2025, 3, 1)),
        fault=Fault(description="饮水机底部一直漏水", code="drip"),
        loaner_required=False,
        needs_verification=["customer.address"],
    )
    later = IntakePolicy(
        emergency_fault_codes=["drip"], take_back_product_lines=["water_dispenser"]
    )
    event = _verify(
        order, taken + timedelta(minutes=10), policy=later, confirmed=["customer.address"]
    )
    assert event.loaner_required is False and order.loaner_required is False
    assert event.escalated_to_emergency is False and event.on_site_due_at is None
    assert order.emergency is False and SlaClock.EMERGENCY_ON_SITE not in order.clocks
    # a corrected fault is re-derived under the policy of the day
    event = _verify(
        order,
        taken + timedelta(minutes=20),
        policy=later,
        fault=Fault(description="饮水机底部一直滴水", code="drip"),
    )
    assert event.escalated_to_emergency is True and order.emergency is True
    assert event.loaner_required is True


def test_clock_times_are_stored_in_utc() -> None:
    clocks = start_clocks(
        _at("2025-05-30T10:00:00"), calendar=CALENDAR, policy=POLICY, emergency=False
    )
    assert clocks[SlaClock.REPLY].due_at.tzinfo is UTC


def test_int_2_a_correction_verified_after_assignment_keeps_the_order_assigned() -> None:
    now = _at("2025-05-30T10:00:00")
    order = _order(now)
    order.observe(_entry("OrderAssigned", now + timedelta(minutes=5)))
    order.observe(_entry("OrderVerified", now + timedelta(minutes=6)))
    assert order.status is OrderStatus.ASSIGNED
    order.observe(_entry("OrderVerified", now - timedelta(minutes=1), "early"))
    assert order.status is OrderStatus.ASSIGNED
