"""Scheduling's handlers: commands from the REST API, events from other services, timers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from contracts.billing import OrderRetentionExpired, RateCardVersionPublished
from contracts.common import AssigneeKind, GeoPoint, TimeWindow
from contracts.envelope import EventEnvelope
from contracts.feedback import (
    FollowUpCompleted,
    FollowUpRecredited,
    FollowUpScheduled,
    RevisitRequested,
)
from contracts.fieldwork import (
    CustomerNotHome,
    InstallationCompleted,
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    TechnicianArrived,
    TechnicianDeparted,
    VisitClosed,
    VisitOutcome,
)
from contracts.intake import (
    DuplicateLinked,
    OrderCancelled,
    OrderCreated,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
)
from contracts.registry import parse_data
from contracts.scheduling import ReturnReason, RevisitReason
from scheduling.domain import commands
from scheduling.domain.dispatching import (
    HeldJob,
    Placement,
    Slot,
    candidate_windows,
    earliest_placement,
    feasible_slots,
    held_day,
    keeping,
    recorded_day,
    running_from,
    service_day,
    shift_days,
    soonest_on_site,
    why_not_kept,
    workload_by_day,
)
from scheduling.domain.exceptions import (
    AlreadyExists,
    CannotTake,
    DayOver,
    DispatchOrderNotFound,
    IllegalTransition,
    ImplausibleReport,
    NetworkNotFound,
    NotYourOrder,
    PlanInfeasible,
    SlotUnavailable,
    TechnicianNotFound,
)
from scheduling.domain.insertion import LiveRoute, cheapest_insertion
from scheduling.domain.model import (
    AUTO,
    CLOSED,
    ArrivedTechnician,
    DispatchOrder,
    DispatchStatus,
    Network,
    Technician,
    WorkingTime,
    window_problems,
)
from scheduling.domain.planning import (
    PlanJob,
    PlanTechnician,
    build_day_problem,
    held_back,
    plan_skill,
    unassigned_reasons,
)
from scheduling.domain.policy import AssignmentMode, SchedulingPolicy
from scheduling.domain.routing import PlannedRoute, RouteSolver, RoutingPlan, Stop, check_plan
from scheduling.domain.travel import GreatCircleTravel, TravelTimes
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from servicekit.calendar import BusinessCalendar

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
UowFactory = Callable[[], SchedulingUnitOfWork]

PLANNER = "scheduling:plan"


# -- helpers ------------------------------------------------------------------------------------


def visible_to(order: DispatchOrder, actor: commands.Actor | None) -> bool:
    """Whether the caller may know the order exists: a partner key sees only the orders its
    network holds now (issue 5); every other role is checked per action."""
    if actor is None or actor.role != "partner":
        return True
    return actor.network_id is not None and actor.network_id == order.network_id


async def _order(
    uow: SchedulingUnitOfWork,
    order_id: str,
    actor: commands.Actor | None = None,
    *,
    action: str,
    for_update: bool,
) -> DispatchOrder:
    """The order the caller may see, to ``action`` on; ``for_update`` locks it before anything
    is decided, so a concurrent command, event or sweep on the same order waits and then reads
    the fresh row. An order whose personal data was erased takes no command (BIL-11, 409)."""
    order = await uow.orders.get(order_id, for_update=for_update)
    # another network's order answers exactly like a missing one: no existence leak
    if order is None or not visible_to(order, actor):
        raise DispatchOrderNotFound(order_id)
    # BIL-11: refused before anything else is checked, whoever asks, as intake does; events
    # heard of the order later do not come this way and are still applied (stored erased)
    order.refuse_if_erased(action)
    return uow.track(order)


async def _technician(
    uow: SchedulingUnitOfWork, technician_id: str, *, for_update: bool = False
) -> Technician:
    tech = await uow.technicians.get(technician_id, for_update=for_update)
    if tech is None:
        raise TechnicianNotFound(technician_id)
    return tech


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end of the local ``day``."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def _works_nights(technicians: Sequence[Technician]) -> bool:
    """Whether any of ``technicians`` works a shift running past midnight: only then may a job
    after midnight be the day before's, and a shift started yesterday still be running (SCH-3).
    Without one, nothing before today nor after the day is read for a day's jobs."""
    return any(t.overnight for t in technicians)


def _reaches_next_day(
    window: TimeWindow,
    day: date,
    technicians: Sequence[Technician],
    *,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
    now: datetime,
) -> bool:
    """Whether a shift of one of ``technicians`` starting after ``day`` may keep ``window``
    (:func:`shift_days`: a window from 23:30 round the clock, or across the gap to a shift
    starting in the small hours): its jobs are then read too (SCH-3). Never for a window
    inside the shifts of its day: nothing more is read than before."""
    return any(
        d > day for t in technicians for d in shift_days(t, window, tz=tz, policy=policy, now=now)
    )


async def _held_near(
    uow: SchedulingUnitOfWork,
    day: date,
    *,
    tz: ZoneInfo,
    nights: bool,
    for_update: bool = False,
) -> list[DispatchOrder]:
    """The held orders booked to start from the day before ``day`` to its end, or with
    ``nights`` (:func:`_works_nights`, or a window reaching the next day's shifts,
    :func:`_reaches_next_day`) to the end of the day after: every job that can be one of the
    shifts starting on ``day`` (SCH-3): one of the day before still running, and a night
    shift's after midnight. The feasibility check keeps each technician's own (:func:`fits`)."""
    start, end = _day_bounds(day, tz)
    return await uow.orders.held_starting_between(
        start - timedelta(days=1),
        end + timedelta(days=1) if nights else end,
        for_update=for_update,
    )


async def _held_on(
    uow: SchedulingUnitOfWork,
    day: date,
    *,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
    technicians: Sequence[Technician],
    for_update: bool = False,
) -> list[DispatchOrder]:
    """The held orders booked for ``day`` (SCH-1, SCH-3): those kept on the shift of that day of
    the technician holding them (:func:`held_day`: a night technician's job at 02:00 is the day
    before's, a round-the-clock technician's from 23:30 the next day's), also while under way
    past midnight: one from 23:00 stays the day it started on, not the next day's work."""
    holders = {t.technician_id: t for t in technicians}
    return [
        o
        for o in await _held_near(
            uow, day, tz=tz, nights=_works_nights(technicians), for_update=for_update
        )
        if _day_of(o, holders, tz=tz, policy=policy) == day
    ]


def _day_of(
    order: DispatchOrder,
    holders: dict[str, Technician],
    *,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
) -> date | None:
    """The day a held job belongs to: the one recorded as keeping it (:attr:`DispatchOrder.kept_on`,
    a later shift than the first), else :func:`held_day` of its holder's shifts, the one keeping
    it; the local day it opens when the holder is unknown; None with no time agreed."""
    if order.appointment is None:
        return None
    if order.kept_on is not None:
        return order.kept_on
    holder = holders.get(order.technician_id) if order.technician_id else None
    if holder is None:
        return service_day(order.appointment, tz=tz)
    minutes = policy.job_minutes(order.product_line, order.service_type)
    return held_day(holder, order.appointment, minutes=minutes, tz=tz, policy=policy)


def _running_into(
    orders: Sequence[DispatchOrder],
    technician: Technician,
    day: date,
    *,
    tz: ZoneInfo,
    policy: SchedulingPolicy,
) -> list[DispatchOrder]:
    """The jobs of another day ``technician`` holds whose visit may still run when their shift
    of ``day`` starts (SCH-3: round the clock, one from 23:30 at midnight; never a night or a
    day shift's, which end before the next starts): not that day's jobs (SCH-1), but the
    technician is there, or on the way, when it starts."""
    if not technician.works_on(day):
        return []
    start = technician.shift(day, tz).start
    return [
        o
        for o in orders
        if o.technician_id == technician.technician_id
        and o.appointment is not None
        and o.location is not None
        and _day_of(o, {technician.technician_id: technician}, tz=tz, policy=policy) != day
        and o.appointment.start
        < start
        < o.appointment.end + timedelta(minutes=policy.job_minutes(o.product_line, o.service_type))
    ]


def _held_jobs(orders: list[DispatchOrder], policy: SchedulingPolicy) -> dict[str, list[HeldJob]]:
    held: dict[str, list[HeldJob]] = {}
    for o in orders:
        if o.technician_id and o.appointment and o.location:
            held.setdefault(o.technician_id, []).append(
                HeldJob(
                    order_id=o.order_id,
                    location=o.location,
                    window=o.appointment,
                    minutes=policy.job_minutes(o.product_line, o.service_type),
                    day=o.kept_on,
                )
            )
    return held


async def _arrived_technician(
    uow: SchedulingUnitOfWork, order: DispatchOrder, technician_id: str, *, visit_id: str
) -> ArrivedTechnician:
    """The technician fieldwork reports at the order's visit ``visit_id``, as dispatch knows
    them (the order's own network when they hold its current visit)."""
    if technician_id == order.technician_id and visit_id == order.visit_id:
        return ArrivedTechnician(technician_id=technician_id, network_id=order.network_id)
    tech = await uow.technicians.get(technician_id)
    if tech is None:
        return ArrivedTechnician(technician_id=technician_id)
    return ArrivedTechnician(
        technician_id=technician_id, network_id=tech.network_id, name=tech.name, phone=tech.phone
    )


def _not_dispatched(order: DispatchOrder, *, request: str, event_type: str | None = None) -> bool:
    """BIL-11: whether ``order``'s personal data was erased, so that the ``request`` for field
    work (a revisit, a placement, the next visit) is not acted upon: logged as a warning, and
    nothing that sends someone out is recorded. The event asking for it (``event_type``) is still
    processed (inbox): retrying it would change nothing, and it is no error to dead-letter."""
    if order.anonymised_at is None:
        return False
    log.warning(
        NOT_DISPATCHED,
        type=event_type,
        order_id=order.order_id,
        anonymised_at=order.anonymised_at.isoformat(),
        request=request,
        detail="the order's personal data is erased (BIL-11): the request was not acted upon",
    )
    return True


def _closed(order: DispatchOrder, *, request: str, event_type: str) -> bool:
    """SCH-12 / FLD-2: whether ``order`` was cancelled (or closed after phone guidance), so that
    a visit report crossing that (fieldwork and intake publish on their own topics: either may
    come first) books no next visit. The report is still applied, never failed: retrying it
    would change nothing."""
    if order.status not in CLOSED:
        return False
    log.info(
        CLOSED_NOT_DISPATCHED,
        type=event_type,
        order_id=order.order_id,
        status=order.status.value,
        request=request,
    )
    return True


CLOSED_NOT_DISPATCHED = "scheduling.closed_order_not_dispatched"
"""The note of a request for field work on a cancelled or closed order, not acted upon."""

NOT_DISPATCHED = "scheduling.erased_order_not_dispatched"
"""The warning of a request for field work on an erased order, not acted upon (BIL-11)."""

VERIFIED_AFTER_THE_VISIT = "scheduling.emergency_verified_after_the_visit"
"""The note of a verification escalating an order to an emergency heard after its visit ended
(intake verified it before it heard of the visit): nobody is sent out again (INT-7)."""

HELD_WITHOUT_THE_SKILL = "scheduling.held_without_the_skill"
"""The warning of an order whose product line, corrected at verification, is outside the skills
of the technician holding it (SCH-1): left to a dispatcher to reassign (SCH-12)."""


def _check_actor_owns(order: DispatchOrder, actor: commands.Actor) -> None:
    """Technicians act on their own visits only; networks on theirs (SCH-8, SCH-12)."""
    if actor.is_dispatcher:
        return
    if (
        actor.role == "technician"
        and actor.technician_id
        and actor.technician_id == order.technician_id
    ):
        return
    if actor.role == "partner" and actor.network_id and actor.network_id == order.network_id:
        return
    raise NotYourOrder(f"Order {order.order_id} is not held by this caller.")


async def _auto_assign(
    order: DispatchOrder,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    calendar: WorkingTime,
) -> None:
    """SCH-1 / INT-7: place a dispatchable order when policy says so; else it waits. One the
    placement finds nobody for is tried again periodically (:func:`retry_auto_placement`).
    An order whose personal data was erased (BIL-11) is never placed: nobody could be sent to
    a customer it no longer names, nor act on the order (every command on it is refused)."""
    if not order.dispatchable:
        return
    if order.anonymised_at is not None:
        order.auto_placement_tried_at = None  # BIL-11: not the timer's to try again either
        _not_dispatched(order, request="placement")
        return
    emergency = order.emergency and order.location is not None
    if not emergency and policy.mode_for(order.area) is AssignmentMode.MANUAL:
        order.auto_placement_tried_at = None  # SCH-1: the dispatcher's to place
        return
    await uow.orders.lock_assignment_decisions()
    # SCH-12: only a dispatcher crosses the network boundary; the automatic placement gives a
    # centre order to the centre's technicians (a network takes it as a network, accepting it)
    # and a network's order to that network's technicians.
    technicians = [t for t in await uow.technicians.list() if t.network_id == order.network_id]
    if emergency:
        await _assign_emergency(
            order, uow=uow, now=now, policy=policy, travel=travel, tz=tz, technicians=technicians
        )
    else:
        await _place(
            order,
            uow=uow,
            now=now,
            policy=policy,
            travel=travel,
            tz=tz,
            calendar=calendar,
            techs=technicians,
        )
    if order.dispatchable:
        order.auto_placement_tried_at = now


