"""Concurrent changes of one order, technician or day plan on PostgreSQL (READ COMMITTED): each
test holds one transaction open once it has read and decided, just before it writes, with whatever
locks it took, while a second one runs against the same rows (see ``support.races``); then it
checks that neither change was lost, that no event was published twice and that no technician
was overbooked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from typing import Any

from scheduling_support import DONGYING, Harness, created, local, near, technician_body, window
from support import races
from support.races import TIMEOUT, Gate, hold_at_commit

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from contracts.fieldwork import TechnicianDeparted
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.domain import commands
from scheduling.domain.exceptions import SlotUnavailable
from scheduling.domain.model import ContactOutcome, DispatchOrder, DispatchStatus, Technician
from scheduling.domain.routing import RoutingPlan, RoutingProblem
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from servicekit.db import make_engine, make_session_factory

MONDAY = date(2026, 11, 23)

DISPATCHER = commands.Actor(name="dispatcher", role="dispatcher")
TECHNICIAN = commands.Actor(name="t1", role="technician", technician_id="t1")
PARTNER = commands.Actor(name="n1 dispatcher", role="partner", network_id="n1")

pytestmark = races.postgres_only


class HeldBeforeSaving(SchedulingUnitOfWork):
    """Scheduling's unit of work whose first save to the repository ``at`` passes a gate: held
    there (with the locks it took) once the handler has read and decided, before it writes."""

    def __init__(self, h: Harness, gate: Gate, *, at: str) -> None:
        super().__init__(h.runtime.session_factory, clock=h.clock)
        self._gate = gate
        self._at = at

    async def __aenter__(self) -> HeldBeforeSaving:
        await super().__aenter__()
        repository = getattr(self, self._at)
        save = repository.save

        async def save_after_the_gate(*args: Any, **kwargs: Any) -> None:
            await self._gate.pass_through()
            await save(*args, **kwargs)

        repository.save = save_after_the_gate
        return self


@dataclasses.dataclass
class Outcome:
    """How the second transaction of a race ended."""

    result: Any
    error: BaseException | None
    waited: bool


async def race(
    h: Harness,
    first: Callable[[SchedulingUnitOfWork], Coroutine[Any, Any, Any]],
    second: Callable[[], Coroutine[Any, Any, Any]],
    *,
    held_at: str = "orders",
) -> Outcome:
    """Run ``first`` on a unit of work held before it writes (at its first save to the repository
    ``held_at``, or at its commit if it saves nothing there), start ``second`` meanwhile, let
    ``first`` go on once ``second`` waits on a lock or is done; how ``second`` ended."""
    gate = Gate()
    held = hold_at_commit(HeldBeforeSaving(h, gate, at=held_at), gate)

    async def second_or_refusal() -> tuple[Any, SlotUnavailable | None]:
        try:
            return await second(), None
        except SlotUnavailable as exc:
            return None, exc

    outcome = await races.race(h.runtime.engine, gate, first(held), second_or_refusal)
    result, error = outcome.second
    return Outcome(result, error, outcome.waited)


# -- helpers ----------------------------------------------------------------------------------


def _deps(h: Harness) -> dict[str, Any]:
    return dict(h.runtime.app.state.deps)


def _uow(h: Harness) -> SchedulingUnitOfWork:
    factory: Callable[[], SchedulingUnitOfWork] = h.runtime.app.state.uow_factory
    return factory()


async def _stored(h: Harness, order_id: str) -> DispatchOrder:
    async with _uow(h) as uow:
        order = await uow.orders.get(order_id)
    assert order is not None
    return order


async def _stored_technician(h: Harness, technician_id: str) -> Technician:
    async with _uow(h) as uow:
        tech = await uow.technicians.get(technician_id)
    assert tech is not None
    return tech


async def _plan(h: Harness, day: date = MONDAY) -> dict[str, Any]:
    async with _uow(h) as uow:
        row = await uow.plans.get(day)
        assert row is not None
        return {"visits": list(row.visits), "dirty": row.dirty}


async def _mark_plan_dirty(h: Harness, day: date = MONDAY) -> None:
    async with _uow(h) as uow:
        await uow.plans.save(
            day, visits=[], unassigned=[], unassigned_reasons={}, now=h.clock(), dirty=True
        )
        await uow.commit()


def _event(
    h: Harness, payload: EventData
) -> Callable[[SchedulingUnitOfWork], Coroutine[Any, Any, None]]:
    """The consumer's handling of ``payload`` on a given unit of work."""
    deps = _deps(h)
    envelope = EventEnvelope.wrap(payload)

    async def handle(uow: SchedulingUnitOfWork) -> None:
        await handlers.handle_event(
            envelope,
            uow=uow,
            clock=deps["clock"],
            policy=deps["policy"],
            travel=deps["travel"],
            tz=deps["tz"],
            calendar=h.runtime.calendar,
        )

    return handle


