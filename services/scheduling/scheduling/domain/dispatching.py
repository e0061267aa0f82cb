"""Who takes an order and when: automatic choice (SCH-1), feasible arrival windows (SCH-3) and
the nearest technician for an emergency (INT-7)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contracts.common import GeoPoint, TimeWindow
from scheduling.domain.insertion import LiveRoute, cheapest_insertion
from scheduling.domain.model import Technician
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import Job, Vehicle
from scheduling.domain.travel import TravelTimes, great_circle_m


@dataclass(frozen=True)
class HeldJob:
    """A job a technician already holds, as far as feasibility needs it."""

    order_id: str
    location: GeoPoint
    window: TimeWindow
    minutes: int
    day: date | None = None
    """The day of the shift it was kept on (:func:`keeping`), when recorded (:func:`recorded_day`):
    a window kept on a later shift than :func:`held_day`'s, the first being ruled out by travel,
    other jobs or a day at capacity, counts there (SCH-1, SCH-3). None: :func:`held_day`'s."""


@dataclass(frozen=True)
class Slot:
    """A feasible arrival window and the technician who would keep it."""

    window: TimeWindow
    technician_id: str
    added_metres: int
    day: date | None = None
    """The day of the technician's shift keeping it (:func:`keeping`), the one it counts on."""


@dataclass(frozen=True)
class _Visit:
    """The visit asked to be kept and what judging it needs: the arguments :func:`keeping`,
    :func:`fits` and :func:`why_not_kept` take, passed on together."""

    technician: Technician
    held: Sequence[HeldJob]
    location: GeoPoint
    window: TimeWindow
    minutes: int
    policy: SchedulingPolicy
    travel: TravelTimes
    tz: ZoneInfo
    now: datetime | None
    overtime: bool


def service_day(
    window: TimeWindow,
    *,
    tz: ZoneInfo,
    now: datetime | None = None,
    technician: Technician | None = None,
) -> date:
    """The local day whose shift keeps ``window`` and whose jobs it is checked with (SCH-3):
    the day it opens; for a window already open at ``now``, today (one that opened before
    midnight and is still open is kept on today's shift, by whoever is on shift now). For
    ``technician``, the day of their shift that moment belongs to: a window opening at 02:00
    is the night shift's of the day before (:meth:`Technician.shift_day`)."""
    opens = now if now is not None and window.start < now < window.end else window.start
    if technician is not None:
        return technician.shift_day(opens, tz)
    return opens.astimezone(tz).date()


def running_from(today: date) -> date:
    """The first day whose shift may still be running on ``today``: the day before, whose
    night shift runs past midnight (SCH-3). Asking for a shift already over costs nothing:
    it holds no time from now on."""
    return today - timedelta(days=1)


def held_day(
    technician: Technician,
    window: TimeWindow,
    *,
    minutes: int,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
) -> date:
    """The day a job ``technician`` holds for ``window`` belongs to (SCH-1 capacity, SCH-3, the
    day plans), at any time, also while it is under way: that of the first shift the visit can
    be done inside (arrival 5-10 minutes early, SCH-4, and the ``minutes`` of the job), the one
    :func:`keeping` keeps it on. A night technician's job at 02:00 is the day before's; a
    round-the-clock technician's from 23:30 is the next day's, one from 23:00 stays the day it
    started on after midnight. A job fitting no shift (agreed with overtime) is that of the
    first shift it arrives on, else of the shift its window opens in."""
    first = window.start - timedelta(minutes=policy.arrive_early_max_minutes)
    # most often the shift on at the earliest arrival keeps it: the first of shift_days
    day = technician.shift_day(first, tz)
    if technician.works_on(day):
        shift = technician.shift(day, tz)
        if shift.start <= first and first + timedelta(minutes=minutes) <= shift.end:
            return day
    days = shift_days(technician, window, tz=tz, policy=policy)
    for day in days:
        shift = technician.shift(day, tz)
        if max(first, shift.start) + timedelta(minutes=minutes) <= shift.end:
            return day
    return days[0] if days else technician.shift_day(window.start, tz)


