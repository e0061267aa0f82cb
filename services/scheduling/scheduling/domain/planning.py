"""Day plans: technicians and jobs in wall-clock time turned into a routing problem and back.

Time windows are shifted so technicians arrive 5-10 minutes early (SCH-4): a job promised for
[start, end] may be reached from `start - arrive_early_max` until `end - arrive_early_min`.
Emergencies and revisits weigh more than ordinary jobs, so when the day cannot hold everything they
are the last to be left out; dispatcher-pinned (and customer-confirmed) jobs stay with their
technician.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.common import GeoPoint
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import Job, RoutingPlan, RoutingProblem, Vehicle
from scheduling.domain.travel import TravelTimes


@dataclass(frozen=True)
class PlanTechnician:
    """A technician's day as planning needs it."""

    technician_id: str
    start_at: GeoPoint
    """Home base, or where they are now when re-planning a running day."""
    end_at: GeoPoint
    shift_start: datetime
    shift_end: datetime
    skills: frozenset[str] | None
    capacity: int


@dataclass(frozen=True)
class PlanJob:
    """A visit to plan."""

    job_id: str
    location: GeoPoint
    window_start: datetime
    window_end: datetime
    minutes: int
    skill: str | None
    emergency: bool = False
    revisit: bool = False
    pinned_to: str | None = None
    held_by: str | None = None
    """The technician holding the order now (SCH-1: a plan moves it only for a real saving)."""


@dataclass(frozen=True)
class PlannedVisit:
    """A job's place in the plan: technician, planned departure and arrival (SCH-4)."""

    job_id: str
    technician_id: str
    sequence: int
    depart: datetime
    arrive: datetime
    leave: datetime


@dataclass
class DayProblem:
    """The routing problem of a day, with its time origin."""

    problem: RoutingProblem
    origin: datetime
    points: list[GeoPoint]

    def to_visits(self, plan: RoutingPlan) -> list[PlannedVisit]:
        """The plan's stops as wall-clock visits."""
        out: list[PlannedVisit] = []
        for route in plan.routes:
            for n, stop in enumerate(route.stops):
                out.append(
                    PlannedVisit(
                        job_id=stop.job,
                        technician_id=route.vehicle,
                        sequence=n,
                        depart=self.at(stop.depart),
                        arrive=self.at(stop.start),
                        leave=self.at(stop.end),
                    )
                )
        return out

    def at(self, seconds: int) -> datetime:
        """Wall-clock time of a plan second."""
        return self.origin + timedelta(seconds=seconds)

    def seconds(self, moment: datetime) -> int:
        """Plan seconds of a wall-clock time."""
        return int((moment - self.origin).total_seconds())


def held_back(moves: Mapping[str, tuple[str, str]], unsettled: Collection[str]) -> set[str]:
    """The jobs of a checked plan that must not be applied because the days of the technicians
    in ``unsettled`` changed after the plan was solved (an order given to one of them
    meanwhile, a shift edited): SCH-1 capacity and SCH-3 windows were checked for days that no
    longer exist.

    ``moves`` maps each job to (the technician holding it now, the one the plan gives it).
    A technician's planned day holds only if it is applied whole, with every job it takes from
    others and without those it gives away, so moves chain technicians together; every
    technician chained to an unsettled one keeps the day they hold, and the rest get exactly the
    days the plan was checked for."""
    parent: dict[str, str] = {}

    def root(technician_id: str) -> str:
        parent.setdefault(technician_id, technician_id)
        while parent[technician_id] != technician_id:
            parent[technician_id] = parent[parent[technician_id]]
            technician_id = parent[technician_id]
        return technician_id

    for holder, planned in moves.values():
        parent[root(holder)] = root(planned)
    tainted = {root(t) for t in unsettled}
    return {
        job
        for job, (holder, planned) in moves.items()
        if root(holder) in tainted or root(planned) in tainted
    }


def plan_skill(*, product_line: str, area: str | None, network_id: str | None) -> str:
    """The routing skill of a job: everything a technician must satisfy to be given it by the
    planner (SCH-1 skill and area, SCH-12 network boundary). A technician holds the skills of
    the jobs they may take, so the solver and the checker enforce all of it as one skill."""
    return repr((product_line, area, network_id))


def job_prize(job: PlanJob, policy: SchedulingPolicy) -> int:
    """Emergencies first, then revisits, then the rest."""
    if job.emergency:
        return policy.emergency_prize
    if job.revisit:
        return policy.revisit_prize
    return policy.job_prize