def _contact(h: Harness, order_id: str, outcome: ContactOutcome) -> Any:
    async def record(uow: SchedulingUnitOfWork) -> DispatchOrder:
        return await handlers.record_contact(
            commands.RecordContact(order_id=order_id, actor=TECHNICIAN, outcome=outcome),
            uow=uow,
            clock=h.clock,
            policy=_deps(h)["policy"],
            travel=_deps(h)["travel"],
            tz=_deps(h)["tz"],
        )

    return record


def _reschedule(h: Harness, order_id: str, to: Any) -> Any:
    async def move(uow: SchedulingUnitOfWork) -> DispatchOrder:
        return await handlers.reschedule(
            commands.Reschedule(
                order_id=order_id,
                actor=DISPATCHER,
                window=to,
                reason="customer asked",
                customer_consent=True,
            ),
            uow=uow,
            clock=h.clock,
            policy=_deps(h)["policy"],
            travel=_deps(h)["travel"],
            tz=_deps(h)["tz"],
        )

    return move


def _book(h: Harness, order_id: str, wanted: Any) -> Any:
    deps = _deps(h)

    async def book(uow: SchedulingUnitOfWork) -> DispatchOrder:
        return await handlers.book_appointment(
            commands.BookAppointment(order_id=order_id, actor=DISPATCHER, window=wanted),
            uow=uow,
            clock=h.clock,
            policy=deps["policy"],
            travel=deps["travel"],
            tz=deps["tz"],
        )

    return book


def _report_position(h: Harness) -> Any:
    deps = _deps(h)

    async def report(uow: SchedulingUnitOfWork) -> list[DispatchOrder]:
        return await handlers.report_position(
            commands.ReportPosition(
                technician_id="t1", actor=TECHNICIAN, position=near(DONGYING, north_km=3)
            ),
            uow=uow,
            clock=h.clock,
            policy=deps["policy"],
            travel=deps["travel"],
        )

    return report


def _sweep(h: Harness, job: Callable[..., Awaitable[int]]) -> Any:
    async def sweep(uow: SchedulingUnitOfWork) -> int:
        deps = _deps(h)
        if job is handlers.sweep_contact_overdue:
            return await job(uow=uow, clock=h.clock, policy=deps["policy"], tz=deps["tz"])
        return await job(uow=uow, clock=h.clock, policy=deps["policy"])

    return sweep


class _Solver:
    """PyVRP, counting its runs; ``meanwhile`` runs (to its commit) while it solves."""

    def __init__(self, meanwhile: Callable[[], None] | None = None) -> None:
        self.runs = 0
        self._inner = PyVrpSolver()
        self._meanwhile = meanwhile

    def solve(
        self,
        problem: RoutingProblem,
        *,
        time_limit: float,
        warm_start: RoutingPlan | None = None,
        seed: int = 0,
    ) -> RoutingPlan:
        self.runs += 1
        if self._meanwhile is not None:
            self._meanwhile()
        return self._inner.solve(problem, time_limit=time_limit, warm_start=warm_start, seed=seed)


def _commit_elsewhere(
    database_url: str, change: Callable[[SchedulingUnitOfWork], Awaitable[Any]]
) -> Callable[[], None]:
    """``change`` run to its commit on another connection, from inside a (synchronous) solver
    run: in a thread with its own event loop and engine."""
    failures: list[BaseException] = []

    async def run() -> None:
        engine = make_engine(database_url)
        try:
            await change(SchedulingUnitOfWork(make_session_factory(engine)))
        finally:
            await engine.dispose()

    def in_thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by the caller
            failures.append(exc)

    def meanwhile() -> None:
        thread = threading.Thread(target=in_thread, daemon=True)
        thread.start()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the change during the solve did not finish"
        if failures:
            raise failures[0]

    return meanwhile


def _replan(h: Harness, solver: _Solver) -> Callable[[Callable[[], SchedulingUnitOfWork]], Any]:
    deps = _deps(h)

    async def replan(uow_factory: Callable[[], SchedulingUnitOfWork]) -> int:
        return await handlers.reoptimise_dirty_plans(
            uow_factory=uow_factory,
            clock=h.clock,
            policy=deps["policy"],
            travel=deps["travel"],
            tz=deps["tz"],
            solver=solver,
        )

    return replan