def day_held(
    technician: Technician, job: HeldJob, *, tz: ZoneInfo, policy: SchedulingPolicy
) -> date:
    """The day ``job`` counts towards (SCH-1, SCH-3): the one recorded when it was kept, else
    :func:`held_day`'s."""
    if job.day is not None:
        return job.day
    return held_day(technician, job.window, minutes=job.minutes, tz=tz, policy=policy)


def recorded_day(
    technician: Technician,
    window: TimeWindow,
    day: date | None,
    *,
    minutes: int,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
) -> date | None:
    """The day to record as keeping ``window`` (:attr:`HeldJob.day`, SCH-1, SCH-3): ``day``,
    the one :func:`keeping` found, only when it is not :func:`held_day`'s (a later shift, the
    first ruled out by travel, the jobs held or a day at capacity); None otherwise, or when
    nothing keeps it: that job's day is worked out afresh from the shifts as they stand, so
    it follows a change of them."""
    if day is None or day == held_day(technician, window, minutes=minutes, tz=tz, policy=policy):
        return None
    return day


def shift_days(
    technician: Technician,
    window: TimeWindow,
    *,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
    now: datetime | None = None,
) -> list[date]:
    """The days, in order, whose shift may keep ``window`` (SCH-3): those of every shift of the
    technician overlapping the arrival span (from `arrive_early_max_minutes` before the window
    opens to `arrive_early_min_minutes` before it closes, SCH-4) and, with ``now``, not over.
    A window across the gap between two shifts (05:00-23:00 for a 22:00-06:00 technician, one
    from 23:30 round the clock) touches both; the first the visit can be done inside keeps it
    (:func:`held_day`)."""
    first = window.start - timedelta(minutes=policy.arrive_early_max_minutes)
    last = max(first, window.end - timedelta(minutes=policy.arrive_early_min_minutes))
    days: list[date] = []
    day = running_from(first.astimezone(tz).date())
    while day <= last.astimezone(tz).date():
        if technician.works_on(day):
            shift = technician.shift(day, tz)
            if shift.start <= last and first < shift.end and (now is None or now < shift.end):
                days.append(day)
        day += timedelta(days=1)
    return days


def keeping(
    *,
    technician: Technician,
    held: Sequence[HeldJob],
    location: GeoPoint,
    window: TimeWindow,
    minutes: int,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    now: datetime | None = None,
    overtime: bool = False,
    unless: Callable[[date], bool] | None = None,
) -> tuple[date, int] | None:
    """The shift (its day) keeping ``window`` for the job, and the metres it adds (SCH-3): from
    that of :func:`held_day`, the first the visit can be done inside, each shift the window
    overlaps in order, skipping those ``unless`` rules out (a day at capacity) or, with ``now``,
    over, the first where the visit truly fits beside the jobs held and the travel between them
    (:func:`_kept_on`); None when it fits in none. The day a job is kept on is the day it counts
    towards, in slots, placement and the day plans alike (recorded as :attr:`HeldJob.day`)."""
    visit = _Visit(
        technician=technician,
        held=held,
        location=location,
        window=window,
        minutes=minutes,
        policy=policy,
        travel=travel,
        tz=tz,
        now=now,
        overtime=overtime,
    )
    return _keeping(visit, unless=unless)


def _at_capacity(
    technician: Technician, workload: dict[tuple[str, date], int] | None
) -> Callable[[date], bool]:
    """SCH-1: :func:`keeping`'s ``unless`` for ``technician``: whether a day already holds their
    ``daily_capacity`` of jobs by ``workload`` (jobs per technician and day; None or empty: no
    day is full)."""

    def full(day: date) -> bool:
        if not workload:
            return False
        return workload.get((technician.technician_id, day), 0) >= technician.daily_capacity

    return full


