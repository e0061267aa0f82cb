"""Billing's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from billing.adapters.tables import BILLING_REGISTRY
from billing.domain.model import EVENTS_OF_INTEREST
from billing.domain.policy import BillingPolicy
from billing.entrypoints import api
from billing.entrypoints.consumer import make_handler
from billing.entrypoints.errors import DOMAIN_ERRORS
from billing.service_layer.handlers import (
    COMMAND_HANDLERS,
    apply_retention,
    price_waiting_quotes,
    sweep_cash,
    sweep_invoice_deliveries,
)
from billing.service_layer.unit_of_work import BillingUnitOfWork
from billing.settings import BillingSettings
from contracts.topics import events_topic
from servicekit.consumer import EventHandler
from servicekit.messagebus import MessageBus
from servicekit.policy import load_section
from servicekit.runtime import ServiceRuntime, ServiceSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: The producers of the events in ``EVENTS_OF_INTEREST``. Intake also carries the API-key events
#: every service applies.
PRODUCERS: tuple[str, ...] = ("intake", "scheduling", "fieldwork")

SPEC = ServiceSpec(
    name="billing",
    title="Billing service",
    description="Fees: quotes, waivers, receipts, invoices, payments and cash remittance.",
    metadata=BILLING_REGISTRY.metadata,
    migrations_dir=MIGRATIONS,
    subscribe=[events_topic(producer) for producer in PRODUCERS],
    applies=EVENTS_OF_INTEREST,
    routers=[api.router],
    domain_errors=DOMAIN_ERRORS,
)


def bootstrap(
    settings: BillingSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> ServiceRuntime:
    """Build billing's runtime (HTTP app, relay, consumer) from ``settings``."""
    settings = settings or BillingSettings()
    now = clock or (lambda: datetime.now(UTC))
    policy = load_section(BillingPolicy, section="billing", path=settings.policy_file)

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(
            _uow_factory(runtime, now), policy=policy, clock=now, tz=runtime.calendar.tz
        )

    runtime = ServiceRuntime(spec=SPEC, settings=settings, handler_factory=handler_factory)
    uow_factory = _uow_factory(runtime, now)
    runtime.app.state.uow_factory = uow_factory
    runtime.app.state.policy = policy
    runtime.app.state.clock = now
    runtime.app.state.bus = MessageBus(
        command_handlers=COMMAND_HANDLERS,
        dependencies={
            "uow": uow_factory,
            "clock": now,
            "policy": policy,
            "calendar": runtime.calendar,
        },
    )

    async def cash_job() -> int:
        return await sweep_cash(
            uow_factory=uow_factory, policy=policy, calendar=runtime.calendar, clock=now
        )

    async def quote_job() -> int:
        return await price_waiting_quotes(
            uow_factory=uow_factory, policy=policy, clock=now, tz=runtime.calendar.tz
        )

    async def retention_job() -> int:
        return await apply_retention(uow_factory=uow_factory, policy=policy, clock=now)

    async def invoice_job() -> int:
        return await sweep_invoice_deliveries(
            uow_factory=uow_factory, calendar=runtime.calendar, clock=now
        )

    runtime.add_periodic("cash-remittance-check", policy.cash_sweep_every_seconds, cash_job)
    runtime.add_periodic("waiting-quotes", policy.quote_sweep_every_seconds, quote_job)
    runtime.add_periodic("invoice-follow-up", policy.invoice_sweep_every_seconds, invoice_job)
    runtime.add_periodic("retention", policy.retention_sweep_every_seconds, retention_job)
    return runtime


def _uow_factory(
    runtime: ServiceRuntime, clock: Callable[[], datetime]
) -> Callable[[], BillingUnitOfWork]:
    def factory() -> BillingUnitOfWork:
        return BillingUnitOfWork(runtime.session_factory, on_commit=runtime.on_commit, clock=clock)

    return factory
