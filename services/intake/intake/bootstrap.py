"""Intake's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contracts.topics import ALL_EVENT_TOPICS
from intake.adapters.tables import INTAKE_REGISTRY
from intake.domain.policy import IntakePolicy
from intake.entrypoints import api, api_keys
from intake.entrypoints.consumer import make_handler
from intake.entrypoints.errors import DOMAIN_ERRORS
from intake.service_layer import handlers
from intake.service_layer.handlers import COMMAND_HANDLERS
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from intake.settings import IntakeSettings
from servicekit.consumer import EventHandler
from servicekit.messagebus import MessageBus
from servicekit.policy import load_section
from servicekit.runtime import ServiceRuntime, ServiceSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SPEC = ServiceSpec(
    name="intake",
    title="Intake service",
    description="The call centre's front door: orders, verification, SLA clocks, order timelines.",
    metadata=INTAKE_REGISTRY.metadata,
    migrations_dir=MIGRATIONS,
    subscribe=ALL_EVENT_TOPICS,
    routers=[api.router, api.warranty_router, api_keys.router],
    domain_errors=DOMAIN_ERRORS,
)


def bootstrap(
    settings: IntakeSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> ServiceRuntime:
    """Build intake's runtime (HTTP app, relay, consumer, SLA check, closing sweep) from
    ``settings``.

    ``clock`` replaces the wall clock for the domain (order times, SLA clocks), so timers are
    testable without sleeping. A bad ``intake`` policy section stops start-up here.
    """
    settings = settings or IntakeSettings()
    now = clock or (lambda: datetime.now(UTC))
    policy = load_section(IntakePolicy, section="intake", path=settings.policy_file)

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(_uow_factory(runtime, now), clock=now)

    runtime = ServiceRuntime(spec=SPEC, settings=settings, handler_factory=handler_factory)
    uow_factory = _uow_factory(runtime, now)
    runtime.app.state.uow_factory = uow_factory
    runtime.app.state.clock = now
    runtime.app.state.policy = policy
    runtime.app.state.bus = MessageBus(
        command_handlers=COMMAND_HANDLERS,
        dependencies={
            "uow": uow_factory,
            "clock": now,
            "policy": policy,
            "calendar": runtime.calendar,
            "warranty_periods": handlers.WarrantyPeriodCache(settings.warranty_cache_seconds),
        },
    )

    async def check_sla_clocks() -> int:
        return await handlers.check_sla_clocks(uow=uow_factory(), clock=now)

    async def close_settled_orders() -> int:
        return await handlers.close_settled_orders(uow=uow_factory(), clock=now, policy=policy)

    runtime.app.state.check_sla_clocks = check_sla_clocks
    runtime.app.state.close_settled_orders = close_settled_orders
    runtime.add_periodic("sla-clocks", policy.sla_check_every_seconds, check_sla_clocks)
    runtime.add_periodic("close-orders", policy.close_check_every_seconds, close_settled_orders)
    return runtime


def _uow_factory(
    runtime: ServiceRuntime, clock: Callable[[], datetime]
) -> Callable[[], IntakeUnitOfWork]:
    def factory() -> IntakeUnitOfWork:
        return IntakeUnitOfWork(runtime.session_factory, on_commit=runtime.on_commit, clock=clock)

    return factory