def _keeping(visit: _Visit, *, unless: Callable[[date], bool] | None) -> tuple[date, int] | None:
    """:func:`keeping` for ``visit``: each shift the window overlaps (:func:`shift_days`, not
    over at ``now``), in order from :func:`held_day`'s, until the visit fits in one beside the
    jobs held and the travel between them (SCH-3)."""
    technician, tz, policy = visit.technician, visit.tz, visit.policy
    first = held_day(technician, visit.window, minutes=visit.minutes, tz=tz, policy=policy)
    for day in shift_days(technician, visit.window, tz=tz, policy=policy, now=visit.now):
        if day < first or (unless is not None and unless(day)):
            continue
        added = _kept_on(day, visit)
        if added is not None:
            return day, added
    return None


def fits(
    *,
    technician: Technician,
    held: Sequence[HeldJob],
    location: GeoPoint,
    window: TimeWindow,
    minutes: int,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    now: datetime | None = None,
    overtime: bool = False,
    day: date | None = None,
) -> int | None:
    """Added metres if the technician can arrive 5-10 minutes early for ``window`` keeping all the
    jobs they hold that day and their shift (SCH-3, SCH-4); None when they cannot. The shift
    tried is the first of those the window's arrival span overlaps that the visit can be done
    inside, not always the one of the day it opens (:func:`keeping`); with ``day``, only if it
    is that day's. With ``now`` a day already under way starts from
    where the technician is now, not from home at the start of the shift (a window opening in
    5 minutes is not kept by someone an hour away). With ``overtime`` the new job may run past
    the shift's end (arriving on shift): the technician agreeing the time on their own call may
    choose to stay late."""
    found = keeping(
        technician=technician,
        held=held,
        location=location,
        window=window,
        minutes=minutes,
        policy=policy,
        travel=travel,
        tz=tz,
        now=now,
        overtime=overtime,
        unless=None if day is None else (lambda d: d != day),
    )
    return None if found is None else found[1]


def _kept_on(day: date, visit: _Visit) -> int | None:
    """:func:`fits` on the shift of ``day``: the visit inside it, keeping the jobs of the day
    (:func:`held_day`) and the daily capacity. A job of another day still running when this
    shift starts (round the clock: one from 23:30) holds the technician there but is not one of
    this day's jobs (SCH-1); a job of the day running past the shift's end (agreed with
    overtime, or kept on the next shift) keeps its time: the shift ends when it can be done."""
    technician, held, location, window = visit.technician, visit.held, visit.location, visit.window
    minutes, policy, travel, tz = visit.minutes, visit.policy, visit.travel, visit.tz
    now, overtime = visit.now, visit.overtime
    if not technician.works_on(day):
        return None
    shift = technician.shift(day, tz)
    origin = shift.start
    days = {h: day_held(technician, h, tz=tz, policy=policy) for h in held}
    own = [h for h in held if days[h] == day]
    crossing = [
        h
        for h in held
        if days[h] != day
        and h.window.start < shift.start < h.window.end + timedelta(minutes=h.minutes)
    ]
    day_jobs = sorted([*own, *crossing], key=lambda h: h.window.start)
    start_point = technician.home
    ready = 0
    if now is not None and now > origin:
        start_point = technician.where(
            now, stale_after=timedelta(minutes=policy.position_stale_after_minutes)
        )
        ready = int((now - origin).total_seconds())
    points = [start_point, technician.home, *[h.location for h in day_jobs], location]
    durations, distances = travel.matrices(points)
    early_max = policy.arrive_early_max_minutes * 60
    early_min = policy.arrive_early_min_minutes * 60

    def job(key: str, place: int, w: TimeWindow, mins: int) -> Job:
        start = int((w.start - origin).total_seconds())
        end = int((w.end - origin).total_seconds())
        return Job(
            key=key,
            place=place,
            service=mins * 60,
            tw_start=start - early_max,
            tw_end=max(start - early_max, end - early_min),
        )

    held_jobs = [job(h.order_id, 2 + i, h.window, h.minutes) for i, h in enumerate(day_jobs)]
    shift_end = int((shift.end - origin).total_seconds())
    for h, j in zip(day_jobs, held_jobs, strict=True):
        if h in own and h.window.end > shift.end:
            shift_end = max(shift_end, j.tw_start + j.service + int(durations[j.place, 1]))
    new = job("new", len(points) - 1, window, minutes)
    if overtime:
        # Arrival stays on shift; the job and the way home may run past its end.
        last_arrival = min(new.tw_end, shift_end)
        if last_arrival < new.tw_start:
            return None
        new = replace(new, tw_end=last_arrival)
        shift_end = max(shift_end, last_arrival + new.service + int(max(durations[-1])))
    vehicle = Vehicle(
        key=technician.technician_id,
        start=0,
        end=1,
        shift_start=0,
        shift_end=shift_end,
        capacity=(technician.daily_capacity + len(crossing),),
    )
    route = LiveRoute(vehicle=vehicle, jobs=held_jobs, ready=ready)
    found = cheapest_insertion([route], new, durations=durations, distances=distances)
    return None if found is None else found.added_distance


