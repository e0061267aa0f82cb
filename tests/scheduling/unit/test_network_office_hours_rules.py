"""SCH-1 / INT-7 on the domain alone: a partner network that declares its own office hours has
the `network_accept_minutes` to answer an order counted in them (open 08:00-20:00 every day,
given at 19:50 on a Sunday: 08:20 on Monday), closed on public holiday breaks unless it opens
on them; a network without them keeps the business calendar's; an emergency's minutes run on
the wall clock whatever the hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from scheduling_support import dongying_order, local

from scheduling.domain.exceptions import InvalidOfficeHours
from scheduling.domain.model import Network, OfficeHours
from scheduling.domain.policy import SchedulingPolicy
from servicekit.calendar import BusinessCalendar

POLICY = SchedulingPolicy()
CALENDAR = BusinessCalendar(timezone="Asia/Shanghai", country="CN")
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
SUNDAY = 6  # local(..., day=SUNDAY): Sunday 29 November 2026


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CALENDAR.tz)


def network(hours: OfficeHours | None) -> Network:
    return Network(network_id="n1", name="网点", skills=["*"], areas=["*"], office_hours=hours)


def due(hours: OfficeHours | None, given: datetime, *, emergency: bool = False) -> datetime:
    """By when network n1 with ``hours`` must answer an order given to it at ``given``."""
    order = dongying_order(emergency=emergency)
    return order.network_answer_due(
        network=network(hours), given_at=given, policy=POLICY, calendar=CALENDAR
    )


EIGHT_TO_EIGHT = OfficeHours(opens=time(8), closes=time(20), weekdays=EVERY_DAY)


def test_sch_1_open_8_to_20_daily_and_given_at_19_50_on_sunday_answers_by_08_20_monday() -> None:
    # 10 minutes on Sunday before it closes, the other 20 from Monday's opening
    assert due(EIGHT_TO_EIGHT, local(19, 50, day=SUNDAY)) == local(8, 20, day=SUNDAY + 1)


def test_sch_1_a_network_without_office_hours_keeps_the_business_calendar() -> None:
    assert due(None, local(19, 50, day=SUNDAY)) == local(9, 30, day=SUNDAY + 1)
    assert due(None, local(17, 50)) == local(9, 20, day=1)


@pytest.mark.parametrize(
    ("hours", "given", "expected"),
    [
        # open on Saturday: 30 minutes the same morning, not Monday's
        (EIGHT_TO_EIGHT, local(11, day=5), local(11, 30, day=5)),
        # before opening: the clock starts at 08:00
        (EIGHT_TO_EIGHT, local(6, day=2), local(8, 30, day=2)),
        # at night, after closing: the next morning
        (EIGHT_TO_EIGHT, local(23, day=2), local(8, 30, day=3)),
        # stops earlier, weekdays only: Friday 16:50 at a 09:00-17:00 network is Monday 09:20
        (
            OfficeHours(opens=time(9), closes=time(17), weekdays=(0, 1, 2, 3, 4)),
            local(16, 50, day=4),
            local(9, 20, day=7),
        ),
        # open to midnight (closes 00:00): 23:50 leaves 10 minutes, the rest from 08:00
        (
            OfficeHours(opens=time(8), closes=time(0), weekdays=EVERY_DAY),
            local(23, 50, day=SUNDAY),
            local(8, 20, day=SUNDAY + 1),
        ),
        # round the clock (00:00-00:00): wall-clock minutes
        (
            OfficeHours(opens=time(0), closes=time(0), weekdays=EVERY_DAY),
            local(23, 50, day=SUNDAY),
            local(0, 20, day=SUNDAY + 1),
        ),
    ],
    ids=["open-saturday", "before-opening", "after-closing", "stops-earlier", "to-midnight", "24h"],
)
def test_sch_1_the_time_to_answer_counts_the_network_s_own_hours(
    hours: OfficeHours, given: datetime, expected: datetime
) -> None:
    assert due(hours, given) == expected


def test_sch_1_a_network_closed_on_public_holidays_answers_after_the_whole_break() -> None:
    # National Day 2026: 1-7 October off, Sunday the 4th included (the package does not list
    # it: the break does); open again Thursday the 8th
    assert due(EIGHT_TO_EIGHT, shanghai(date(2026, 9, 30), 19, 50)) == shanghai(
        date(2026, 10, 8), 8, 20
    )
    assert due(EIGHT_TO_EIGHT, shanghai(date(2026, 10, 4), 10)) == shanghai(
        date(2026, 10, 8), 8, 30
    )


def test_sch_1_a_network_that_opens_on_public_holidays_answers_during_the_break() -> None:
    hours = OfficeHours(
        opens=time(8), closes=time(20), weekdays=EVERY_DAY, open_on_public_holidays=True
    )
    assert due(hours, shanghai(date(2026, 9, 30), 19, 50)) == shanghai(date(2026, 10, 1), 8, 20)


def test_sch_1_a_make_up_workday_does_not_open_a_network_on_a_day_it_keeps_closed() -> None:
    # Saturday 14 February 2026 is a make-up workday (调休) for the business calendar, but this
    # network never opens on Saturdays; the Spring Festival break (15-23 February) follows
    weekdays = OfficeHours(opens=time(8), closes=time(20), weekdays=(0, 1, 2, 3, 4))
    given = shanghai(date(2026, 2, 13), 19, 50)
    assert due(None, given) == shanghai(date(2026, 2, 14), 9, 30)
    assert due(weekdays, given) == shanghai(date(2026, 2, 24), 8, 20)


def test_int_7_an_emergency_counts_wall_clock_minutes_whatever_the_network_s_hours() -> None:
    given = local(23, day=SUNDAY)
    assert due(EIGHT_TO_EIGHT, given, emergency=True) == given + timedelta(minutes=30)
    weekdays = OfficeHours(opens=time(9), closes=time(17), weekdays=(0,))
    assert due(weekdays, given, emergency=True) == given + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("opens", "closes", "weekdays", "message"),
    [
        (time(8), time(8), EVERY_DAY, "close when they open"),
        (time(8), time(20), (), "at least one weekday"),
        (time(8), time(20), (0, 7), "0 \\(Monday\\) to 6 \\(Sunday\\)"),
        (time(8), time(20), (-1,), "0 \\(Monday\\) to 6 \\(Sunday\\)"),
    ],
    ids=["closes-when-opening", "no-weekday", "weekday-7", "weekday-negative"],
)
def test_sch_1_office_hours_that_cannot_be_counted_in_are_refused(
    opens: time, closes: time, weekdays: tuple[int, ...], message: str
) -> None:
    with pytest.raises(InvalidOfficeHours, match=message):
        OfficeHours(opens=opens, closes=closes, weekdays=weekdays)


def test_sch_1_office_hours_keep_each_weekday_once_in_order() -> None:
    hours = OfficeHours(opens=time(8), closes=time(20), weekdays=(6, 0, 6))
    assert hours.weekdays == (0, 6)


NIGHTS = OfficeHours(opens=time(20), closes=time(2), weekdays=(0, 1, 2, 3, 4))
"""Open overnight, 20:00 to 02:00 the next morning, the nights starting Monday to Friday."""


def test_sch_1_overnight_office_hours_count_on_past_midnight() -> None:
    # given at 23:50 on Monday: 10 minutes before midnight, 20 after it, within Monday's night
    assert due(NIGHTS, local(23, 50)) == local(0, 20, day=1)
    # given at 01:50 on Tuesday, Monday night still open: 10 minutes, then 20 from Tuesday 20:00
    assert due(NIGHTS, local(1, 50, day=1)) == local(20, 20, day=1)


def test_sch_1_overnight_office_hours_belong_to_the_night_they_open() -> None:
    # Friday's night runs into Saturday; no night opens on Saturday nor on Sunday
    friday, monday = 4, 7
    assert due(NIGHTS, local(1, 0, day=friday + 1)) == local(1, 30, day=friday + 1)
    assert due(NIGHTS, local(3, 0, day=friday + 1)) == local(20, 30, day=monday)


def test_sch_1_overnight_office_hours_close_on_a_holiday_night_only() -> None:
    # 2026-09-30 (Wednesday) is a working day, 1-8 October the National Day break: the night of
    # the 30th runs to 02:00 on 1 October; the break's nights stay shut until the 8th (a Thursday)
    night = OfficeHours(opens=time(20), closes=time(2), weekdays=EVERY_DAY)
    assert due(night, shanghai(date(2026, 10, 1), 1, 0)) == shanghai(date(2026, 10, 1), 1, 30)
    assert due(night, shanghai(date(2026, 10, 1), 3, 0)) == shanghai(date(2026, 10, 8), 20, 30)
