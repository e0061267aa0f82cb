"""Shifts and windows at local midnight (SCH-3, SCH-4): a shift may end at midnight closing its
day (00:00 as its end is 24:00), and a window that opened before midnight and is still open is
kept on today's shift, with today's jobs."""

from __future__ import annotations

from datetime import time, timedelta

from scheduling_support import DONGYING, local, near
from shift_checks import POLICY, TZ, kept, reasons

from contracts.common import TimeWindow
from scheduling.domain.dispatching import (
    HeldJob,
    candidate_windows,
    service_day,
)
from scheduling.domain.model import Technician

MONDAY = local(8).astimezone(TZ).date()


def tech(shift_start: time, shift_end: time) -> Technician:
    return Technician(
        technician_id="t1",
        name="Tech t1",
        phone=None,
        skills=["water_heater"],
        areas=["Dongying"],
        home=DONGYING,
        shift_start=shift_start,
        shift_end=shift_end,
        working_days=list(range(7)),
    )


def test_sch_3_a_shift_ending_at_00_00_runs_to_midnight_closing_its_day() -> None:
    evening = tech(time(16), time(0))

    shift = evening.shift(MONDAY, TZ)

    assert shift.start == local(16) and shift.end == local(0, day=1)
    assert evening.shift_hours == "16:00-24:00"
    assert tech(time(9), time(18)).shift_hours == "09:00-18:00"
    # a 60-minute job arriving 22:50-22:55 ends before midnight: kept on Monday's shift
    assert kept(evening, TimeWindow(start=local(23), end=local(23, 5)), now=local(20)) == 0
    # a 24-hour shift offers windows up to midnight, not one past it
    windows = candidate_windows(
        days=[MONDAY], tz=TZ, policy=POLICY, now=local(18), technicians=[evening]
    )
    assert windows[-1].end == local(0, day=1)


def test_sch_3_a_shift_ending_at_midnight_still_refuses_a_job_running_past_it() -> None:
    evening = tech(time(16), time(0))
    late = TimeWindow(start=local(23, 30), end=local(1, 30, day=1))

    assert kept(evening, late, now=local(20)) is None
    [why] = reasons(evening, late, now=local(20))
    assert "finish the 60-minute job within their shift" in why and "(16:00-24:00)" in why
    # the technician agreeing it on their own call may stay late: arrival on shift is enough
    assert kept(evening, late, now=local(20), overtime=True) is not None


def test_sch_3_a_window_still_open_after_midnight_is_kept_on_todays_shift() -> None:
    round_the_clock = tech(time(0), time(0))
    five_past_midnight = local(0, 5, day=1)
    opened_last_night = TimeWindow(
        start=five_past_midnight - timedelta(minutes=30),
        end=five_past_midnight + timedelta(minutes=60),
    )

    assert service_day(opened_last_night, tz=TZ, now=five_past_midnight) == MONDAY + timedelta(1)
    assert service_day(opened_last_night, tz=TZ) == MONDAY
    # on shift since midnight and at the customer's door: kept (it was refused as Monday's,
    # whose shift was over)
    assert kept(round_the_clock, opened_last_night, now=five_past_midnight) is not None
    assert kept(round_the_clock, opened_last_night, now=five_past_midnight, overtime=True) == 0


def test_sch_3_a_job_under_way_since_before_midnight_still_holds_the_technician_after_it() -> None:
    # it is the day before's job (SCH-1 capacity: test_shift_occurrence_rules), not today's, but
    # today's shift starts with the technician on it
    round_the_clock = tech(time(0), time(0))
    five_past_midnight = local(0, 5, day=1)
    far = near(DONGYING, north_km=20)
    under_way = HeldJob(
        order_id="o-far",
        location=far,
        window=TimeWindow(start=local(23, 30), end=local(0, 30, day=1)),
        minutes=60,
    )
    right_after = TimeWindow(start=local(0, 10, day=1), end=local(0, 40, day=1))

    # without the job held, the window just after midnight is kept at once
    assert kept(round_the_clock, right_after, now=five_past_midnight) is not None
    # with it, the technician is 20 km away on a job until about 01:30: the clash is seen
    assert kept(round_the_clock, right_after, now=five_past_midnight, held=[under_way]) is None
    [why] = reasons(round_the_clock, right_after, now=five_past_midnight, held=[under_way])
    assert "clashes with the jobs technician t1 holds" in why
