"""Feasibility of every promised time (SCH-3) and the automatic placement (SCH-1), over the REST
API, the consumer handler and the periodic jobs, on SQLite and PostgreSQL: a preferred window
scheduling cannot use never loses the order; a reschedule and a time agreed on a call are checked
as a booking is; an order nobody could take when it came is placed once someone works."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scheduling_support import (
    DONGYING,
    Harness,
    created,
    harness_with,
    local,
    near,
    technician_body,
    window,
)

from contracts.common import TimeWindow

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: ~33 km north of the technicians' home: about 86 minutes away at 30 km/h × 1.3.
FAR = near(DONGYING, north_km=33)


def _w(w: TimeWindow) -> dict[str, str]:
    return {"start": w.start.isoformat(), "end": w.end.isoformat()}


def _refused(response: Any, *reasons: str) -> dict[str, Any]:
    """The 409 of a window that cannot be kept, with its reasons and alternatives (SCH-3)."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = dict(response.json())
    assert problem["title"] == "Window not available"
    assert "alternatives" in problem and problem["reasons"], problem
    for reason in reasons:
        assert any(reason in r for r in problem["reasons"]), (reason, problem["reasons"])
    return problem


# -- preferred windows (SCH-1, SCH-3) ----------------------------------------------------------


@pytest.mark.parametrize(
    "preferred",
    [
        # year 1 to tomorrow: no local day, no date the database stores
        TimeWindow(
            start=datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=8))),
            end=local(11, day=1),
        ),
        # tomorrow to the last day of year 9999 (in UTC already year 10000)
        TimeWindow(
            start=local(9, day=1),
            end=datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
        ),
        window(10, hours=24 * 30, day=1),  # a month long: no arrival time promised
        window(10, day=731),  # two years ahead, beyond the booking horizon
        window(10, hours=1 / 60, day=1),  # one minute
        TimeWindow(start=local(12, day=1), end=local(10, day=1)),  # ends before it starts
    ],
    ids=["year-1-start", "year-9999-end", "month-long", "two-years-ahead", "1-minute", "reversed"],
)
async def test_sch_1_sch_3_an_order_whose_preferred_window_cannot_be_used_is_placed_without_it(
    harness: Harness, preferred: TimeWindow
) -> None:
    await harness.add_technician("t1")

    await harness.feed(created("o1", preferred=[preferred]))

    order = await harness.order("o1")
    assert order["status"] == "assigned" and order["technician_id"] == "t1"
    assert order["appointment"] is None  # its time is agreed on the contact call (SCH-2)
    [assigned] = await harness.published("OrderAssigned")
    assert assigned.order_id == "o1" and assigned.appointment is None


async def test_sch_3_a_preferred_window_under_way_out_of_the_technicians_reach_is_no_appointment(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    harness.clock.now = local(10)
    # 08:00-11:00: from home at the start of the shift he would be there by 10:26, but it is
    # 10:00 now and he is 86 minutes away
    await harness.feed(created("o1", location=FAR, preferred=[window(8, hours=3)]))

    order = await harness.order("o1")
    assert order["technician_id"] == "t1" and order["appointment"] is None


# -- booking bounds and the technician's position now (SCH-3) --------------------------------


async def test_sch_3_booking_refuses_windows_out_of_bounds_or_out_of_reach_from_where_they_are(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    dispatcher = await harness.key("dispatcher")
    harness.clock.now = local(10)
    await harness.feed(created("o1", location=FAR))
    await harness.client.post("/v1/orders/o1/assignment/cancellation", json={"reason": "book"})

    cases = [
        (window(10, 5, hours=1), "cannot be there"),  # opens in 5 minutes, 86 minutes away
        (window(10, day=731), "booking horizon"),
        (window(10, hours=1 / 60, day=1), "shorter than 15 minutes"),
        (window(9, hours=24 * 30, day=1), "longer than 240 minutes"),
    ]
    for wanted, reason in cases:
        response = await harness.client.post(
            "/v1/orders/o1/appointment", json=_w(wanted), headers=dispatcher
        )
        _refused(response, reason)

    assert (await harness.order("o1"))["appointment"] is None
    booked = await harness.client.post(
        "/v1/orders/o1/appointment", json=_w(window(14, day=1)), headers=dispatcher
    )
    assert booked.status_code == 200, booked.text


@pytest.mark.parametrize("route", ["appointment", "reschedule", "contact-attempts"])
async def test_sch_3_a_window_at_the_ends_of_the_calendar_is_refused_on_every_route(
    harness: Harness, route: str
) -> None:
    await harness.add_technician("t1")
    tech = await harness.key("technician", technician_id="t1")
    await harness.feed(created("o1"))
    last = TimeWindow(
        start=datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))),
        end=datetime(9999, 12, 31, 22, tzinfo=timezone(timedelta(hours=-5))),
    )
    body: dict[str, Any] = {
        "appointment": _w(last),
        "reschedule": {**_w(last), "reason": "customer asked", "customer_consent": True},
        "contact-attempts": {"outcome": "later_time", "window": _w(last)},
    }[route]

    caller = tech if route == "contact-attempts" else {}  # else the admin, a dispatcher
    response = await harness.client.post(f"/v1/orders/o1/{route}", json=body, headers=caller)

    _refused(response, "booking horizon")
    assert (await harness.order("o1"))["appointment"] is None