# -- SCH-2 contact-overdue sweep ---------------------------------------------------------------


async def test_sch_2_a_confirmation_during_the_contact_overdue_sweep_is_kept(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    harness.clock.advance(minutes=180)  # assigned at 08:00: due 2 hours into t1's 09:00 shift

    second = await race(
        harness,
        _sweep(harness, handlers.sweep_contact_overdue),
        lambda: _contact(harness, "o1", ContactOutcome.CONFIRMED)(_uow(harness)),
    )

    order = await _stored(harness, "o1")
    assert order.status is DispatchStatus.CONFIRMED and order.confirmed_at is not None
    assert order.contact_overdue_at is not None
    assert len(await harness.published("ContactOverdue")) == 1
    assert second.waited  # it had to wait for the first one's lock


async def test_sch_2_two_replicas_sweeping_at_once_report_contact_overdue_once(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    harness.clock.advance(minutes=180)  # assigned at 08:00: due 2 hours into t1's 09:00 shift

    second = await race(
        harness,
        _sweep(harness, handlers.sweep_contact_overdue),
        lambda: _sweep(harness, handlers.sweep_contact_overdue)(_uow(harness)),
    )

    assert [e.order_id for e in await harness.published("ContactOverdue")] == ["o1"]
    assert second.result == 0  # the order being swept elsewhere is skipped, not waited for


# -- SCH-1 network acceptance sweep ------------------------------------------------------------


async def test_sch_1_a_network_accepting_during_the_acceptance_sweep_keeps_the_order(
    harness: Harness,
) -> None:
    response = await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]},
    )
    assert response.status_code == 201, response.text
    await harness.feed(created("o1"))  # given at 08:00: due 30 working minutes in, at 09:30
    harness.clock.now = local(9, 30)

    async def accept(uow: SchedulingUnitOfWork) -> DispatchOrder:
        return await handlers.accept_order(
            commands.AcceptOrder(order_id="o1", actor=PARTNER), uow=uow, clock=harness.clock
        )

    second = await race(
        harness,
        accept,
        lambda: _sweep(harness, handlers.sweep_network_acceptance)(_uow(harness)),
    )

    order = await _stored(harness, "o1")
    assert order.network_id == "n1" and order.network_accepted_at is not None
    assert order.status is DispatchStatus.ASSIGNED
    assert await harness.published("OrderReturnedToCentre") == []
    assert second.result == 0  # the order being accepted is skipped by the sweep


# -- commands and the event consumer on one order ----------------------------------------------


async def test_sch_6_a_departure_event_and_a_reschedule_at_once_both_stick(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=1)]))
    visit_id = (await _stored(harness, "o1")).visit_id
    harness.clock.now = local(9, 30)
    later = window(11, hours=1)

    second = await race(
        harness,
        _event(
            harness,
            TechnicianDeparted(
                order_id="o1", visit_id=visit_id, technician_id="t1", eta=local(9, 55)
            ),
        ),
        lambda: _reschedule(harness, "o1", later)(_uow(harness)),
    )

    order = await _stored(harness, "o1")
    assert order.status is DispatchStatus.EN_ROUTE
    assert order.appointment == later
    assert second.waited  # it had to wait for the first one's lock


async def test_sch_5_two_unanswered_calls_recorded_at_once_both_count(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))

    second = await race(
        harness,
        _contact(harness, "o1", ContactOutcome.NO_ANSWER),
        lambda: _contact(harness, "o1", ContactOutcome.NO_ANSWER)(_uow(harness)),
    )

    order = await _stored(harness, "o1")
    assert [a.outcome for a in order.contact_attempts] == [ContactOutcome.NO_ANSWER] * 2
    # the second unanswered call lets the agreed time stand (SCH-5)
    assert order.status is DispatchStatus.CONFIRMED
    assert len(await harness.published("AppointmentConfirmed")) == 1
    assert second.waited  # it had to wait for the first one's lock


# -- SCH-1 / SCH-3 assignment decisions across orders ------------------------------------------


