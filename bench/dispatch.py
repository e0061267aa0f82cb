"""Dispatch optimiser benchmarks (``make bench-dispatch``): Solomon VRPTW, a synthetic
field-service day, and urgent insertion latency. Figures are printed and written to
``bench/results/dispatch.json``.

Settings (environment or CLI ``--seconds N --instances C101,R101 --skip-day``):
``FSM_BENCH_SOLOMON_SECONDS`` (default 10) time per Solomon instance,
``FSM_BENCH_SOLOMON_INSTANCES`` (comma list, default all), ``FSM_BENCH_DAY_SECONDS`` (default 20).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np

from contracts.common import GeoPoint
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.domain.insertion import cheapest_insertion
from scheduling.domain.planning import PlanJob, PlanTechnician, build_day_problem
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import Job, RoutingProblem, Vehicle, check_plan
from scheduling.domain.travel import GreatCircleTravel

# ../shared beside the repository, as on every developer machine and in CI.
_DEFAULT_SOLOMON = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "solomon"
SOLOMON = Path(os.environ.get("FSM_BENCH_SOLOMON_DIR", str(_DEFAULT_SOLOMON)))
RESULTS = Path(__file__).resolve().parent / "results" / "dispatch.json"


def read_solomon(path: Path) -> tuple[RoutingProblem, int]:
    """A Solomon instance under the CVRPLIB convention: times and distances ×10, truncated.

    Returns the problem and the scale (10) to turn its costs back into the published units.
    """
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    vehicle_row = next(i for i, row in enumerate(lines) if row[0] == "NUMBER") + 1
    count, capacity = int(lines[vehicle_row][0]), int(lines[vehicle_row][1])
    customer_row = next(i for i, row in enumerate(lines) if row[0] == "CUST") + 1
    rows = [[float(x) for x in row] for row in lines[customer_row:] if len(row) == 7]
    coords = np.array([[r[1], r[2]] for r in rows])
    diff = coords[:, None, :] - coords[None, :, :]
    matrix = np.floor(10 * np.sqrt((diff**2).sum(axis=2))).astype(np.int64)
    depot = rows[0]
    vehicles = [
        Vehicle(
            key="vehicle",
            start=0,
            end=0,
            shift_start=int(depot[4] * 10),
            shift_end=int(depot[5] * 10),
            capacity=(capacity,),
            count=count,
        )
    ]
    jobs = [
        Job(
            key=str(int(r[0])),
            place=i,
            service=int(r[6] * 10),
            tw_start=int(r[4] * 10),
            tw_end=int(r[5] * 10),
            demand=(int(r[3]),),
        )
        for i, r in enumerate(rows)
        if i > 0
    ]
    return RoutingProblem(durations=matrix, distances=matrix, vehicles=vehicles, jobs=jobs), 10


def solomon(seconds: float, names: list[str] | None) -> dict[str, object]:
    """Solve each instance through the scheduling solver, check it, compare with bks.csv."""
    with (SOLOMON / "bks.csv").open() as f:
        bks = {row["instance"]: float(row["distance"]) for row in csv.DictReader(f)}
    solver = PyVrpSolver()
    results = []
    for name in names or sorted(bks):
        problem, scale = read_solomon(SOLOMON / f"{name}.txt")
        plan = solver.solve(problem, time_limit=seconds, seed=1)
        violations = check_plan(problem, plan)
        cost = plan.distance / scale
        gap = 100 * (cost - bks[name]) / bks[name]
        results.append(
            {
                "instance": name,
                "feasible": not violations,
                "vehicles": len(plan.routes),
                "distance": round(cost, 1),
                "bks": bks[name],
                "gap_percent": round(gap, 3),
            }
        )
        status = "ok" if not violations else f"INFEASIBLE: {violations[:3]}"
        print(
            f"{name:6} vehicles {len(plan.routes):3} distance {cost:9.1f} bks {bks[name]:9.1f} "
            f"gap {gap:6.2f} %  {status}",
            flush=True,
        )
    gaps = [float(r["gap_percent"]) for r in results]  # type: ignore[arg-type]
    summary = {
        "seconds_per_instance": seconds,
        "instances": results,
        "mean_gap_percent": round(statistics.fmean(gaps), 3) if gaps else None,
        "all_feasible": all(bool(r["feasible"]) for r in results),
    }
    print(
        f"Solomon: {len(results)} instances, mean gap {summary['mean_gap_percent']} %, "
        f"all feasible: {summary['all_feasible']}"
    )
    return summary


def synthetic_day(seconds: float, *, seed: int = 7) -> tuple[dict[str, object], object, object]:
    """1,000 visits, 100 technicians with skills, shifts and customer windows, planned through the
    scheduling planning path (build_day_problem → PyVRP → independent checker)."""
    rng = random.Random(seed)
    policy = SchedulingPolicy()
    travel = GreatCircleTravel(road_factor=policy.road_factor, speed_kmh=policy.speed_kmh)
    tz_offset = timedelta(hours=8)
    day = date(2026, 11, 23)
    origin = datetime.combine(day, dtime(0, 0), tzinfo=UTC) - tz_offset
    centre_lat, centre_lon = 37.434, 118.675
    lines = ["water_heater", "air_conditioner", "washer", "fridge", "purifier"]

    def point(spread_km: float) -> GeoPoint:
        return GeoPoint(
            lat=centre_lat + rng.uniform(-spread_km, spread_km) / 111.0,
            lon=centre_lon + rng.uniform(-spread_km, spread_km) / 88.0,
        )

    technicians = []
    for i in range(100):
        early = rng.random() < 0.5
        start = origin + timedelta(hours=8 if early else 9)
        skills = frozenset(rng.sample(lines, 3))
        home = point(12)
        technicians.append(
            PlanTechnician(
                technician_id=f"t{i:03}",
                start_at=home,
                end_at=home,
                shift_start=start,
                shift_end=start + timedelta(hours=10),
                skills=skills,
                capacity=14,
            )
        )
    jobs = []
    for i in range(1000):
        slot = rng.choice([8, 10, 12, 14, 16])
        start = origin + timedelta(hours=slot)
        jobs.append(
            PlanJob(
                job_id=f"v{i:04}",
                location=point(12),
                window_start=start,
                window_end=start + timedelta(hours=2),
                minutes=rng.choice([20, 30, 40]),
                skill=rng.choice(lines),
                emergency=i % 97 == 0,
                revisit=i % 13 == 0,
            )
        )
    built = time.perf_counter()
    problem = build_day_problem(
        technicians=technicians, jobs=jobs, policy=policy, travel=travel, origin=origin
    )
    build_s = time.perf_counter() - built
    started = time.perf_counter()
    plan = PyVrpSolver().solve(problem.problem, time_limit=seconds, seed=1)
    solve_s = time.perf_counter() - started
    violations = check_plan(problem.problem, plan)
    visits = problem.to_visits(plan)
    by_job = {j.job_id: j for j in jobs}
    lateness = sum(
        max(0.0, (v.arrive - by_job[v.job_id].window_end).total_seconds() / 60) for v in visits
    )
    early = [
        (by_job[v.job_id].window_start - v.arrive).total_seconds() / 60
        for v in visits
        if v.arrive <= by_job[v.job_id].window_start
    ]
    travel_s = 0
    for route in plan.routes:
        vehicle = problem.problem.vehicle(route.vehicle)
        here = vehicle.start
        for stop in route.stops:
            place = next(j.place for j in problem.problem.jobs if j.key == stop.job)
            travel_s += int(problem.problem.durations[here, place])
            here = place
        travel_s += int(problem.problem.durations[here, vehicle.end])
    result = {
        "visits": len(jobs),
        "technicians": len(technicians),
        "time_limit_s": seconds,
        "build_s": round(build_s, 2),
        "solve_s": round(solve_s, 2),
        "feasible": not violations,
        "served": len(visits),
        "unserved": len(plan.unassigned),
        "lateness_minutes_total": round(lateness, 1),
        "arrivals_before_window_start": len(early),
        "travel_km_total": round(plan.distance / 1000, 1),
        "travel_hours_total": round(travel_s / 3600, 1),
        "routes": len(plan.routes),
    }
    print(
        f"Synthetic day: {len(visits)}/{len(jobs)} visits served by {len(plan.routes)} of "
        f"{len(technicians)} technicians in {solve_s:.1f} s (+{build_s:.1f} s matrices); "
        f"feasible: {not violations}; lateness {lateness:.0f} min; travel "
        f"{plan.distance / 1000:.0f} km / {travel_s / 3600:.1f} h"
    )
    if violations:
        print("  violations:", violations[:5])
    return result, problem, plan


def insertion_latency(problem: object, plan: object, *, samples: int = 300) -> dict[str, object]:
    """Urgent insertion into the synthetic day: travel row for the new place + cheapest feasible
    insertion over all live routes, timed per job."""
    from scheduling.domain.insertion import LiveRoute
    from scheduling.domain.planning import DayProblem
    from scheduling.domain.routing import RoutingPlan

    assert isinstance(problem, DayProblem) and isinstance(plan, RoutingPlan)
    rng = random.Random(11)
    policy = SchedulingPolicy()
    travel = GreatCircleTravel(road_factor=policy.road_factor, speed_kmh=policy.speed_kmh)
    base = problem.problem
    n = len(problem.points)
    durations = np.zeros((n + 1, n + 1), dtype=np.int64)
    distances = np.zeros((n + 1, n + 1), dtype=np.int64)
    durations[:n, :n] = np.asarray(base.durations)
    distances[:n, :n] = np.asarray(base.distances)
    jobs = {j.key: j for j in base.jobs}
    routes = [
        LiveRoute(vehicle=base.vehicle(r.vehicle), jobs=[jobs[s.job] for s in r.stops])
        for r in plan.routes
    ]
    used = {r.vehicle for r in plan.routes}
    routes += [LiveRoute(vehicle=v, jobs=[]) for v in base.vehicles if v.key not in used]
    timings = []
    placed = 0
    for i in range(samples):
        where = GeoPoint(
            lat=37.434 + rng.uniform(-0.1, 0.1), lon=118.675 + rng.uniform(-0.13, 0.13)
        )
        now = rng.randint(9 * 3600, 16 * 3600)  # seconds from local midnight
        t0 = time.perf_counter()
        row_d, row_m = travel.from_point(where, problem.points)
        durations[n, :n] = durations[:n, n] = row_d
        distances[n, :n] = distances[:n, n] = row_m
        urgent = Job(
            key=f"urgent{i}",
            place=n,
            service=45 * 60,
            tw_start=now,
            tw_end=now + policy.emergency_response_minutes * 60 * 4,
            skill=rng.choice(["water_heater", "air_conditioner", "washer"]),
        )
        found = cheapest_insertion(routes, urgent, durations=durations, distances=distances)
        timings.append((time.perf_counter() - t0) * 1000)
        placed += found is not None
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(0.99 * len(timings)))]
    result = {
        "samples": samples,
        "placed": placed,
        "p50_ms": round(timings[len(timings) // 2], 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(timings[-1], 2),
    }
    print(
        f"Urgent insertion: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
        f"({placed}/{samples} placed within an hour's window)"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the dispatch benchmarks and write bench/results/dispatch.json."""
    parser = argparse.ArgumentParser(prog="python -m bench dispatch")
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("FSM_BENCH_SOLOMON_SECONDS", 10))
    )
    parser.add_argument("--instances", default=os.environ.get("FSM_BENCH_SOLOMON_INSTANCES", ""))
    parser.add_argument(
        "--day-seconds", type=float, default=float(os.environ.get("FSM_BENCH_DAY_SECONDS", 20))
    )
    parser.add_argument("--skip-solomon", action="store_true")
    parser.add_argument("--skip-day", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    results: dict[str, object] = {"generated_at": datetime.now(UTC).isoformat()}
    if not args.skip_solomon:
        names = [n.strip() for n in args.instances.split(",") if n.strip()] or None
        results["solomon"] = solomon(args.seconds, names)
    if not args.skip_day:
        day, problem, plan = synthetic_day(args.day_seconds)
        results["synthetic_day"] = day
        results["urgent_insertion"] = insertion_latency(problem, plan)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
