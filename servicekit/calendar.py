"""Business calendar: working periods of each day, weekends, public holidays and the official
weekend workdays (调休) of a country, from the ``holidays`` package, in one time zone.

SLA clocks (INT-3), call-back due times (FBK) and cash holding periods (BIL-10) count working
time with it. All inputs and outputs are timezone-aware.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class BusinessCalendar:
    """Working time in ``timezone``: the ``periods`` of every working day of ``country``."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        country: str = "CN",
        periods: Sequence[tuple[time, time]] = ((time(9, 0), time(18, 0)),),
        extra_holidays: Collection[date] = (),
        extra_workdays: Collection[date] = (),
    ) -> None:
        if not periods:
            raise ValueError("a business calendar needs at least one working period a day")
        ordered = sorted(periods)
        for start, end in ordered:
            if end <= start:
                raise ValueError(f"working period {start}-{end} ends before it starts")
        for (_, end), (next_start, _) in pairwise(ordered):
            if next_start < end:
                raise ValueError("working periods overlap")
        self.tz = ZoneInfo(timezone)
        self.country = country
        self.periods: tuple[tuple[time, time], ...] = tuple(ordered)
        both = set(extra_holidays) & set(extra_workdays)
        if both:
            raise ValueError(f"days both a holiday and a workday: {sorted(both)}")
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)

    @lru_cache(maxsize=64)  # noqa: B019  (calendars live as long as the process)
    def _holidays(self, year: int) -> holidays.HolidayBase:
        return holidays.country_holidays(self.country, years=year)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (weekend workdays count, public holidays do not);
        the policy's own holidays and workdays win over the ``holidays`` package, whose dates
        for a year not announced yet are estimates."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        return bool(self._holidays(day.year).is_working_day(day))

    def _listed_holiday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return False
        return day in self.extra_holidays or day in self._holidays(day.year)

    def is_public_holiday(self, day: date) -> bool:
        """Whether ``day`` falls in a public holiday break: a run of consecutive days off that
        holds a listed holiday (the package's, days off in lieu, the policy's own). The weekend
        days of the break count, as the official announcements count them (National Day: 1-7
        October); an ordinary weekend does not, and a make-up workday (调休) ends the break."""
        if self.is_working_day(day):
            return False
        for step in (timedelta(days=-1), timedelta(days=1)):
            other = day
            for _ in range(31):  # a bound: no break is a month long
                if self._listed_holiday(other):
                    return True
                other += step
                if self.is_working_day(other):
                    break
        return False

    def _periods_of(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return
        for start, end in self.periods:
            yield (
                datetime.combine(day, start, tzinfo=self.tz),
                datetime.combine(day, end, tzinfo=self.tz),
            )

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``.

        Time outside working periods does not count: a request taken after hours starts counting
        at the next working period.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        remaining = duration
        cursor = start.astimezone(self.tz)
        day = cursor.date()
        for _ in range(3660):  # ten years of days: a bound, never reached by a sane duration
            for period_start, period_end in self._periods_of(day):
                if period_end <= cursor:
                    continue
                begin = max(cursor, period_start)
                available = period_end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), tzinfo=self.tz)
        raise ValueError(f"{duration} of working time does not fit in ten years")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from ``start`` to ``end`` (zero when ``end`` is not later)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            for period_start, period_end in self._periods_of(day):
                overlap = min(end, period_end) - max(start, period_start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same wall-clock time ``days`` working days after ``start``'s day."""
        local = start.astimezone(self.tz)
        day = local.date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, local.timetz())

    def is_working_moment(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside a working period."""
        local = moment.astimezone(self.tz)
        return any(s <= local < e for s, e in self._periods_of(local.date()))


class CalendarPolicy(BaseModel):
    """The ``calendar`` section of the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Shanghai"
    country: str = "CN"
    working_periods: list[tuple[str, str]] = Field(
        default_factory=lambda: [("09:00", "18:00")],
        description="Working periods of a working day, local time, HH:MM.",
    )
    extra_holidays: list[date] = Field(
        default_factory=list,
        description="Days off the country's calendar package does not know (a newly announced "
        "holiday schedule, a local holiday); they win over the package.",
    )
    extra_workdays: list[date] = Field(
        default_factory=list,
        description="Weekend days worked to make up for a holiday (调休) the package does not "
        "know yet; they win over the package.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _a_day_is_off_or_worked(self) -> CalendarPolicy:
        both = set(self.extra_holidays) & set(self.extra_workdays)
        if both:
            raise ValueError(f"days both in extra_holidays and extra_workdays: {sorted(both)}")
        return self

    def build(self) -> BusinessCalendar:
        """The calendar this policy describes."""
        return BusinessCalendar(
            timezone=self.timezone,
            country=self.country,
            periods=[
                (time.fromisoformat(a), time.fromisoformat(b)) for a, b in self.working_periods
            ],
            extra_holidays=self.extra_holidays,
            extra_workdays=self.extra_workdays,
        )
