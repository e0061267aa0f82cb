"""Scheduling's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import EventEnvelope
from contracts.scheduling import WebhookEndpointDisabled
from contracts.topics import events_topic
from scheduling.adapters.pyvrp_solver import PyVrpSolver
from scheduling.adapters.repository import RosterCache
from scheduling.adapters.tables import SCHEDULING_REGISTRY
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.routing import RouteSolver
from scheduling.domain.travel import GreatCircleTravel, TravelTimes
from scheduling.entrypoints import api
from scheduling.entrypoints.consumer import make_handler
from scheduling.entrypoints.dependencies import network_scope
from scheduling.entrypoints.errors import DOMAIN_ERRORS
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from scheduling.settings import SchedulingSettings
from servicekit.consumer import EventHandler
from servicekit.messagebus import MessageBus
from servicekit.outbox import add_to_outbox
from servicekit.policy import invalid_policy, load_section
from servicekit.runtime import ServiceRuntime, ServiceSpec
from servicekit.webhooks import (
    DisabledEndpoint,
    WebhookPolicy,
    WebhookWorker,
    purge_finished_before,
    webhook_router,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SPEC = ServiceSpec(
    name="scheduling",
    title="Scheduling service",
    description="Dispatch: assignment, appointments, day plans, lateness, partner networks.",
    metadata=SCHEDULING_REGISTRY.metadata,
    migrations_dir=MIGRATIONS,
    # billing too: partner networks hear every event of the orders they hold (issue 5)
    subscribe=[
        events_topic("intake"),
        events_topic("fieldwork"),
        events_topic("billing"),
        events_topic("feedback"),
    ],
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
    webhooks = webhook_policy(policy, path=settings.policy_file)
    now = clock or (lambda: datetime.now(UTC))
    travel = travel or _travel(settings, policy)
    solver = solver or PyVrpSolver()
    deps: dict[str, Any] = {"clock": now, "policy": policy, "travel": travel}
    # one per runtime, shared by the consumer's units of work and the API's: every automatic
    # placement reads the roster, which changes rarely
    roster = RosterCache()

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(
            _uow_factory(runtime, now, roster),
            tz=runtime.calendar.tz,
            calendar=runtime.calendar,
            **deps,
        )

    spec = dataclasses.replace(
        SPEC,
        routers=[
            *SPEC.routers,
            webhook_router(
                scope=network_scope,
                policy=webhooks,
                clock=now,
                idempotency_ttl=timedelta(hours=policy.idempotency_key_ttl_hours),
            ),
        ],
    )
    runtime = ServiceRuntime(spec=spec, settings=settings, handler_factory=handler_factory)
    uow_factory = _uow_factory(runtime, now, roster)
    deps.update(tz=runtime.calendar.tz, solver=solver)
    runtime.app.state.uow_factory = uow_factory
    runtime.app.state.deps = deps
    # the service's clock: API keys expire by it, as the domain's times are (servicekit.auth)
    runtime.app.state.clock = now
    runtime.app.state.bus = MessageBus(
        command_handlers=handlers.COMMAND_HANDLERS,
        dependencies={"uow": uow_factory, "calendar": runtime.calendar, **deps},
    )

    async def contact_overdue() -> int:
        return await handlers.sweep_contact_overdue(
            uow=uow_factory(), clock=now, policy=policy, tz=runtime.calendar.tz
        )

    async def replan() -> int:
        return await handlers.reoptimise_dirty_plans(uow_factory=uow_factory, **deps)

    async def network_acceptance() -> int:
        return await handlers.sweep_network_acceptance(uow=uow_factory(), clock=now, policy=policy)

    async def auto_placement() -> int:
        return await handlers.retry_auto_placement(
            uow_factory=uow_factory,
            clock=now,
            policy=policy,
            travel=travel,
            tz=runtime.calendar.tz,
            calendar=runtime.calendar,
        )

    async def endpoint_disabled(session: AsyncSession, endpoint: DisabledEndpoint) -> None:
        # staged in the transaction that disables the endpoint: ops hear of it exactly once
        envelope = EventEnvelope.wrap(
            WebhookEndpointDisabled(
                network_id=endpoint.owner_id,
                subscription_id=endpoint.subscription_id,
                url=endpoint.url,
                cause=endpoint.cause,
                reason=endpoint.reason,
                failing_since=endpoint.failing_since,
                disabled_at=endpoint.disabled_at,
            )
        )
        await add_to_outbox(session, envelope, topic=events_topic("scheduling"))

    worker = WebhookWorker(
        runtime.session_factory,
        policy=webhooks,
        clock=now,
        on_endpoint_disabled=endpoint_disabled,
    )

    async def purge_webhook_messages() -> int:
        # A partner can have a message sent again (replay) only while it is kept.
        cutoff = now() - timedelta(days=webhooks.message_retention_days)
        return await purge_finished_before(runtime.session_factory, cutoff)

    runtime.add_periodic("contact-overdue", 60, contact_overdue)
    runtime.add_periodic("network-acceptance", 60, network_acceptance)
    runtime.add_periodic("auto-placement", policy.auto_placement_retry_seconds, auto_placement)
    runtime.add_periodic("replan", policy.replan_every_seconds, replan)
    runtime.add_periodic("webhooks", webhooks.poll_interval_seconds, worker.run_once)
    runtime.add_periodic("webhook-purge", 3600, purge_webhook_messages)
    runtime.app.state.jobs = {
        "contact_overdue": contact_overdue,
        "network_acceptance": network_acceptance,
        "auto_placement": auto_placement,
        "replan": replan,
        "webhooks": worker.run_once,
        "webhook_purge": purge_webhook_messages,
    }
    runtime.app.state.webhook_worker = worker
    return runtime


def webhook_policy(policy: SchedulingPolicy, *, path: Path | None = None) -> WebhookPolicy:
    """The kit's WebhookPolicy from the policy file's `scheduling.webhooks` (a bad value stops
    start-up with a PolicyError naming ``path`` and the key). Local receivers (``make run``) need
    ``allow_private_addresses: true`` and ``require_https: false`` there; the shipped file keeps
    the production-safe defaults."""
    try:
        return WebhookPolicy.model_validate(policy.webhooks.model_dump())
    except ValidationError as exc:
        raise invalid_policy(
            exc, model=WebhookPolicy, section="scheduling.webhooks", path=path
        ) from exc


def _travel(settings: SchedulingSettings, policy: SchedulingPolicy) -> TravelTimes:
    if settings.osrm_url:
        from scheduling.adapters.osrm import OsrmTravel

        return OsrmTravel(base_url=settings.osrm_url)
    return GreatCircleTravel(road_factor=policy.road_factor, speed_kmh=policy.speed_kmh)


def _uow_factory(
    runtime: ServiceRuntime, clock: Callable[[], datetime], roster: RosterCache
) -> Callable[[], SchedulingUnitOfWork]:
    def factory() -> SchedulingUnitOfWork:
        return SchedulingUnitOfWork(
            runtime.session_factory, on_commit=runtime.on_commit, clock=clock, roster=roster
        )

    return factory
