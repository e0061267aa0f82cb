"""Fieldwork's composition root: builds everything from settings; no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contracts.topics import events_topic
from fieldwork.adapters.report import find_cjk_font
from fieldwork.adapters.storage import EvidenceStore, FileEvidenceStore
from fieldwork.adapters.tables import FIELDWORK_REGISTRY
from fieldwork.domain.model import EVENTS_OF_INTEREST
from fieldwork.domain.policy import FieldworkPolicy
from fieldwork.entrypoints import api
from fieldwork.entrypoints.consumer import make_handler
from fieldwork.entrypoints.errors import DOMAIN_ERRORS
from fieldwork.service_layer import handlers
from fieldwork.service_layer.handlers import COMMAND_HANDLERS
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from fieldwork.settings import FieldworkSettings
from servicekit.consumer import EventHandler
from servicekit.messagebus import MessageBus
from servicekit.policy import PolicyError, load_section
from servicekit.runtime import ServiceRuntime, ServiceSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: The producers of the events in ``EVENTS_OF_INTEREST``. Intake also carries the API-key events
#: every service applies.
PRODUCERS: tuple[str, ...] = ("intake", "scheduling", "billing")

SPEC = ServiceSpec(
    name="fieldwork",
    title="Fieldwork service",
    description="The visit itself: departure, arrival, diagnosis, consent, repair and sign-off.",
    metadata=FIELDWORK_REGISTRY.metadata,
    migrations_dir=MIGRATIONS,
    subscribe=[events_topic(producer) for producer in PRODUCERS],
    applies=EVENTS_OF_INTEREST,
    routers=[api.router],
    domain_errors=DOMAIN_ERRORS,
)


def bootstrap(
    settings: FieldworkSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    store: EvidenceStore | None = None,
) -> ServiceRuntime:
    """Build fieldwork's runtime (HTTP app, relay, consumer, sweep) from ``settings``."""
    settings = settings or FieldworkSettings()
    now = clock or (lambda: datetime.now(UTC))
    policy = load_section(FieldworkPolicy, section="fieldwork", path=settings.policy_file)
    if policy.upload_max_bytes > settings.http_max_body_bytes:
        raise PolicyError(
            f"fieldwork.upload_max_bytes: {policy.upload_max_bytes} exceeds "
            f"FSM_FIELDWORK_HTTP_MAX_BODY_BYTES ({settings.http_max_body_bytes}): such an upload "
            "would be refused before its size is checked",
            path=settings.policy_file,
        )
    evidence = store or FileEvidenceStore(settings.resolved_evidence_dir)

    def handler_factory(runtime: ServiceRuntime) -> EventHandler:
        return make_handler(_uow_factory(runtime, now), store=evidence, clock=now)

    runtime = ServiceRuntime(spec=SPEC, settings=settings, handler_factory=handler_factory)
    uow_factory = _uow_factory(runtime, now)
    tz = runtime.calendar.tz
    state = runtime.app.state
    state.uow_factory = uow_factory
    state.clock = now
    state.policy = policy
    state.evidence_store = evidence
    state.report_font = find_cjk_font(settings.report_font)
    state.bus = MessageBus(
        command_handlers=COMMAND_HANDLERS,
        dependencies={
            "uow": uow_factory,
            "uow_factory": uow_factory,
            "clock": now,
            "policy": policy,
            "tz": tz,
            "store": evidence,
        },
    )

    async def sweep() -> dict[str, int]:
        return await handlers.sweep(uow_factory=uow_factory, clock=now, policy=policy, tz=tz)

    state.sweep = sweep
    runtime.add_periodic("sweep", settings.sweep_every_seconds, sweep)
    return runtime


def _uow_factory(
    runtime: ServiceRuntime, clock: Callable[[], datetime]
) -> Callable[[], FieldworkUnitOfWork]:
    def factory() -> FieldworkUnitOfWork:
        return FieldworkUnitOfWork(
            runtime.session_factory, on_commit=runtime.on_commit, clock=clock
        )

    return factory