def why_not_kept(
    *,
    technician: Technician,
    held: Sequence[HeldJob],
    location: GeoPoint,
    window: TimeWindow,
    minutes: int,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    now: datetime | None = None,
    overtime: bool = False,
) -> list[str]:
    """Why the technician cannot keep ``window`` as :func:`fits` judges it (SCH-3), empty when
    they can: off shift, fully booked that day, unable to be there in time and finish the job
    within the shift (or, with ``overtime``, arrive while on shift), or a clash with the jobs
    they hold."""
    visit = _Visit(
        technician=technician,
        held=held,
        location=location,
        window=window,
        minutes=minutes,
        policy=policy,
        travel=travel,
        tz=tz,
        now=now,
        overtime=overtime,
    )

    def kept(jobs: Sequence[HeldJob]) -> bool:
        return _keeping(replace(visit, held=jobs), unless=None) is not None

    if kept(held):
        return []
    off = technician.why_off_shift(window, tz=tz, policy=policy)
    if off:
        return off
    who = f"technician {technician.technician_id}"
    # the shift that would keep it (SCH-3): the first the visit can be done inside
    day = held_day(technician, window, minutes=minutes, tz=tz, policy=policy)
    that_day = [h for h in held if day_held(technician, h, tz=tz, policy=policy) == day]
    if len(that_day) >= technician.daily_capacity:
        return [f"{who} already holds {len(that_day)} jobs on {day}, their daily capacity"]
    if not kept([]):
        shift = technician.shift_hours
        finish = (
            "while on shift"
            if overtime
            else f"and finish the {minutes}-minute job within their shift"
        )
        return [
            f"{who} cannot be there {policy.arrive_early_min_minutes}-"
            f"{policy.arrive_early_max_minutes} minutes early for this window (travel from where "
            f"they are) {finish} on {day} ({shift})"
        ]
    return [
        f"the window clashes with the jobs {who} holds on {day} (travel and the "
        f"{minutes}-minute job included)"
    ]


def candidate_windows(
    *,
    days: Iterable[date],
    tz: ZoneInfo,
    policy: SchedulingPolicy,
    now: datetime,
    technicians: Sequence[Technician],
) -> list[TimeWindow]:
    """Windows of `slot_length_minutes` across the union of shifts, from now + lead time; the
    night shift started the day before the first of ``days`` included (SCH-3: at 01:00 it
    still runs to 06:00)."""
    earliest = now + timedelta(minutes=policy.slot_lead_minutes)
    length = timedelta(minutes=policy.slot_length_minutes)
    windows: set[tuple[datetime, datetime]] = set()
    listed = list(days)
    if not listed:
        return []
    # of the night shift started the day before, only its hours after midnight
    since = datetime.combine(listed[0], time(0), tzinfo=tz)
    for day in [running_from(listed[0]), *listed]:
        for tech in technicians:
            if not tech.works_on(day):
                continue
            shift = tech.shift(day, tz)
            start = shift.start
            while start + length <= shift.end:
                if start >= earliest and start + length > since:
                    windows.add((start, start + length))
                start += length
    return [TimeWindow(start=s, end=e) for s, e in sorted(windows)]