async def _place(
    order: DispatchOrder,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    calendar: WorkingTime,
    techs: list[Technician],
) -> None:
    """SCH-1 / SCH-3: the customer's first preferred window a technician can keep; else, with
    the time left to agree on the contact call (SCH-2), a technician who can still fit the job
    into today's shift (least loaded, then nearest); else a network serving the order (it
    answers within `network_accept_minutes` of working time, an emergency's of wall-clock time,
    SCH-1); else the technician who can on the earliest later day they work,
    within `booking_horizon_days`. The order is placed at once, never left for the retry
    sweep because nobody works today or today's shift is over; a technician off shift
    receives the dispatch when their next shift starts, and their 2 hours to call the
    customer run from then (:meth:`DispatchOrder.contact_due`). An order already booked for
    a day still ahead is placed for that day only."""
    today = now.astimezone(tz).date()
    last = today + timedelta(days=policy.booking_horizon_days)
    start_of_today = _day_bounds(today, tz)[0]
    nights = _works_nights(techs)
    # SCH-1: the jobs each technician holds per day over the horizon, counted by the database;
    # those booked from today on, on the day of their shift (after midnight, a night shift's
    # is yesterday's): those booked before today are pending, counted once, on yesterday's
    # night shift while it still runs (workload_by_day)
    workload = workload_by_day(
        technicians=techs,
        booked=[
            (technician_id, window, policy.job_minutes(line, kind), kept_on)
            for technician_id, window, line, kind, kept_on in await uow.orders.booked_windows(
                start_of_today, _day_bounds(last, tz)[1]
            )
        ],
        # no time agreed yet, or a booked day already past: done on the next days they work
        pending=await uow.orders.held_counts(due_before=start_of_today),
        now=now,
        tz=tz,
        until=last,
        policy=policy,
    )
    minutes = policy.job_minutes(order.product_line, order.service_type)
    for window in order.preferred_windows:
        if order.location is None:
            break
        if window_problems(window, now=now, policy=policy):
            # SCH-3: a window over, too long or too short to promise an arrival time, or beyond
            # the booking horizon is no promise (nor a date scheduling can compute with); the
            # customer's next may hold, else the time is agreed on the contact call (SCH-2)
            continue
        day = service_day(window, tz=tz, now=now)
        # each technician's jobs of the shifts that may keep it (a night shift's included, and
        # the next day's when a shift of it may: round the clock, a window from 23:30)
        reach = nights or _reaches_next_day(window, day, techs, tz=tz, policy=policy, now=now)
        held = _held_jobs(await _held_near(uow, day, tz=tz, nights=reach), policy)
        slots = feasible_slots(
            location=order.location,
            product_line=order.product_line,
            area=order.area,
            minutes=minutes,
            technicians=techs,
            held=held,
            windows=[window],
            policy=policy,
            travel=travel,
            tz=tz,
            workload=workload,
            now=now,  # SCH-3: a window under way is kept only by someone who can still get there
        )
        if slots:
            tech = next(t for t in techs if t.technician_id == slots[0].technician_id)
            order.assign(
                technician=tech,
                by=AUTO,
                reason=f"skill {order.product_line}, area {order.area or 'any'}, "
                f"customer's preferred window feasible",
                now=now,
                appointment=window,
                kept_on=_recorded(order, tech, window, slots[0].day, policy=policy, tz=tz),
            )
            return

    async def earliest(days: list[date], booked: TimeWindow | None = None) -> Placement | None:
        if all(t.why_not(product_line=order.product_line, area=order.area) for t in techs):
            return None  # nobody ever could: no need to read the held jobs of the days
        # from the day before: a window opened before midnight and still open is today's; to
        # the day after the last: a night shift's jobs after midnight are its day's (SCH-3)
        last_end = _day_bounds(days[-1], tz)[1]
        held = await uow.orders.held_starting_between(
            _day_bounds(days[0], tz)[0] - timedelta(days=1),
            last_end + timedelta(days=1) if nights else last_end,
        )
        return earliest_placement(
            technicians=techs,
            product_line=order.product_line,
            area=order.area,
            location=order.location,
            minutes=minutes,
            days=days,
            held=_held_jobs([o for o in held if o.order_id != order.order_id], policy),
            workload=workload,
            policy=policy,
            travel=travel,
            tz=tz,
            now=now,
            booked=booked,
        )

    # a window still ahead fixes the job's day (for a night technician, that of the night
    # shift it falls in); without one the job is for the first day someone can do it: the
    # night shift started yesterday and still running (SCH-3), or today's
    booked = order.appointment if order.appointment and order.appointment.end > now else None
    if booked is not None:
        # SCH-1 / SCH-3: each technician on the day of their shift keeping it (keeping: a
        # later shift the window overlaps when travel or their jobs rule out the first)
        kept_on = {d for t in techs for d in shift_days(t, booked, tz=tz, policy=policy, now=now)}
        found = await earliest(sorted(kept_on), booked) if kept_on else None
    else:
        found = await earliest([running_from(today), today] if nights else [today])
    if found is not None:
        order.assign(
            technician=found.technician,
            by=AUTO,
            reason=found.reason,
            now=now,
            kept_on=_recorded(order, found.technician, booked, found.day, policy=policy, tz=tz)
            if booked is not None
            else None,
        )
        return
    for network in await uow.networks.list():
        if network.can_take(product_line=order.product_line, area=order.area):
            order.assign(
                network=network,
                by=AUTO,
                reason=f"no own technician free; network serves {order.product_line} "
                f"in {order.area or 'any area'}",
                now=now,
                acceptance_due_at=order.network_answer_due(
                    network=network, given_at=now, policy=policy, calendar=calendar
                ),
            )
            return
    if booked is not None:
        return
    found = await earliest([today + timedelta(days=d) for d in range(1, (last - today).days + 1)])
    if found is not None:
        order.assign(
            technician=found.technician,
            by=AUTO,
            reason=f"{found.reason} on {found.day:%A} {found.day.isoformat()}, the first day "
            "a technician can take it",
            now=now,
        )


async def _keeper(
    order: DispatchOrder,
    window: TimeWindow,
    technicians: list[Technician],
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    overtime: bool = False,
) -> tuple[Technician | None, list[str], date | None]:
    """SCH-3: of ``technicians``, the one who keeps ``window`` for the order with the least
    detour, and the day of their shift keeping it to record (:func:`keeping`: a later shift the
    window overlaps when travel or their jobs rule out the first; None for the first,
    :func:`_recorded`): from where they are now, arriving
    5-10 minutes early (SCH-4), keeping the jobs they hold that day, the travel between them
    and the job's length within their shift (with ``overtime``, the job may end after it). None
    and why not when nobody does. The caller has checked the window's bounds (window_problems)
    and locked the assignment decisions."""
    assert order.location is not None
    day = service_day(window, tz=tz, now=now)
    # each technician's jobs of the shifts that may keep it (a night shift's included, and the
    # next day's when a shift of it may): the feasibility check keeps their own day's
    reach = _works_nights(technicians) or _reaches_next_day(
        window, day, technicians, tz=tz, policy=policy, now=now
    )
    held = _held_jobs(
        [
            o
            for o in await _held_near(uow, day, tz=tz, nights=reach)
            if o.order_id != order.order_id
        ],
        policy,
    )
    minutes = policy.job_minutes(order.product_line, order.service_type)
    best: tuple[int, Technician, date] | None = None
    for tech in technicians:
        found = keeping(
            technician=tech,
            held=held.get(tech.technician_id, []),
            location=order.location,
            window=window,
            minutes=minutes,
            policy=policy,
            travel=travel,
            tz=tz,
            now=now,
            overtime=overtime,
        )
        if found is not None and (best is None or found[1] < best[0]):
            best = (found[1], tech, found[0])
    if best is not None:
        return best[1], [], _recorded(order, best[1], window, best[2], policy=policy, tz=tz)
    reasons = [
        reason
        for tech in technicians[:MAX_REASONS]
        for reason in why_not_kept(
            technician=tech,
            held=held.get(tech.technician_id, []),
            location=order.location,
            window=window,
            minutes=minutes,
            policy=policy,
            travel=travel,
            tz=tz,
            now=now,
            overtime=overtime,
        )
    ]
    return None, reasons, None


async def _kept_on(
    order: DispatchOrder,
    technician: Technician | None,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    planned: bool = False,
) -> date | None:
    """SCH-1 / SCH-3: the day of ``technician``'s shift keeping the order's appointment, by the
    keeping check of a booking (:func:`keeping`, beside the other jobs they hold and the travel
    between them), for an appointment given or kept without a booking (a dispatcher's
    assignment, a visit kept by the technician on site), to record (:func:`_recorded`); None
    (the first shift it fits inside alone, ``held_day``) when that one keeps it, when it fits
    none of them, or with no technician, time or place.
    ``planned``: judged as planned, from home at the shift's start, not from where they are
    ``now`` (the technician is already on site, the window may be under way)."""
    if technician is None or order.appointment is None:
        return None
    found = await _keeping_day(
        order, technician, uow=uow, now=now, policy=policy, travel=travel, tz=tz, planned=planned
    )
    return _recorded(order, technician, order.appointment, found, policy=policy, tz=tz)


async def _keeping_day(
    order: DispatchOrder,
    technician: Technician,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    planned: bool,
) -> date | None:
    """:func:`_kept_on`'s keeping check: the day of the shift keeping the appointment, whether
    or not the first one; None when none keeps it (or with no time or place)."""
    window = order.appointment
    if window is None or order.location is None:
        return None
    day = service_day(window, tz=tz, now=now)
    reach = _works_nights([technician]) or _reaches_next_day(
        window, day, [technician], tz=tz, policy=policy, now=now
    )
    held = _held_jobs(
        [
            o
            for o in await _held_near(uow, day, tz=tz, nights=reach)
            if o.order_id != order.order_id
        ],
        policy,
    )
    found = keeping(
        technician=technician,
        held=held.get(technician.technician_id, []),
        location=order.location,
        window=window,
        minutes=policy.job_minutes(order.product_line, order.service_type),
        policy=policy,
        travel=travel,
        tz=tz,
        now=None if planned else now,
    )
    return None if found is None else found[0]


