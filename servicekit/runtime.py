"""A service's runtime: its engine, outbox relay, consumer and FastAPI app, started and stopped
together. Each service's ``bootstrap.py`` builds one from its settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.envelope import EventEnvelope
from contracts.identity import ApiKeyIssued, ApiKeyRevoked
from contracts.registry import UnknownEventType, parse_data
from contracts.topics import ALL_TOPICS, dead_letter_topic, events_topic
from servicekit import migrations
from servicekit.admission import AdmissionMiddleware, FairGate
from servicekit.auth import Authenticator, apply_key_event
from servicekit.broker_watch import BrokerWatch, is_connection_error
from servicekit.calendar import BusinessCalendar, CalendarPolicy
from servicekit.consumer import (
    EventConsumer,
    EventFilter,
    EventHandler,
    PoisonMessage,
    report_dead_letters,
)
from servicekit.db import SessionFactory, make_engine, make_session_factory, ping
from servicekit.http import CorrelationAndMetricsMiddleware, HeadAsGet, RequestGuard, ops_router
from servicekit.idempotency import purge_expired
from servicekit.inbox import purge_received_before
from servicekit.kafka import KafkaPublisher, broker_reachable, ensure_topics
from servicekit.openapi import install_openapi
from servicekit.outbox import OutboxRelay, pending_count, purge_published_before
from servicekit.policy import load_section
from servicekit.problems import install_problem_handlers
from servicekit.query import refuse_unknown_query_parameters
from servicekit.settings import ServiceSettings

log = structlog.get_logger(__name__)

DEAD_LETTER_COUNT_SECONDS = 60.0
"""How often each service reads the size of its dead-letter topic from the broker."""

KEY_EVENT_TYPES = {ApiKeyIssued.cloudevents_type(), ApiKeyRevoked.cloudevents_type()}
_KEY_EVENT_NAMES = frozenset({ApiKeyIssued.event_type, ApiKeyRevoked.event_type})


def _accepts(applies: frozenset[str] | None) -> EventFilter | None:
    """The consumer's filter of a service that applies only ``applies`` (and API-key events)."""
    if applies is None:
        return None
    accepted = _KEY_EVENT_NAMES | applies
    return lambda name: name in accepted


@dataclass
class ServiceSpec:
    """What a service contributes to its runtime."""

    name: str
    title: str
    description: str
    metadata: MetaData
    migrations_dir: Path
    subscribe: Sequence[str]
    routers: Sequence[APIRouter]
    domain_errors: Mapping[type[Exception], tuple[int, str]] = field(default_factory=dict)
    version: str = "1.0.0"
    applies: frozenset[str] | None = None
    """Names of the events the service's handler applies; the consumer skips the others without
    parsing them. None: every event reaches the handler. API-key events always do."""