def feasible_slots(
    *,
    location: GeoPoint,
    product_line: str,
    area: str | None,
    minutes: int,
    technicians: Sequence[Technician],
    held: dict[str, list[HeldJob]],
    windows: Sequence[TimeWindow],
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    workload: dict[tuple[str, date], int] | None = None,
    now: datetime | None = None,
) -> list[Slot]:
    """For each window, the technician who keeps it (SCH-3), from where they are ``now`` on a
    day under way (:func:`fits`): of those adding at most `workload_balance_metres` more than
    the least detour, the least loaded that day (SCH-1: ``workload``, else the jobs they hold
    that day), then the least detour, then the id."""
    able = [t for t in technicians if not t.why_not(product_line=product_line, area=area)]
    slots: list[Slot] = []
    for window in windows:
        keepers: list[tuple[int, int, str, date]] = []
        for tech in able:
            mine = held.get(tech.technician_id, [])

            # SCH-3: the first shift that keeps it (the night shift's for 02:00, tonight's for
            # a window reaching it), of those with room left that day (SCH-1)
            found = keeping(
                technician=tech,
                held=mine,
                location=location,
                window=window,
                minutes=minutes,
                policy=policy,
                travel=travel,
                tz=tz,
                now=now,
                unless=_at_capacity(tech, workload),
            )
            if found is None:
                continue
            day, added = found
            load = (
                workload.get((tech.technician_id, day), 0)
                if workload is not None
                else sum(1 for h in mine if day_held(tech, h, tz=tz, policy=policy) == day)
            )
            keepers.append((load, added, tech.technician_id, day))
        if not keepers:
            continue
        least = min(k[1] for k in keepers)
        load, added, technician_id, day = min(
            k for k in keepers if k[1] <= least + policy.workload_balance_metres
        )
        slots.append(Slot(window=window, technician_id=technician_id, added_metres=added, day=day))
    return slots


def can_fit_on(
    *,
    technician: Technician,
    day: date,
    held: Sequence[HeldJob],
    location: GeoPoint | None,
    minutes: int,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    now: datetime,
) -> bool:
    """SCH-3: whether the technician can still fit the job into their shift on ``day`` with no
    time agreed yet: the one feasibility check (:func:`fits`) for a window from the shift's
    start (today: `slot_lead_minutes` from now at the earliest, time to call the customer
    first, SCH-2) to its end, keeping the jobs they hold that day. A technician whose shift is
    over, or too nearly over for the job, cannot. Without a map location the job is taken to
    be at their home base (the shift and the held jobs are still checked)."""
    if not technician.works_on(day):
        return False
    shift = technician.shift(day, tz)
    start = max(shift.start, now + timedelta(minutes=policy.slot_lead_minutes))
    if start >= shift.end:
        return False
    added = fits(
        technician=technician,
        held=held,
        location=location if location is not None else technician.home,
        window=TimeWindow(start=start, end=shift.end),
        minutes=minutes,
        policy=policy,
        travel=travel,
        tz=tz,
        now=now,
        day=day,
    )
    return added is not None


