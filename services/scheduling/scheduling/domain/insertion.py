"""Cheapest feasible insertion of one job into live routes (SCH-3 feasibility, SCH-9 urgent jobs).

This is not a routing heuristic for whole plans (PyVRP does those); it answers at once whether and
where one more job fits into the routes technicians are already driving, keeping every held job's
window and the shift end. O(1) per position with forward earliest-start and backward latest-start
times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduling.domain.routing import Job, Matrix, Vehicle


@dataclass
class LiveRoute:
    """A vehicle's jobs in driving order; `ready` is when (and `here` where) it is free to go."""

    vehicle: Vehicle
    jobs: list[Job]
    ready: int | None = None
    here: int | None = None
    load: int = 0


@dataclass(frozen=True)
class Insertion:
    """Where a job fits best: route, position, added distance and its start time."""

    route: int
    position: int
    added_distance: int
    start: int
    depart: int


def _forward(route: LiveRoute, durations: Matrix) -> list[int]:
    """Earliest start of each job."""
    here = route.here if route.here is not None else route.vehicle.start
    clock = route.ready if route.ready is not None else route.vehicle.shift_start
    starts: list[int] = []
    for job in route.jobs:
        start = max(clock + int(durations[here, job.place]), job.tw_start)
        starts.append(start)
        clock = start + job.service
        here = job.place
    return starts


def _latest(route: LiveRoute, durations: Matrix) -> list[int]:
    """Latest start of each job that still keeps every later job and the shift end."""
    latest = [0] * len(route.jobs)
    limit = route.vehicle.shift_end
    nxt = route.vehicle.end
    for i in range(len(route.jobs) - 1, -1, -1):
        job = route.jobs[i]
        limit = min(job.tw_end, limit - int(durations[job.place, nxt]) - job.service)
        latest[i] = limit
        nxt = job.place
    return latest


def cheapest_insertion(
    routes: Sequence[LiveRoute],
    job: Job,
    *,
    durations: Matrix,
    distances: Matrix,
    max_jobs: int | None = None,
) -> Insertion | None:
    """The feasible position adding the least distance, or None when the job fits nowhere."""
    best: Insertion | None = None
    for r, route in enumerate(routes):
        vehicle = route.vehicle
        if vehicle.skills is not None and job.skill is not None and job.skill not in vehicle.skills:
            continue
        if job.pinned_to is not None and job.pinned_to != vehicle.key:
            continue
        capacity = vehicle.capacity[0] if vehicle.capacity else max_jobs
        if capacity is not None and len(route.jobs) + route.load >= capacity:
            continue
        starts = _forward(route, durations)
        latest = _latest(route, durations)
        origin = route.here if route.here is not None else vehicle.start
        ready = route.ready if route.ready is not None else vehicle.shift_start
        for pos in range(len(route.jobs) + 1):
            if pos == 0:
                prev_place, prev_free = origin, ready
            else:
                prev_place = route.jobs[pos - 1].place
                prev_free = starts[pos - 1] + route.jobs[pos - 1].service
            travel_in = int(durations[prev_place, job.place])
            start = max(prev_free + travel_in, job.tw_start)
            if start > job.tw_end:
                continue
            if pos < len(route.jobs):
                nxt = route.jobs[pos]
                next_place, next_latest = nxt.place, latest[pos]
                reach = start + job.service + int(durations[job.place, next_place])
                if max(reach, nxt.tw_start) > next_latest:
                    continue
            else:
                next_place = vehicle.end
                if start + job.service + int(durations[job.place, next_place]) > vehicle.shift_end:
                    continue
            added = (
                int(distances[prev_place, job.place])
                + int(distances[job.place, next_place])
                - int(distances[prev_place, next_place])
            )
            if best is None or added < best.added_distance:
                best = Insertion(
                    route=r,
                    position=pos,
                    added_distance=added,
                    start=start,
                    depart=start - travel_in,
                )
    return best