class ServiceRuntime:
    """Everything one service runs: HTTP app, outbox relay, event consumer."""

    def __init__(
        self,
        *,
        spec: ServiceSpec,
        settings: ServiceSettings,
        handler_factory: Callable[[ServiceRuntime], EventHandler],
        engine: AsyncEngine | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.engine = engine or make_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_max_overflow,
            pool_pre_ping=settings.database_pool_pre_ping,
        )
        self.session_factory: SessionFactory = make_session_factory(self.engine)
        self.publisher = KafkaPublisher(settings.kafka, client_id=f"{spec.name}-relay")
        self.broker_watch = BrokerWatch(
            settings.kafka,
            service=spec.name,
            publishes=settings.run_relay,
            consumes=settings.run_consumer and bool(spec.subscribe),
            outbox_pending=lambda: pending_count(self.session_factory),
        )
        self.relay = OutboxRelay(
            session_factory=self.session_factory,
            publisher=self.publisher,
            service=spec.name,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_ms / 1000,
            max_backoff=settings.outbox_max_backoff_ms / 1000,
            broker=self.broker_watch,
        )
        self.authenticator = Authenticator(
            self.session_factory,
            settings.bootstrap_api_key.get_secret_value() if settings.bootstrap_api_key else None,
        )
        self.calendar: BusinessCalendar = load_section(
            CalendarPolicy, section="calendar", path=settings.policy_file
        ).build()
        self._service_handler = handler_factory(self)
        self.consumer = EventConsumer(
            settings=settings.kafka,
            topics=list(spec.subscribe),
            group_id=f"fsm-{spec.name}",
            service=spec.name,
            handler=self.handle_event,
            dead_letters=self.publisher,
            accepts=_accepts(spec.applies),
            broker=self.broker_watch,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._job_tasks: list[asyncio.Task[None]] = []
        self._periodic: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self._broker_ok: tuple[float, bool] = (0.0, False)
        self.app = self._build_app()
        self.add_periodic("outbox-inbox-purge", 3600, self.purge_delivered_messages)
        self.add_periodic("dead-letter-count", DEAD_LETTER_COUNT_SECONDS, self.report_dead_letters)

    def add_periodic(
        self, name: str, every_seconds: float, job: Callable[[], Awaitable[object]]
    ) -> None:
        """Run ``job`` every ``every_seconds`` while the service runs (timers, sweeps, reports).

        Jobs must be idempotent: they decide from the database what is due, so a restart or a
        second replica does no harm.
        """
        if every_seconds <= 0:
            raise ValueError("every_seconds must be positive")
        self._periodic.append((name, every_seconds, job))

    async def _run_periodic(
        self, name: str, every_seconds: float, job: Callable[[], Awaitable[object]]
    ) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic_job.failed", job=name)
            await asyncio.sleep(every_seconds)

    async def purge_delivered_messages(self, now: datetime | None = None) -> dict[str, int]:
        """Delete outbox rows published ``outbox_keep_published_hours`` ago, inbox ids older
        than ``inbox_keep_days`` and expired Idempotency-Key records (hourly job, in every
        service); returns how many of each."""
        now = now or datetime.now(UTC)
        outbox = await purge_published_before(
            self.session_factory,
            now - timedelta(hours=self.settings.outbox_keep_published_hours),
        )
        inbox = await purge_received_before(
            self.session_factory, now - timedelta(days=self.settings.inbox_keep_days)
        )
        keys = await purge_expired(self.session_factory, now)
        if outbox or inbox or keys:
            log.info("messages.purged", outbox=outbox, inbox=inbox, idempotency_keys=keys)
        return {"outbox": outbox, "inbox": inbox, "idempotency_keys": keys}

    async def report_dead_letters(self) -> dict[str, int]:
        """Set ``fsm_dead_letter_messages`` of this service's events topic's dead-letter topic
        (what ``fsm dead-letters <service>`` lists) from the broker (a job every minute)."""
        try:
            return await report_dead_letters(
                self.settings.kafka,
                service=self.spec.name,
                topics=[dead_letter_topic(events_topic(self.spec.name))],
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            # The figure keeps its last value, the next run tries again. An outage is told
            # once by the broker watch, not once a minute here.
            if is_connection_error(exc) and await self.broker_watch.unreachable(exc):
                log.debug("dead_letters.count_failed", error=repr(exc))
            else:
                log.warning("dead_letters.count_failed", error=repr(exc))
            return {}

    def on_commit(self) -> None:
        """Called by units of work after a commit that staged events."""
        self.relay.notify()

    async def handle_event(self, envelope: EventEnvelope) -> None:
        """Kit-level events (API keys) first, then the service's own handler."""
        if envelope.type in KEY_EVENT_TYPES:
            async with self.session_factory() as session:
                from servicekit.inbox import claim

                if await claim(session, envelope):
                    await apply_key_event(session, parse_data(envelope))
                    await session.commit()
            return
        try:
            await self._service_handler(envelope)
        except UnknownEventType as exc:
            raise PoisonMessage(f"unknown event type {envelope.type}") from exc

    async def migrate(self) -> None:
        """Bring this service's database schema up to date."""
        await migrations.upgrade(self.spec.migrations_dir, self.settings.resolved_database_url)

    async def readiness(self) -> dict[str, Any]:
        """Database and broker reachability."""
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(ping(self.engine), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable ({type(exc).__name__})"
        loop = asyncio.get_running_loop()
        checked_at, ok = self._broker_ok
        if loop.time() - checked_at > 2.0:
            ok = await broker_reachable(self.settings.kafka, within=2.0)
            self._broker_ok = (loop.time(), ok)
        checks["broker"] = "ok" if ok else "unreachable"
        return checks

    async def start(self) -> None:
        """Start the relay and the consumer in the background."""
        self.broker_watch.start()
        if self.settings.run_relay:
            self._tasks.append(
                asyncio.create_task(self.relay.run(), name=f"{self.spec.name}-relay")
            )
        if self.settings.run_consumer and self.spec.subscribe:
            self._tasks.append(
                asyncio.create_task(self.consumer.run(), name=f"{self.spec.name}-consumer")
            )
        if self.settings.run_periodic_jobs:
            # The jobs' broker clients (the dead-letter count) report to the watch too.
            with self.broker_watch.watching():
                for name, every, job in self._periodic:
                    self._job_tasks.append(
                        asyncio.create_task(
                            self._run_periodic(name, every, job), name=f"{self.spec.name}-{name}"
                        )
                    )

    async def stop(self) -> None:
        """Stop background work, flush the producer and close the database."""
        self.relay.stop()
        self.consumer.stop()
        for task in self._job_tasks:
            task.cancel()
        self._tasks.extend(self._job_tasks)
        self._job_tasks.clear()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        await self.broker_watch.close()
        await self.publisher.stop()
        await self.engine.dispose()

    def _build_app(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=self.spec.title,
            description=self.spec.description,
            version=self.spec.version,
            lifespan=lifespan,
            dependencies=[Depends(refuse_unknown_query_parameters)],
            # FastAPI's native OpenTelemetry looks the global providers up on every request;
            # off unless asked for, since metrics go to Prometheus and logs to structlog.
            telemetry={
                "tracing": self.settings.opentelemetry,
                "metrics": self.settings.opentelemetry,
                "logs": self.settings.opentelemetry,
            },
        )
        app.state.runtime = self
        app.state.authenticator = self.authenticator
        # Innermost: HEAD is GET to everything else, and its body is dropped last.
        app.add_middleware(HeadAsGet)
        # Added early, so it runs inside the correlation/metrics middleware: a request shed
        # with 503 is still counted and correlated.
        app.add_middleware(
            AdmissionMiddleware,
            gate=FairGate(self.settings.resolved_http_max_concurrency),
            queue_timeout=self.settings.http_queue_timeout_seconds,
            service=self.spec.name,
        )
        app.add_middleware(RequestGuard, max_body_bytes=self.settings.http_max_body_bytes)
        app.add_middleware(CorrelationAndMetricsMiddleware, service=self.spec.name)
        install_problem_handlers(app, self.spec.domain_errors)
        app.include_router(ops_router(self.readiness))
        for router in self.spec.routers:
            app.include_router(router)
        install_openapi(app)
        return app


async def prepare_broker(settings: ServiceSettings) -> None:
    """Create every topic (and its DLT) if missing."""
    await ensure_topics(settings.kafka, ALL_TOPICS)


Runner = Callable[[], Awaitable[None]]
