"""Calendar dates as clients must write them: ``YYYY-MM-DD``.

pydantic's lax mode also reads a number (or a string of digits) as a Unix timestamp, so
``?day=0`` or ``{"day": 0}`` meant 1 January 1970 (a sampling draw, a reconciliation or a plan
of that day). :data:`IsoDate` refuses anything but an ISO calendar date.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
"""A ``date`` given as ``YYYY-MM-DD`` only (no timestamp numbers)."""
