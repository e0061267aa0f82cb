"""Feedback's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.topics import events_topic
from feedback.adapters.calendar import UtcCalendar
from feedback.adapters.tables import FEEDBACK_REGISTRY
from feedback.domain.model import EVENTS_OF_INTEREST
from feedback.domain.policy import FeedbackPolicy
from feedback.entrypoints import api
from feedback.entrypoints.consumer import make_handler
from feedback.entrypoints.errors import DOMAIN_ERRORS
from feedback.service_layer import handlers
from feedback.service_layer.handlers import COMMAND_HANDLERS
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from feedback.settings import FeedbackSettings
from servicekit.consumer import EventHandler
from servicekit.messagebus import MessageBus
from servicekit.policy import load_section
from servicekit.runtime import ServiceRuntime, ServiceSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: The producers of the events in ``EVENTS_OF_INTEREST``. Intake also carries the API-key events
#: every service applies.
PRODUCERS: tuple[str, ...] = ("intake", "scheduling", "fieldwork", "billing")

SPEC = ServiceSpec(
    name="feedback",
    title="Feedback service",
    description="Follow-up and quality: call-backs, revisits, complaints, fraud checks and KPIs.",
    metadata=FEEDBACK_REGISTRY.metadata,
    migrations_dir=MIGRATIONS,
    subscribe=[events_topic(producer) for producer in PRODUCERS],
    applies=EVENTS_OF_INTEREST,
    routers=[api.router],
    domain_errors=DOMAIN_ERRORS,
)


def bootstrap(
    settings: FeedbackSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> ServiceRuntime:
    """Build feedback's runtime (HTTP app, relay, consumer, daily sweep) from ``settings``."""
    settings = settings or FeedbackSettings()
    now = clock or (lambda: datetime.now(UTC))
    policy = load_section(FeedbackPolicy, section="feedback", path=settings.policy_file)

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(
            _uow_factory(runtime, now),
            policy=policy,
            calendar=UtcCalendar(runtime.calendar),
            clock=now,
        )

    runtime = ServiceRuntime(spec=SPEC, settings=settings, handler_factory=handler_factory)
    uow_factory = _uow_factory(runtime, now)
    calendar = UtcCalendar(runtime.calendar)
    runtime.app.state.uow_factory = uow_factory
    runtime.app.state.policy = policy
    runtime.app.state.clock = now
    runtime.app.state.calendar = calendar
    runtime.app.state.bus = MessageBus(
        command_handlers=COMMAND_HANDLERS,
        dependencies={
            "uow": uow_factory,
            "clock": now,
            "policy": policy,
            "calendar": calendar,
        },
    )

    async def sweep() -> dict[str, Any]:
        return await handlers.sweep(
            uow_factory=uow_factory, clock=now, policy=policy, calendar=calendar
        )

    runtime.app.state.sweep = sweep
    runtime.add_periodic("sweep", policy.sweep_every_seconds, sweep)
    return runtime


def _uow_factory(
    runtime: ServiceRuntime, clock: Callable[[], datetime]
) -> Callable[[], FeedbackUnitOfWork]:
    def factory() -> FeedbackUnitOfWork:
        return FeedbackUnitOfWork(runtime.session_factory, on_commit=runtime.on_commit, clock=clock)

    return factory