def workload_by_day(
    *,
    technicians: Sequence[Technician],
    booked: Iterable[tuple[str, TimeWindow, int, date | None]],
    pending: dict[str, int],
    now: datetime,
    tz: ZoneInfo,
    until: date,
    policy: SchedulingPolicy,
) -> dict[tuple[str, date], int]:
    """SCH-1: the jobs each technician holds per day from today to ``until``: those ``booked``
    (technician id, appointment, minutes of the job, the day it was kept on when recorded) on
    the day of their shift keeping it (:func:`day_held`: a job at 02:00 is the day before's for
    a night technician), and their
    ``pending`` ones (no time agreed yet, or a booked day already past) on the first days they
    still work, the night shift still running from yesterday first, as many a day as their
    daily capacity leaves room for: a job placed for a later day is agreed on the contact call
    (SCH-2) and fills that day, not only today."""
    by_id = {t.technician_id: t for t in technicians}
    counts: Counter[tuple[str, date]] = Counter(
        (
            technician_id,
            day
            or (
                held_day(by_id[technician_id], window, minutes=minutes, tz=tz, policy=policy)
                if technician_id in by_id
                else window.start.astimezone(tz).date()
            ),
        )
        for technician_id, window, minutes, day in booked
    )
    today = now.astimezone(tz).date()
    for tech in technicians:
        waiting = pending.get(tech.technician_id, 0)
        day = running_from(today)
        while waiting > 0 and day <= until:
            if tech.works_on(day) and tech.shift(day, tz).end > now:
                key = (tech.technician_id, day)
                taken = min(waiting, max(tech.daily_capacity - counts[key], 0))
                if taken:
                    counts[key] += taken
                    waiting -= taken
            day += timedelta(days=1)
    return dict(counts)


@dataclass(frozen=True)
class Placement:
    """Who takes an order placed with no time agreed yet, and the day the job is for (SCH-1)."""

    technician: Technician
    day: date
    reason: str


def earliest_placement(
    *,
    technicians: Sequence[Technician],
    product_line: str,
    area: str | None,
    location: GeoPoint | None,
    minutes: int,
    days: Iterable[date],
    held: dict[str, list[HeldJob]],
    workload: dict[tuple[str, date], int],
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    now: datetime,
    booked: TimeWindow | None = None,
) -> Placement | None:
    """SCH-1 / SCH-3: the first of ``days`` on which a technician with the skill and the area and
    room left that day (``workload``) can still fit the job into their shift
    (:func:`can_fit_on`); of those, the least loaded, then the nearest home base
    (:func:`choose_technician`). None when nobody can on any of them. A day's shift is the one
    starting that day: to place a job now, ``days`` start the day before (:func:`running_from`),
    whose night shift may still be running. With ``booked`` (a window already agreed), a
    technician counts only on the day of their shift keeping that window (:func:`keeping`:
    a later shift it overlaps when travel, the jobs held or a day at capacity rule out the
    first)."""
    kept: dict[str, date] = {}

    def booked_day(t: Technician) -> date:
        # SCH-3: the shift keeping the window beside the jobs held (a later one the window
        # overlaps when travel or those jobs rule out the first, or when the first day is at
        # capacity, SCH-1, as slot-finding skips it), else held_day's
        if t.technician_id not in kept:
            assert booked is not None
            found = keeping(
                technician=t,
                held=held.get(t.technician_id, []),
                location=location if location is not None else t.home,
                window=booked,
                minutes=minutes,
                policy=policy,
                travel=travel,
                tz=tz,
                now=now,
                unless=_at_capacity(t, workload),
            )
            kept[t.technician_id] = (
                found[0]
                if found is not None
                else held_day(t, booked, minutes=minutes, tz=tz, policy=policy)
            )
        return kept[t.technician_id]

    for day in days:
        ranked = _by_preference(
            technicians,
            product_line=product_line,
            area=area,
            location=location,
            workload={
                t.technician_id: workload.get((t.technician_id, day), 0) for t in technicians
            },
            day=day,
        )
        if booked is not None:
            ranked = [t for t in ranked if booked_day(t) == day]
        # the insertion check is the costly part: asked in order of preference, it runs only
        # until someone fits, and who is chosen is the same as checking everyone first
        for tech in ranked:
            if can_fit_on(
                technician=tech,
                day=day,
                held=held.get(tech.technician_id, []),
                location=location,
                minutes=minutes,
                policy=policy,
                travel=travel,
                tz=tz,
                now=now,
            ):
                load = workload.get((tech.technician_id, day), 0)
                return Placement(
                    technician=tech,
                    day=day,
                    reason=_choice_reason(tech, product_line=product_line, area=area, load=load),
                )
    return None


