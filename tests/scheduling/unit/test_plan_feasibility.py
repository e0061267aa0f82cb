"""A day the plan cannot keep whole still gets a feasible plan: the jobs it cannot keep are left
out, each with a reason a dispatcher can read (SCH-4, SCH-9)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyvrp
from scheduling_support import DONGYING, local, near

from contracts.common import GeoPoint
from scheduling.adapters.pyvrp_solver import PyVrpSolver, trim_to_feasible
from scheduling.domain.planning import (
    DayProblem,
    PlanJob,
    PlanTechnician,
    build_day_problem,
    unassigned_reasons,
)
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import Job, RoutingPlan, RoutingProblem, Vehicle, check_plan
from scheduling.domain.travel import GreatCircleTravel

POLICY = SchedulingPolicy()
TRAVEL = GreatCircleTravel(road_factor=1.3, speed_kmh=30)
SOLVER = PyVrpSolver()


def tech(
    tid: str, *, home: GeoPoint = DONGYING, capacity: int = 8, start: int = 9, end: int = 18
) -> PlanTechnician:
    return PlanTechnician(
        technician_id=tid,
        start_at=home,
        end_at=home,
        shift_start=local(start),
        shift_end=local(end),
        skills=None,
        capacity=capacity,
    )


def job(
    jid: str, where: GeoPoint, hour: int, *, hours: float = 2, minutes: int = 60, **kw: object
) -> PlanJob:
    return PlanJob(
        job_id=jid,
        location=where,
        window_start=local(hour),
        window_end=local(hour) + timedelta(hours=hours),
        minutes=minutes,
        skill=None,
        **kw,  # type: ignore[arg-type]
    )


def solve(
    techs: list[PlanTechnician], jobs: list[PlanJob], not_before: datetime | None = None
) -> tuple[DayProblem, RoutingPlan]:
    day = build_day_problem(
        technicians=techs,
        jobs=jobs,
        policy=POLICY,
        travel=TRAVEL,
        origin=local(0),
        not_before=not_before,
    )
    plan = SOLVER.solve(day.problem, time_limit=0.5, seed=0)
    return day, plan


def test_sch_4_over_capacity_drops_a_job_instead_of_breaking_the_capacity() -> None:
    jobs = [
        job("X", near(DONGYING, east_km=3), 10, hours=1, pinned_to="A"),
        job("Y", near(DONGYING, east_km=3.2), 10, hours=3),
        job("Z", near(DONGYING, east_km=3.4), 10, hours=3),
    ]
    day, plan = solve([tech("A", capacity=2)], jobs)
    assert check_plan(day.problem, plan) == []
    assert len(plan.unassigned) == 1
    reasons = unassigned_reasons(day, plan)
    assert reasons[plan.unassigned[0]]["code"] == "over_capacity"


def test_sch_9_an_emergency_that_cannot_be_reached_in_its_window_is_left_out() -> None:
    jobs = [
        PlanJob(
            job_id="EMERG",
            location=near(DONGYING, east_km=8),
            window_start=local(9),
            window_end=local(9, 15),
            minutes=60,
            skill=None,
            emergency=True,
        ),
        job("n1", near(DONGYING, east_km=2), 10),
    ]
    day, plan = solve([tech("A")], jobs)
    assert check_plan(day.problem, plan) == []
    assert plan.unassigned == ["EMERG"]
    assert [v.job_id for v in day.to_visits(plan)] == ["n1"]
    assert unassigned_reasons(day, plan)["EMERG"]["code"] == "window_unreachable"


def test_sch_4_a_technician_whose_shift_has_ended_takes_no_new_work() -> None:
    jobs = [job("late", near(DONGYING, east_km=2), 15)]
    day, plan = solve([tech("A")], jobs, not_before=local(19))
    vehicle = day.problem.vehicles[0]
    assert vehicle.shift_start <= vehicle.shift_end
    assert check_plan(day.problem, plan) == []
    assert plan.unassigned == ["late"]
    assert unassigned_reasons(day, plan)["late"]["code"] == "shift_over"


def test_sch_4_nobody_working_leaves_every_job_unassigned_with_a_reason() -> None:
    jobs = [job("a", near(DONGYING, east_km=2), 10), job("b", near(DONGYING, east_km=3), 12)]
    day, plan = solve([], jobs)
    assert plan.routes == [] and plan.unassigned == ["a", "b"]
    reasons = unassigned_reasons(day, plan)
    assert {r["code"] for r in reasons.values()} == {"no_technician"}
    assert all(r["text"] for r in reasons.values())


def test_sch_4_a_job_past_the_shift_end_is_left_out_as_outside_the_shift() -> None:
    jobs = [job("ot", near(DONGYING, east_km=3), 17, hours=1, minutes=120, pinned_to="A")]
    day, plan = solve([tech("A")], jobs)
    assert check_plan(day.problem, plan) == []
    assert unassigned_reasons(day, plan)["ot"]["code"] == "outside_shift"


def test_sch_4_an_infeasible_solution_is_trimmed_to_a_feasible_one() -> None:
    # One vehicle of capacity 1 given both jobs: the fallback keeps the worthier job only.
    problem = RoutingProblem(
        durations=np.zeros((4, 4), dtype=np.int64),
        distances=np.zeros((4, 4), dtype=np.int64),
        vehicles=[Vehicle(key="A", start=0, end=1, shift_start=0, shift_end=86_400, capacity=(1,))],
        jobs=[
            Job(
                key="low",
                place=2,
                service=600,
                tw_start=0,
                tw_end=86_400,
                demand=(1,),
                prize=10,
                required=False,
            ),
            Job(
                key="high",
                place=3,
                service=600,
                tw_start=0,
                tw_end=86_400,
                demand=(1,),
                prize=1000,
                required=False,
            ),
        ],
    )
    data = SOLVER._data(problem)
    client = pyvrp.ActivityType.CLIENT
    activities = [pyvrp.Activity(client, 0), pyvrp.Activity(client, 1)]
    infeasible = pyvrp.Solution(data, [pyvrp.Route(data, activities, 0)])
    assert not infeasible.is_feasible()
    trimmed = trim_to_feasible(problem, data, infeasible)
    assert trimmed.is_feasible()
    plan = SOLVER._plan(problem, trimmed)
    assert check_plan(problem, plan) == []
    assert plan.unassigned == ["low"]