async def test_sch_1_two_orders_placed_at_once_respect_the_technicians_daily_capacity(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", capacity=1)

    second = await race(
        harness,
        _event(harness, created("o1")),
        lambda: _event(harness, created("o2"))(_uow(harness)),
    )

    # one job a day: the second is placed for his next day, not on top of today's
    assigned = await harness.published("OrderAssigned")
    assert [(e.order_id, e.technician_id) for e in assigned] == [("o1", "t1"), ("o2", "t1")]
    assert "Tuesday" not in assigned[0].reason and "Tuesday 2026-11-24" in assigned[1].reason
    assert second.waited  # it had to wait for the first one's lock


async def test_sch_3_two_bookings_of_one_window_at_once_do_not_double_book_the_technician(
    harness: Harness,
) -> None:
    await harness.feed(created("o1"))
    await harness.feed(created("o2"))
    await harness.add_technician("t1")
    wanted = window(11, hours=0.5)

    second = await race(
        harness,
        _book(harness, "o1", wanted),
        lambda: _book(harness, "o2", wanted)(_uow(harness)),
    )

    assert (await _stored(harness, "o1")).technician_id == "t1"
    assert (await _stored(harness, "o2")).status is DispatchStatus.AWAITING_ASSIGNMENT
    assert isinstance(second.error, SlotUnavailable) and second.waited


# -- technicians -------------------------------------------------------------------------------


async def test_sch_6_a_position_report_during_a_technician_update_is_kept(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    updated = dataclasses.replace(await _stored_technician(harness, "t1"), daily_capacity=3)

    async def update(uow: SchedulingUnitOfWork) -> Technician:
        return await handlers.save_technician(
            commands.SaveTechnician(technician=updated, create=False),
            uow=uow,
            **_roster_deps(harness),
        )

    second = await race(
        harness, update, lambda: _report_position(harness)(_uow(harness)), held_at="technicians"
    )

    tech = await _stored_technician(harness, "t1")
    assert tech.daily_capacity == 3
    assert tech.position == near(DONGYING, north_km=3)
    assert second.waited  # it had to wait for the first one's lock


async def test_sch_6_a_reschedule_during_a_position_report_is_kept(harness: Harness) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    later = window(16, hours=1)

    second = await race(
        harness,
        _report_position(harness),
        lambda: _reschedule(harness, "o1", later)(_uow(harness)),
    )

    assert (await _stored(harness, "o1")).appointment == later
    assert second.waited  # it had to wait for the first one's lock


# -- SCH-4 / SCH-9 day plans -------------------------------------------------------------------


async def test_sch_4_a_reschedule_committed_while_the_replan_solves_is_not_overwritten(
    harness: Harness, database_url: str
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(14)]))
    await _mark_plan_dirty(harness)
    later = window(16, hours=1)
    solver = _Solver(meanwhile=_commit_elsewhere(database_url, _reschedule(harness, "o1", later)))

    assert await _replan(harness, solver)(lambda: _uow(harness)) == 1

    assert (await _stored(harness, "o1")).appointment == later
    assert (await _plan(harness))["dirty"]  # planned on a stale order: solved again later


async def test_sch_9_two_replicas_replanning_one_day_at_once_move_an_order_once(
    harness: Harness,
) -> None:
    await harness.add_technician("far", home=near(DONGYING, north_km=30))
    await harness.add_technician("near", home=near(DONGYING, north_km=1))
    await harness.feed(created("o1", preferred=[window(14)]))
    moved = await harness.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "far", "reason": "by hand"}
    )
    assert moved.status_code == 200, moved.text
    await _mark_plan_dirty(harness)
    solver = _Solver()
    replan = _replan(harness, solver)

    second = await race(
        harness, lambda held: replan(lambda: held), lambda: replan(lambda: _uow(harness))
    )

    by_planner = [
        e for e in await harness.published("OrderReassigned") if e.reassigned_by == handlers.PLANNER
    ]
    assert [(e.previous_technician_id, e.technician_id) for e in by_planner] == [("far", "near")]
    # Both solved (outside any transaction); the second, finding the plan applied, kept it.
    assert solver.runs == 2
    plan = await _plan(harness)
    assert not plan["dirty"] and [v["order_id"] for v in plan["visits"]] == ["o1"]
    assert second.waited  # it had to wait for the first one's lock


async def test_sch_1_an_order_placed_while_the_replan_solves_keeps_the_plan_off_its_technician(
    harness: Harness, database_url: str
) -> None:
    await harness.add_technician("far", home=near(DONGYING, north_km=30), capacity=1)
    await harness.add_technician("near", home=near(DONGYING, north_km=1), capacity=1)
    await harness.feed(created("o1", preferred=[window(14)]))
    moved = await harness.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "far", "reason": "by hand"}
    )
    assert moved.status_code == 200, moved.text
    await _mark_plan_dirty(harness)
    # The solver moves o1 to "near"; meanwhile o2 arrives and "near", free, takes it.
    placed = _commit_elsewhere(database_url, _event(harness, created("o2", preferred=[window(10)])))

    assert await _replan(harness, _Solver(meanwhile=placed))(lambda: _uow(harness)) == 1

    assert (await _stored(harness, "o2")).technician_id == "near"
    assert (await _stored(harness, "o1")).technician_id == "far"  # near holds one job a day
    assert not [
        e for e in await harness.published("OrderReassigned") if e.reassigned_by == handlers.PLANNER
    ]
    assert (await _plan(harness))["dirty"]
    # The re-plan, solved on the day as it now is, keeps each technician within capacity.
    assert await _replan(harness, _Solver())(lambda: _uow(harness)) == 1
    held = {o: (await _stored(harness, o)).technician_id for o in ("o1", "o2")}
    assert held == {"o1": "far", "o2": "near"}
    assert not (await _plan(harness))["dirty"]


