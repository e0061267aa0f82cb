"""Windows between two shifts and jobs across midnight (SCH-1, SCH-3, SCH-4): a window is kept
only if the visit (arrival 5-10 minutes early, the job and the way home) fits inside one shift of
the technician: the first of those the window's arrival span overlaps that it can be done inside,
not always the one of the day it opens. A job belongs to that shift's day (its capacity, its day
plan, its placement), and a job of one shift still running when the next one starts (round the
clock) holds the technician there without counting among the next day's jobs."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from scheduling_support import DONGYING, dongying_order, local, near
from shift_checks import POLICY, TRAVEL, TZ, kept, reasons

from contracts.common import TimeWindow
from scheduling.domain.dispatching import (
    HeldJob,
    Placement,
    earliest_placement,
    feasible_slots,
    keeping,
    recorded_day,
    workload_by_day,
)
from scheduling.domain.model import Technician
from scheduling.service_layer.handlers import _day_of

MONDAY = local(8).astimezone(TZ).date()


def tech(
    shift_start: time,
    shift_end: time,
    *,
    days_off: list[date] | None = None,
    capacity: int = 8,
) -> Technician:
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
        days_off=days_off or [],
        daily_capacity=capacity,
    )


def span(start: datetime, end: datetime) -> TimeWindow:
    return TimeWindow(start=start, end=end)


def test_sch_3_a_window_opening_on_the_night_shift_is_kept_on_the_next_shift_it_reaches() -> None:
    # 10:00 to 09:00 the next morning, every day: Monday's shift ends Tuesday 09:00, Tuesday's
    # starts at 10:00; a 60-minute job asked for Tuesday 08:30-11:00 cannot finish by 09:00
    # (arriving 08:20 at the earliest) but fits Tuesday's shift from 10:00
    long_nights = tech(time(10), time(9))
    straddling = span(local(8, 30, day=1), local(11, day=1))

    assert kept(long_nights, straddling, now=local(8)) is not None
    assert reasons(long_nights, straddling, now=local(8)) == []


def test_sch_3_a_window_reaching_tonights_night_shift_is_kept_on_it() -> None:
    # 22:00-06:00, Monday off: no shift runs into Tuesday morning, Tuesday's starts at 22:00;
    # a (policy-long) window Tuesday 05:00-23:00 is kept on Tuesday's night shift
    night = tech(time(22), time(6), days_off=[MONDAY])
    all_day = span(local(5, day=1), local(23, day=1))

    assert kept(night, all_day, now=local(8)) is not None
    assert reasons(night, all_day, now=local(8)) == []


def test_sch_3_a_round_the_clock_window_across_midnight_is_kept_after_midnight() -> None:
    # 00:00-00:00: Monday's shift ends at midnight (and the way home with it), Tuesday's starts
    # then; a 60-minute job for 23:30-00:30 is done on Tuesday's, arriving from 00:00
    round_the_clock = tech(time(0), time(0))
    across = span(local(23, 30), local(0, 30, day=1))

    assert kept(round_the_clock, across, now=local(20)) is not None


def test_sch_3_a_window_whose_visit_fits_in_no_shift_is_refused() -> None:
    night = tech(time(22), time(6))
    day = tech(time(9), time(18))
    long_nights = tech(time(10), time(9))

    # 05:00-07:00: arriving 04:50 the job is done at 05:50, before last night's shift ends
    assert kept(night, span(local(5, day=1), local(7, day=1)), now=local(8)) == 0
    # 05:30-07:00: it cannot be done by 06:00, and tonight's shift starts at 22:00
    late_morning = span(local(5, 30, day=1), local(7, day=1))
    assert kept(night, late_morning, now=local(8)) is None
    [why] = reasons(night, late_morning, now=local(8))
    assert "finish the 60-minute job within their shift" in why
    # a day shift to 18:00: 17:00-19:00 is kept arriving 16:50, 17:30-19:00 is not
    assert kept(day, span(local(17), local(19)), now=local(8)) == 0
    assert kept(day, span(local(17, 30), local(19)), now=local(8)) is None
    # 08:45-09:30 on 10:00-09:00: too late for the shift ending 09:00, over before 10:00
    gap = span(local(8, 45, day=1), local(9, 30, day=1))
    assert kept(long_nights, gap, now=local(8)) is None
    assert reasons(long_nights, gap, now=local(8)) != []


def test_sch_3_a_job_running_past_midnight_holds_a_window_booked_before_it() -> None:
    # booked at 20:00: a job 20 km away for 23:30-00:30 still holds the technician at 00:10
    round_the_clock = tech(time(0), time(0))
    far = near(DONGYING, north_km=20)
    across = HeldJob(
        order_id="o-far",
        location=far,
        window=span(local(23, 30), local(0, 30, day=1)),
        minutes=60,
    )
    right_after = span(local(0, 10, day=1), local(0, 40, day=1))

    assert kept(round_the_clock, right_after, now=local(20)) is not None
    assert kept(round_the_clock, right_after, now=local(20), held=[across]) is None
    [why] = reasons(round_the_clock, right_after, now=local(20), held=[across])
    assert "clashes with the jobs technician t1 holds" in why


def test_sch_1_a_job_under_way_across_midnight_counts_towards_the_day_it_started_on() -> None:
    # one job a day; Monday's (23:00-00:30, done on Monday's shift arriving from 22:50) may
    # still be under way at 00:05, at the door: Tuesday's capacity is still free later that night
    round_the_clock = tech(time(0), time(0), capacity=1)
    five_past_midnight = local(0, 5, day=1)
    mondays = HeldJob(
        order_id="o-monday",
        location=DONGYING,
        window=span(local(23), local(0, 30, day=1)),
        minutes=60,
    )
    later = span(local(2, day=1), local(4, day=1))

    assert kept(round_the_clock, later, now=five_past_midnight, held=[mondays]) is not None
    assert reasons(round_the_clock, later, now=five_past_midnight, held=[mondays]) == []
    # Monday is full with it: a window Monday evening is refused for capacity
    evening = span(local(21), local(22))
    [why] = reasons(round_the_clock, evening, now=local(20), held=[mondays])
    assert f"already holds 1 jobs on {MONDAY}" in why, why


def test_sch_1_a_job_counts_towards_the_shift_it_is_kept_on_not_the_one_it_opens_in() -> None:
    # 10:00-09:00, one job a day: Tuesday 08:30-11:00 cannot be done by 09:00 on Monday's shift,
    # only from 10:00 on Tuesday's: it is Tuesday's one job, and Monday's capacity is still free
    long_nights = tech(time(10), time(9), capacity=1)
    tuesdays = HeldJob(
        order_id="o-tuesday",
        location=DONGYING,
        window=span(local(8, 30, day=1), local(11, day=1)),
        minutes=60,
    )
    monday_evening = span(local(20), local(21))
    tuesday_afternoon = span(local(14, day=1), local(15, day=1))

    assert kept(long_nights, monday_evening, now=local(8), held=[tuesdays]) is not None
    assert kept(long_nights, tuesday_afternoon, now=local(8), held=[tuesdays]) is None
    [why] = reasons(long_nights, tuesday_afternoon, now=local(8), held=[tuesdays])
    assert f"already holds 1 jobs on {MONDAY + timedelta(days=1)}" in why, why


def _placed_at_20(
    t: Technician, booked: TimeWindow, *, workload: dict[tuple[str, date], int]
) -> Placement | None:
    """Where the 60-minute job booked for ``booked`` is placed again at Monday 20:00, on
    Monday or Tuesday, with ``t`` alone holding nothing (SCH-1, SCH-3)."""
    return earliest_placement(
        technicians=[t],
        product_line="water_heater",
        area="Dongying",
        location=DONGYING,
        minutes=60,
        days=[MONDAY, MONDAY + timedelta(days=1)],
        held={},
        workload=workload,
        policy=POLICY,
        travel=TRAVEL,
        tz=TZ,
        now=local(20),
        booked=booked,
    )


def test_sch_1_an_order_booked_across_midnight_is_placed_for_the_shift_keeping_it() -> None:
    # 23:30-00:30 round the clock is Tuesday's job (Monday's shift ends at midnight): placed
    # again at 20:00 (no time to agree, the window stands) it is for Tuesday, not Monday
    round_the_clock = tech(time(0), time(0))
    across = span(local(23, 30), local(0, 30, day=1))

    placed = _placed_at_20(round_the_clock, across, workload={})

    assert placed is not None and placed.day == MONDAY + timedelta(days=1), placed


def _far_before_midnight() -> HeldJob:
    # Monday's job 20 km north at 22:00-22:30: done at 22:50 at the earliest, then 52 minutes
    # on the road; a 60-minute job back in Dongying cannot end by Monday's midnight
    return HeldJob(
        order_id="o-far",
        location=near(DONGYING, north_km=20),
        window=span(local(22), local(22, 30)),
        minutes=60,
    )


def test_sch_3_a_window_ruled_out_on_its_first_shift_by_travel_is_kept_on_the_next() -> None:
    # round the clock, 23:00-01:00: alone it fits Monday's shift (arriving 22:50, done 23:50),
    # but after Monday's far job it cannot; Tuesday's shift, from midnight, keeps it
    round_the_clock = tech(time(0), time(0))
    across = span(local(23), local(1, day=1))

    assert kept(round_the_clock, across, now=local(20)) is not None
    assert kept(round_the_clock, across, now=local(20), held=[_far_before_midnight()]) is not None
    assert reasons(round_the_clock, across, now=local(20), held=[_far_before_midnight()]) == []
    assert (
        keeping(
            technician=round_the_clock,
            held=[_far_before_midnight()],
            window=across,
            now=local(20),
            location=DONGYING,
            minutes=60,
            policy=POLICY,
            travel=TRAVEL,
            tz=TZ,
        )
        is not None
    )


def test_sch_3_a_window_whose_first_shift_is_over_when_asked_is_kept_on_the_next() -> None:
    # asked at 00:05 for 23:00-01:00 round the clock: Monday's shift is over, Tuesday's keeps it
    round_the_clock = tech(time(0), time(0))
    across = span(local(23), local(1, day=1))
    five_past_midnight = local(0, 5, day=1)

    assert kept(round_the_clock, across, now=five_past_midnight) is not None
    assert reasons(round_the_clock, across, now=five_past_midnight) == []


def test_sch_1_a_window_kept_on_the_next_shift_counts_towards_that_shifts_day() -> None:
    # one job a day: Monday's far job fills Monday, so 23:00-01:00 is kept on Tuesday's shift
    # and is Tuesday's one job (slots, placement and workload alike)
    round_the_clock = tech(time(0), time(0), capacity=1)
    tuesday = MONDAY + timedelta(days=1)
    far = _far_before_midnight()
    across = span(local(23), local(1, day=1))
    found = keeping(
        technician=round_the_clock,
        held=[far],
        window=across,
        now=local(20),
        location=DONGYING,
        minutes=60,
        policy=POLICY,
        travel=TRAVEL,
        tz=TZ,
    )
    assert found is not None and found[0] == tuesday, found

    tuesdays = HeldJob(
        order_id="o-across", location=DONGYING, window=across, minutes=60, day=tuesday
    )
    afternoon = span(local(14, day=1), local(15, day=1))
    assert kept(round_the_clock, afternoon, now=local(20), held=[far, tuesdays]) is None
    [why] = reasons(round_the_clock, afternoon, now=local(20), held=[far, tuesdays])
    assert f"already holds 1 jobs on {tuesday}" in why, why
    # without Monday's far job, Monday still has room: the job kept on Tuesday is not Monday's
    evening = span(local(21), local(22))
    assert kept(round_the_clock, evening, now=local(20), held=[tuesdays]) is not None
    workload = workload_by_day(
        technicians=[round_the_clock],
        booked=[("t1", across, 60, tuesday)],
        pending={},
        now=local(20),
        tz=TZ,
        until=tuesday,
        policy=POLICY,
    )
    assert workload == {("t1", tuesday): 1}


def test_sch_1_slots_keep_a_window_on_the_next_shift_when_the_first_day_is_full() -> None:
    # Monday full (workload): 23:00-01:00 is offered on Tuesday's shift, counted with Tuesday's load
    round_the_clock = tech(time(0), time(0), capacity=1)
    across = span(local(23), local(1, day=1))

    [slot] = feasible_slots(
        location=DONGYING,
        product_line="water_heater",
        area="Dongying",
        minutes=60,
        technicians=[round_the_clock],
        held={},
        windows=[across],
        policy=POLICY,
        travel=TRAVEL,
        tz=TZ,
        workload={("t1", MONDAY): 1},
        now=local(20),
    )
    assert slot.technician_id == "t1"


def test_sch_1_a_booked_window_is_placed_on_the_next_shift_it_overlaps_when_the_first_is_full() -> (
    None
):
    # 23:00-01:00 round the clock fits Monday's shift alone, but Monday is at capacity (one job
    # a day, held elsewhere): Tuesday's shift, which the window overlaps too, keeps it
    round_the_clock = tech(time(0), time(0), capacity=1)
    across = span(local(23), local(1, day=1))

    placed = _placed_at_20(round_the_clock, across, workload={("t1", MONDAY): 1})

    assert placed is not None and placed.day == MONDAY + timedelta(days=1), placed


def test_sch_3_only_a_day_kept_on_a_later_shift_is_recorded() -> None:
    # round the clock: 22:00-23:00 fits Monday's shift alone, the first it overlaps
    round_the_clock = tech(time(0), time(0))
    evening = span(local(22), local(23))
    tuesday = MONDAY + timedelta(days=1)

    def recorded(window: TimeWindow, day: date | None) -> date | None:
        return recorded_day(round_the_clock, window, day, minutes=60, tz=TZ, policy=POLICY)

    # the first shift it fits inside alone is worked out afresh from the shifts: not recorded
    assert recorded(evening, MONDAY) is None
    assert recorded(evening, None) is None
    # kept on a later shift than that one (travel, other jobs, a day at capacity): recorded
    assert recorded(evening, tuesday) == tuesday


def test_sch_1_a_recorded_day_stands_whoever_holds_the_job() -> None:
    # a job kept on Tuesday's shift stays Tuesday's when its holder is not in the roster read
    order = dongying_order(received_at=local(8))
    order.assign(
        technician=tech(time(0), time(0)),
        by="dispatcher:d",
        reason="test",
        now=local(8),
        appointment=span(local(23), local(1, day=1)),
        kept_on=MONDAY + timedelta(days=1),
    )

    assert _day_of(order, {}, tz=TZ, policy=POLICY) == MONDAY + timedelta(days=1)
