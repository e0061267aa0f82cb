"""Routing problems and plans in integer units, and the independent feasibility checker.

A :class:`RoutingProblem` is what a day plan (or a benchmark instance) asks of a solver: places
with a travel-time and a distance matrix, vehicles (technicians) and jobs. A :class:`RoutingPlan`
is the solver's answer. :func:`check_plan` is our own code and trusts nothing the solver says: it
recomputes every arrival from the matrices and validates skills, pins, loads, time windows and
shifts (SCH-3, SCH-4), so no plan is applied that a technician could not drive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Matrix(Protocol):
    """A square matrix indexable as ``m[i, j]`` (a NumPy array in practice)."""

    def __getitem__(self, key: tuple[int, int]) -> int: ...


@dataclass(frozen=True)
class Vehicle:
    """A technician's day (or ``count`` identical vehicles, as in Solomon instances)."""

    key: str
    start: int
    end: int
    shift_start: int
    shift_end: int
    capacity: tuple[int, ...] = ()
    skills: frozenset[str] | None = None
    """Skills (product lines) held; None means any job."""
    count: int = 1


@dataclass(frozen=True)
class Job:
    """One visit to plan: where, how long, when it may start, what it needs."""

    key: str
    place: int
    service: int
    tw_start: int
    tw_end: int
    demand: tuple[int, ...] = ()
    skill: str | None = None
    prize: int = 0
    """Worth of serving it when optional; emergencies and revisits weigh more."""
    required: bool = True
    pinned_to: str | None = None
    """A dispatcher pinned the job to this vehicle."""
    held_by: str | None = None
    """The vehicle holding the job now: any other pays :attr:`RoutingProblem.move_penalty`."""


@dataclass
class RoutingProblem:
    """Places, matrices, vehicles and jobs, all in integers (seconds and metres, or scaled)."""

    durations: Matrix
    distances: Matrix
    vehicles: list[Vehicle]
    jobs: list[Job]
    move_penalty: int = 0
    """Cost, in distance units, of planning a job for another vehicle than its holder: a move
    must save more driving than this to be worth it."""

    def vehicle(self, key: str) -> Vehicle:
        """The vehicle with this key."""
        for vehicle in self.vehicles:
            if vehicle.key == key:
                return vehicle
        raise KeyError(key)


@dataclass(frozen=True)
class Stop:
    """A planned visit: when to leave for it, arrive and start, and when work ends."""

    job: str
    depart: int
    """Latest departure from the previous place that still arrives at `start` (SCH-4)."""
    arrival: int
    start: int
    end: int


@dataclass(frozen=True)
class PlannedRoute:
    """One vehicle's sequence of stops."""

    vehicle: str
    stops: tuple[Stop, ...]
    start_time: int
    end_time: int
    distance: int


@dataclass
class RoutingPlan:
    """A solver's answer: routes and the jobs left out."""

    routes: list[PlannedRoute]
    unassigned: list[str] = field(default_factory=list)

    @property
    def distance(self) -> int:
        """Total distance driven."""
        return sum(route.distance for route in self.routes)

    def route_of(self, vehicle: str) -> PlannedRoute | None:
        """The (first) route of a vehicle."""
        return next((r for r in self.routes if r.vehicle == vehicle), None)


class RouteSolver(Protocol):
    """A port: something that turns a routing problem into a plan (PyVRP in production)."""

    def solve(
        self,
        problem: RoutingProblem,
        *,
        time_limit: float,
        warm_start: RoutingPlan | None = None,
        seed: int = 0,
    ) -> RoutingPlan: ...


def _load(jobs: Sequence[Job], dims: int) -> list[int]:
    total = [0] * dims
    for job in jobs:
        for d in range(min(dims, len(job.demand))):
            total[d] += job.demand[d]
    return total


def check_plan(problem: RoutingProblem, plan: RoutingPlan) -> list[str]:
    """Every way ``plan`` breaks ``problem``; empty when the plan is feasible.

    Recomputes the earliest schedule of each route from the matrices (leave the start no earlier
    than the shift start, wait for a window to open, never start after it closes, be back by the
    shift end) and checks each job is served at most once (required ones exactly once) by a
    vehicle with the skill, the pin and the capacity for it.
    """
    problems: list[str] = []
    jobs = {job.key: job for job in problem.jobs}
    vehicles = {vehicle.key: vehicle for vehicle in problem.vehicles}
    served: Counter[str] = Counter()
    used: Counter[str] = Counter()
    for route in plan.routes:
        vehicle = vehicles.get(route.vehicle)
        if vehicle is None:
            problems.append(f"route of unknown vehicle {route.vehicle}")
            continue
        used[vehicle.key] += 1
        route_jobs: list[Job] = []
        for stop in route.stops:
            job = jobs.get(stop.job)
            if job is None:
                problems.append(f"{route.vehicle}: unknown job {stop.job}")
                continue
            served[job.key] += 1
            route_jobs.append(job)
            skilled = vehicle.skills is None or job.skill is None or job.skill in vehicle.skills
            if not skilled:
                problems.append(f"{job.key}: {vehicle.key} lacks skill {job.skill}")
            if job.pinned_to is not None and job.pinned_to != vehicle.key:
                problems.append(f"{job.key}: pinned to {job.pinned_to}, planned for {vehicle.key}")
        load = _load(route_jobs, len(vehicle.capacity))
        for dim, (amount, limit) in enumerate(zip(load, vehicle.capacity, strict=True)):
            if amount > limit:
                problems.append(f"{vehicle.key}: load {amount} > capacity {limit} (dim {dim})")
        problems.extend(_check_times(problem, vehicle, route, route_jobs))
    for key, count in used.items():
        if count > vehicles[key].count:
            problems.append(f"{key}: {count} routes, only {vehicles[key].count} vehicle(s)")
    for key, count in served.items():
        if count > 1:
            problems.append(f"{key}: served {count} times")
    for job in problem.jobs:
        if job.required and served[job.key] == 0:
            problems.append(f"{job.key}: required but not served")
    listed = set(plan.unassigned)
    for key in served:
        if key in listed:
            problems.append(f"{key}: both served and listed unassigned")
    return problems


def _check_times(
    problem: RoutingProblem, vehicle: Vehicle, route: PlannedRoute, jobs: list[Job]
) -> list[str]:
    problems: list[str] = []
    if not jobs:
        return problems
    here = vehicle.start
    clock = vehicle.shift_start
    distance = 0
    for stop, job in zip(route.stops, jobs, strict=True):
        travel = int(problem.durations[here, job.place])
        distance += int(problem.distances[here, job.place])
        arrival = clock + travel
        start = max(arrival, job.tw_start)
        if start > job.tw_end:
            problems.append(
                f"{job.key}: earliest start {start} after its window closes at {job.tw_end}"
            )
        if stop.start < start or stop.start > job.tw_end:
            problems.append(f"{job.key}: planned start {stop.start} is not reachable in window")
        if stop.start - stop.depart < travel:
            problems.append(f"{job.key}: departure {stop.depart} leaves too little travel time")
        start = max(start, stop.start)
        clock = start + job.service
        here = job.place
    back = clock + int(problem.durations[here, vehicle.end])
    distance += int(problem.distances[here, vehicle.end])
    if back > vehicle.shift_end:
        problems.append(
            f"{vehicle.key}: back at {back} after the shift ends at {vehicle.shift_end}"
        )
    if distance != route.distance:
        problems.append(f"{vehicle.key}: distance {route.distance} stated, {distance} driven")
    return problems
