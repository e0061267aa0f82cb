"""Day plans through PyVRP, the independent feasibility checker, urgent insertion and travel
times (SCH-4, SCH-9)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
from scheduling_support import DONGYING, local, near

from contracts.common import GeoPoint
from scheduling.adapters.osrm import OsrmError, OsrmTravel
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.domain.insertion import LiveRoute, cheapest_insertion
from scheduling.domain.planning import PlanJob, PlanTechnician, build_day_problem, held_back
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import (
    Job,
    PlannedRoute,
    RoutingPlan,
    RoutingProblem,
    Stop,
    Vehicle,
    check_plan,
)
from scheduling.domain.travel import GreatCircleTravel, great_circle_m

TZ = ZoneInfo("Asia/Shanghai")
POLICY = SchedulingPolicy()
TRAVEL = GreatCircleTravel(road_factor=1.3, speed_kmh=30)
RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "osrm_table_3_points.json"
SOLVER = PyVrpSolver()


def plan_tech(
    tid: str, home: GeoPoint = DONGYING, skills: set[str] | None = None, capacity: int = 8
) -> PlanTechnician:
    return PlanTechnician(
        technician_id=tid,
        start_at=home,
        end_at=home,
        shift_start=local(9),
        shift_end=local(18),
        skills=frozenset(skills) if skills else None,
        capacity=capacity,
    )


def job(jid: str, where: GeoPoint, hour: int, *, hours: float = 2, **kw) -> PlanJob:
    return PlanJob(
        job_id=jid,
        location=where,
        window_start=local(hour),
        window_end=local(hour) + timedelta(hours=hours),
        minutes=45,
        skill=kw.pop("skill", "water_heater"),
        **kw,
    )


def solve(techs: list[PlanTechnician], jobs: list[PlanJob], seconds: float = 0.5):
    day = build_day_problem(
        technicians=techs,
        jobs=jobs,
        policy=POLICY,
        travel=TRAVEL,
        origin=local(0),
    )
    plan = SOLVER.solve(day.problem, time_limit=seconds, seed=1)
    return day, plan


def test_sch_4_planned_arrivals_are_5_to_10_minutes_before_point_appointments() -> None:
    jobs = [
        job(f"j{i}", near(DONGYING, north_km=i, east_km=2 * i), 10 + i, hours=0) for i in range(5)
    ]
    day, plan = solve([plan_tech("t1"), plan_tech("t2")], jobs)
    assert check_plan(day.problem, plan) == []
    visits = {v.job_id: v for v in day.to_visits(plan)}
    assert set(visits) == {j.job_id for j in jobs}
    for j in jobs:
        early = j.window_start - visits[j.job_id].arrive
        assert timedelta(minutes=5) <= early <= timedelta(minutes=10), (j.job_id, early)
        assert visits[j.job_id].depart <= visits[j.job_id].arrive


def test_sch_4_each_job_gets_a_departure_that_leaves_exactly_the_travel_time() -> None:
    jobs = [job("a", near(DONGYING, east_km=8), 10), job("b", near(DONGYING, east_km=16), 13)]
    day, plan = solve([plan_tech("t1")], jobs)
    route = plan.routes[0]
    here = day.problem.vehicles[0].start
    for stop in route.stops:
        place = next(j.place for j in day.problem.jobs if j.key == stop.job)
        assert stop.start - stop.depart == int(day.problem.durations[here, place])
        here = place


def test_plans_respect_skills() -> None:
    jobs = [
        job("ac", near(DONGYING, east_km=1), 10, skill="air_conditioner"),
        job("wh", near(DONGYING, east_km=1), 10, skill="water_heater"),
    ]
    techs = [
        plan_tech("ac-only", skills={"air_conditioner"}),
        plan_tech("wh-only", skills={"water_heater"}),
    ]
    day, plan = solve(techs, jobs)
    assert check_plan(day.problem, plan) == []
    owner = {v.job_id: v.technician_id for v in day.to_visits(plan)}
    assert owner == {"ac": "ac-only", "wh": "wh-only"}


def test_plans_keep_pinned_jobs_with_their_technician_even_when_another_is_closer() -> None:
    far_home = near(DONGYING, north_km=30)
    jobs = [job("pinned", DONGYING, 13, pinned_to="far")]
    day, plan = solve([plan_tech("near"), plan_tech("far", home=far_home)], jobs)
    assert check_plan(day.problem, plan) == []
    assert day.to_visits(plan)[0].technician_id == "far"


def test_sch_1_a_plan_moves_a_held_job_only_for_more_driving_saved_than_the_move_costs() -> None:
    place = near(DONGYING, east_km=0.2)
    owners = {}
    # "close" lives 2 km away (about 5 km more driving than "home"), "far" 30 km away
    for holder, home in (
        ("close", near(DONGYING, north_km=2)),
        ("far", near(DONGYING, north_km=30)),
    ):
        day, plan = solve(
            [plan_tech("home"), plan_tech(holder, home=home)], [job("j", place, 10, held_by=holder)]
        )
        assert check_plan(day.problem, plan) == []
        owners[holder] = day.to_visits(plan)[0].technician_id
        # the move cost steers the search; the distance reported is the real one
        assert sum(r.distance for r in plan.routes) < POLICY.plan_move_penalty_metres, plan
    assert owners == {"close": "close", "far": "home"}


def test_emergencies_and_revisits_are_served_first_when_the_day_is_full() -> None:
    place = near(DONGYING, east_km=1)
    jobs = [
        job("ordinary", place, 10, hours=1),
        job("revisit", place, 10, hours=1, revisit=True),
        job("emergency", place, 10, hours=1, emergency=True),
    ]
    day, plan = solve([plan_tech("t1", capacity=2)], jobs)
    assert check_plan(day.problem, plan) == []
    assert plan.unassigned == ["ordinary"]


def test_warm_start_from_the_previous_plan_gives_a_feasible_plan() -> None:
    jobs = [job(f"j{i}", near(DONGYING, north_km=i % 5, east_km=i), 9 + i % 8) for i in range(12)]
    day, first = solve([plan_tech("t1"), plan_tech("t2")], jobs)
    again = SOLVER.solve(day.problem, time_limit=0.3, warm_start=first, seed=2)
    assert check_plan(day.problem, again) == []
    assert again.distance <= first.distance


def _tiny() -> RoutingProblem:
    m = np.array([[0, 10, 10], [10, 0, 10], [10, 10, 0]])
    return RoutingProblem(
        durations=m,
        distances=m,
        vehicles=[
            Vehicle(
                key="v",
                start=0,
                end=0,
                shift_start=0,
                shift_end=100,
                capacity=(1,),
                skills=frozenset({"x"}),
            )
        ],
        jobs=[
            Job(key="a", place=1, service=5, tw_start=0, tw_end=12, demand=(1,), skill="x"),
            Job(
                key="b",
                place=2,
                service=5,
                tw_start=0,
                tw_end=100,
                demand=(1,),
                skill="y",
                required=False,
            ),
        ],
    )


def _route(*stops: tuple[str, int], distance: int) -> RoutingPlan:
    return RoutingPlan(
        routes=[
            PlannedRoute(
                vehicle="v",
                stops=tuple(
                    Stop(job=j, depart=s - 10, arrival=s, start=s, end=s + 5) for j, s in stops
                ),
                start_time=0,
                end_time=100,
                distance=distance,
            )
        ]
    )


def test_the_checker_accepts_a_feasible_plan() -> None:
    assert check_plan(_tiny(), _route(("a", 10), distance=20)) == []


@pytest.mark.parametrize(
    ("plan", "complaint"),
    [
        (_route(("a", 10), ("b", 25), distance=30), "lacks skill"),
        (_route(("a", 10), ("a", 25), distance=30), "served 2 times"),
        (_route(("b", 10), distance=20), "required but not served"),
        (_route(("a", 10), distance=99), "distance 99 stated"),
        (_route(("a", 5), distance=20), "not reachable"),
        (RoutingPlan(routes=[]), "required but not served"),
    ],
)
def test_the_checker_refuses_what_breaks_the_problem(plan: RoutingPlan, complaint: str) -> None:
    problems = check_plan(_tiny(), plan)
    assert any(complaint in p for p in problems), problems


def test_the_checker_catches_a_window_missed_and_overload() -> None:
    p = _tiny()
    late = Job(key="a", place=1, service=5, tw_start=0, tw_end=5, demand=(1,), skill="x")
    p.jobs[0] = late
    assert any("window closes" in x for x in check_plan(p, _route(("a", 10), distance=20)))
    p.jobs[0] = Job(key="a", place=1, service=5, tw_start=0, tw_end=50, demand=(2,), skill="x")
    assert any("capacity" in x for x in check_plan(p, _route(("a", 10), distance=20)))


def test_sch_9_urgent_job_goes_where_it_adds_least_and_keeps_every_window() -> None:
    m = np.array(
        [
            [0, 10, 50, 12],
            [10, 0, 50, 3],
            [50, 50, 0, 45],
            [12, 3, 45, 0],
        ]
    )
    va = Vehicle(key="a", start=0, end=0, shift_start=0, shift_end=1000)
    vb = Vehicle(key="b", start=2, end=2, shift_start=0, shift_end=1000)
    held = Job(key="h", place=1, service=10, tw_start=0, tw_end=100)
    urgent = Job(key="u", place=3, service=10, tw_start=0, tw_end=40)
    routes = [LiveRoute(vehicle=va, jobs=[held]), LiveRoute(vehicle=vb, jobs=[])]
    found = cheapest_insertion(routes, urgent, durations=m, distances=m)
    assert found is not None
    assert found.route == 0  # next to h: 3 + 12 - 10 = 5 added, against 45 + 45 for b
    assert found.added_distance == 5
    tight = Job(key="h", place=1, service=10, tw_start=0, tw_end=10)
    routes[0] = LiveRoute(vehicle=va, jobs=[tight])
    found = cheapest_insertion(
        routes, Job(key="u", place=3, service=10, tw_start=0, tw_end=100), durations=m, distances=m
    )
    assert found is not None and not (found.route == 0 and found.position == 0)


def test_sch_9_no_insertion_when_no_route_can_keep_the_window() -> None:
    m = np.array([[0, 100], [100, 0]])
    v = Vehicle(key="a", start=0, end=0, shift_start=0, shift_end=1000)
    urgent = Job(key="u", place=1, service=10, tw_start=0, tw_end=50)
    assert (
        cheapest_insertion([LiveRoute(vehicle=v, jobs=[])], urgent, durations=m, distances=m)
        is None
    )


def test_great_circle_travel_is_distance_times_road_factor_over_speed() -> None:
    a, b = DONGYING, near(DONGYING, east_km=10)
    durations, distances = TRAVEL.matrices([a, b])
    metres = great_circle_m(a, b) * 1.3
    assert abs(distances[0, 1] - metres) <= 1
    assert abs(durations[0, 1] - metres / (30 / 3.6)) <= 1
    assert durations[0, 0] == 0


def test_osrm_adapter_reads_a_recorded_table_response() -> None:
    recorded = json.loads(RECORDED.read_text())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=recorded)

    osrm = OsrmTravel(base_url="http://osrm.local", transport=httpx.MockTransport(handler))
    points = [
        DONGYING,
        GeoPoint(lat=37.460112, lon=118.697981),
        GeoPoint(lat=37.470533, lon=118.731204),
    ]
    durations, distances = osrm.matrices(points)
    assert (
        seen[0].url.path
        == "/table/v1/driving/118.675000,37.434000;118.697981,37.460112;118.731204,37.470533"
    )
    assert seen[0].url.params["annotations"] == "duration,distance"
    assert durations[0, 1] == 613 and durations[2, 0] == 1102
    assert distances[1, 2] == 6013


def test_osrm_adapter_refuses_an_error_answer() -> None:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(400, json={"code": "InvalidQuery", "message": "bad coords"})
    )
    osrm = OsrmTravel(base_url="http://osrm.local", transport=transport)
    with pytest.raises(OsrmError, match="InvalidQuery"):
        osrm.matrices([DONGYING, DONGYING])


# -- applying a plan after the day changed (SCH-1 / SCH-3) ---------------------------------------


def test_sch_1_a_plan_is_applied_whole_when_no_technicians_day_changed() -> None:
    moves = {"j1": ("a", "b"), "j2": ("b", "b"), "j3": ("c", "c")}
    assert held_back(moves, unsettled=[]) == set()


def test_sch_1_a_changed_technician_and_all_trading_jobs_with_him_keep_their_day() -> None:
    moves = {
        "to_a": ("b", "a"),  # a changed: b's planned day counted on giving this away
        "stays_a": ("a", "a"),
        "to_b": ("c", "b"),  # c gives b a job, so c is chained to a as well
        "stays_c": ("c", "c"),
        "to_e": ("d", "e"),  # d and e trade only with each other
        "stays_e": ("e", "e"),
    }
    assert held_back(moves, unsettled=["a"]) == {"to_a", "stays_a", "to_b", "stays_c"}


def test_sch_1_a_changed_technician_the_plan_does_not_touch_withholds_nothing_else() -> None:
    moves = {"j1": ("a", "b"), "j2": ("c", "c")}
    assert held_back(moves, unsettled=["x"]) == set()
    assert held_back(moves, unsettled=["c"]) == {"j2"}