def build_day_problem(
    *,
    technicians: Sequence[PlanTechnician],
    jobs: Sequence[PlanJob],
    policy: SchedulingPolicy,
    travel: TravelTimes,
    origin: datetime,
    not_before: datetime | None = None,
) -> DayProblem:
    """The routing problem of a day (seconds from ``origin``; metres).

    Places: each technician's start and end, then one per job (a job owns its place so skills
    and pins can be enforced per job). ``not_before`` (now, when re-planning a running day) keeps
    shifts from starting in the past.
    """
    points: list[GeoPoint] = []
    vehicles: list[Vehicle] = []
    floor = 0 if not_before is None else max(0, int((not_before - origin).total_seconds()))
    for tech in technicians:
        points.extend([tech.start_at, tech.end_at])
        shift_end = int((tech.shift_end - origin).total_seconds())
        # a shift already over (re-planning after its end) is empty: no new work that day
        shift_start = min(shift_end, max(floor, int((tech.shift_start - origin).total_seconds())))
        vehicles.append(
            Vehicle(
                key=tech.technician_id,
                start=len(points) - 2,
                end=len(points) - 1,
                shift_start=shift_start,
                shift_end=shift_end,
                capacity=(tech.capacity,),
                skills=tech.skills,
            )
        )
    early_max = policy.arrive_early_max_minutes * 60
    early_min = policy.arrive_early_min_minutes * 60
    routing_jobs: list[Job] = []
    for job in jobs:
        points.append(job.location)
        start = int((job.window_start - origin).total_seconds())
        end = int((job.window_end - origin).total_seconds())
        tw_start = max(0, start - early_max)
        tw_end = max(tw_start, end - early_min)
        routing_jobs.append(
            Job(
                key=job.job_id,
                place=len(points) - 1,
                service=job.minutes * 60,
                tw_start=tw_start,
                tw_end=tw_end,
                demand=(1,),
                skill=job.skill,
                prize=job_prize(job, policy),
                required=False,
                pinned_to=job.pinned_to,
                held_by=job.held_by,
            )
        )
    durations, distances = travel.matrices(points)
    problem = RoutingProblem(
        durations=durations,
        distances=distances,
        vehicles=vehicles,
        jobs=routing_jobs,
        move_penalty=policy.plan_move_penalty_metres,
    )
    return DayProblem(problem=problem, origin=origin, points=points)


#: Why a job was left out of a day plan: a short code and the text a dispatcher reads.
UNASSIGNED_REASONS: dict[str, str] = {
    "no_technician": "No technician works that day.",
    "no_qualified_technician": (
        "No technician working that day may take it (skill, area, network or pin)."
    ),
    "shift_over": "Every technician who may take it has finished their shift.",
    "window_unreachable": (
        "No technician who may take it can reach it inside its window during their shift."
    ),
    "outside_shift": "No technician who may take it can do it and be back within their shift.",
    "over_capacity": "Every technician who may take it is at their daily capacity.",
    "day_full": (
        "The routes of the day have no room for it without breaking another visit's window "
        "or a shift; worthier jobs (emergencies, revisits, pinned jobs) came first."
    ),
}


def _may_take(vehicle: Vehicle, job: Job) -> bool:
    if job.pinned_to is not None and job.pinned_to != vehicle.key:
        return False
    return vehicle.skills is None or job.skill is None or job.skill in vehicle.skills


def _why_left_out(problem: RoutingProblem, job: Job, loads: Mapping[str, int]) -> str:
    if not problem.vehicles:
        return "no_technician"
    able = [v for v in problem.vehicles if _may_take(v, job)]
    if not able:
        return "no_qualified_technician"
    working = [v for v in able if v.shift_start < v.shift_end]
    if not working:
        return "shift_over"
    in_window = []
    for vehicle in working:
        # the job alone in the vehicle's day, as early as it can be reached
        begin = max(
            vehicle.shift_start + int(problem.durations[vehicle.start, job.place]), job.tw_start
        )
        if begin <= job.tw_end:
            in_window.append((vehicle, begin))
    if not in_window:
        return "window_unreachable"
    fits = [
        vehicle
        for vehicle, begin in in_window
        if begin + job.service + int(problem.durations[job.place, vehicle.end]) <= vehicle.shift_end
    ]
    if not fits:
        return "outside_shift"
    if all(v.capacity and loads.get(v.key, 0) >= v.capacity[0] for v in fits):
        return "over_capacity"
    return "day_full"


def unassigned_reasons(day: DayProblem, plan: RoutingPlan) -> dict[str, dict[str, str]]:
    """Why each job the plan leaves out was left out: ``{job: {"code": ..., "text": ...}}``.

    The first reason that holds of the job on its own, in this order: nobody works that day,
    nobody who works may take it, their shifts are over, nobody can reach it inside its window,
    nobody can do it within their shift, everyone who could is at capacity; otherwise the day
    is full (the job fits alone but not beside the jobs kept)."""
    problem = day.problem
    jobs = {job.key: job for job in problem.jobs}
    loads = {route.vehicle: len(route.stops) for route in plan.routes}
    out: dict[str, dict[str, str]] = {}
    for key in plan.unassigned:
        job = jobs.get(key)
        code = "day_full" if job is None else _why_left_out(problem, job, loads)
        out[key] = {"code": code, "text": UNASSIGNED_REASONS[code]}
    return out
