"""The automatic placement never leaves an order waiting because nobody works today (SCH-1,
SCH-3): over the consumer handler, the REST API and the periodic jobs on a real database, an
order taken on a weekend, after the shift or at night goes at once to the technician who can do
it on the earliest day they work, emergencies to whoever is on site soonest (INT-7); the
technician has 2 hours on shift from receiving it to call the customer (SCH-2); the retry sweep
places what nobody in the whole booking horizon could take."""

from __future__ import annotations

from datetime import timedelta

from scheduling_support import Harness, created, local, window

# The test Monday is day 0: Saturday is day 5, Sunday day 6, the next Monday day 7.
MONDAY_TO_FRIDAY = [0, 1, 2, 3, 4]


async def test_sch_1_sch_2_an_order_taken_on_saturday_evening_goes_at_once_to_mondays_technician(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", working_days=MONDAY_TO_FRIDAY)
    harness.clock.now = local(20, day=5)  # Saturday 20:00

    await harness.feed(created("sat"))

    order = await harness.order("sat")
    assert order["status"] == "assigned" and order["technician_id"] == "t1", order
    assert order["appointment"] is None  # the time is agreed on the contact call (SCH-2)
    [assigned] = await harness.published("OrderAssigned")
    assert assigned.assigned_by == "scheduling:auto"
    assert "Monday 2026-11-30" in assigned.reason, assigned.reason
    # SCH-2: received when t1's shift starts on Monday at 09:00: the call is due by 11:00
    harness.clock.now = local(23, day=5)
    assert await harness.run_job("contact_overdue") == 0
    harness.clock.now = local(10, 59, day=7)
    assert await harness.run_job("contact_overdue") == 0
    harness.clock.now = local(11, day=7)
    assert await harness.run_job("contact_overdue") == 1
    [overdue] = await harness.published("ContactOverdue")
    assert overdue.due_at == local(11, day=7) and overdue.assigned_at == local(20, day=5)


async def test_sch_3_a_technician_whose_shift_is_over_does_not_take_the_order_for_today(
    harness: Harness,
) -> None:
    await harness.add_technician("mon", working_days=[0])  # works today, till 18:00
    await harness.add_technician("tue", working_days=[1])
    harness.clock.now = local(17, 30)  # a 60-minute job no longer fits today's shift

    await harness.feed(created("late"))

    order = await harness.order("late")
    assert order["technician_id"] == "tue", order
    assert "Tuesday 2026-11-24" in (await harness.published("OrderAssigned"))[0].reason


async def test_sch_1_an_order_taken_at_23_50_is_placed_at_once_for_the_next_day(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")  # Monday to Saturday, 09:00-18:00
    harness.clock.now = local(23, 50)

    await harness.feed(created("night"))

    assert (await harness.order("night"))["technician_id"] == "t1"
    # SCH-2: not overdue at 01:50 in the night, but at 11:00 once t1 had 2 hours on shift
    harness.clock.now = local(1, 50, day=1)
    assert await harness.run_job("contact_overdue") == 0
    harness.clock.now = local(11, day=1)
    assert await harness.run_job("contact_overdue") == 1


async def test_sch_3_a_customers_preferred_window_on_monday_is_booked_on_saturday_evening(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", working_days=MONDAY_TO_FRIDAY)
    harness.clock.now = local(20, day=5)

    await harness.feed(created("pref", preferred=[window(14, day=7)]))

    order = await harness.order("pref")
    assert order["technician_id"] == "t1" and order["appointment"]["start"] is not None
    [assigned] = await harness.published("OrderAssigned")
    assert assigned.appointment == window(14, day=7)


async def test_int_7_an_emergency_at_night_goes_at_once_to_whoever_is_there_soonest(
    harness: Harness,
) -> None:
    await harness.add_technician("early-far", shift_start="08:00", shift_end="17:00")
    await harness.add_technician("nine", shift_start="09:00")
    harness.clock.now = local(2, day=1)  # Tuesday 02:00, nobody on shift

    await harness.feed(created("gas", emergency=True))

    order = await harness.order("gas")
    assert order["status"] == "assigned" and order["technician_id"] == "early-far", order
    [assigned] = await harness.published("OrderAssigned")
    assert assigned.appointment is not None
    assert assigned.appointment.start == local(8, day=1)
    assert assigned.appointment.end - assigned.appointment.start == timedelta(minutes=15)
    assert "nobody on shift now" in assigned.reason


async def test_sch_1_the_retry_places_what_nobody_in_the_whole_horizon_could_take(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")  # serves Dongying only
    harness.clock.now = local(20, day=5)  # Saturday
    await harness.feed(created("nobody", district="Binzhou"))  # nobody serves Binzhou
    assert (await harness.order("nobody"))["status"] == "awaiting_assignment"
    assert await harness.run_job("auto_placement") == 0

    await harness.add_technician("bz", areas=["Binzhou"], working_days=MONDAY_TO_FRIDAY)
    assert await harness.run_job("auto_placement") == 1

    assert (await harness.order("nobody"))["technician_id"] == "bz"
    assert await harness.run_job("auto_placement") == 0  # placed once
