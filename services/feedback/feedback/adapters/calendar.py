"""The kit's business calendar, answering in UTC (what feedback stores and publishes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

from servicekit.calendar import BusinessCalendar


class UtcCalendar:
    """Delegates to a :class:`BusinessCalendar`; every moment it returns is in UTC."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self._calendar = calendar

    @property
    def tz(self) -> tzinfo:
        """The business time zone."""
        return self._calendar.tz

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        return self._calendar.add_working_time(start, duration).astimezone(UTC)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from ``start`` to ``end``."""
        return self._calendar.working_time_between(start, end)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same wall-clock time ``days`` working days later."""
        return self._calendar.add_working_days(start, days).astimezone(UTC)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        return self._calendar.is_working_day(day)
