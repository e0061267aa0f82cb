"""Unit of work: one transaction that holds the state change, its events (outbox) and, for a
consumed event, its inbox record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from contracts.topics import events_topic
from servicekit import context, idempotency, inbox
from servicekit.db import SessionFactory
from servicekit.outbox import add_to_outbox


class RecordsEvents(Protocol):
    """An aggregate: it appends the events it causes to ``events``; it never publishes."""

    events: list[EventData]


A = TypeVar("A", bound=RecordsEvents)


class SqlUnitOfWork:
    """Base unit of work over an async SQLModel session.

    Subclasses add repositories in ``__aenter__``. On ``commit`` the events recorded by tracked
    aggregates (and by :meth:`record`) become envelopes in the outbox, in the same transaction.
    The rows its repositories keep under the transaction's locks (:func:`servicekit.db.get_row`,
    :func:`servicekit.db.keep_row`) and the advisory locks it holds are forgotten as the
    transaction ends, however it ends (commit, rollback, the session's close).
    """

    session: AsyncSession

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        on_commit: Callable[[], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._on_commit = on_commit
        self._clock = clock or (lambda: datetime.now(UTC))
        """The service's clock: the time its envelopes carry, as its domain stamps its facts."""
        self._tracked: list[RecordsEvents] = []
        self._recorded: list[EventData] = []
        self.committed_events: list[EventEnvelope] = []
        self.resource_id: str | None = None
        """The id of what the request changed, when no tracked aggregate names it: kept with
        its ``Idempotency-Key`` so a retry after a crash can rebuild the answer from it."""

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        self._tracked = []
        self._recorded = []
        self.committed_events = []
        self.resource_id = None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    def track(self, aggregate: A) -> A:
        """Watch ``aggregate`` so its recorded events are written on commit."""
        if not any(a is aggregate for a in self._tracked):
            self._tracked.append(aggregate)
        return aggregate

    def record(self, payload: EventData) -> None:
        """Stage an event that no aggregate recorded (e.g. a read-model decision)."""
        self._recorded.append(payload)

    async def claim_inbox(self, envelope: EventEnvelope) -> bool:
        """Mark a consumed event as applied in this transaction; False if it already was."""
        return await inbox.claim(self.session, envelope)

    def _drain_events(self) -> list[EventData]:
        drained: list[EventData] = []
        for aggregate in self._tracked:
            drained.extend(aggregate.events)
            aggregate.events.clear()
        drained.extend(self._recorded)
        self._recorded.clear()
        return drained

    def _first_tracked_id(self) -> str | None:
        for aggregate in self._tracked:
            for attribute in ("id", "order_id"):
                value = getattr(aggregate, attribute, None)
                if value is not None:
                    return str(value)
        return self.resource_id

    def wrap(self, payload: EventData) -> EventEnvelope:
        """The envelope of a staged event, in the current flow's context, at the service's
        clock's time."""
        return EventEnvelope.wrap(
            payload,
            correlation_id=context.correlation_id(),
            causation_id=context.causation_id(),
            time=self._clock(),
        )

    async def collect(self) -> None:
        """Hook: track the aggregates the repositories loaded or added (called first on commit)."""

    async def staged(self, envelope: EventEnvelope, payload: EventData) -> None:
        """Hook: react to an event staged in this transaction (e.g. a read model, webhooks)."""

    async def before_commit(self) -> None:
        """Hook: last writes of the transaction (e.g. save the aggregates)."""

    async def commit(self) -> None:
        """Write pending events to the outbox and commit everything atomically.

        Order: ``collect`` → each event to the outbox, then ``staged`` → ``before_commit`` →
        the idempotency record of the request, if any → COMMIT → relay notified.
        """
        await self.collect()
        envelopes: list[EventEnvelope] = []
        for payload in self._drain_events():
            envelope = self.wrap(payload)
            await add_to_outbox(self.session, envelope, topic=events_topic(payload.producer))
            await self.staged(envelope, payload)
            envelopes.append(envelope)
        await self.before_commit()
        idempotency.stage_claim(
            self.session,
            resource_id=self._first_tracked_id(),
            events=[envelope.event_name for envelope in envelopes],
        )
        await self.session.commit()
        self.committed_events.extend(envelopes)
        if envelopes and self._on_commit is not None:
            self._on_commit()

    async def rollback(self) -> None:
        """Discard the transaction."""
        await self.session.rollback()
