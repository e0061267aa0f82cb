"""Dates and moments as clients must write them: ``YYYY-MM-DD``, and ISO 8601 with the offset.

pydantic's lax mode also reads a number (or a string of digits) as a Unix timestamp, so
``?day=0`` or ``{"day": 0}`` meant 1 January 1970 (a sampling draw, a reconciliation or a plan
of that day), and ``{"at": 0}`` the first second of 1970. :data:`IsoDate` refuses anything but
an ISO calendar date, :data:`IsoDatetime` anything but an ISO 8601 date and time with its UTC
offset (a time without one would be read in whatever zone the reader guesses).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)"
)


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
"""A ``date`` given as ``YYYY-MM-DD`` only (no timestamp numbers)."""


def _iso_datetime_only(value: Any) -> Any:
    # An aware datetime handed over by code passes; a naive one is refused by AwareDatetime.
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATETIME.fullmatch(value)):
        return value
    raise ValueError(
        "a date and time is written ISO 8601 with its UTC offset, e.g. 2026-11-24T09:00:00+08:00"
    )


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
"""An aware ``datetime`` given as ISO 8601 with its offset only (no timestamp numbers, no
naive times)."""


_ISO_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}([.,]\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?")


def _iso_time_only(value: Any) -> Any:
    if isinstance(value, time) or (isinstance(value, str) and _ISO_TIME.fullmatch(value)):
        return value
    raise ValueError("a time of day is written HH:MM (or HH:MM:SS)")


IsoTime = Annotated[time, BeforeValidator(_iso_time_only)]
"""A ``time`` of day given as ``HH:MM[:SS]`` only (a number was read as seconds since
midnight: ``36000`` was 10:00)."""
