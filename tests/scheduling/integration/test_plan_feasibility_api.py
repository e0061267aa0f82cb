"""A day the plan cannot keep whole is planned anyway: jobs it cannot keep are left out with a
reason, shifts already over and days nobody works never fail, past days are not re-planned and
one bad day never stops the background re-plan (SCH-4, SCH-9)."""

from __future__ import annotations

from typing import Any

from scheduling_support import DONGYING, Harness, created, local, near, technician_body, window

from scheduling.domain.routing import RoutingPlan, RoutingProblem
from scheduling.service_layer import handlers

TODAY = "/v1/plans/2026-11-23/optimisation?time_limit=0.3"
TOMORROW = "/v1/plans/2026-11-24/optimisation?time_limit=0.3"


async def test_sch_9_an_emergency_that_cannot_be_reached_in_time_does_not_refuse_the_day(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=near(DONGYING, east_km=8))
    harness.clock.now = local(10)
    await harness.feed(created("o1", location=near(DONGYING, east_km=2), preferred=[window(14)]))
    await harness.feed(created("gas", emergency=True))
    assert (await harness.order("gas"))["technician_id"] == "t1"
    for _ in range(2):
        response = await harness.client.post(TODAY)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [v["order_id"] for v in body["visits"]] == ["o1"]
        assert body["unassigned"] == ["gas"]
        assert body["unassigned_reasons"]["gas"]["code"] == "window_unreachable"


async def test_sch_4_a_capacity_lowered_below_the_booked_jobs_leaves_one_out(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", capacity=2)
    await harness.add_technician("t2", areas=["Binzhou"])
    await harness.feed(
        created("o1", location=near(DONGYING, east_km=2), preferred=[window(10, day=1)])
    )
    await harness.feed(
        created("o2", location=near(DONGYING, east_km=3), preferred=[window(14, day=1)])
    )
    body = technician_body("t1", capacity=1)
    body.pop("technician_id")
    assert (await harness.client.put("/v1/technicians/t1", json=body)).status_code == 200
    response = await harness.client.post(TOMORROW)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert len(plan["visits"]) == 1 and len(plan["unassigned"]) == 1
    assert plan["unassigned_reasons"][plan["unassigned"][0]]["code"] == "over_capacity"


async def test_sch_4_optimising_today_after_every_shift_ended_leaves_the_job_out(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    harness.clock.now = local(10)
    await harness.feed(created("o1", preferred=[window(15)]))
    harness.clock.now = local(19)
    response = await harness.client.post(TODAY)
    assert response.status_code == 200, response.text
    assert response.json()["unassigned"] == ["o1"]
    assert response.json()["unassigned_reasons"]["o1"]["code"] == "shift_over"


async def test_sch_4_a_day_nobody_works_answers_every_job_unassigned(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, day=1)]))
    body = technician_body("t1", days_off=["2026-11-24"])
    body.pop("technician_id")
    assert (await harness.client.put("/v1/technicians/t1", json=body)).status_code == 200
    response = await harness.client.post(TOMORROW)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["visits"] == [] and plan["unassigned"] == ["o1"]
    assert plan["unassigned_reasons"]["o1"]["code"] == "no_technician"
    assert plan["unassigned_reasons"]["o1"]["text"]
    # the plan read back later says why, as the optimisation did
    stored = (await harness.client.get("/v1/plans/2026-11-24")).json()
    assert stored["unassigned_reasons"] == plan["unassigned_reasons"]


async def _dirty_monday_after_a_shift_ended(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.add_technician("t2", shift_end="17:00")
    harness.clock.now = local(8)
    assert (await harness.client.post(TODAY)).status_code == 200
    harness.clock.now = local(16, 50)
    await harness.feed(created("gas", emergency=True, location=near(DONGYING, east_km=1)))
    assert (await harness.client.get("/v1/plans/2026-11-23")).json()["dirty"] is True


async def test_sch_9_the_background_replan_after_a_shift_ended_applies_a_plan(
    harness: Harness,
) -> None:
    await _dirty_monday_after_a_shift_ended(harness)
    harness.clock.now = local(17, 5)
    assert await harness.run_job("replan") == 1
    assert (await harness.client.get("/v1/plans/2026-11-23")).json()["dirty"] is False


async def test_sch_9_a_past_day_is_not_reoptimised(harness: Harness) -> None:
    await _dirty_monday_after_a_shift_ended(harness)
    before = await harness.order("gas")
    harness.clock.now = local(0, 10, day=1)  # Tuesday 00:10
    response = await harness.client.post(TODAY)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert (problem["title"], problem["day"]) == ("Day is over", "2026-11-23"), problem
    await harness.run_job("replan")
    plan = (await harness.client.get("/v1/plans/2026-11-23")).json()
    assert plan["dirty"] is False  # nothing left for the background re-plan to retry
    assert await harness.order("gas") == before
    assert not [
        e for e in await harness.published("OrderReassigned") if e.reassigned_by == handlers.PLANNER
    ]


class _Broken:
    """A solver that fails: a real error of one day."""

    def solve(self, problem: RoutingProblem, **_: Any) -> RoutingPlan:
        raise RuntimeError("solver broke")


async def test_sch_9_one_failing_day_does_not_crash_the_background_replan(
    harness: Harness,
) -> None:
    await _dirty_monday_after_a_shift_ended(harness)
    harness.clock.now = local(17, 5)
    deps = dict(harness.runtime.app.state.deps)
    deps["solver"] = _Broken()
    replanned = await handlers.reoptimise_dirty_plans(
        uow_factory=harness.runtime.app.state.uow_factory, **deps
    )
    assert replanned == 1
    # left dirty: the next cycle tries again
    assert (await harness.client.get("/v1/plans/2026-11-23")).json()["dirty"] is True


async def test_sch_4_a_job_past_the_shift_end_is_listed_with_its_reason(
    harness: Harness,
) -> None:
    # the technician agrees on their own call a job that ends after their 18:00 shift end
    await harness.add_technician("t1")
    await harness.feed(created("o1", location=near(DONGYING, east_km=3)))
    key = await harness.key("technician", technician_id="t1")
    late = {"start": local(17, 45, day=1).isoformat(), "end": local(18, day=1).isoformat()}
    call = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "later_time", "window": late},
        headers=key,
    )
    assert call.status_code == 200, call.text
    response = await harness.client.post(TOMORROW)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["unassigned"] == ["o1"]
    assert plan["unassigned_reasons"]["o1"]["code"] == "outside_shift"