# -- the dispatcher's reschedule (SCH-3) -------------------------------------------------------


async def test_sch_3_a_reschedule_is_checked_as_a_booking_is_and_refused_with_reasons(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")  # 09:00-18:00, Monday to Saturday
    await harness.feed(created("o1"))
    booked = await harness.client.post("/v1/orders/o1/appointment", json=_w(window(14)))
    assert booked.status_code == 200, booked.text
    before = await harness.published("AppointmentRescheduled")  # the booking's
    harness.clock.now = local(12)

    cases = [
        (window(3, day=6), "does not work on Sundays"),
        # started 3 hours ago and ends in a minute
        (TimeWindow(start=local(9), end=local(12, 1)), "cannot be there"),
        (
            TimeWindow(
                start=datetime(2099, 6, 1, 10, tzinfo=SHANGHAI),
                end=datetime(2099, 6, 1, 12, tzinfo=SHANGHAI),
            ),
            "booking horizon",
        ),
    ]
    for wanted, reason in cases:
        response = await harness.client.post(
            "/v1/orders/o1/reschedule",
            json={**_w(wanted), "reason": "customer asked", "customer_consent": True},
        )
        problem = _refused(response, reason)
        assert "Technician t1 cannot keep this window" in problem["detail"]

    assert TimeWindow.model_validate((await harness.order("o1"))["appointment"]) == window(14)
    assert await harness.published("AppointmentRescheduled") == before
    moved = await harness.client.post(
        "/v1/orders/o1/reschedule",
        json={**_w(window(16)), "reason": "customer asked", "customer_consent": True},
    )
    assert moved.status_code == 200, moved.text
    event = (await harness.published("AppointmentRescheduled"))[-1]
    assert len(await harness.published("AppointmentRescheduled")) == len(before) + 1
    assert (event.old_window, event.new_window) == (window(14), window(16))


# -- a time agreed on a call (SCH-3, SCH-5) ----------------------------------------------------


async def test_sch_3_a_time_agreed_on_a_call_must_fit_the_jobs_held_and_the_job_length(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    tech = await harness.key("technician", technician_id="t1")
    places = {
        "o1": DONGYING,
        "o2": near(DONGYING, east_km=4.4),
        "o3": near(DONGYING, north_km=4.4),
    }
    for order_id, place in places.items():
        await harness.feed(created(order_id, location=place))
    ten_to_eleven = window(10, hours=1)

    first = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "confirmed", "window": _w(ten_to_eleven)},
        headers=tech,
    )
    assert first.status_code == 200, first.text
    # 60-minute jobs 4.4 km apart cannot both be reached in the same hour
    for order_id, outcome in (("o2", "confirmed"), ("o3", "later_time")):
        clash = await harness.client.post(
            f"/v1/orders/{order_id}/contact-attempts",
            json={"outcome": outcome, "window": _w(ten_to_eleven)},
            headers=tech,
        )
        problem = _refused(clash, "clashes with the jobs technician t1 holds")
        assert all(a["technician_id"] == "t1" for a in problem["alternatives"])
    # arriving after the shift is over is no time to promise
    after_hours = await harness.client.post(
        "/v1/orders/o2/contact-attempts",
        json={"outcome": "confirmed", "window": _w(window(18, 30, hours=1, day=1))},
        headers=tech,
    )
    _refused(after_hours, "shift")

    for order_id in ("o2", "o3"):
        order = await harness.order(order_id)
        assert order["status"] == "assigned" and order["appointment"] is None
    assert [e.order_id for e in await harness.published("AppointmentConfirmed")] == ["o1"]
    assert await harness.published("AppointmentRescheduled") == []
    fits = await harness.client.post(
        "/v1/orders/o2/contact-attempts",
        json={"outcome": "confirmed", "window": _w(window(14))},
        headers=tech,
    )
    assert fits.status_code == 200 and fits.json()["status"] == "confirmed", fits.text


