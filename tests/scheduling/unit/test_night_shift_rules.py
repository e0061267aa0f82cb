"""Night shifts running past midnight (SCH-1, SCH-2, SCH-3, SCH-4, INT-7): a shift whose end is
earlier than its start runs from its day into the next (``22:00-06:00`` on Monday is Monday
22:00 to Tuesday 06:00); it belongs to the day it starts on, whose working days and days off
say whether it runs, and every "on shift now / today's shift" question sees the previous day's
night shift still running."""

from __future__ import annotations

from datetime import time, timedelta

from scheduling_support import DONGYING, local, near
from shift_checks import POLICY, TRAVEL, TZ, kept, reasons

from contracts.common import TimeWindow
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.domain.dispatching import (
    HeldJob,
    candidate_windows,
    earliest_placement,
    soonest_on_site,
    workload_by_day,
)
from scheduling.domain.model import Technician
from scheduling.domain.planning import DayProblem, PlanJob, PlanTechnician, build_day_problem
from scheduling.domain.routing import check_plan

MONDAY = local(8).astimezone(TZ).date()
TUESDAY = MONDAY + timedelta(days=1)
SATURDAY = MONDAY + timedelta(days=5)
SUNDAY = MONDAY + timedelta(days=6)

STALE_AFTER = timedelta(minutes=POLICY.position_stale_after_minutes)


def tech(
    tid: str,
    shift_start: time,
    shift_end: time,
    *,
    working_days: list[int] | None = None,
    days_off: list | None = None,
    home=DONGYING,
) -> Technician:
    return Technician(
        technician_id=tid,
        name=f"Tech {tid}",
        phone=None,
        skills=["water_heater"],
        areas=["Dongying"],
        home=home,
        shift_start=shift_start,
        shift_end=shift_end,
        working_days=list(range(7)) if working_days is None else working_days,
        days_off=days_off or [],
    )


NIGHT = tech("night", time(22), time(6))
DAY = tech("day", time(9), time(18))


def test_sch_3_a_shift_ending_before_it_starts_runs_overnight_into_the_next_day() -> None:
    shift = NIGHT.shift(MONDAY, TZ)

    assert shift.start == local(22) and shift.end == local(6, day=1)
    assert NIGHT.shift_hours == "22:00-06:00"
    # the moments after midnight until 06:00 belong to the shift of the day before
    assert NIGHT.shift_day(local(2, day=1), TZ) == MONDAY
    assert NIGHT.shift_day(local(23), TZ) == MONDAY
    assert NIGHT.shift_day(local(12, day=1), TZ) == TUESDAY
    assert DAY.shift_day(local(2, day=1), TZ) == TUESDAY
    # 00:00-00:00 stays round the clock, and 00:00 as an end is still 24:00
    round_the_clock = tech("rtc", time(0), time(0)).shift(MONDAY, TZ)
    assert (round_the_clock.start, round_the_clock.end) == (local(0), local(0, day=1))
    assert tech("eve", time(16), time(0)).shift(MONDAY, TZ).end == local(0, day=1)


def test_sch_3_windows_across_and_after_midnight_are_kept_by_the_night_technician_only() -> None:
    across = TimeWindow(start=local(23, 30), end=local(1, day=1))
    small_hours = TimeWindow(start=local(3, day=1), end=local(4, day=1))

    for window in (across, small_hours):
        assert kept(NIGHT, window, now=local(8)) is not None, window
        assert reasons(NIGHT, window, now=local(8)) == []
        assert NIGHT.why_off_shift(window, tz=TZ, policy=POLICY) == []
        assert kept(DAY, window, now=local(8)) is None, window
    why = reasons(DAY, across, now=local(8))
    assert why == [
        "the window 23:30-01:00 is outside technician day's shift on 2026-11-23 (09:00-18:00)",
        "the window 23:30-01:00 is outside technician day's shift on 2026-11-24 (09:00-18:00)",
    ]
    assert reasons(DAY, small_hours, now=local(8)) == [
        "the window 03:00-04:00 is outside technician day's shift on 2026-11-24 (09:00-18:00)"
    ]
    # a job that cannot end by 06:00 is refused on the night shift, which is named as written
    dawn = TimeWindow(start=local(5, 40, day=1), end=local(6, 30, day=1))
    [late] = reasons(NIGHT, dawn, now=local(8))
    assert "finish the 60-minute job within their shift on 2026-11-23 (22:00-06:00)" in late


