"""Scheduling domain test helpers for shifts and windows (SCH-3): the feasibility check and its
reasons for a 60-minute job in Dongying, on the Shanghai calendar and the default policy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from scheduling_support import DONGYING

from contracts.common import TimeWindow
from scheduling.domain.dispatching import HeldJob, fits, why_not_kept
from scheduling.domain.model import Technician
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.travel import GreatCircleTravel

TZ = ZoneInfo("Asia/Shanghai")
POLICY = SchedulingPolicy()
TRAVEL = GreatCircleTravel(road_factor=1.3, speed_kmh=30)
_JOB: dict[str, Any] = {
    "location": DONGYING,
    "minutes": 60,
    "policy": POLICY,
    "travel": TRAVEL,
    "tz": TZ,
}
"""The job both checks are asked about: 60 minutes in Dongying."""


def kept(
    t: Technician,
    window: TimeWindow,
    *,
    now: datetime,
    held: Iterable[HeldJob] = (),
    overtime: bool = False,
) -> int | None:
    """The metres ``t`` adds to keep ``window`` for the job (SCH-3), None when they cannot."""
    return fits(technician=t, held=list(held), window=window, now=now, overtime=overtime, **_JOB)


def reasons(
    t: Technician, window: TimeWindow, *, now: datetime, held: Iterable[HeldJob] = ()
) -> list[str]:
    """Why ``t`` cannot keep ``window`` for the job (SCH-3); empty when they can."""
    return why_not_kept(technician=t, held=list(held), window=window, now=now, **_JOB)