async def _kept_again(
    order: DispatchOrder,
    technician: Technician | None,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> bool:
    """SCH-1 / SCH-3: the day recorded as keeping a held job checked again after what it was
    judged by changed (the holder's shifts or days off, the job's address, another of their
    jobs gone): the keeping check run again (:func:`_kept_on`; as planned, from home at the
    shift's start, once the holder is on site). Cleared when it is the first shift the job
    fits inside alone, or when the shift recorded no longer overlaps the window (a shift moved,
    a day off): its day is then worked out afresh from the shifts (``held_day``). When nothing
    keeps it as judged now but the shift recorded still overlaps it (the window under way and
    the technician not there yet, a time agreed on the contact call with overtime, SCH-5), the
    job stays on that day: the first shift is still the one ruled out.
    The stored plans of the day it left and the day it joined are left dirty, to be re-planned
    (SCH-9). Returns whether it changed; the caller saves the order."""
    window = order.appointment
    if technician is None or window is None:
        changed = order.kept_on is not None
        order.kept_on = None
        return changed
    before = order.kept_on
    found = await _keeping_day(
        order,
        technician,
        uow=uow,
        now=now,
        policy=policy,
        travel=travel,
        tz=tz,
        planned=order.arrived_at is not None,
    )
    if found is None and before in shift_days(technician, window, tz=tz, policy=policy):
        found = before
    kept_on = _recorded(order, technician, window, found, policy=policy, tz=tz)
    if kept_on == before:
        return False
    minutes = policy.job_minutes(order.product_line, order.service_type)
    first = held_day(technician, window, minutes=minutes, tz=tz, policy=policy)
    await uow.plans.mark_dirty({before or first, kept_on or first})
    order.kept_on = kept_on
    return True


async def _kept_again_beside(
    released: DispatchOrder,
    span: tuple[str, date, date] | None,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> None:
    """SCH-1 / SCH-3: a job of a technician's left them (cancelled, returned, done, given to
    someone else; ``span``, :func:`_released_span`): their jobs kept on a later shift of the
    day it counted on or the next, which it may have pushed there, are checked again
    (:func:`_kept_again`). Only those with a recorded day: the others are worked out afresh
    anyway. Called once ``released`` is saved. Locked skipping those another transaction
    holds: this one holds ``released`` already, and waiting for another order here could cross
    a wait for it (a roster edit locks the holder's orders in id order)."""
    if span is None:
        return
    holder_id, first, last = span
    others = [
        o
        for o in await uow.orders.kept_between(holder_id, first=first, last=last)
        if o.order_id != released.order_id
    ]
    if not others:
        return
    holder = await uow.technicians.get(holder_id)
    for other in others:
        if await _kept_again(other, holder, uow=uow, now=now, policy=policy, travel=travel, tz=tz):
            await uow.orders.save(other)


def _released_span(order: DispatchOrder, *, tz: ZoneInfo) -> tuple[str, date, date] | None:
    """Before ``order`` may leave its technician: who holds it and the days whose recorded
    jobs it may have pushed (:func:`_kept_again_beside`): its recorded day and the next, else
    those around the day its window opens (the shift keeping it started that day or the one
    before), read without the holder's shifts; None when no technician holds it at a time."""
    if not order.held or order.technician_id is None or order.appointment is None:
        return None
    if order.kept_on is not None:
        return order.technician_id, order.kept_on, order.kept_on + timedelta(days=1)
    opens = order.appointment.start.astimezone(tz).date()
    return order.technician_id, opens - timedelta(days=1), opens + timedelta(days=1)


def _recorded(
    order: DispatchOrder,
    technician: Technician,
    window: TimeWindow,
    day: date | None,
    *,
    policy: SchedulingPolicy,
    tz: ZoneInfo,
) -> date | None:
    """SCH-1 / SCH-3: the day to record on ``order`` as kept on by ``technician`` for
    ``window`` (:func:`recorded_day`): ``day`` only when not the first shift it fits inside
    alone, which is worked out afresh from their shifts as they change."""
    minutes = policy.job_minutes(order.product_line, order.service_type)
    return recorded_day(technician, window, day, minutes=minutes, tz=tz, policy=policy)


async def _refuse_window(
    order: DispatchOrder,
    detail: str,
    reasons: list[str],
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    among: Collection[str] | None = None,
) -> SlotUnavailable:
    """SCH-3: the 409 of a window that cannot be kept: why, and the windows that can (of the
    technicians in ``among``; for a held order its technician's)."""
    alternatives = (
        await _slots(
            order,
            uow=uow,
            now=now,
            policy=policy,
            travel=travel,
            tz=tz,
            days=policy.slot_days_ahead,
            among=among,
        )
        if order.location is not None
        else []
    )
    return SlotUnavailable(
        detail,
        [
            {
                "start": s.window.start.isoformat(),
                "end": s.window.end.isoformat(),
                "technician_id": s.technician_id,
            }
            for s in alternatives[:10]
        ],
        reasons,
    )


#: At most this many technicians' reasons are listed when a window is refused.
MAX_REASONS = 10


async def _assign_emergency(
    order: DispatchOrder,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    technicians: list[Technician],
) -> None:
    """INT-7 / SCH-9: someone on site within the emergency time; into a live plan by cheapest
    feasible insertion when there is one (today's, or yesterday's while a night shift of it
    runs past midnight: the cheaper), else whoever can be on site soonest."""
    assert order.location is not None
    window = TimeWindow(start=now, end=now + timedelta(minutes=policy.emergency_response_minutes))
    today = now.astimezone(tz).date()
    yesterday = running_from(today)
    # SCH-3: the plan of yesterday holds its night shifts, some maybe still running now
    night_running = any(
        t.overnight and t.works_on(yesterday) and t.shift(yesterday, tz).end > now
        for t in technicians
    )
    best: _PlanInsertion | None = None
    for day in (yesterday, today) if night_running else (today,):
        plan_row = await uow.plans.get(day, for_update=True)
        if plan_row is None:
            continue
        inserted = await _insert_into_plan(
            order,
            window=window,
            day=day,
            plan_row=plan_row,
            uow=uow,
            now=now,
            policy=policy,
            travel=travel,
            tz=tz,
            technicians=technicians,
        )
        if inserted is not None and (best is None or inserted.added_metres < best.added_metres):
            best = inserted
    if best is not None:
        await best.save()
        order.assign(
            technician=best.technician,
            by=AUTO,
            reason="emergency: cheapest feasible insertion into today's plan"
            if best.day == today
            else f"emergency: cheapest feasible insertion into the plan of {best.day}, whose "
            "night shift is under way",
            now=now,
            appointment=window,
            # SCH-1 / SCH-3: the plan it was inserted into keeps it on that day's shift
            kept_on=_recorded(order, best.technician, window, best.day, policy=policy, tz=tz),
        )
        # SCH-4: the departure the insertion planned (assign clears the previous one)
        order.planned_departure = best.departure
        return
    # INT-7: whoever can be on site soonest, on shift now (from where they are) or starting
    # soon (at night, on a day off: from home when their shift starts), placed at once rather
    # than left unplaced until someone is on shift; the dispatcher sees who goes and when
    choice = soonest_on_site(
        technicians=technicians,
        product_line=order.product_line,
        location=order.location,
        now=now,
        tz=tz,
        travel=travel,
        # INT-7: from yesterday, whose night shift may be the one on now
        days=[yesterday + timedelta(days=d) for d in range(policy.booking_horizon_days + 2)],
        stale_after=timedelta(minutes=policy.position_stale_after_minutes),
    )
    if choice is None:
        return
    minutes = choice.travel_seconds // 60
    on_site = f"on site soonest, about {choice.on_site.astimezone(tz):%H:%M}"
    if choice.sets_off <= now:
        reason = f"emergency: nearest technician on shift, {minutes} min away: {on_site}"
        appointment = window
    else:
        reason = (
            f"emergency: nobody on shift now can be there sooner; first on shift at "
            f"{choice.sets_off.astimezone(tz):%Y-%m-%d %H:%M}, {minutes} min away: {on_site}"
        )
        appointment = TimeWindow(
            start=choice.sets_off,
            end=choice.sets_off + timedelta(minutes=policy.emergency_response_minutes),
        )
    order.assign(
        technician=choice.technician, by=AUTO, reason=reason, now=now, appointment=appointment
    )


@dataclass(frozen=True)
class _PlanInsertion:
    """Where an emergency fits into the plan of ``day`` (SCH-9), and how to record it there."""

    day: date
    technician: Technician
    departure: datetime
    added_metres: int
    save: Callable[[], Awaitable[None]]


async def _insert_into_plan(
    order: DispatchOrder,
    *,
    window: TimeWindow,
    day: date,
    plan_row: object,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    technicians: list[Technician],
) -> _PlanInsertion | None:
    """SCH-3 / SCH-9: the cheapest feasible place for the emergency in the routes of the plan of
    ``day`` (today's, or yesterday's whose night shift runs on now), keeping every job held for
    that day now (booked or given after the plan was made too), each with its current holder in
    the plan's order (then by appointment); a technician on site starts from there once the
    job's expected time is over, one not on shift yet when their shift starts. None when it
    fits nowhere; else the technician, the planned departure and the plan's record of it."""
    visits = list(getattr(plan_row, "visits", []))
    sequence = {str(v["order_id"]): float(str(v["sequence"])) for v in visits}
    holders = {t.technician_id: t for t in technicians}
    near = [
        o
        for o in await _held_near(uow, day, tz=tz, nights=_works_nights(technicians))
        if o.order_id != order.order_id
        and o.technician_id is not None
        and o.location is not None
        and o.appointment is not None
    ]
    todays = [o for o in near if _day_of(o, holders, tz=tz, policy=policy) == day]
    techs = [
        t
        for t in technicians
        if t.works_on(day) and not t.why_not(product_line=order.product_line, area=None)
    ]
    if not techs or order.location is None:
        return None
    plan_techs, plan_jobs = [], []
    ready: dict[str, datetime] = {}
    for t in techs:
        shift = t.shift(day, tz)
        # SCH-3: a job of the day before still running when the shift starts (round the
        # clock) holds them, without counting among the day's jobs (SCH-1)
        crossing = _running_into(near, t, day, tz=tz, policy=policy)
        mine = [o for o in todays if o.technician_id == t.technician_id] + crossing
        on_site = [o for o in mine if o.arrived_at is not None]
        start_at = t.where(now, stale_after=timedelta(minutes=policy.position_stale_after_minutes))
        # SCH-3: free to go now when on shift, else not before the shift starts
        ready[t.technician_id] = max(now, shift.start)
        if on_site:
            # SCH-9: busy on site until the job's expected time is over
            here = max(on_site, key=lambda o: o.arrived_at or now)
            assert here.arrived_at is not None and here.location is not None
            start_at = here.location
            ready[t.technician_id] = max(
                now,
                here.arrived_at
                + timedelta(minutes=policy.job_minutes(here.product_line, here.service_type)),
            )
        plan_techs.append(
            PlanTechnician(
                technician_id=t.technician_id,
                start_at=start_at,
                end_at=t.home,
                shift_start=shift.start,
                shift_end=shift.end,
                skills=None,
                capacity=t.daily_capacity + len(crossing),
            )
        )
        ahead = sorted(
            (
                o
                for o in mine
                if o.arrived_at is None and o.appointment is not None and o.appointment.end >= now
            ),
            key=lambda o: (
                sequence.get(o.order_id, float("inf")),
                o.appointment.start if o.appointment else now,
                o.order_id,
            ),
        )
        for held in ahead:
            assert held.appointment is not None and held.location is not None
            plan_jobs.append(
                (
                    t.technician_id,
                    PlanJob(
                        job_id=held.order_id,
                        location=held.location,
                        window_start=held.appointment.start,
                        window_end=held.appointment.end,
                        minutes=policy.job_minutes(held.product_line, held.service_type),
                        skill=None,
                    ),
                )
            )
    new = PlanJob(
        job_id=order.order_id,
        location=order.location,
        window_start=window.start,
        window_end=window.end,
        minutes=policy.job_minutes(order.product_line, order.service_type),
        skill=None,
    )
    origin = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    day_problem = build_day_problem(
        technicians=plan_techs,
        jobs=[j for _, j in plan_jobs] + [new],
        policy=policy,
        travel=travel,
        origin=origin,
        not_before=now,
    )
    job_by_key = {j.key: j for j in day_problem.problem.jobs}
    routes = []
    for vehicle in day_problem.problem.vehicles:
        routes.append(
            LiveRoute(
                vehicle=vehicle,
                jobs=[job_by_key[j.job_id] for k, j in plan_jobs if k == vehicle.key],
                ready=day_problem.seconds(ready[vehicle.key]),
            )
        )
    urgent = job_by_key[order.order_id]
    found = cheapest_insertion(
        routes,
        urgent,
        durations=day_problem.problem.durations,
        distances=day_problem.problem.distances,
    )
    if found is None:
        return None
    chosen = techs[found.route]

    async def save() -> None:
        await uow.plans.save(
            day,
            visits=[
                *visits,
                {
                    "order_id": order.order_id,
                    "technician_id": chosen.technician_id,
                    "sequence": found.position - 0.5,
                    "depart": day_problem.at(found.depart).isoformat(),
                    "arrive": day_problem.at(found.start).isoformat(),
                },
            ],
            unassigned=list(getattr(plan_row, "unassigned", [])),
            unassigned_reasons=dict(getattr(plan_row, "unassigned_reasons", {})),
            now=now,
            dirty=True,
        )

    return _PlanInsertion(
        day=day,
        technician=chosen,
        departure=day_problem.at(found.depart),
        added_metres=found.added_distance,
        save=save,
    )


# -- events of other services ---------------------------------------------------------------


def _verification_not_dispatched(
    order: DispatchOrder, payload: OrderVerified, *, event_type: str
) -> bool:
    """BIL-11: whether a verification that would send someone out is not acted upon, the
    order's personal data being erased (see :func:`_not_dispatched`): one that escalates the
    order to an emergency (INT-7), or releases an order waiting for it or still to place."""
    if payload.escalated_to_emergency:
        return _not_dispatched(
            order, request="emergency placement once verified", event_type=event_type
        )
    if order.status is DispatchStatus.AWAITING_VERIFICATION or order.dispatchable:
        return _not_dispatched(order, request="placement once verified", event_type=event_type)
    return False


def _escalate(order: DispatchOrder, *, by: str, now: datetime, policy: SchedulingPolicy) -> bool:
    """INT-7: make ``order`` an emergency (a later report, or the fault corrected at
    verification), with the policy's targets (:meth:`DispatchOrder.escalate_to_emergency`:
    a visit held for later goes back to the centre, a network still to answer is told sooner);
    whether it is to be placed now."""
    return order.escalate_to_emergency(
        by=by,
        now=now,
        emergency_minutes=policy.emergency_response_minutes,
        network_accept_minutes=policy.network_accept_minutes,
    )


async def _warn_if_held_without_the_skill(
    order: DispatchOrder, *, by: str, now: datetime, uow: SchedulingUnitOfWork
) -> None:
    """SCH-1 / SCH-12: a product line corrected at verification may be outside the skills of
    the technician already holding the order, or of the lines its network serves. The
    assignment stands, whatever its stage (only a dispatcher reassigns): the mismatch is
    audited on the order (:meth:`DispatchOrder.held_without_the_skill`) and logged as a
    warning, for a dispatcher to act on."""
    if not order.held:
        return
    lacking = order.held_without_the_skill(
        technician=(
            None if order.technician_id is None else await uow.technicians.get(order.technician_id)
        ),
        network=None if order.network_id is None else await uow.networks.get(order.network_id),
        by=by,
        now=now,
    )
    if lacking:
        log.warning(
            HELD_WITHOUT_THE_SKILL,
            order_id=order.order_id,
            technician_id=lacking.get("technician_id"),
            network_id=lacking.get("network_id"),
            product_line=order.product_line,
            detail="the product line corrected at verification is outside the holder's skills: "
            "a dispatcher decides whether to reassign (SCH-1, SCH-12)",
        )


async def handle_event(
    envelope: EventEnvelope,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    calendar: WorkingTime,
) -> None:
    """Apply an event of another service, once (inbox in the same transaction)."""
    if envelope.event_name in NETWORK_EVENTS:
        await tell_network(envelope, uow=uow)
        return
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        if envelope.event_name not in EVENTS_OF_INTEREST:
            held = await uow.orders.get(envelope.subject)
            if held is not None and held.network_id:
                # Read again under the order's lock: a move away from the network committed
                # meanwhile must not send it the order's contact details.
                held = await uow.orders.get(envelope.subject, for_update=True)
            if held is not None:
                named = await _networks_named(envelope, uow=uow)
                also_holder = named is None or envelope.event_name in ALSO_TO_HOLDER
                await _tell_networks(
                    envelope,
                    uow=uow,
                    order=held,
                    concerned=(named or set()) | ({held.network_id} if also_holder else set()),
                )
            await uow.commit()
            return
        payload = parse_data(envelope)
        now = clock()
        if isinstance(payload, OrderCreated):
            if await uow.orders.get(payload.order_id) is None:
                address = payload.customer.address
                order = uow.track(
                    DispatchOrder.from_intake(
                        order_id=payload.order_id,
                        received_at=envelope.time,
                        product_line=payload.product.line,
                        emergency=payload.emergency,
                        needs_verification=payload.needs_verification,
                        loaner_required=payload.loaner_required,
                        location=address.location,
                        area=address.district or address.city,
                        preferred_windows=payload.preferred_windows,
                        service_type=payload.service_type,
                    )
                )
                await _auto_assign(
                    order, uow=uow, now=now, policy=policy, travel=travel, tz=tz, calendar=calendar
                )
                # inserted without reading it again: only its OrderCreated creates an order,
                # and that event's deliveries take turns on the inbox claim; a second one
                # would clash on the key rather than overwrite the order
                await uow.orders.save(order, new=True)
            await uow.commit()
            return
        order_or_none = await uow.orders.get(envelope.subject, for_update=True)
        if order_or_none is None:
            log.warning("scheduling.event_before_order", type=envelope.type)
            await uow.commit()
            return
        order = uow.track(order_or_none)
        network_before = order.network_id
        # SCH-1 / SCH-3: whose job it is, on which day, before the event (it may leave them)
        released = _released_span(order, tz=tz)
        earlier_visit = isinstance(payload, VISIT_EVENTS) and payload.visit_id != order.visit_id
        # BIL-11: a request for field work on an erased order is not acted upon; nor is it
        # passed on to a partner network, which must not send anyone out for it either
        refused = False
        if isinstance(payload, TechnicianArrived):
            # SCH-10: an arrival at a visit superseded meanwhile (a postponement, or a chain of
            # them, that crossed it) may bring that visit back; any other earlier visit's
            # arrival changes nothing
            holder_before = (order.visit_id, order.technician_id)
            order.arrived(
                at=payload.arrived_at,
                policy=policy,
                technician=await _arrived_technician(
                    uow, order, payload.technician_id, visit_id=payload.visit_id
                ),
                visit_id=payload.visit_id,
                now=now,
            )
            if (order.visit_id, order.technician_id) != holder_before and order.technician_id:
                # SCH-3 / SCH-10: the visit kept by the technician on site (a superseded one
                # back, or one moved meanwhile) counts on the day of their shift keeping it,
                # as planned: they are there already
                order.kept_on = await _kept_on(
                    order,
                    await uow.technicians.get(order.technician_id),
                    uow=uow,
                    now=now,
                    policy=policy,
                    travel=travel,
                    tz=tz,
                    planned=True,
                )
            if payload.visit_id != order.visit_id:
                log.info(
                    "scheduling.event_of_an_earlier_visit",
                    type=envelope.type,
                    order_id=order.order_id,
                    visit_id=payload.visit_id,
                    current_visit_id=order.visit_id,
                )
        elif isinstance(payload, VISIT_EVENTS) and payload.visit_id != order.visit_id:
            # An earlier visit's report (a late delivery, an app offline meanwhile) must not
            # move, end or rebook the visit that followed it.
            log.info(
                "scheduling.event_of_an_earlier_visit",
                type=envelope.type,
                order_id=order.order_id,
                visit_id=payload.visit_id,
                current_visit_id=order.visit_id,
            )
        elif isinstance(payload, OrderVerified):
            if _verification_not_dispatched(order, payload, event_type=envelope.type):
                refused = True
            else:
                if payload.customer is not None and payload.customer.address.location is not None:
                    order.location = payload.customer.address.location
                if payload.product is not None:
                    # SCH-1: the corrected product decides whose skill a placement needs
                    order.product_line = payload.product.line
                if payload.loaner_required is not None:
                    order.loaner_required = payload.loaner_required  # INT-6
                order.verified(override=payload.dispatch_override)
                if payload.escalated_to_emergency and order.status is DispatchStatus.VISIT_DONE:
                    # intake verifies only before the visit, so it had not heard of this one:
                    # the fault corrected is the one the technician saw to (no revisit, unlike
                    # a later emergency report, DuplicateLinked)
                    log.info(VERIFIED_AFTER_THE_VISIT, order_id=order.order_id)
                    order.emergency_found_after_the_visit(
                        by=payload.verified_by or "intake", now=now
                    )
                elif payload.escalated_to_emergency:
                    # INT-7: the verified fault is an emergency; the placement below takes the
                    # emergency path (nearest technician, no appointment negotiated)
                    _escalate(order, by=payload.verified_by or "intake", now=now, policy=policy)
                await _auto_assign(
                    order, uow=uow, now=now, policy=policy, travel=travel, tz=tz, calendar=calendar
                )
                if payload.product is not None:
                    await _warn_if_held_without_the_skill(
                        order, by=payload.verified_by or "intake", now=now, uow=uow
                    )
        elif isinstance(payload, DuplicateLinked):
            if payload.escalated_to_emergency and _not_dispatched(
                order, request="emergency placement", event_type=envelope.type
            ):
                refused = True
            elif payload.escalated_to_emergency and _escalate(
                order, by=payload.linked_by or "intake", now=now, policy=policy
            ):
                await _auto_assign(
                    order, uow=uow, now=now, policy=policy, travel=travel, tz=tz, calendar=calendar
                )
        elif isinstance(payload, OrderCancelled):
            order.cancelled()
        elif isinstance(payload, OrderResolvedRemotely):
            order.resolved_remotely()
        elif isinstance(payload, OrderReopened):
            if (
                payload.visit_needed
                and order.status is not DispatchStatus.CANCELLED
                and _not_dispatched(
                    order, request="visit after phone guidance", event_type=envelope.type
                )
            ):
                refused = True
            elif payload.visit_needed and order.status is not DispatchStatus.CANCELLED:
                order.guidance_failed()
                order.book_revisit(
                    reason=RevisitReason.OTHER,
                    by=payload.reopened_by or "intake",
                    now=now,
                    detail=payload.reason,
                    keep_technician=False,
                )
                await _auto_assign(
                    order, uow=uow, now=now, policy=policy, travel=travel, tz=tz, calendar=calendar
                )
        elif isinstance(payload, TechnicianDeparted):
            if order.departed(now=now, technician_id=payload.technician_id):
                order.predict_arrival(arrival=payload.eta, now=now, policy=policy, cause="departed")
        elif isinstance(payload, RepairCompleted | InstallationCompleted):
            order.visit_ended()
        elif isinstance(payload, VisitClosed):
            # A visit can also end declined (FLD-4), taken back (FLD-6) or aborted (FLD-14);
            # unfinished and not-home visits are handled by RepairFailed / CustomerNotHome, which
            # book the next visit.
            if payload.outcome in VISIT_END_OUTCOMES:
                order.visit_ended()
        elif isinstance(payload, RepairFailed):
            order.visit_ended()
            # BIL-11: the visit is over, as reported; an erased order gets no next one, nor a
            # cancelled one (SCH-12)
            if not _not_dispatched(
                order, request="next visit", event_type=envelope.type
            ) and not _closed(order, request="next visit", event_type=envelope.type):
                reason = REVISIT_REASONS.get(payload.reason, RevisitReason.OTHER)
                order.book_revisit(
                    reason=reason,
                    by=payload.technician_id,
                    now=now,
                    detail=payload.detail,
                    keep_technician=True,
                )
        elif isinstance(payload, CustomerNotHome):
            if order.held:
                order.return_to_centre(
                    reason=ReturnReason.CUSTOMER_NOT_HOME,
                    by=payload.technician_id,
                    now=now,
                    visit_over=True,
                )
            order.visit_ended()  # at the door: the next visit follows one that ended
            # BIL-11: the visit is over, as reported; an erased order gets no next one, nor a
            # cancelled one (SCH-12)
            if not _not_dispatched(
                order, request="next visit", event_type=envelope.type
            ) and not _closed(order, request="next visit", event_type=envelope.type):
                order.book_revisit(
                    reason=RevisitReason.CUSTOMER_NOT_HOME,
                    by=payload.technician_id,
                    now=now,
                    keep_technician=False,
                )
        elif isinstance(payload, RevisitRequested):
            # FBK-7, and INT-4 when the call-back after phone guidance finds it not solved; a
            # later visit already booked answers a call-back about an earlier one
            if _not_dispatched(order, request="revisit", event_type=envelope.type):
                refused = True
            elif order.revisit_requested(
                about_visit_id=payload.previous_visit_id,
                by=payload.requested_by or "feedback",
                now=now,
                reason=payload.reason,
            ):
                await _auto_assign(
                    order, uow=uow, now=now, policy=policy, travel=travel, tz=tz, calendar=calendar
                )
        elif isinstance(payload, OrderRetentionExpired):
            # BIL-11: gone from every copy of the order scheduling keeps, in this transaction
            order.anonymise(by="billing", now=now, retention_class=payload.retention_class)
            await uow.orders.erase_audit(order.order_id)
            await uow.partner_messages.erase_personal_data(order.order_id)
        # issue 5: the network serving the order (or the one that just lost it) hears of it,
        # without personal data once it is erased (BIL-11); an earlier visit's report goes to the
        # network of the technician it names, not to the network holding the order now
        # A request for field work on an erased order, not acted upon, goes to no network
        # (BIL-11): it would ask a network to send someone out to a customer nobody can name.
        if not refused:
            named = await _networks_named(envelope, uow=uow)
            concerned = set(named or ())
            if named is None or not earlier_visit:
                concerned |= {order.network_id, network_before}
            await _tell_networks(envelope, uow=uow, order=order, concerned=concerned)
        await uow.orders.save(order)
        if released is not None and not (order.held and order.technician_id == released[0]):
            # the job left its technician (cancelled, done, returned, placed elsewhere): theirs
            # it pushed onto a later shift may come back (SCH-1, SCH-3)
            await _kept_again_beside(
                order, released, uow=uow, now=now, policy=policy, travel=travel, tz=tz
            )
        await uow.commit()


async def _networks_named(
    envelope: EventEnvelope, *, uow: SchedulingUnitOfWork
) -> set[str | None] | None:
    """The networks an event of another service is about, or None when it names nobody.

    An event that names a network (``network_id``) or a technician (``technician_id``: that
    technician's network in scheduling's records) judges or reports that network's work: a
    complaint (FBK-9), a fraud suspicion (FBK-8), a call-back (FBK-4, FBK-5), damage to
    compensate (FLD-13, BIL-12), a visit's report. It goes to that network, even when another one
    holds the order now (a revisit moved there, SCH-12): the network at fault must hear of it,
    and the new holder must not read allegations and scores of another network's staff. The
    event's own ``network_id`` wins over the technician's current record (feedback records the
    network that did the work; a technician may have moved since). A technician of the centre,
    or one scheduling does not know, makes the event no network's (``{None}``): it is never
    guessed onto the holder. A call-back's result (FollowUpCompleted) goes by the technician it
    names, whoever the stored messages went to; one naming nobody (published before it named the
    technician, or rating none) follows its scheduling: it goes to the networks that were sent
    the FollowUpScheduled of the same task, and to no network when none was (or that message was
    purged after ``message_retention_days``). A result re-credited to another technician
    (FollowUpRecredited, FBK-11) goes to the networks of both: the new technician's puts it on
    their figures, the previous one's takes it off (for a previous result that named nobody, the
    networks it went to); a technician of the centre adds no network.

    Both networks hear of an event only where both must act on it: a report of the current
    visit, which changes the holder's order (the holder and one that just lost the order hear
    of it as before), and a safety incident (:data:`ALSO_TO_HOLDER`), whose danger awaits
    whoever goes to the customer next. An earlier visit's report, a complaint, a fraud flag or
    a call-back changes nothing the holder does and goes to the named network alone.
    """
    data = envelope.data
    if data.get("network_id"):
        return {str(data["network_id"])}
    if envelope.event_name == FollowUpRecredited.event_type:
        now_credited = await _network_of(envelope, data.get("technician_id"), uow=uow)
        previous = data.get("previous_technician_id")
        if previous:
            before = {await _network_of(envelope, previous, uow=uow)}
        else:
            before = await _told_of_call_back(
                envelope, FollowUpCompleted.cloudevents_type(), uow=uow
            )
        return ({now_credited} | before) - {None} or {None}
    technician_id = data.get("technician_id")
    if technician_id:
        return {await _network_of(envelope, technician_id, uow=uow)}
    if envelope.event_name == FollowUpCompleted.event_type and data.get("task_id"):
        told = await _told_of_call_back(envelope, FollowUpScheduled.cloudevents_type(), uow=uow)
        return told or {None}
    return None


async def _network_of(
    envelope: EventEnvelope, technician_id: Any, *, uow: SchedulingUnitOfWork
) -> str | None:
    """The network of the technician an event names; None for one of the centre, for one
    scheduling does not know (logged) and when it names none."""
    if not technician_id:
        return None
    technician = await uow.technicians.get(str(technician_id))
    if technician is None:
        log.warning(
            "scheduling.event_names_an_unknown_technician",
            type=envelope.type,
            technician_id=technician_id,
        )
    return technician.network_id if technician else None


async def _told_of_call_back(
    envelope: EventEnvelope, event_type: str, *, uow: SchedulingUnitOfWork
) -> set[str | None]:
    """The networks that were sent the ``event_type`` event of the call-back task ``envelope``
    names (none when it names no task, or those messages were purged)."""
    task_id = envelope.data.get("task_id")
    if not task_id:
        return set()
    told = await uow.networks_told(
        subject=envelope.subject, event_type=event_type, data={"task_id": task_id}
    )
    return set(told)


async def _tell_networks(
    envelope: EventEnvelope,
    *,
    uow: SchedulingUnitOfWork,
    order: DispatchOrder,
    concerned: set[str | None],
) -> None:
    """Stage ``envelope`` for the ``concerned`` networks: the one holding the order with its
    contact details, any other without them (issue 5); without personal data at all once the
    order's retention is over (BIL-11). A call-back result re-credited between technicians of
    two networks (FollowUpRecredited) names to each network its own technician only, as an
    OrderWithdrawn never says who took the order."""
    if envelope.event_name == FollowUpRecredited.event_type:
        for network_id in concerned - {None}:
            await uow.notify_networks(
                await _naming_own_technicians(envelope, network_id, uow=uow),
                holders=[network_id] if network_id == order.network_id else [],
                former=[] if network_id == order.network_id else [network_id],
                erased=order.anonymised_at is not None,
            )
        return
    await uow.notify_networks(
        envelope,
        holders=[n for n in concerned if n is not None and n == order.network_id],
        former=[n for n in concerned if n != order.network_id],
        erased=order.anonymised_at is not None,
    )


async def _naming_own_technicians(
    envelope: EventEnvelope, network_id: str | None, *, uow: SchedulingUnitOfWork
) -> EventEnvelope:
    """``envelope`` with each technician it names who is not ``network_id``'s left out (null)."""
    data = dict(envelope.data)
    for field in ("technician_id", "previous_technician_id"):
        if data.get(field) and await _network_of(envelope, data[field], uow=uow) != network_id:
            data[field] = None
    return envelope.model_copy(update={"data": data})


#: Events of other services about a partner network itself, not about an order: their subject
#: is the network's id, and they go to that network's webhook endpoints only (BIL-12).
NETWORK_EVENTS = frozenset({RateCardVersionPublished.event_type})


async def tell_network(envelope: EventEnvelope, *, uow: SchedulingUnitOfWork) -> None:
    """Send a partner network an event about itself, once (inbox): a new version of its rate
    card goes to the endpoints of the network the card pays, never to another network's
    (BIL-12). Dispatch itself does not change."""
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        payload = parse_data(envelope)
        if isinstance(payload, RateCardVersionPublished):
            await uow.notify_network(envelope, network_id=payload.network_id)
        await uow.commit()


REVISIT_REASONS = {
    RepairFailureReason.MISSING_PART: RevisitReason.MISSING_PART,
    RepairFailureReason.NEEDS_SECOND_VISIT: RevisitReason.WORK_UNFINISHED,
}

#: Events of other services that change the dispatch queue (FLOW.md), or what dispatch may keep
#: of an order (BIL-11).
EVENTS_OF_INTEREST = frozenset(
    {
        "OrderCreated",
        "OrderVerified",
        "DuplicateLinked",
        "OrderCancelled",
        "OrderResolvedRemotely",
        "OrderReopened",
        "TechnicianDeparted",
        "TechnicianArrived",
        "RepairCompleted",
        "InstallationCompleted",
        "RepairFailed",
        "CustomerNotHome",
        "RevisitRequested",
        "VisitClosed",
        "OrderRetentionExpired",
    }
)

#: Events naming another network's technician that the network holding the order hears of too:
#: a danger at the customer's home, or a customer who detained or abused a technician, concerns
#: whoever goes there next (FLD-14); other named events judge the named network's staff only.
ALSO_TO_HOLDER = frozenset({"SafetyIncident"})

#: Fieldwork's reports of one visit: only the current visit's change the order.
VISIT_EVENTS = (
    TechnicianDeparted,
    TechnicianArrived,
    RepairCompleted,
    InstallationCompleted,
    RepairFailed,
    CustomerNotHome,
    VisitClosed,
)

#: How a visit may end that leaves nothing for dispatch to do (the visit is over).
VISIT_END_OUTCOMES = frozenset(
    {
        VisitOutcome.COMPLETED,
        VisitOutcome.DECLINED,
        VisitOutcome.TAKEN_BACK,
        VisitOutcome.ABORTED,
    }
)


# -- commands ---------------------------------------------------------------------------------


async def save_technician(
    cmd: commands.SaveTechnician,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> Technician:
    """Register or replace a technician. Replaced, the day recorded as keeping each job they
    hold on a later shift (SCH-1, SCH-3) is checked again against their shifts as they now
    stand (:func:`_kept_again`): a shift moved or a day off added never leaves a job on a day
    whose shift no longer keeps it."""
    async with uow:
        # locked: the position kept below must not be overwritten by a report meanwhile
        existing = await uow.technicians.get(cmd.technician.technician_id, for_update=True)
        if cmd.create and existing is not None:
            raise AlreadyExists(f"Technician {cmd.technician.technician_id} exists already.")
        if not cmd.create and existing is None:
            raise TechnicianNotFound(cmd.technician.technician_id)
        tech = cmd.technician
        if existing is not None:
            tech.position, tech.position_at = existing.position, existing.position_at
        await uow.technicians.save(tech, new=existing is None)
        if existing is not None:
            # locked after the technician, as a position report locks them
            for order in await uow.orders.held(tech.technician_id, for_update=True):
                if order.kept_on is not None and await _kept_again(
                    order, tech, uow=uow, now=clock(), policy=policy, travel=travel, tz=tz
                ):
                    await uow.orders.save(order)
        await uow.commit()
        return tech


async def save_network(cmd: commands.SaveNetwork, *, uow: SchedulingUnitOfWork) -> Network:
    """Register or replace a partner network."""
    async with uow:
        existing = await uow.networks.get(cmd.network.network_id)
        if cmd.create and existing is not None:
            raise AlreadyExists(f"Network {cmd.network.network_id} exists already.")
        if not cmd.create and existing is None:
            raise NetworkNotFound(cmd.network.network_id)
        await uow.networks.save(cmd.network, new=existing is None)
        await uow.commit()
        return cmd.network


async def assign_order(
    cmd: commands.AssignOrder,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    calendar: WorkingTime,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-8, SCH-12: a dispatcher (or a network's dispatcher, for its own orders and to its own
    technicians) gives or moves the visit; every change is audited with who and why. A network
    given the order answers by :meth:`DispatchOrder.network_answer_due` (SCH-1, INT-7). An
    appointment given to a technician counts on the day of their shift keeping it
    (:func:`_kept_on`, SCH-3)."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="assign", for_update=True)
        tech = await _technician(uow, cmd.technician_id) if cmd.technician_id else None
        network = None
        if cmd.network_id:
            network = await uow.networks.get(cmd.network_id)
            if network is None:
                raise NetworkNotFound(cmd.network_id)
        if not cmd.actor.is_dispatcher:
            own_network = cmd.actor.network_id
            if not (
                cmd.actor.role == "partner"
                and own_network is not None
                and order.network_id == own_network
                and tech is not None
                and tech.network_id == own_network
            ):
                raise NotYourOrder(
                    "Only a dispatcher assigns, reassigns or cancels (SCH-12); a network's "
                    "dispatcher only its own orders to its own technicians."
                )
        if tech is not None:
            reasons = tech.why_not(product_line=order.product_line, area=order.area)
            if reasons:
                raise CannotTake(
                    f"Technician {tech.technician_id} cannot take this order.", reasons
                )
        if network is not None and not network.can_take(
            product_line=order.product_line, area=order.area
        ):
            raise CannotTake(
                f"Network {network.network_id} cannot take this order.", ["skill/area"]
            )
        now = clock()
        released = _released_span(order, tz=tz)
        order.assign(
            technician=tech,
            network=network,
            by=cmd.actor.name,
            reason=cmd.reason,
            now=now,
            pinned=cmd.pinned,
            acceptance_due_at=order.network_answer_due(
                network=network, given_at=now, policy=policy, calendar=calendar
            )
            if network is not None
            else None,
            kept_on=await _kept_on(
                order, tech, uow=uow, now=now, policy=policy, travel=travel, tz=tz
            ),
        )
        await uow.orders.save(order)
        if released is not None and order.technician_id != released[0]:
            # SCH-1 / SCH-3: the job left its technician; theirs pushed by it may come back
            await _kept_again_beside(
                order, released, uow=uow, now=now, policy=policy, travel=travel, tz=tz
            )
        await uow.commit()
        return order


async def cancel_assignment(
    cmd: commands.CancelAssignment,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-12: only a dispatcher cancels an assignment; the order goes back to the queue. The
    technician's jobs kept on a later shift beside it are checked again (SCH-1, SCH-3)."""
    async with uow:
        order = await _order(
            uow, cmd.order_id, cmd.actor, action="cancel the assignment", for_update=True
        )
        if not cmd.actor.is_dispatcher:
            raise NotYourOrder("Only a dispatcher cancels an assignment (SCH-12).")
        now = clock()
        released = _released_span(order, tz=tz)
        order.return_to_centre(
            reason=ReturnReason.OTHER,
            by=cmd.actor.name,
            now=now,
            detail=f"assignment cancelled by the dispatcher: {cmd.reason}",
        )
        await uow.orders.save(order)
        await _kept_again_beside(
            order, released, uow=uow, now=now, policy=policy, travel=travel, tz=tz
        )
        await uow.commit()
        return order


async def return_order(
    cmd: commands.ReturnOrder,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-1 / SCH-3 / SCH-8: the holder hands the order back to the centre, not to a colleague;
    a technician's jobs kept on a later shift beside it are checked again."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="return", for_update=True)
        _check_actor_owns(order, cmd.actor)
        now = clock()
        released = _released_span(order, tz=tz)
        order.return_to_centre(reason=cmd.reason, by=cmd.actor.name, now=now, detail=cmd.detail)
        await uow.orders.save(order)
        await _kept_again_beside(
            order, released, uow=uow, now=now, policy=policy, travel=travel, tz=tz
        )
        await uow.commit()
        return order


async def accept_order(
    cmd: commands.AcceptOrder, *, uow: SchedulingUnitOfWork, clock: Clock
) -> DispatchOrder:
    """SCH-1: the network given the order accepts it (its dispatcher then names a technician)."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="accept", for_update=True)
        _check_actor_owns(order, cmd.actor)
        order.accept_by_network(by=cmd.actor.name, now=clock())
        await uow.orders.save(order)
        await uow.commit()
        return order


async def reject_order(
    cmd: commands.RejectOrder, *, uow: SchedulingUnitOfWork, clock: Clock
) -> DispatchOrder:
    """SCH-1: the network cannot staff the order: OrderReturnedToCentre with its reason."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="reject", for_update=True)
        _check_actor_owns(order, cmd.actor)
        if order.assignee_kind is not AssigneeKind.NETWORK and order.network_id is None:
            raise IllegalTransition("reject", order.status.value, ["return"])
        order.reject_by_network(by=cmd.actor.name, now=clock(), detail=cmd.reason)
        await uow.orders.save(order)
        await uow.commit()
        return order


async def offer_slots(
    order_id: str,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    days: int | None = None,
    actor: commands.Actor | None = None,
) -> list[Slot]:
    """SCH-3: feasible arrival windows for the next days, given skills, shifts, held jobs and
    travel time; IllegalTransition for an order no window can be booked for."""
    async with uow:
        order = await _order(uow, order_id, actor, action="book", for_update=False)
        if (
            actor is not None
            and actor.role == "technician"
            and (actor.technician_id is None or actor.technician_id != order.technician_id)
        ):
            # SCH-8: another technician's windows (their name, their free time) are not theirs
            # to read, as the order itself is not
            raise NotYourOrder(f"Order {order.order_id} is not held by this technician.")
        # SCH-3: windows only where a booking could follow (the same check booking makes)
        order.require_bookable()
        among = None
        if actor is not None and actor.role == "partner":
            # SCH-12: a network books only its own technicians; the centre's and other
            # networks' (their names, their free time) are not its to read
            among = {
                t.technician_id
                for t in await uow.technicians.list()
                if actor.network_id is not None and t.network_id == actor.network_id
            }
        return await _slots(
            order,
            uow=uow,
            now=clock(),
            policy=policy,
            travel=travel,
            tz=tz,
            days=days or policy.slot_days_ahead,
            among=among,
        )


async def _slots(
    order: DispatchOrder,
    *,
    uow: SchedulingUnitOfWork,
    now: datetime,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    days: int,
    exclude_order: bool = True,
    among: Collection[str] | None = None,
) -> list[Slot]:
    if order.location is None:
        raise CannotTake("The order has no map location; verify the address first.", ["location"])
    everyone = await uow.technicians.list()
    technicians = [t for t in everyone if among is None or t.technician_id in among]
    if order.held and order.technician_id and order.assignee_kind is AssigneeKind.TECHNICIAN:
        technicians = [t for t in technicians if t.technician_id == order.technician_id]
    held_orders = [o for o in await uow.orders.held() if o.order_id != order.order_id]
    today = now.astimezone(tz).date()
    windows = candidate_windows(
        days=[today + timedelta(days=d) for d in range(days + 1)],
        tz=tz,
        policy=policy,
        now=now,
        technicians=technicians,
    )
    workload: Counter[tuple[str, date]] = Counter()
    holders = {t.technician_id: t for t in everyone}
    for o in held_orders:
        # SCH-1: on the day of the holder's shift keeping it (a night job at 02:00 is the day
        # before's, and one under way since 23:00 stays the day it started on)
        day = _day_of(o, holders, tz=tz, policy=policy)
        if o.technician_id and day is not None:
            workload[(o.technician_id, day)] += 1
    return feasible_slots(
        location=order.location,
        product_line=order.product_line,
        area=order.area,
        minutes=policy.job_minutes(order.product_line, order.service_type),
        technicians=technicians,
        held=_held_jobs(held_orders, policy),
        windows=windows,
        policy=policy,
        travel=travel,
        tz=tz,
        workload=dict(workload),
        now=now,
    )


async def book_appointment(
    cmd: commands.BookAppointment,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-3: book a window only if a technician can keep it; a clash answers with alternatives."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="book", for_update=True)
        now = clock()
        order.require_bookable()
        if order.held:
            _check_actor_owns(order, cmd.actor)
        elif not cmd.actor.is_dispatcher:
            raise NotYourOrder("Only a dispatcher places an unassigned order (SCH-12).")
        if order.location is None:
            raise CannotTake(
                "The order has no map location; verify the address first.", ["location"]
            )
        await uow.orders.lock_assignment_decisions()
        technicians = await uow.technicians.list()
        wanted = cmd.technician_id or (order.technician_id if order.held else None)
        candidates = [t for t in technicians if wanted is None or t.technician_id == wanted]
        if wanted is not None and not candidates:
            raise TechnicianNotFound(wanted)
        if not cmd.actor.is_dispatcher:
            requested = candidates[0] if cmd.technician_id else None
            candidates = _bookable_by(cmd.actor, requested, candidates)
        # SCH-3: bounds first (only differences of instants: a window at the calendar's ends
        # is refused, not computed with)
        reasons = window_problems(cmd.window, now=now, policy=policy)
        if not reasons and cmd.window.start < now:
            reasons = ["the window has already started; book one still ahead"]
        tech: Technician | None = None
        kept_on: date | None = None
        if not reasons:
            able = [
                t
                for t in candidates
                if not t.why_not(product_line=order.product_line, area=order.area)
            ]
            if able:
                tech, reasons, kept_on = await _keeper(
                    order, cmd.window, able, uow=uow, now=now, policy=policy, travel=travel, tz=tz
                )
            else:
                reasons = [
                    f"technician {t.technician_id}: "
                    + ", ".join(t.why_not(product_line=order.product_line, area=order.area))
                    for t in candidates[:MAX_REASONS]
                ] or ["no technician may be booked for this order"]
        if tech is None:
            raise await _refuse_window(
                order,
                "No technician can arrive on time in this window (SCH-3); pick another.",
                reasons,
                uow=uow,
                now=now,
                policy=policy,
                travel=travel,
                tz=tz,
                # SCH-12: a holder is offered only the technicians it may book for
                among=None if cmd.actor.is_dispatcher else {t.technician_id for t in candidates},
            )
        if order.held and order.technician_id == tech.technician_id:
            order.reschedule(
                window=cmd.window,
                reason="appointment booked",
                by=cmd.actor.name,
                now=now,
                requested_by=commands.RescheduleInitiator.CUSTOMER,
                customer_consent=True,
                kept_on=kept_on,
            )
        else:
            order.assign(
                technician=tech,
                by=cmd.actor.name,
                reason=f"appointment booked; feasible for {tech.name}",
                now=now,
                appointment=cmd.window,
                kept_on=kept_on,
            )
        await uow.orders.save(order)
        await uow.commit()
        return order


def _bookable_by(
    actor: commands.Actor, requested: Technician | None, candidates: list[Technician]
) -> list[Technician]:
    """Whom a holder who is no dispatcher may book the visit for (SCH-8, SCH-12): a technician
    only for themselves, never handing the order to a colleague; a network's dispatcher only
    for the network's own technicians, as when it assigns."""

    def allowed(t: Technician) -> bool:
        if actor.role == "technician":
            return actor.technician_id is not None and t.technician_id == actor.technician_id
        if actor.role == "partner":
            return actor.network_id is not None and t.network_id == actor.network_id
        return False

    if requested is not None and not allowed(requested):
        raise NotYourOrder(
            "Only a dispatcher gives a visit to another technician (SCH-8, SCH-12); a network's "
            "dispatcher books only for its own technicians."
        )
    return [t for t in candidates if allowed(t)]


async def record_contact(
    cmd: commands.RecordContact,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-2 / SCH-5: record a call and act on its outcome; a new time promised on it must be
    ahead, within the policy's bounds and one the technician can keep: arriving on shift, with
    the jobs they hold and the travel, as a booking is checked (SCH-3), though the job may run
    past the shift's end (the technician's own choice to stay late)."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="record contact", for_update=True)
        _check_actor_owns(order, cmd.actor)
        now = clock()
        tech = await uow.technicians.get(order.technician_id) if order.technician_id else None
        promised = order.promised_on_call(cmd.outcome, cmd.window) if order.held else None
        unkept: list[str] = []
        kept_on: date | None = None
        if (
            promised is not None
            and tech is not None
            and order.location is not None
            and promised.end > now
            # The appointment already promised was checked when it was made (by a booking, the
            # placement or an earlier call): the customer confirming it changes nothing; one no
            # longer kept is lateness, told as SCH-6 says, not a refused call.
            and promised != order.appointment
            and not window_problems(promised, now=now, policy=policy)
        ):
            await uow.orders.lock_assignment_decisions()
            # The technician agrees the time on their own call: they may choose to stay late
            # to finish (a dispatcher's booking may not), but not to arrive off shift, late or
            # on top of another customer.
            _, unkept, kept_on = await _keeper(
                order,
                promised,
                [tech],
                uow=uow,
                now=now,
                policy=policy,
                travel=travel,
                tz=tz,
                overtime=True,
            )
        agreed = order.appointment
        try:
            order.record_contact(
                outcome=cmd.outcome,
                by=cmd.actor.name,
                now=now,
                technician=tech,
                policy=policy,
                tz=tz,
                window=cmd.window,
                corrected=list(cmd.corrected),
                note=cmd.note,
                unkept=unkept,
            )
            if promised is not None and order.appointment == promised != agreed:
                # SCH-3: a new time agreed on the call counts on the shift keeping it; the
                # appointment confirmed as it stands keeps the day it was kept on
                order.kept_on = kept_on
        except SlotUnavailable as refused:
            raise await _refuse_window(
                order,
                str(refused),
                list(refused.extensions.get("reasons", [])),
                uow=uow,
                now=now,
                policy=policy,
                travel=travel,
                tz=tz,
            ) from None
        await uow.orders.save(order)
        await uow.commit()
        return order


async def reschedule(
    cmd: commands.Reschedule,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-3 / SCH-6: the dispatcher moves the appointment with the customer's consent recorded,
    to a window the technician holding the visit can keep, checked as a booking is (bounds,
    shift, held jobs, travel, job length): 409 with the reasons and the windows they can keep
    otherwise. The window already agreed changes nothing."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="reschedule", for_update=True)
        if not cmd.actor.is_dispatcher:
            raise NotYourOrder("Only a dispatcher reschedules (FLOW.md).")
        now = clock()
        kept_on: date | None = None
        if order.held and cmd.window != order.appointment:
            reasons = window_problems(cmd.window, now=now, policy=policy)
            tech = await uow.technicians.get(order.technician_id) if order.technician_id else None
            if not reasons and tech is not None and order.location is not None:
                await uow.orders.lock_assignment_decisions()
                _, reasons, kept_on = await _keeper(
                    order, cmd.window, [tech], uow=uow, now=now, policy=policy, travel=travel, tz=tz
                )
            if reasons:
                who = f"Technician {tech.technician_id}" if tech is not None else "The holder"
                raise await _refuse_window(
                    order,
                    f"{who} cannot keep this window (SCH-3): {'; '.join(reasons)}. Agree "
                    "another time with the customer, or reassign the order.",
                    reasons,
                    uow=uow,
                    now=now,
                    policy=policy,
                    travel=travel,
                    tz=tz,
                )
        order.reschedule(
            window=cmd.window,
            reason=cmd.reason,
            by=cmd.actor.name,
            now=now,
            requested_by=cmd.requested_by,
            customer_consent=cmd.customer_consent,
            kept_on=kept_on,
        )
        await uow.orders.save(order)
        await uow.commit()
        return order


async def report_position(
    cmd: commands.ReportPosition,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
) -> list[DispatchOrder]:
    """SCH-6: re-predict the technician's remaining arrivals today from a position/ETA ping;
    ArrivalLate goes out before the appointment when a forecast misses its window.

    An order whose personal data was erased (BIL-11) is never warned of (SCH-7,
    :meth:`DispatchOrder.predict_arrival`). One the technician has left for still fills their
    day: its job time delays the forecasts of the jobs after it. One nobody has left for will
    never be visited (nobody is sent out to it): it is left out, takes no time from the later
    jobs, and an ETA the ping gives for it is not taken for another job's."""
    async with uow:
        if not cmd.actor.is_dispatcher and cmd.actor.technician_id != cmd.technician_id:
            raise NotYourOrder("A technician reports only their own position.")
        # SCH-6: the ping's time says where the technician was when; whether a warning still
        # reaches the customer before the appointment is decided on the server's clock.
        now = clock()
        at = cmd.at or now
        if at > now + timedelta(seconds=policy.position_clock_skew_seconds):
            raise ImplausibleReport(
                f"The position is dated {at.isoformat()}, ahead of the server's clock by more "
                f"than {policy.position_clock_skew_seconds} seconds."
            )
        if at < now - timedelta(hours=policy.position_max_age_hours):
            raise ImplausibleReport(
                f"The position is dated {at.isoformat()}, more than "
                f"{policy.position_max_age_hours} hours ago: it says nothing about today's "
                "arrivals."
            )
        skew = timedelta(seconds=policy.position_clock_skew_seconds)
        horizon = timedelta(hours=policy.eta_horizon_hours)
        if cmd.eta is not None and not at - skew <= cmd.eta <= at + horizon:
            raise ImplausibleReport(
                f"The ETA {cmd.eta.isoformat()} is "
                + (
                    f"before the position it comes with ({at.isoformat()})"
                    if cmd.eta < at - skew
                    else f"more than {policy.eta_horizon_hours} hours after the position it "
                    f"comes with ({at.isoformat()})"
                )
                + ": it cannot be told to a customer (SCH-6, SCH-7)."
            )
        tech = await _technician(uow, cmd.technician_id, for_update=True)
        if tech.position_at is not None and at < tech.position_at:
            # delivered late: a newer position is known already, and forecasts were made from it
            log.info(
                "scheduling.position_superseded",
                technician_id=cmd.technician_id,
                at=at.isoformat(),
                known_at=tech.position_at.isoformat(),
            )
            return [
                o
                for o in await uow.orders.held(cmd.technician_id)
                if _forecast(o, now=now) and not _never_visited(o)
            ]
        tech.position, tech.position_at = cmd.position, at
        await uow.technicians.save(tech)
        ahead = [
            o
            for o in await uow.orders.held(cmd.technician_id, for_update=True)
            if _forecast(o, now=now)
        ]
        orders = [uow.track(o) for o in ahead if not _never_visited(o)]
        orders.sort(key=lambda o: (o.status is not DispatchStatus.EN_ROUTE, o.appointment.start))  # type: ignore[union-attr]
        eta = cmd.eta
        if cmd.order_id is not None:
            orders.sort(key=lambda o: o.order_id != cmd.order_id)
            if not any(o.order_id == cmd.order_id for o in orders):
                # SCH-6 / SCH-7: the ETA was for a job not ahead of the technician (not theirs,
                # reached, over, or nobody goes to it, BIL-11), not for the next one
                eta = None
        here, clock_at = cmd.position, at
        for n, order in enumerate(orders):
            assert order.appointment is not None
            if order.location is not None:
                arrival = clock_at + timedelta(seconds=_seconds(travel, here, order.location))
            else:
                arrival = clock_at
            if n == 0 and eta is not None:
                arrival = eta  # the technician's own estimate beats ours
            order.predict_arrival(arrival=arrival, now=now, policy=policy, cause="position update")
            start_work = max(arrival, order.appointment.start)
            clock_at = start_work + timedelta(
                minutes=policy.job_minutes(order.product_line, order.service_type)
            )
            here = order.location or here
            await uow.orders.save(order)
        await uow.commit()
        return orders


def _forecast(order: DispatchOrder, *, now: datetime) -> bool:
    """Whether a position ping forecasts ``order``'s arrival: booked, not reached yet, and its
    appointment not over (SCH-6)."""
    return (
        order.appointment is not None and order.arrived_at is None and order.appointment.end > now
    )


def _never_visited(order: DispatchOrder) -> bool:
    """An order whose personal data was erased (BIL-11) that nobody has left for: nobody is
    sent out to it, so it is no job of the technician's day (SCH-6, SCH-7)."""
    return order.anonymised_at is not None and not order.under_way


def _seconds(travel: TravelTimes, a: object, b: object) -> int:
    durations, _ = travel.matrices([a, b])  # type: ignore[list-item]
    return int(durations[0, 1])


async def refuse_apology(
    cmd: commands.RefuseApology, *, uow: SchedulingUnitOfWork, clock: Clock
) -> DispatchOrder:
    """SCH-7: the customer did not accept the apology: the after-sales manager visits."""
    async with uow:
        order = await _order(
            uow, cmd.order_id, cmd.actor, action="refuse the apology", for_update=True
        )
        _check_actor_owns(order, cmd.actor)
        order.apology_refused(by=cmd.actor.name, now=clock())
        await uow.orders.save(order)
        await uow.commit()
        return order


async def postpone(
    cmd: commands.Postpone, *, uow: SchedulingUnitOfWork, clock: Clock
) -> DispatchOrder:
    """SCH-10: a postponement books a new visit and returns the order to the centre."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="postpone", for_update=True)
        _check_actor_owns(order, cmd.actor)
        order.postpone(by=cmd.actor.name, now=clock(), reason=cmd.reason)
        await uow.orders.save(order)
        await uow.commit()
        return order


async def relocate(
    cmd: commands.Relocate,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
) -> DispatchOrder:
    """SCH-11: the product is elsewhere: with the customer's consent go there now, else rebook.
    Going there now, a day recorded as keeping the visit on a later shift is checked again
    from the new address (SCH-3, :func:`_kept_again`)."""
    async with uow:
        order = await _order(uow, cmd.order_id, cmd.actor, action="relocate", for_update=True)
        _check_actor_owns(order, cmd.actor)
        now = clock()
        rebook = not (cmd.go_now and cmd.customer_consent)
        if rebook:
            order.refuse_if_under_way(
                "rebook the visit for another address",
                remedy="The visit must end in fieldwork first: the technician records the "
                "outcome at the door or on site (rebook, SCH-11), which books the next visit; "
                "or goes there now with the customer's consent.",
            )
        order.relocated(location=cmd.location, by=cmd.actor.name, now=now, note=cmd.note)
        if rebook:
            if order.held:
                order.visit_ended()
            order.book_revisit(
                reason=RevisitReason.OTHER,
                by=cmd.actor.name,
                now=now,
                detail=f"product at another address: {cmd.note or 'rebooked'}",
                keep_technician=True,
            )
        elif order.kept_on is not None and order.technician_id is not None:
            holder = await uow.technicians.get(order.technician_id)
            await _kept_again(order, holder, uow=uow, now=now, policy=policy, travel=travel, tz=tz)
        await uow.orders.save(order)
        await uow.commit()
        return order


# -- plans ----------------------------------------------------------------------------------


async def optimise_day(
    cmd: commands.OptimiseDay,
    *,
    uow: SchedulingUnitOfWork,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    solver: RouteSolver,
) -> dict[str, object]:
    """SCH-4: optimise the day with the solver (warm-started from the applied plan), validate it
    with the independent checker, and only then apply it: technician and planned departure per
    job. Pinned and customer-confirmed jobs stay with their technician.

    The solver runs outside any transaction (for seconds, up to minutes), in a worker thread
    so the service goes on serving meanwhile, on orders read without locks. The plan is then
    applied, one application of a day at a time, to the orders re-read under lock, and only to
    those unchanged since: an order a command or event changed meanwhile keeps its new state,
    and the plan is left dirty for the background re-plan."""
    async with uow:
        previous = await uow.plans.get(cmd.day)
        if cmd.only_if_dirty and (previous is None or not previous.dirty):
            return _stored_plan(cmd.day, previous)
        now = clock()
        everyone = await uow.technicians.list()
        if await _day_is_over(uow, cmd.day, now, tz=tz, technicians=everyone, policy=policy):
            raise DayOver(cmd.day)
        technicians = [t for t in everyone if t.works_on(cmd.day)]
        # SCH-3: the jobs of the shifts starting that day, a night shift's after midnight too
        # (and one of the day before still running as they start: round the clock)
        near = await _held_near(uow, cmd.day, tz=tz, nights=_works_nights(everyone))
        holders = {t.technician_id: t for t in everyone}
        day_orders = [o for o in near if _day_of(o, holders, tz=tz, policy=policy) == cmd.day]
        orders = [o for o in day_orders if _plannable(o)]
        # today's, or yesterday's while a night shift of it is still running
        running = cmd.day <= now.astimezone(tz).date()
        # SCH-3 / SCH-9: a technician on site sets off from there once the job is done
        on_site = _on_site_until(day_orders, now=now, policy=policy) if running else {}
        # SCH-1 / SCH-3: a job of the day before still running when a shift of the day starts
        # (round the clock, from 23:30) is not one of its jobs, but the route starts after it
        for t in everyone:
            for o in _running_into(near, t, cmd.day, tz=tz, policy=policy):
                busy = _busy_until(o, t, now=now, running=running, policy=policy, travel=travel)
                if t.technician_id not in on_site or busy[1] > on_site[t.technician_id][1]:
                    on_site[t.technician_id] = busy
        # SCH-1 / SCH-12: a job goes only to a technician it could be given by hand (skill,
        # area) on its side of the network boundary; shifts and days off are the vehicles'.
        kinds = {_plan_kind(o) for o in orders}
        plan_techs = []
        for t in technicians:
            shift = t.shift(cmd.day, tz)
            # SCH-3 / SCH-4: a running day's route starts from where they are now, unless they
            # are on last night's shift still: they go home before this one starts
            start_at = (
                t.where(now, stale_after=timedelta(minutes=policy.position_stale_after_minutes))
                if running and not _on_last_nights_shift(t, cmd.day, now, tz)
                else t.home
            )
            ready = shift.start
            if t.technician_id in on_site:
                start_at, free = on_site[t.technician_id]
                ready = max(shift.start, min(free, shift.end))
            plan_techs.append(
                PlanTechnician(
                    technician_id=t.technician_id,
                    start_at=start_at,
                    end_at=t.home,
                    shift_start=ready,
                    shift_end=shift.end,
                    skills=frozenset(
                        plan_skill(product_line=line, area=area, network_id=network)
                        for line, area, network in kinds
                        if not t.why_not_planned(product_line=line, area=area, network_id=network)
                    ),
                    capacity=t.daily_capacity,
                )
            )
        known = {t.technician_id for t in technicians}
        jobs = [
            PlanJob(
                job_id=o.order_id,
                location=o.location,  # type: ignore[arg-type]
                window_start=o.appointment.start,  # type: ignore[union-attr]
                window_end=o.appointment.end,  # type: ignore[union-attr]
                minutes=policy.job_minutes(o.product_line, o.service_type),
                skill=plan_skill(product_line=o.product_line, area=o.area, network_id=o.network_id),
                emergency=o.emergency,
                revisit=o.is_revisit,
                pinned_to=o.technician_id
                if (
                    o.pinned
                    or o.confirmed_at is not None
                    or o.status is DispatchStatus.EN_ROUTE
                    or _departure_decided(o, now, policy)
                )
                and o.technician_id in known
                else None,
                held_by=o.technician_id,
            )
            for o in orders
        ]
        origin = datetime.combine(cmd.day, datetime.min.time(), tzinfo=tz)
        day = build_day_problem(
            technicians=plan_techs,
            jobs=jobs,
            policy=policy,
            travel=travel,
            origin=origin,
            not_before=now if running else None,
        )
        warm = _plan_from_row(previous.visits) if previous is not None else None
    # The event loop meanwhile answers requests, consumes events and heartbeats to the group.
    plan = await asyncio.to_thread(
        solver.solve,
        day.problem,
        time_limit=cmd.time_limit or policy.plan_time_limit_seconds,
        warm_start=warm,
    )
    violations = check_plan(day.problem, plan)
    if violations:
        raise PlanInfeasible(violations)
    async with uow:
        await uow.plans.lock_planning(cmd.day)
        current = await uow.plans.get(cmd.day)
        if cmd.only_if_dirty and (current is None or not current.dirty):
            # another replica applied a plan of the day while this one was solving
            return _stored_plan(cmd.day, current)
        # Lock the day's orders (in id order), then the plan: the order every writer follows.
        fresh = {
            o.order_id: o
            for o in await _held_on(
                uow, cmd.day, tz=tz, policy=policy, technicians=everyone, for_update=True
            )
            if _plannable(o)
        }
        current = await uow.plans.get(cmd.day, for_update=True)
        solved_orders = {o.order_id: o for o in orders}
        solved = {o.order_id: _planning_inputs(o) for o in orders}
        changed = {
            order_id
            for order_id in solved.keys() | fresh.keys()
            if order_id not in fresh
            or order_id not in solved
            or _planning_inputs(fresh[order_id]) != solved[order_id]
        }
        techs = {t.technician_id: t for t in await uow.technicians.list() if t.works_on(cmd.day)}
        # Technicians whose day changed since the solve: an order changed meanwhile was or is
        # theirs, or their shift, skills or capacity were edited.
        unsettled = {
            o.technician_id
            for order_id in changed
            for o in (fresh.get(order_id), solved_orders.get(order_id))
            if o is not None and o.technician_id is not None
        } | {
            t.technician_id
            for t in technicians
            if t.technician_id not in techs
            or _day_inputs(techs[t.technician_id], cmd.day, tz) != _day_inputs(t, cmd.day, tz)
        }
        visits = [v for v in day.to_visits(plan) if v.job_id not in changed]
        # SCH-1 / SCH-12: a move to a technician who may no longer receive the job (areas,
        # network or skills edited since the solve), or of a job whose technician has already
        # left for it (SCH-8), is not applied; like any day changed since, both technicians'
        # days stand as they are, with everyone chained to them.
        barred = {
            v.job_id
            for v in visits
            if fresh[v.job_id].technician_id != v.technician_id
            and (
                fresh[v.job_id].under_way
                or v.technician_id not in techs
                or techs[v.technician_id].why_not_planned(
                    product_line=fresh[v.job_id].product_line,
                    area=fresh[v.job_id].area,
                    network_id=fresh[v.job_id].network_id,
                )
            )
        }
        unsettled |= {
            t
            for v in visits
            if v.job_id in barred
            for t in (str(fresh[v.job_id].technician_id), v.technician_id)
        }
        withheld = changed | held_back(
            {v.job_id: (str(fresh[v.job_id].technician_id), v.technician_id) for v in visits},
            unsettled,
        )
        rows: list[dict[str, object]] = []
        for visit in visits:
            if visit.job_id in withheld:
                continue
            order = uow.track(fresh[visit.job_id])
            if order.technician_id != visit.technician_id:
                order.assign(
                    technician=techs[visit.technician_id],
                    by=PLANNER,
                    reason=f"day plan {cmd.day.isoformat()} (requested by {cmd.actor.name})",
                    now=now,
                    # SCH-1 / SCH-3: the plan keeps it on the new technician's shift of its day
                    kept_on=_recorded(
                        order,
                        techs[visit.technician_id],
                        order.appointment,
                        cmd.day,
                        policy=policy,
                        tz=tz,
                    )
                    if order.appointment is not None
                    else None,
                )
            order.planned_departure = visit.depart
            await uow.orders.save(order)
            rows.append(
                {
                    "order_id": visit.job_id,
                    "technician_id": visit.technician_id,
                    "sequence": visit.sequence,
                    "depart": visit.depart.isoformat(),
                    "arrive": visit.arrive.isoformat(),
                    "leave": visit.leave.isoformat(),
                }
            )
        if withheld:
            log.info(
                "scheduling.plan_stale",
                day=cmd.day.isoformat(),
                orders=sorted(changed),
                technicians=sorted(unsettled),
                withheld=sorted(withheld),
            )
            # what the stored plan said of the withheld orders stands until the re-plan
            kept = withheld & fresh.keys()
            rows.extend(v for v in (current.visits if current else []) if v["order_id"] in kept)
        dirty = bool(withheld)
        reasons = unassigned_reasons(day, plan)
        await uow.plans.save(
            cmd.day,
            visits=rows,
            unassigned=plan.unassigned,
            unassigned_reasons=reasons,
            now=now,
            dirty=dirty,
        )
        await uow.commit()
        return {
            "day": cmd.day.isoformat(),
            "visits": rows,
            "unassigned": plan.unassigned,
            "unassigned_reasons": reasons,
            "distance_m": plan.distance,
            "dirty": dirty,
        }


def _on_last_nights_shift(technician: Technician, day: date, now: datetime, tz: ZoneInfo) -> bool:
    """Whether ``technician`` is at ``now`` on the night shift started the day before ``day``
    (SCH-3): where they are now is not where their shift of ``day`` starts."""
    before = day - timedelta(days=1)
    if not technician.overnight or not technician.works_on(before):
        return False
    shift = technician.shift(before, tz)
    return shift.start <= now < shift.end


def _on_site_until(
    orders: list[DispatchOrder], *, now: datetime, policy: SchedulingPolicy
) -> dict[str, tuple[GeoPoint, datetime]]:
    """Technicians on site now (SCH-9): where, and when they are expected to be free to set
    off for the next job: arrival plus the job's expected duration, now at the earliest."""
    busy: dict[str, tuple[GeoPoint, datetime]] = {}
    for o in sorted(orders, key=lambda o: (o.arrived_at or now, o.order_id)):
        if o.arrived_at is None or o.technician_id is None or o.location is None:
            continue
        done = o.arrived_at + timedelta(minutes=policy.job_minutes(o.product_line, o.service_type))
        busy[o.technician_id] = (o.location, max(now, done))
    return busy


def _busy_until(
    order: DispatchOrder,
    technician: Technician,
    *,
    now: datetime,
    running: bool,
    policy: SchedulingPolicy,
    travel: TravelTimes,
) -> tuple[GeoPoint, datetime]:
    """Where and until when ``technician`` is held by ``order`` (SCH-3, SCH-4): on site, its
    expected time from arrival; else from their arrival as early as they may be there (on a
    running day, from where they are now at the earliest)."""
    assert order.appointment is not None and order.location is not None
    minutes = timedelta(minutes=policy.job_minutes(order.product_line, order.service_type))
    if order.arrived_at is not None:
        return order.location, max(now, order.arrived_at + minutes)
    arrive = order.appointment.start - timedelta(minutes=policy.arrive_early_max_minutes)
    if running:
        here = technician.where(
            now, stale_after=timedelta(minutes=policy.position_stale_after_minutes)
        )
        there = now + timedelta(seconds=_seconds(travel, here, order.location))
        arrive = max(arrive, there)
    return order.location, arrive + minutes


def _plan_kind(order: DispatchOrder) -> tuple[str, str | None, str | None]:
    """What decides who may be given an order by the planner (SCH-1, SCH-12)."""
    return (order.product_line, order.area, order.network_id)


def _plannable(order: DispatchOrder) -> bool:
    """Whether a held order of the day is the planner's to place (SCH-4); never one whose
    personal data was erased (BIL-11): nobody is sent to a customer the order no longer names."""
    return (
        order.anonymised_at is None
        and order.assignee_kind is AssigneeKind.TECHNICIAN
        and order.appointment is not None
        and order.location is not None
        and order.arrived_at is None
    )


def _planning_inputs(order: DispatchOrder) -> tuple[object, ...]:
    """What the planner decided from: an order whose inputs differ when the plan is applied
    was changed meanwhile, and the plan no longer fits it."""
    return (
        order.status,
        order.technician_id,
        order.appointment,
        order.location,
        order.pinned,
        order.confirmed_at,
        order.planned_departure,
        order.product_line,
        order.service_type,
        order.emergency,
        order.visit_id,
    )


def _day_inputs(technician: Technician, day: date, tz: ZoneInfo) -> tuple[object, ...]:
    """What the planner decided a technician's day from (besides their position, which moves
    all day and only sets where a running day's route starts)."""
    return (
        technician.shift(day, tz),
        frozenset(technician.skills),
        technician.daily_capacity,
        technician.home,
    )


def _stored_plan(day: date, row: object | None) -> dict[str, object]:
    return {
        "day": day.isoformat(),
        "visits": list(getattr(row, "visits", [])),
        "unassigned": list(getattr(row, "unassigned", [])),
        "unassigned_reasons": dict(getattr(row, "unassigned_reasons", {})),
        "distance_m": None,
        "dirty": bool(getattr(row, "dirty", False)),
    }


def _departure_decided(order: DispatchOrder, now: datetime, policy: SchedulingPolicy) -> bool:
    """SCH-4: a departure is decided an hour ahead; re-planning no longer moves that job."""
    return order.planned_departure is not None and order.planned_departure <= now + timedelta(
        minutes=policy.departure_decision_minutes
    )


def _plan_from_row(visits: list[dict[str, object]]) -> RoutingPlan:
    routes: dict[str, list[tuple[float, str]]] = {}
    for v in visits:
        routes.setdefault(str(v["technician_id"]), []).append(
            (float(str(v["sequence"])), str(v["order_id"]))
        )
    return RoutingPlan(
        routes=[
            PlannedRoute(
                vehicle=tech,
                stops=tuple(
                    Stop(job=o, depart=0, arrival=0, start=0, end=0) for _, o in sorted(seq)
                ),
                start_time=0,
                end_time=0,
                distance=0,
            )
            for tech, seq in routes.items()
        ]
    )


# -- timers ---------------------------------------------------------------------------------


async def sweep_contact_overdue(
    *, uow: SchedulingUnitOfWork, clock: Clock, policy: SchedulingPolicy, tz: ZoneInfo
) -> int:
    """SCH-2: ContactOverdue for every assignment unconfirmed after the allowed time, counted
    from when the technician received it, on shift (:meth:`DispatchOrder.contact_due`). Never
    for an order whose personal data was erased (BIL-11): the listing leaves it out, and the order
    read under its lock is checked again (:meth:`DispatchOrder.contact_overdue`)."""
    async with uow:
        now = clock()
        count = 0
        # the time counts on shift only, so it is never over before this: a first sift
        due = now - timedelta(minutes=policy.contact_due_minutes)
        technicians: dict[str, Technician | None] = {}
        for order in await uow.orders.awaiting_contact(assigned_before=due):
            tech_id = order.technician_id
            if tech_id is not None and tech_id not in technicians:
                technicians[tech_id] = await uow.technicians.get(tech_id)
            tech = technicians.get(tech_id) if tech_id is not None else None
            if order.contact_overdue(now=now, policy=policy, technician=tech, tz=tz):
                uow.track(order)
                await uow.orders.save(order)
                count += 1
        await uow.commit()
        return count


async def sweep_network_acceptance(
    *, uow: SchedulingUnitOfWork, clock: Clock, policy: SchedulingPolicy
) -> int:
    """SCH-1: orders a network neither accepted nor rejected by their `acceptance_due_at`
    (working time, an emergency's wall-clock time) go back to the centre. Never one whose
    personal data was erased (BIL-11), which the centre could not place again: the listing
    leaves it out, and the order read under its lock is checked again
    (:meth:`DispatchOrder.acceptance_overdue`); it stays with the network, which hears nothing."""
    async with uow:
        now = clock()
        count = 0
        # given before due times were recorded: the wall-clock minutes they were given with
        unrecorded = now - timedelta(minutes=policy.network_accept_minutes)
        for order in await uow.orders.awaiting_network_answer(
            due_by=now, unrecorded_given_before=unrecorded
        ):
            if order.acceptance_overdue(now=now, policy=policy):
                uow.track(order)
                await uow.orders.save(order)
                count += 1
        await uow.commit()
        return count


async def retry_auto_placement(
    *,
    uow_factory: UowFactory,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    calendar: WorkingTime,
) -> int:
    """SCH-1 / INT-3: orders the automatic placement found nobody for when they came (taken on
    a day nobody serving their area works, every technician full) are tried again, the longest
    untried first, at most `auto_placement_batch` a run; returns how many were placed. Only
    those still awaiting assignment and still the automatic placement's: one a dispatcher
    placed or that was handed back to the centre is the dispatcher's, one given to a network
    waits for its answer, and a manual area's waits for the dispatcher (SCH-12). Each order is
    re-read under its lock and decided in its own transaction: running twice, or on two
    replicas at once, places an order once."""
    async with uow_factory() as uow:
        due = await uow.orders.awaiting_auto_placement(limit=policy.auto_placement_batch)
    placed = 0
    for order_id in due:
        try:
            async with uow_factory() as uow:
                found = await uow.orders.get(order_id, for_update=True)
                if (
                    found is None
                    or not found.dispatchable
                    or found.auto_placement_tried_at is None
                    # BIL-11: erased since it was listed; never placed (:func:`_auto_assign`)
                    or found.anonymised_at is not None
                ):
                    continue
                order = uow.track(found)
                await _auto_assign(
                    order,
                    uow=uow,
                    now=clock(),
                    policy=policy,
                    travel=travel,
                    tz=tz,
                    calendar=calendar,
                )
                await uow.orders.save(order)
                await uow.commit()
                if not order.dispatchable:
                    placed += 1
        except Exception:
            # one order that cannot be placed must not hold up the rest of the batch
            log.exception("scheduling.auto_placement_failed", order_id=order_id)
    return placed


async def reoptimise_dirty_plans(
    *,
    uow_factory: UowFactory,
    clock: Clock,
    policy: SchedulingPolicy,
    travel: TravelTimes,
    tz: ZoneInfo,
    solver: RouteSolver,
) -> int:
    """SCH-9: plans changed by urgent insertions are re-optimised in the background.

    A day that is over is not re-planned: its plan is only marked clean, so it stops coming
    back. One day that fails (refused by the checker, or a real error, logged with its trace)
    is left dirty for the next cycle and never stops the others."""
    now = clock()
    async with uow_factory() as uow:
        days: list[date] = []
        past: list[str] = []
        rows = await uow.plans.dirty()
        technicians = await uow.technicians.list() if rows else []
        for row in rows:
            day = date.fromisoformat(row.plan_date)
            if await _day_is_over(uow, day, now, tz=tz, technicians=technicians, policy=policy):
                row.dirty = False
                past.append(row.plan_date)
            else:
                days.append(day)
        if past:
            await uow.commit()
            log.info("scheduling.replan_skipped_past_days", days=past)
    for day in days:
        try:
            await optimise_day(
                commands.OptimiseDay(
                    day=day,
                    actor=commands.Actor(name=PLANNER, role="admin"),
                    only_if_dirty=True,
                ),
                uow=uow_factory(),
                clock=clock,
                policy=policy,
                travel=travel,
                tz=tz,
                solver=solver,
            )
        except PlanInfeasible as exc:
            log.warning("scheduling.replan_refused", day=day.isoformat(), violations=exc.extensions)
        except DayOver:
            # midnight passed while the days were listed: the next cycle marks it clean
            log.info("scheduling.replan_skipped_past_days", days=[day.isoformat()])
        except Exception:
            log.exception("scheduling.replan_failed", day=day.isoformat())
    return len(days) + len(past)


async def _day_is_over(
    uow: SchedulingUnitOfWork,
    day: date,
    now: datetime,
    *,
    tz: ZoneInfo,
    technicians: Sequence[Technician],
    policy: SchedulingPolicy,
) -> bool:
    """Whether ``day`` (local) ended before ``now``, and with it every shift starting on it (a
    night shift runs on past midnight, SCH-3) and every job held on it that could still be
    running (SCH-4: round the clock, Monday's 23:00-01:00 under way at 00:05): its plan is
    history, not re-planned. The jobs are read only once every shift of the day has ended."""
    if day >= now.astimezone(tz).date():
        return False
    if any(t.works_on(day) and t.shift(day, tz).end > now for t in technicians):
        return False
    return not any(
        _could_run_until(o, policy) > now
        for o in await _held_on(uow, day, tz=tz, policy=policy, technicians=technicians)
    )


def _could_run_until(order: DispatchOrder, policy: SchedulingPolicy) -> datetime:
    """The latest a held job could still be running (SCH-4): its job's length after the end of
    its window, or after the arrival when the technician came later than that."""
    assert order.appointment is not None
    start = max(order.appointment.end, order.arrived_at or order.appointment.end)
    return start + timedelta(minutes=policy.job_minutes(order.product_line, order.service_type))


COMMAND_HANDLERS: dict[type, Callable[..., Awaitable[Any]]] = {
    commands.SaveTechnician: save_technician,
    commands.SaveNetwork: save_network,
    commands.AssignOrder: assign_order,
    commands.CancelAssignment: cancel_assignment,
    commands.ReturnOrder: return_order,
    commands.AcceptOrder: accept_order,
    commands.RejectOrder: reject_order,
    commands.BookAppointment: book_appointment,
    commands.RecordContact: record_contact,
    commands.Reschedule: reschedule,
    commands.ReportPosition: report_position,
    commands.RefuseApology: refuse_apology,
    commands.Postpone: postpone,
    commands.Relocate: relocate,
    commands.OptimiseDay: optimise_day,
}


def default_dependencies() -> dict[str, Any]:
    """Clock, policy, travel times, time zone and business calendar with their defaults (tests
    override them)."""
    policy = SchedulingPolicy()
    calendar = BusinessCalendar()
    return {
        "clock": lambda: datetime.now(UTC),
        "policy": policy,
        "travel": GreatCircleTravel(road_factor=policy.road_factor, speed_kmh=policy.speed_kmh),
        "tz": calendar.tz,
        "calendar": calendar,
    }
