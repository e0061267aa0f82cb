"""The day a held job counts on follows the technician's shifts (SCH-1, SCH-3): only a job kept
on a later shift than the first it fits inside alone records that day; every other is worked
out afresh from the shifts. A recorded day is checked again when the technician's shifts or
days off change, or the job moves to another address, so a job never stays on a day whose
shift no longer keeps it (out of every day plan, or counted on the wrong day)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from scheduling_support import DONGYING, Harness, created, local, near, technician_body

from contracts.common import TimeWindow
from contracts.intake import OrderCancelled

MONDAY = date(2026, 11, 23)
TUESDAY = date(2026, 11, 24)
NORTH = near(DONGYING, north_km=20)


async def _round_the_clock(harness: Harness) -> None:
    await harness.add_technician(
        "rtc", shift_start="00:00", shift_end="00:00", working_days=list(range(7)), capacity=1
    )


async def _across_kept_on_tuesday(harness: Harness) -> None:
    """Round the clock, one job a day: Monday's is 20 km north at 22:00, so 23:00-01:00 at the
    home base is kept on Tuesday's shift."""
    await _round_the_clock(harness)
    harness.clock.now = local(12)
    await harness.feed(
        created("far", location=NORTH, preferred=[TimeWindow(start=local(22), end=local(22, 30))])
    )
    await harness.feed(
        created("across", preferred=[TimeWindow(start=local(23), end=local(1, day=1))])
    )
    for order_id in ("far", "across"):
        order = await harness.order(order_id)
        assert order["technician_id"] == "rtc" and order["appointment"] is not None, order


async def _kept_on(harness: Harness, order_id: str) -> date | None:
    async with harness.runtime.app.state.uow_factory() as uow:
        order = await uow.orders.get(order_id)
        assert order is not None
        return order.kept_on


async def _replace_rtc(harness: Harness, **changes: Any) -> None:
    body = technician_body(
        "rtc",
        capacity=1,
        **{"shift_start": "00:00", "shift_end": "00:00", "working_days": list(range(7)), **changes},
    )
    body.pop("technician_id")
    replaced = await harness.client.put("/v1/technicians/rtc", json=body)
    assert replaced.status_code == 200, replaced.text


async def _planned(harness: Harness, day: date) -> set[str]:
    """The orders of ``day``'s plan, given to a technician or left unassigned."""
    plan = await harness.client.post(f"/v1/plans/{day.isoformat()}/optimisation?time_limit=0.3")
    assert plan.status_code == 200, plan.text
    body = plan.json()
    return {v["order_id"] for v in body["visits"]} | set(body["unassigned"])


async def _tuesday_afternoon_promised(harness: Harness) -> bool:
    await harness.feed(
        created("afternoon", preferred=[TimeWindow(start=local(14, day=1), end=local(15, day=1))])
    )
    return (await harness.order("afternoon"))["appointment"] is not None


async def test_sch_3_only_a_job_kept_on_a_later_shift_records_its_day(harness: Harness) -> None:
    await _across_kept_on_tuesday(harness)

    # Monday's job is kept on the first shift it fits inside: worked out afresh, not recorded
    assert await _kept_on(harness, "far") is None
    assert await _kept_on(harness, "across") == TUESDAY


async def test_sch_1_sch_3_a_day_off_added_moves_a_job_kept_that_day_back_to_a_shift_keeping_it(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)

    await _replace_rtc(harness, days_off=[TUESDAY.isoformat()])

    # Tuesday's shift is gone: the job is Monday's again (the one shift its window overlaps),
    # in Monday's plan, not left on a day its holder does not work
    assert "across" in await _planned(harness, MONDAY)
    assert await _kept_on(harness, "across") is None


async def test_sch_1_sch_3_a_shift_moved_to_the_day_frees_the_day_the_job_was_kept_on(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)

    # now a day technician: no shift keeps 23:00-01:00 any more
    await _replace_rtc(harness, shift_start="09:00", shift_end="18:00")

    # it no longer counts as Tuesday's one job: Tuesday afternoon can be promised
    assert await _tuesday_afternoon_promised(harness)
    assert await _kept_on(harness, "across") is None