def test_sch_3_a_night_technician_offers_windows_after_midnight_of_the_running_shift() -> None:
    windows = candidate_windows(
        days=[TUESDAY], tz=TZ, policy=POLICY, now=local(1, day=1), technicians=[NIGHT]
    )

    # at 01:00 on Tuesday, Monday's night shift still runs to 06:00
    assert windows[0].start.astimezone(TZ).date() == TUESDAY
    assert windows[0].start < local(6, day=1)
    assert all(w.end <= local(6, day=1) or w.start >= local(22, day=1) for w in windows)


def test_sch_3_working_days_and_days_off_name_the_day_a_night_shift_starts() -> None:
    tuesday_off = tech("night", time(22), time(6), days_off=[TUESDAY])
    no_sundays = tech("night", time(22), time(6), working_days=[0, 1, 2, 3, 4, 5])
    tuesday_small_hours = TimeWindow(start=local(3, day=1), end=local(4, day=1))
    sunday_small_hours = TimeWindow(start=local(3, day=6), end=local(4, day=6))
    sunday_night = TimeWindow(start=local(23, day=6), end=local(23, 30, day=6))
    monday_small_hours = TimeWindow(start=local(3, day=7), end=local(4, day=7))

    # Monday's night shift runs on into Tuesday, a day off
    assert tuesday_off.why_off_shift(tuesday_small_hours, tz=TZ, policy=POLICY) == []
    assert kept(tuesday_off, tuesday_small_hours, now=local(8)) is not None
    # ... but no shift starts on Tuesday: its night (Wednesday's small hours) is off
    wednesday_small_hours = TimeWindow(start=local(3, day=2), end=local(4, day=2))
    assert kept(tuesday_off, wednesday_small_hours, now=local(8)) is None
    assert tuesday_off.why_off_shift(wednesday_small_hours, tz=TZ, policy=POLICY) == [
        "2026-11-24 is a day off for technician night (no 22:00-06:00 shift starts that day)",
        "the window 03:00-04:00 is outside technician night's shift on 2026-11-25 (22:00-06:00)",
    ]
    # Saturday's night shift runs to Sunday 06:00; no shift starts on Sunday
    assert no_sundays.works_on(SATURDAY) and not no_sundays.works_on(SUNDAY)
    assert no_sundays.why_off_shift(sunday_small_hours, tz=TZ, policy=POLICY) == []
    assert kept(no_sundays, sunday_small_hours, now=local(8)) is not None
    assert kept(no_sundays, sunday_night, now=local(8)) is None
    assert kept(no_sundays, monday_small_hours, now=local(8)) is None
    assert "does not work on Sundays" in " ".join(
        no_sundays.why_off_shift(monday_small_hours, tz=TZ, policy=POLICY)
    )


def test_sch_3_the_night_shifts_jobs_after_midnight_are_held_on_its_day() -> None:
    far = near(DONGYING, north_km=20)
    at_two = HeldJob(
        order_id="o-far",
        location=far,
        window=TimeWindow(start=local(2, day=1), end=local(3, day=1)),
        minutes=60,
    )
    right_after = TimeWindow(start=local(2, 30, day=1), end=local(3, day=1))

    assert kept(NIGHT, right_after, now=local(8)) is not None
    # the job at 02:00, 20 km away, is one of Monday's night shift: the clash is seen
    assert kept(NIGHT, right_after, now=local(8), held=[at_two]) is None
    [why] = reasons(NIGHT, right_after, now=local(8), held=[at_two])
    assert "clashes with the jobs technician night holds on 2026-11-23" in why


def test_sch_2_the_contact_deadline_runs_across_midnight_within_a_night_shift() -> None:
    # given at 23:30: 2 hours on shift end at 01:30 the next morning, not at the next 22:00
    assert NIGHT.after_working(local(23, 30), 120, tz=TZ, days=7) == local(1, 30, day=1)
    # given at 01:00 on Tuesday, during Monday's night shift
    assert NIGHT.after_working(local(1, day=1), 120, tz=TZ, days=7) == local(3, day=1)
    # given at 05:00: one hour left of the shift, the other hour from Tuesday 22:00
    assert NIGHT.after_working(local(5, day=1), 120, tz=TZ, days=7) == local(23, day=1)
    # given at noon, off shift: received when the night shift starts at 22:00
    assert NIGHT.after_working(local(12), 120, tz=TZ, days=7) == local(0, day=1)