async def test_sch_3_on_their_own_call_a_technician_may_stay_late_a_dispatcher_may_not_book_it(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")  # shift 09:00-18:00
    tech = await harness.key("technician", technician_id="t1")
    await harness.feed(created("o1"))
    await harness.feed(created("o2"))
    # arriving by 17:55 is on shift; the 60-minute job is done after 18:00
    closing_time = _w(window(17, 30, hours=0.5, day=1))

    booked = await harness.client.post("/v1/orders/o1/appointment", json=closing_time)
    agreed = await harness.client.post(
        "/v1/orders/o2/contact-attempts",
        json={"outcome": "confirmed", "window": closing_time},
        headers=tech,
    )

    _refused(booked, "finish the 60-minute job within their shift")
    assert agreed.status_code == 200 and agreed.json()["status"] == "confirmed", agreed.text


async def test_sch_3_a_window_open_across_midnight_is_agreed_on_todays_shift_ending_at_24_00(
    harness: Harness,
) -> None:
    refused = await harness.client.post(
        "/v1/technicians",
        json=technician_body("t0", shift_start="10:00", shift_end="10:00"),
    )
    assert refused.status_code == 422, refused.text
    assert "use 00:00-00:00 for round the clock" in refused.text
    await harness.add_technician("t1", shift_start="00:00", shift_end="00:00")
    tech = await harness.key("technician", technician_id="t1")
    await harness.feed(created("o1"))
    await harness.feed(created("o2", location=near(DONGYING, north_km=20)))
    harness.clock.now = local(0, 5, day=1)  # Tuesday, five past midnight in Shanghai
    opened_last_night = TimeWindow(start=local(23, 35), end=local(1, 5, day=1))

    agreed = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "confirmed", "window": _w(opened_last_night)},
        headers=tech,
    )

    assert agreed.status_code == 200 and agreed.json()["status"] == "confirmed", agreed.text
    listed = await harness.client.get("/v1/technicians/t1")
    assert listed.json()["shift_end"] == "00:00:00"
    # the job under way is one of Tuesday's: o2, 20 km away, cannot be booked on top of it
    clash = await harness.client.post(
        "/v1/orders/o2/appointment",
        json=_w(TimeWindow(start=local(0, 10, day=1), end=local(1, 10, day=1))),
    )
    _refused(clash, "clashes with the jobs technician t1 holds on 2026-11-24")


# -- the same window again (SCH-3) -------------------------------------------------------------


async def test_sch_3_moving_to_the_window_already_agreed_changes_nothing_and_tells_nobody(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    tech = await harness.key("technician", technician_id="t1")
    await harness.feed(created("o1"))
    agreed = window(14)
    confirmed = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "confirmed", "window": _w(agreed)},
        headers=tech,
    )
    assert confirmed.status_code == 200, confirmed.text
    harness.clock.now = local(15)
    # 25 km away at 15:00: arrival ≈ 16:05, past the window: the customer is warned (SCH-6)
    ping = await harness.client.post(
        "/v1/technicians/t1/position",
        json={"position": near(DONGYING, north_km=25).model_dump()},
        headers=tech,
    )
    assert ping.status_code == 200, ping.text
    [warning] = await harness.published("ArrivalLate")
    in_shanghai = TimeWindow(
        start=agreed.start.astimezone(SHANGHAI), end=agreed.end.astimezone(SHANGHAI)
    )

    again = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "later_time", "window": _w(agreed)},
        headers=tech,
    )
    moved = await harness.client.post(
        "/v1/orders/o1/reschedule",
        json={**_w(in_shanghai), "reason": "same", "customer_consent": True},
    )

    assert again.status_code == 200 and moved.status_code == 200, (again.text, moved.text)
    assert await harness.published("AppointmentRescheduled") == []
    assert [e.order_id for e in await harness.published("AppointmentConfirmed")] == ["o1"]
    # the warning stands: a forecast as late again tells the customer nothing new
    assert (await harness.order("o1"))["predicted_arrival"] is not None
    again_late = await harness.client.post(
        "/v1/technicians/t1/position",
        json={"position": near(DONGYING, north_km=25).model_dump()},
        headers=tech,
    )
    assert again_late.status_code == 200
    assert await harness.published("ArrivalLate") == [warning]
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    assert "reschedule" not in [e["action"] for e in audit]


