"""Scheduling's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contracts.topics import events_topic
from scheduling.adapters.tables import SCHEDULING_REGISTRY
from scheduling.entrypoints import api
from scheduling.entrypoints.consumer import make_handler
from scheduling.entrypoints.errors import DOMAIN_ERRORS
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from scheduling.settings import SchedulingSettings
from servicekit.consumer import EventHandler
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


def bootstrap(settings: SchedulingSettings | None = None) -> ServiceRuntime:
    """Build scheduling's runtime (HTTP app, relay, consumer) from ``settings``."""
    settings = settings or SchedulingSettings()

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(_uow_factory(runtime))

    runtime = ServiceRuntime(spec=SPEC, settings=settings, handler_factory=handler_factory)
    runtime.app.state.uow_factory = _uow_factory(runtime)
    return runtime


def _uow_factory(runtime: ServiceRuntime) -> Callable[[], SchedulingUnitOfWork]:
    def factory() -> SchedulingUnitOfWork:
        return SchedulingUnitOfWork(runtime.session_factory, on_commit=runtime.on_commit)

    return factory
