"""The route solver: PyVRP's hybrid genetic search behind the :class:`RouteSolver` port.

Skills and dispatcher pins become routing *profiles*: a technician's profile makes the jobs they
may not take unreachable, so the solver never plans them there (the checker verifies it anyway).
Holding does too: a holder's profile adds the move penalty to every arc into a job someone else
holds, so the search weighs a move against the driving it saves (reported distances stay real).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pyvrp
from numpy.typing import NDArray
from pyvrp import PenaltyParams, SolveParams
from pyvrp.stop import MaxRuntime

from scheduling.domain.routing import (
    Job,
    PlannedRoute,
    RoutingPlan,
    RoutingProblem,
    Stop,
    Vehicle,
)

#: Distance of a forbidden (skill/pin) pair: far beyond any prize.
UNREACHABLE = 1_000_000_000
#: Travel time of a forbidden pair: a week, longer than any shift, so such a visit is always
#: late; not larger, as each second late is penalised up to PENALTY_OVER_PRIZE x the top prize
#: and the sum must stay far inside int64 even for a random first solution of a large day.
UNREACHABLE_SECONDS = 7 * 24 * 3600

#: PyVRP's penalty per unit of excess load and per second of lateness is capped at
#: ``PenaltyParams.max_penalty`` (1e5 by default), far below our prizes (up to 1e8): the search
#: would rather break a capacity or a window than leave a job out. The cap is raised above the
#: largest prize, so one unit of violation always costs more than any job is worth. Not higher:
#: penalties times UNREACHABLE_SECONDS-sized violations must stay far from int64 overflow.
PENALTY_OVER_PRIZE = 2


def _profile_key(vehicle: Vehicle, pinned_vehicles: set[str], holders: set[str]) -> Hashable:
    skills = None if vehicle.skills is None else tuple(sorted(vehicle.skills))
    return (
        skills,
        vehicle.key if vehicle.key in pinned_vehicles else None,
        vehicle.key if vehicle.key in holders else None,
    )


def _forbidden(vehicle: Vehicle, job: Job) -> bool:
    if job.pinned_to is not None and job.pinned_to != vehicle.key:
        return True
    return vehicle.skills is not None and job.skill is not None and job.skill not in vehicle.skills


def _matrix(source: object, places: list[int]) -> NDArray[np.int64]:
    full = np.asarray(source, dtype=np.int64)
    return np.ascontiguousarray(full[np.ix_(places, places)])


class PyVrpSolver:
    """Solves routing problems with PyVRP (time windows, shifts, capacities, prizes)."""

    def solve(
        self,
        problem: RoutingProblem,
        *,
        time_limit: float,
        warm_start: RoutingPlan | None = None,
        seed: int = 0,
    ) -> RoutingPlan:
        """The best plan PyVRP finds within ``time_limit`` seconds (warm-started if given)."""
        if not problem.jobs or not problem.vehicles:
            # nobody works that day: every job is left out (PyVRP needs a depot and a vehicle)
            return RoutingPlan(routes=[], unassigned=[job.key for job in problem.jobs])
        data = self._data(problem)
        initial = self._initial(problem, data, warm_start) if warm_start else None
        max_prize = max(job.prize for job in problem.jobs)
        penalty = PenaltyParams(
            max_penalty=max(PenaltyParams().max_penalty, PENALTY_OVER_PRIZE * float(max_prize))
        )
        result = pyvrp.solve(
            data,
            stop=MaxRuntime(time_limit),
            seed=seed,
            collect_stats=False,
            display=False,
            params=SolveParams(penalty=penalty),
            initial_solution=initial,
        )
        best = result.best
        if not best.is_feasible():
            # no feasible solution found in time: leave out what breaks the rules, never fail
            best = trim_to_feasible(problem, data, best)
        return self._plan(problem, best)

    def _data(self, problem: RoutingProblem) -> pyvrp.ProblemData:
        depot_places = sorted(
            {v.start for v in problem.vehicles} | {v.end for v in problem.vehicles}
        )
        depot_index = {place: i for i, place in enumerate(depot_places)}
        places = depot_places + [job.place for job in problem.jobs]
        locations = [pyvrp.Location(0, 0) for _ in places]
        depots = [pyvrp.Depot(location=i) for i in range(len(depot_places))]
        n_depots = len(depot_places)
        clients = [
            pyvrp.Client(
                location=n_depots + i,
                delivery=list(job.demand),
                service_duration=job.service,
                tw_early=job.tw_start,
                tw_late=job.tw_end,
                prize=job.prize,
                required=job.required,
                name=job.key,
            )
            for i, job in enumerate(problem.jobs)
        ]
        base_durations = _matrix(problem.durations, places)
        base_distances = _matrix(problem.distances, places)
        pinned = {job.pinned_to for job in problem.jobs if job.pinned_to is not None}
        holders = (
            {job.held_by for job in problem.jobs if job.held_by is not None}
            if problem.move_penalty
            else set()
        )
        profiles: dict[Hashable, int] = {}
        durations: list[Any] = []
        distances: list[Any] = []
        vehicle_types = []
        for vehicle in problem.vehicles:
            key = _profile_key(vehicle, pinned, holders)
            if key not in profiles:
                profiles[key] = len(durations)
                banned = [
                    n_depots + i for i, job in enumerate(problem.jobs) if _forbidden(vehicle, job)
                ]
                moved = [
                    n_depots + i
                    for i, job in enumerate(problem.jobs)
                    if holders and job.held_by is not None and job.held_by != vehicle.key
                ]
                dur, dist = base_durations, base_distances
                if moved:
                    dist = dist.copy()
                    dist[:, moved] += problem.move_penalty
                    dist[moved, moved] = 0
                if banned:
                    dur, dist = dur.copy(), dist.copy()
                    for m, far in ((dur, UNREACHABLE_SECONDS), (dist, UNREACHABLE)):
                        m[banned, :] = far
                        m[:, banned] = far
                        m[banned, banned] = 0
                durations.append(dur)
                distances.append(dist)
            vehicle_types.append(
                pyvrp.VehicleType(
                    num_available=vehicle.count,
                    capacity=list(vehicle.capacity),
                    start_depot=depot_index[vehicle.start],
                    end_depot=depot_index[vehicle.end],
                    # a shift already over (re-planning after its end) takes no work
                    tw_early=min(vehicle.shift_start, vehicle.shift_end),
                    tw_late=vehicle.shift_end,
                    profile=profiles[key],
                    name=vehicle.key,
                )
            )
        return pyvrp.ProblemData(locations, clients, depots, vehicle_types, distances, durations)

    def _initial(
        self, problem: RoutingProblem, data: pyvrp.ProblemData, plan: RoutingPlan
    ) -> pyvrp.Solution | None:
        job_index = {job.key: i for i, job in enumerate(problem.jobs)}
        vehicle_index = {v.key: i for i, v in enumerate(problem.vehicles)}
        routes = []
        for route in plan.routes:
            visits = [job_index[s.job] for s in route.stops if s.job in job_index]
            if visits and route.vehicle in vehicle_index:
                activities = [pyvrp.Activity(pyvrp.ActivityType.CLIENT, i) for i in visits]
                routes.append(pyvrp.Route(data, activities, vehicle_index[route.vehicle]))
        try:
            return pyvrp.Solution(data, routes)
        except RuntimeError:
            return None  # the day changed too much for the old plan: start cold

    def _plan(self, problem: RoutingProblem, solution: pyvrp.Solution) -> RoutingPlan:
        routes: list[PlannedRoute] = []
        served: set[str] = set()
        places = {job.key: job.place for job in problem.jobs}
        for route in solution.routes():
            vehicle = problem.vehicles[route.vehicle_type()]
            here = vehicle.start
            stops: list[Stop] = []
            for activity in route.schedule():
                if not activity.is_client():
                    continue
                job = problem.jobs[activity.idx]
                travel = int(problem.durations[here, job.place])
                start = activity.start_time
                stops.append(
                    Stop(
                        job=job.key,
                        depart=start - travel,
                        arrival=start,
                        start=start,
                        end=start + job.service,
                    )
                )
                served.add(job.key)
                here = job.place
            routes.append(
                PlannedRoute(
                    vehicle=vehicle.key,
                    stops=tuple(stops),
                    start_time=route.start_time(),
                    end_time=route.end_time(),
                    distance=_distance(problem, vehicle, stops, places),
                )
            )
        unassigned = [job.key for job in problem.jobs if job.key not in served]
        return RoutingPlan(routes=routes, unassigned=unassigned)


def trim_to_feasible(
    problem: RoutingProblem, data: pyvrp.ProblemData, solution: pyvrp.Solution
) -> pyvrp.Solution:
    """``solution`` with jobs left out until every route is feasible (capacity, windows,
    shift): each route keeps, in its own order, the most its worthiest jobs allow, trying them
    by prize (emergencies first). A route that is feasible already stays as it is."""
    routes: list[pyvrp.Route] = []
    for route in solution.routes():
        if route.is_feasible():
            routes.append(route)
            continue
        visits = [a.idx for a in route.schedule() if a.is_client()]
        order = {client: n for n, client in enumerate(visits)}
        kept: list[int] = []
        for client in sorted(visits, key=lambda c: (-problem.jobs[c].prize, order[c])):
            trial = sorted([*kept, client], key=order.__getitem__)
            if _route(data, trial, route.vehicle_type()).is_feasible():
                kept = trial
        if kept:
            routes.append(_route(data, kept, route.vehicle_type()))
    return pyvrp.Solution(data, routes)


def _route(data: pyvrp.ProblemData, clients: list[int], vehicle_type: int) -> pyvrp.Route:
    activities = [pyvrp.Activity(pyvrp.ActivityType.CLIENT, c) for c in clients]
    return pyvrp.Route(data, activities, vehicle_type)


def _distance(
    problem: RoutingProblem, vehicle: Vehicle, stops: list[Stop], places: dict[str, int]
) -> int:
    here, total = vehicle.start, 0
    for stop in stops:
        place = places[stop.job]
        total += int(problem.distances[here, place])
        here = place
    if stops:
        total += int(problem.distances[here, vehicle.end])
    return total
