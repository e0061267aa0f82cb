"""Scheduling's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.topics import events_topic
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.adapters.tables import SCHEDULING_REGISTRY
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import RouteSolver
from scheduling.domain.travel import GreatCircleTravel, TravelTimes
from scheduling.entrypoints import api
from scheduling.entrypoints.consumer import make_handler
from scheduling.entrypoints.errors import DOMAIN_ERRORS
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from scheduling.settings import SchedulingSettings
from servicekit.consumer import EventHandler
from servicekit.messagebus import MessageBus
from servicekit.policy import load_section
from servicekit.runtime import ServiceRuntime, ServiceSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SPEC = ServiceSpec(
    name="scheduling",
    title="Scheduling service",
    description="Dispatch: assignment, appointments, day plans, lateness, partner networks.",
    metadata=SCHEDULING_REGISTRY.metadata,
    migrations_dir=MIGRATIONS,
    subscribe=[events_topic("intake"), events_topic("fieldwork"), events_topic("feedback")],
    routers=[api.router],
    domain_errors=DOMAIN_ERRORS,
)


def bootstrap(
    settings: SchedulingSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    travel: TravelTimes | None = None,
    solver: RouteSolver | None = None,
) -> ServiceRuntime:
    """Build scheduling's runtime (HTTP app, relay, consumer, timers) from ``settings``."""
    settings = settings or SchedulingSettings()
    policy = load_section(SchedulingPolicy, section="scheduling", path=settings.policy_file)
    now = clock or (lambda: datetime.now(UTC))
    travel = travel or _travel(settings, policy)
    solver = solver or PyVrpSolver()
    deps: dict[str, Any] = {"clock": now, "policy": policy, "travel": travel}

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(_uow_factory(runtime), tz=runtime.calendar.tz, **deps)

    runtime = ServiceRuntime(spec=SPEC, settings=settings, handler_factory=handler_factory)
    uow_factory = _uow_factory(runtime)
    deps.update(tz=runtime.calendar.tz, solver=solver)
    runtime.app.state.uow_factory = uow_factory
    runtime.app.state.deps = deps
    runtime.app.state.bus = MessageBus(
        command_handlers=handlers.COMMAND_HANDLERS, dependencies={"uow": uow_factory, **deps}
    )

    async def contact_overdue() -> int:
        return await handlers.sweep_contact_overdue(uow=uow_factory(), clock=now, policy=policy)

    async def replan() -> int:
        return await handlers.reoptimise_dirty_plans(uow_factory=uow_factory, **deps)

    runtime.add_periodic("contact-overdue", 60, contact_overdue)
    runtime.add_periodic("replan", policy.replan_every_seconds, replan)
    runtime.app.state.jobs = {"contact_overdue": contact_overdue, "replan": replan}
    return runtime


def _travel(settings: SchedulingSettings, policy: SchedulingPolicy) -> TravelTimes:
    if settings.osrm_url:
        from scheduling.adapters.osrm import OsrmTravel

        return OsrmTravel(base_url=settings.osrm_url)
    return GreatCircleTravel(road_factor=policy.road_factor, speed_kmh=policy.speed_kmh)


def _uow_factory(runtime: ServiceRuntime) -> Callable[[], SchedulingUnitOfWork]:
    def factory() -> SchedulingUnitOfWork:
        return SchedulingUnitOfWork(runtime.session_factory, on_commit=runtime.on_commit)

    return factory