async def test_sch_3_an_edit_leaving_the_shifts_as_they_were_keeps_the_day(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)

    await _replace_rtc(harness, phone="+8613900000001")

    assert await _kept_on(harness, "across") == TUESDAY
    assert not await _tuesday_afternoon_promised(harness)


async def test_sch_3_sch_11_a_job_moved_to_where_the_first_shift_keeps_it_counts_there_again(
    harness: Harness,
) -> None:
    await _round_the_clock(harness)
    harness.clock.now = local(12)
    # 20 km north from 23:00, the job and the way home cannot end by Monday's midnight
    await harness.feed(
        created(
            "across", location=NORTH, preferred=[TimeWindow(start=local(23), end=local(1, day=1))]
        )
    )
    assert await _kept_on(harness, "across") == TUESDAY

    # the product is at the home base after all: Monday's shift keeps it
    moved = await harness.client.post(
        "/v1/orders/across/relocation",
        json={"location": DONGYING.model_dump(), "go_now": True, "customer_consent": True},
    )
    assert moved.status_code == 200, moved.text

    assert await _tuesday_afternoon_promised(harness)
    assert await _kept_on(harness, "across") is None


async def test_sch_3_a_roster_edit_while_the_job_is_under_way_keeps_the_day_it_was_kept_on(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)
    # 00:58: the window closes at 01:00, the technician has not reported their arrival yet;
    # Tuesday's shift still keeps the job (nothing about it changed), it cannot be reached
    # from here any more
    harness.clock.now = local(0, 58, day=1)

    await _replace_rtc(harness, days_off=["2026-11-27"])

    assert await _kept_on(harness, "across") == TUESDAY


async def _release_far(harness: Harness, how: str) -> None:
    if how == "cancelled by the dispatcher":
        done = await harness.client.post(
            "/v1/orders/far/assignment/cancellation", json={"reason": "customer asked"}
        )
        assert done.status_code == 200, done.text
    elif how == "returned by the technician":
        done = await harness.client.post(
            "/v1/orders/far/return",
            json={"reason": "cannot_arrive_on_time"},
            headers=await harness.key("technician", technician_id="rtc"),
        )
        assert done.status_code == 200, done.text
    elif how == "reassigned":
        await harness.add_technician("other", home=NORTH)
        done = await harness.client.post(
            "/v1/orders/far/assignment",
            json={"technician_id": "other", "reason": "closer"},
        )
        assert done.status_code == 200, done.text
    else:
        await harness.feed(OrderCancelled(order_id="far", reason="fixed", cancelled_by="agent-1"))


@pytest.mark.parametrize(
    "how",
    ["cancelled by the dispatcher", "returned by the technician", "reassigned", "cancelled"],
)
async def test_sch_1_sch_3_a_job_pushed_to_a_later_shift_comes_back_when_the_other_job_goes(
    harness: Harness, how: str
) -> None:
    await _across_kept_on_tuesday(harness)

    await _release_far(harness, how)

    # Monday's one job is gone: Monday's shift keeps 23:00-01:00 at the home base again, and
    # Tuesday's one job is free for the afternoon
    assert await _kept_on(harness, "across") is None
    assert await _tuesday_afternoon_promised(harness)


async def _plan_dirty(harness: Harness, day: date) -> bool:
    plan = await harness.client.get(f"/v1/plans/{day.isoformat()}")
    assert plan.status_code == 200, plan.text
    return bool(plan.json()["dirty"])


async def test_sch_1_sch_9_a_job_counted_on_another_day_leaves_both_days_plans_to_redo(
    harness: Harness,
) -> None:
    await _across_kept_on_tuesday(harness)
    assert "across" in await _planned(harness, TUESDAY)
    await _planned(harness, MONDAY)
    assert not await _plan_dirty(harness, MONDAY) and not await _plan_dirty(harness, TUESDAY)

    await _replace_rtc(harness, days_off=[TUESDAY.isoformat()])

    # the job left Tuesday's plan for Monday's: both re-planned in the background
    assert await _plan_dirty(harness, MONDAY) and await _plan_dirty(harness, TUESDAY)