# -- placement retried (SCH-1, INT-3) ----------------------------------------------------------


async def test_sch_1_int_3_an_order_nobody_works_for_within_the_horizon_is_placed_once_one_does(
    database_url: str, tmp_path: Path
) -> None:
    # a one-day horizon: taken on Saturday, nobody working Saturday or Sunday can take it
    async with harness_with(database_url, tmp_path, booking_horizon_days=1) as harness:
        await harness.add_technician("t1", working_days=[0, 1, 2, 3, 4])  # Monday to Friday
        harness.clock.now = local(10, day=5)  # Saturday 10:00
        await harness.feed(created("w1"))
        assert (await harness.order("w1"))["status"] == "awaiting_assignment"

        assert await harness.run_job("auto_placement") == 0  # still nobody working
        assert (await harness.order("w1"))["status"] == "awaiting_assignment"
        harness.clock.now = local(0, 1, day=6)  # Sunday 00:01: Monday is within the horizon
        assert await harness.run_job("auto_placement") == 1
        assert await harness.run_job("auto_placement") == 0  # placed once

        order = await harness.order("w1")
        assert order["status"] == "assigned" and order["technician_id"] == "t1"
        [assigned] = await harness.published("OrderAssigned")
        assert assigned.order_id == "w1" and assigned.assigned_by == "scheduling:auto"
        assert "Monday 2026-11-30" in assigned.reason


async def test_sch_1_sch_12_placement_is_not_retried_for_an_order_handed_back_to_the_dispatcher(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with(database_url, tmp_path, booking_horizon_days=1) as harness:
        await harness.add_technician("t1", working_days=[0, 1, 2, 3, 4])  # Monday to Friday
        harness.clock.now = local(10, day=5)  # Saturday: nobody to place it with
        await harness.feed(created("o1"))
        assigned = await harness.client.post(
            "/v1/orders/o1/assignment", json={"technician_id": "t1", "reason": "by hand"}
        )
        assert assigned.status_code == 200, assigned.text
        cancelled = await harness.client.post(
            "/v1/orders/o1/assignment/cancellation", json={"reason": "customer wants another"}
        )
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "awaiting_assignment"
        harness.clock.now = local(9, 31, day=7)  # Monday: t1 works

        assert await harness.run_job("auto_placement") == 0

        assert (await harness.order("o1"))["status"] == "awaiting_assignment"
        assert len(await harness.published("OrderAssigned")) == 1  # the dispatcher's


async def test_sch_1_placement_is_retried_in_bounded_batches_the_longest_untried_first(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with(
        database_url, tmp_path, auto_placement_batch=1, booking_horizon_days=1
    ) as h:
        await h.add_technician("t1", working_days=[0, 1, 2, 3, 4])
        h.clock.now = local(10, day=5)  # Saturday
        for order_id in ("first", "second"):
            await h.feed(created(order_id))
            h.clock.advance(minutes=1)
        h.clock.now = local(9, day=7)  # Monday

        assert await h.run_job("auto_placement") == 1
        assert [(await h.order(o))["status"] for o in ("first", "second")] == [
            "assigned",
            "awaiting_assignment",
        ]
        assert await h.run_job("auto_placement") == 1
        assert (await h.order("second"))["status"] == "assigned"


async def test_sch_1_placement_is_not_retried_in_an_area_a_dispatcher_places_by_hand(
    database_url: str, tmp_path: Path
) -> None:
    manual = {"Dongying": "manual"}
    async with harness_with(database_url, tmp_path, assignment_mode_by_area=manual) as h:
        await h.add_technician("t1")
        await h.feed(created("o1"))

        assert await h.run_job("auto_placement") == 0

        assert (await h.order("o1"))["status"] == "awaiting_assignment"
        assert await h.published("OrderAssigned") == []