def _roster_deps(h: Harness) -> dict[str, Any]:
    """What a technician's update checks the days of their jobs with (SCH-3)."""
    deps = _deps(h)
    return {"clock": h.clock, **{k: deps[k] for k in ("policy", "travel", "tz")}}


def _edit_technician(h: Harness, technician_id: str, **changes: Any) -> Any:
    async def edit(uow: SchedulingUnitOfWork) -> Technician:
        async with uow:
            tech = await uow.technicians.get(technician_id)
        assert tech is not None
        return await handlers.save_technician(
            commands.SaveTechnician(technician=dataclasses.replace(tech, **changes), create=False),
            uow=uow,
            **_roster_deps(h),
        )

    return edit


async def test_sch_1_sch_12_a_move_to_a_technician_edited_out_while_the_replan_solves_is_held_back(
    harness: Harness, database_url: str
) -> None:
    await harness.add_technician("far", home=near(DONGYING, north_km=30))
    await harness.add_technician("near", home=near(DONGYING, north_km=1))
    await harness.feed(created("o1", preferred=[window(14)]))
    moved = await harness.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "far", "reason": "by hand"}
    )
    assert moved.status_code == 200, moved.text
    await _mark_plan_dirty(harness)
    # The solver moves o1 to "near"; meanwhile "near" joins a partner network and another area.
    edited = _commit_elsewhere(
        database_url, _edit_technician(harness, "near", network_id="n2", areas=["Binzhou"])
    )

    assert await _replan(harness, _Solver(meanwhile=edited))(lambda: _uow(harness)) == 1

    stored = await _stored(harness, "o1")
    assert (stored.technician_id, stored.network_id) == ("far", None)
    assert not [
        e for e in await harness.published("OrderReassigned") if e.reassigned_by == handlers.PLANNER
    ]
    assert (await _plan(harness))["dirty"]
    # The re-plan, solved on the technicians as they now are, leaves o1 with "far".
    assert await _replan(harness, _Solver())(lambda: _uow(harness)) == 1
    assert (await _stored(harness, "o1")).technician_id == "far"
    assert not (await _plan(harness))["dirty"]


async def test_sch_9_an_emergency_inserted_while_the_day_is_optimised_stays_in_the_plan(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=near(DONGYING, north_km=15))
    await harness.add_technician("t2", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(14)]))
    harness.clock.now = local(10)
    deps = _deps(harness)

    async def optimise(uow: SchedulingUnitOfWork) -> dict[str, object]:
        return await handlers.optimise_day(
            commands.OptimiseDay(day=MONDAY, actor=DISPATCHER),
            uow=uow,
            clock=harness.clock,
            policy=deps["policy"],
            travel=deps["travel"],
            tz=deps["tz"],
            solver=_Solver(),
        )

    await optimise(_uow(harness))  # today's live plan exists
    await harness.feed(created("o2", preferred=[window(16)]))  # not in it yet

    second = await race(
        harness,
        optimise,
        lambda: _event(
            harness, created("gas", emergency=True, needs_verification=["customer.address"])
        )(_uow(harness)),
    )

    assert (await _stored(harness, "gas")).technician_id is not None
    plan = await _plan(harness)
    assert plan["dirty"] and {v["order_id"] for v in plan["visits"]} == {"o1", "o2", "gas"}
    assert second.waited  # it had to wait for the first one's lock


# -- records created twice at once ----------------------------------------------------------------


async def test_a_technician_registered_twice_at_once_is_created_once_and_the_other_gets_409(
    harness: Harness,
) -> None:
    body = technician_body("t9")
    first, second = await asyncio.gather(
        harness.client.post("/v1/technicians", json=body),
        harness.client.post("/v1/technicians", json=body),
    )

    # Whichever way the two interleave: one is created, the other is told so (never a 500).
    assert sorted([first.status_code, second.status_code]) == [201, 409], (first.text, second.text)
    assert (await harness.client.get("/v1/technicians/t9")).status_code == 200