def _by_preference(
    technicians: Sequence[Technician],
    *,
    product_line: str,
    area: str | None,
    location: GeoPoint | None,
    workload: dict[str, int],
    day: date,
) -> list[Technician]:
    """SCH-1: those working ``day`` with the skill and the area and room left, the least loaded
    first, then the nearest home base, ties by id."""

    def key(t: Technician) -> tuple[int, float, str]:
        distance = great_circle_m(t.home, location) if location is not None else 0.0
        return (workload.get(t.technician_id, 0), distance, t.technician_id)

    return sorted(
        (
            t
            for t in technicians
            if t.works_on(day)
            and not t.why_not(product_line=product_line, area=area)
            and workload.get(t.technician_id, 0) < t.daily_capacity
        ),
        key=key,
    )


def _choice_reason(tech: Technician, *, product_line: str, area: str | None, load: int) -> str:
    return f"skill {product_line}, area {area or 'any'}, workload {load}/{tech.daily_capacity}"


def choose_technician(
    *,
    technicians: Sequence[Technician],
    product_line: str,
    area: str | None,
    location: GeoPoint | None,
    workload: dict[str, int],
    day: date,
) -> tuple[Technician, str] | None:
    """SCH-1: among those working ``day`` (the day the job is for) with the skill and the area
    and room left, the least loaded, then the nearest home base. Returns the technician and
    the reason to record."""
    ranked = _by_preference(
        technicians,
        product_line=product_line,
        area=area,
        location=location,
        workload=workload,
        day=day,
    )
    if not ranked:
        return None
    chosen = ranked[0]
    load = workload.get(chosen.technician_id, 0)
    return chosen, _choice_reason(chosen, product_line=product_line, area=area, load=load)


@dataclass(frozen=True)
class EmergencyChoice:
    """Who goes to an emergency (INT-7): when they can set off, and when they are on site."""

    technician: Technician
    sets_off: datetime
    """Now for someone on shift, else the start of their next shift."""
    travel_seconds: int
    on_site: datetime


def soonest_on_site(
    *,
    technicians: Sequence[Technician],
    product_line: str,
    location: GeoPoint,
    now: datetime,
    tz: ZoneInfo,
    travel: TravelTimes,
    days: Iterable[date],
    stale_after: timedelta,
) -> EmergencyChoice | None:
    """INT-7: of those with the skill, on shift now (setting off from where they are now) or
    starting later (from home, when their first shift on one of ``days`` starts), the one who
    can be on site soonest; ties by id. A technician on shift an hour and a half away does not
    beat one starting in five minutes round the corner. None when nobody with the skill works
    on any of ``days``. ``days`` start the day before today (:func:`running_from`): at 02:00
    the night technician on shift is on the shift of yesterday. ``stale_after``: how long a
    position ping stands for where they are (`position_stale_after_minutes`)."""
    options: list[tuple[Technician, datetime, GeoPoint]] = []
    skilled = [t for t in technicians if not t.why_not(product_line=product_line, area=None)]
    for tech in skilled:
        for day in days:
            if not tech.works_on(day):
                continue
            shift = tech.shift(day, tz)
            if shift.start <= now < shift.end:
                options.append((tech, now, tech.where(now, stale_after=stale_after)))
                break
            if shift.start >= now:
                options.append((tech, shift.start, tech.home))
                break
    if not options:
        return None
    durations, _ = travel.matrices([location, *[where for _, _, where in options]])
    choices = [
        EmergencyChoice(
            technician=tech,
            sets_off=sets_off,
            travel_seconds=int(durations[i + 1, 0]),
            on_site=sets_off + timedelta(seconds=int(durations[i + 1, 0])),
        )
        for i, (tech, sets_off, _) in enumerate(options)
    ]
    return min(choices, key=lambda c: (c.on_site, c.technician.technician_id))
