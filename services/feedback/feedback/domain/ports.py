"""What the domain needs from outside: the business calendar (implemented by the kit's)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol


class WorkingCalendar(Protocol):
    """Working time in the business time zone (weekends and public holidays excluded)."""

    @property
    def tz(self) -> tzinfo:
        """The business time zone."""
        ...

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        ...

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from ``start`` to ``end``."""
        ...

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same wall-clock time ``days`` working days later."""
        ...

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        ...
