"""SCH-1: the business calendar says which days fall in a public holiday break, as the official
announcements count them: the listed holidays, the days off in lieu and the weekend days between
them; not an ordinary weekend, nor a make-up workday (调休)."""

from __future__ import annotations

from datetime import date

import pytest

from servicekit.calendar import BusinessCalendar

CALENDAR = BusinessCalendar(timezone="Asia/Shanghai", country="CN")


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        (date(2026, 10, 1), True),  # National Day
        (date(2026, 10, 4), True),  # the Sunday inside the 1-7 October break
        (date(2026, 10, 7), True),  # a day off in lieu
        (date(2026, 10, 8), False),  # work again
        (date(2026, 2, 21), True),  # a Saturday inside the Spring Festival break (15-23 Feb)
        (date(2026, 2, 15), True),  # its first day, a Sunday
        (date(2026, 2, 14), False),  # the make-up workday before it
        (date(2026, 11, 28), False),  # an ordinary Saturday
        (date(2026, 11, 30), False),  # an ordinary Monday
    ],
)
def test_sch_1_a_public_holiday_break_includes_its_weekend_days(day: date, holiday: bool) -> None:
    assert CALENDAR.is_public_holiday(day) is holiday


def test_sch_1_the_policy_s_own_holidays_and_workdays_win() -> None:
    calendar = BusinessCalendar(
        extra_holidays=[date(2026, 11, 27)], extra_workdays=[date(2026, 10, 7)]
    )
    # a local holiday on Friday: the weekend after it joins the break
    assert calendar.is_public_holiday(date(2026, 11, 27))
    assert calendar.is_public_holiday(date(2026, 11, 29))
    assert not calendar.is_public_holiday(date(2026, 10, 7))