def test_sch_1_an_order_at_01_00_is_placed_on_the_night_shift_running_now() -> None:
    near_day = tech("day", time(9), time(18), home=near(DONGYING, east_km=1))
    night = tech("night", time(22), time(6), home=near(DONGYING, east_km=8))
    now = local(1, day=1)
    workload = workload_by_day(
        technicians=[near_day, night],
        booked=[("night", TimeWindow(start=local(2, day=1), end=local(4, day=1)), 60, None)],
        pending={},
        now=now,
        tz=TZ,
        until=TUESDAY,
        policy=POLICY,
    )
    # the 02:00 job is Monday's night shift's
    assert workload == {("night", MONDAY): 1}

    placed = earliest_placement(
        technicians=[near_day, night],
        product_line="water_heater",
        area="Dongying",
        location=DONGYING,
        minutes=60,
        days=[MONDAY, TUESDAY],
        held={},
        workload=workload,
        policy=POLICY,
        travel=TRAVEL,
        tz=TZ,
        now=now,
    )

    assert placed is not None
    assert (placed.technician.technician_id, placed.day) == ("night", MONDAY)


def test_int_7_an_emergency_at_02_00_goes_to_the_night_technician_on_shift() -> None:
    near_day = tech("day", time(9), time(18), home=near(DONGYING, east_km=1))
    night = tech("night", time(22), time(6), home=near(DONGYING, east_km=8))
    now = local(2, day=1)

    choice = soonest_on_site(
        technicians=[near_day, night],
        product_line="water_heater",
        location=DONGYING,
        now=now,
        tz=TZ,
        travel=TRAVEL,
        days=[MONDAY, TUESDAY],
        stale_after=STALE_AFTER,
    )

    assert choice is not None
    assert choice.technician.technician_id == "night"
    assert choice.sets_off == now


def _monday_night_plan(jobs: list[PlanJob]) -> DayProblem:
    """The plan of Monday (its time axis from Monday midnight) for the night technician alone,
    on Monday's 22:00-06:00 shift, with ``jobs``."""
    shift = NIGHT.shift(MONDAY, TZ)
    return build_day_problem(
        technicians=[
            PlanTechnician(
                technician_id="night",
                start_at=DONGYING,
                end_at=DONGYING,
                shift_start=shift.start,
                shift_end=shift.end,
                skills=None,
                capacity=8,
            )
        ],
        jobs=jobs,
        policy=POLICY,
        travel=TRAVEL,
        origin=local(0),
    )


def test_sch_4_the_plan_of_a_night_shifts_day_holds_its_job_at_02_00_next_morning() -> None:
    day = _monday_night_plan(
        [
            PlanJob(
                job_id="late",
                location=near(DONGYING, east_km=3),
                window_start=local(23),
                window_end=local(23, 30),
                minutes=45,
                skill=None,
            ),
            PlanJob(
                job_id="small-hours",
                location=near(DONGYING, north_km=4),
                window_start=local(2, day=1),
                window_end=local(3, day=1),
                minutes=45,
                skill=None,
            ),
        ]
    )

    plan = PyVrpSolver().solve(day.problem, time_limit=0.3)

    assert check_plan(day.problem, plan) == []
    assert plan.unassigned == []
    visits = {v.job_id: v for v in day.to_visits(plan)}
    assert local(1, 50, day=1) <= visits["small-hours"].arrive <= local(2, 55, day=1)
    assert visits["late"].arrive < visits["small-hours"].arrive
    # the checker sees a job past the shift's end at 06:00 as such
    late_plan = _monday_night_plan(
        [
            PlanJob(
                job_id="after-dawn",
                location=near(DONGYING, east_km=3),
                window_start=local(7, day=1),
                window_end=local(8, day=1),
                minutes=45,
                skill=None,
            )
        ]
    )
    assert PyVrpSolver().solve(late_plan.problem, time_limit=0.2).unassigned == ["after-dawn"]


def test_sch_3_the_moment_a_night_shift_ends_belongs_to_the_next_days_shift() -> None:
    # 23 hours, 10:00 to 09:00 the next morning, starting on Tuesdays only
    long_night = tech("long", time(10), time(9), working_days=[1])
    tuesday_nine = local(9, day=1)

    # Monday's shift (if any) is over at 09:00: the moment is Tuesday's
    assert long_night.shift_day(tuesday_nine, TZ) == TUESDAY
    assert long_night.shift_day(tuesday_nine - timedelta(minutes=1), TZ) == MONDAY
    # a window opening at 09:00 is kept arriving at 10:00 when Tuesday's shift starts
    nine_to_eleven = TimeWindow(start=tuesday_nine, end=local(11, day=1))
    assert long_night.why_off_shift(nine_to_eleven, tz=TZ, policy=POLICY) == []
    assert kept(long_night, nine_to_eleven, now=local(8)) is not None
