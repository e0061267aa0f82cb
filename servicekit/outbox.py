"""Transactional outbox: events are rows written in the state change's transaction; a relay
publishes them to Kafka afterwards, in order per key, and marks them sent."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field

from contracts.envelope import EventEnvelope
from servicekit.broker_watch import is_connection_error
from servicekit.db import KitTable, SessionFactory, delete_in_batches, table_of
from servicekit.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from servicekit.broker_watch import BrokerWatch
    from servicekit.kafka import Publisher

log = structlog.get_logger(__name__)


class OutboxMessage(KitTable, table=True):
    """An event waiting to be (or already) published."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "published_at", "seq"),
        # Erasing an order's personal data (BIL-11) finds its events by key among the week of
        # published ones the outbox keeps.
        Index("ix_outbox_key", "key"),
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    event_id: str = Field(max_length=36, unique=True)
    topic: str = Field(max_length=200)
    key: str = Field(max_length=200)
    event_type: str = Field(max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    headers: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


_OUTBOX = table_of(OutboxMessage)
_INSERT_OUTBOX = insert(_OUTBOX)
# Built once: the relay runs them for every batch it publishes.
_PENDING = (
    select(
        _OUTBOX.c.seq,
        _OUTBOX.c.event_id,
        _OUTBOX.c.topic,
        _OUTBOX.c.key,
        _OUTBOX.c.event_type,
        _OUTBOX.c.payload,
        _OUTBOX.c.headers,
    )
    .where(_OUTBOX.c.published_at.is_(None))
    .order_by(_OUTBOX.c.seq)
    .limit(bindparam("batch", type_=Integer))
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.seq.in_(bindparam("seqs", expanding=True)))
    .values(published_at=bindparam("sent_at"), attempts=_OUTBOX.c.attempts + 1)
)


async def add_to_outbox(
    session: AsyncSession,
    envelope: EventEnvelope,
    *,
    topic: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Write ``envelope`` in the caller's transaction; it is published only if that commits."""
    # A Core insert: an ORM object per event costs more CPU than the insert itself, and
    # nothing reads the row back in this transaction.
    await session.execute(
        _INSERT_OUTBOX,
        {
            "event_id": str(envelope.id),
            "topic": topic,
            "key": envelope.partitionkey,
            "event_type": envelope.type,
            "payload": envelope.model_dump_json(),
            "headers": json.dumps(headers or {}),
            "created_at": datetime.now(UTC),
            "attempts": 0,
        },
    )


class OutboxRelay:
    """Publishes unpublished outbox rows in ``seq`` order and marks them sent.

    One relay per service database. Rows of one key keep their order: they are sent in ``seq``
    order to the key's partition, a row only once the key's previous row is acknowledged, and a
    failed row stops the batch so nothing of its key overtakes it (see :meth:`_send`).
    While the broker is down it keeps retrying with capped exponential backoff and jitter; with
    a ``broker`` watch the outage is logged once by the watch rather than on every retry, and
    the watch's "back" ends the backoff at once.
    """

    def __init__(
        self,
        *,
        session_factory: SessionFactory,
        publisher: Publisher,
        service: str,
        batch_size: int = 200,
        poll_interval: float = 0.2,
        max_backoff: float = 5.0,
        broker: BrokerWatch | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._publisher = publisher
        self._service = service
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._broker = broker
        self._wakeup = asyncio.Event()
        # Ends a backoff early; a commit's notify() does not (one try per commit would hammer a
        # broker that is away), the broker coming back and stop() do.
        self._retry_now = asyncio.Event()
        self._stopping = False
        self._leader_connection: AsyncConnection | None = None
        if broker is not None:
            broker.on_back(self._retry_now.set)

    def notify(self) -> None:
        """Wake the relay now (called after a commit that staged events)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Ask the loop to end after the current batch."""
        self._stopping = True
        self._wakeup.set()
        self._retry_now.set()

    async def run(self) -> None:
        """Publish until stopped."""
        watching = self._broker.watching() if self._broker else contextlib.nullcontext()
        try:
            with watching:
                await self._run()
        finally:
            await self.release()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                published = await self.publish_pending()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self._max_backoff, 0.1 * 2 ** min(failures, 10))
                delay *= 0.5 + random.random() / 2
                OUTBOX_PUBLISH_FAILURES.labels(self._service).inc()
                if await self._broker_is_away(exc):
                    # Told once by the broker watch; the events wait in the outbox meanwhile.
                    log.debug("outbox.publish_deferred", error=repr(exc), retry_in_s=delay)
                else:
                    log.warning(
                        "outbox.publish_failed", error=repr(exc), retry_in_s=round(delay, 3)
                    )
                await self._sleep(delay, self._retry_now)
                continue
            if published and self._broker is not None:
                await self._broker.reachable()
            if published < self._batch_size:
                await self._sleep(self._poll_interval, self._wakeup)

    async def _broker_is_away(self, error: BaseException) -> bool:
        return (
            self._broker is not None
            and is_connection_error(error)
            and await self._broker.unreachable(error)
        )

    @staticmethod
    async def _sleep(seconds: float, wakeup: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=seconds)
        wakeup.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were marked published.

        The rows are read and marked in two short transactions (single autocommit statements on
        PostgreSQL's leader connection) and sent in between: no database lock is held while the
        broker is slow or away (SQLite has one writer, and the API must
        keep taking orders during a broker outage).
        """
        async with self._publishing_connection() as connection:
            if connection is None:
                return 0
            rows = (await connection.execute(_PENDING, {"batch": self._batch_size})).all()
            await connection.commit()
        OUTBOX_BACKLOG.labels(self._service).set(len(rows))
        if not rows:
            return 0
        sent, failed, error = await self._send(rows)
        async with self._publishing_connection() as connection:
            if connection is None:  # leadership lost meanwhile: the next leader resends them
                return 0
            if sent:
                await connection.execute(_MARK_SENT, {"seqs": sent, "sent_at": datetime.now(UTC)})
            if failed:
                await connection.execute(
                    update(_OUTBOX)
                    .where(_OUTBOX.c.seq.in_(failed))
                    .values(attempts=_OUTBOX.c.attempts + 1, last_error=repr(error)[:2000])
                )
            await connection.commit()
        OUTBOX_PUBLISHED.labels(self._service).inc(len(sent))
        # One line per event a service tells the others: with each consumer's line for what it
        # heard, an order's ``order_id`` (the key) follows it across the five services' logs.
        published = set(sent)
        for row in (row for row in rows if row.seq in published):
            log.info(
                "outbox.event_published",
                type=row.event_type,
                order_id=row.key,
                event_id=row.event_id,
                topic=row.topic,
            )
        if error is not None:
            raise error
        return len(sent)

    async def _send(
        self, rows: Sequence[Row[*tuple[Any, ...]]]
    ) -> tuple[list[int], list[int], BaseException | None]:
        """Send ``rows`` in waves and return the ``seq`` of those acknowledged, of those that
        failed, and the first error.

        The n-th row of each key goes in wave n, and a wave is sent once the one before it is
        acknowledged: a key never has two rows in flight, so a failed send cannot let the key's
        next row reach the topic before it (its retry would then come after). Rows of different
        keys are in flight together, so a batch costs as many round trips as its busiest key has
        rows. After a wave with a failure no further wave is sent: what was acknowledged of each
        key is the start of its rows, and the rest are sent again, in order, by the next batch.
        """
        waves: list[list[Row[*tuple[Any, ...]]]] = []
        rows_of_key: dict[str, int] = defaultdict(int)
        for row in rows:
            n = rows_of_key[row.key]
            rows_of_key[row.key] = n + 1
            if n == len(waves):
                waves.append([])
            waves[n].append(row)
        sent: list[int] = []
        failed: list[int] = []
        error: BaseException | None = None
        for wave in waves:
            futures: list[tuple[int, asyncio.Future[Any]]] = []
            for row in wave:
                headers = [(k, v.encode()) for k, v in json.loads(row.headers).items()]
                headers.append(("ce_type", row.event_type.encode()))
                headers.append(("ce_id", row.event_id.encode()))
                try:
                    future = await self._publisher.send(
                        row.topic, row.payload.encode(), key=row.key.encode(), headers=headers
                    )
                except Exception as exc:
                    # The producer is gone (see KafkaPublisher.send): no use trying the rest.
                    error = exc
                    failed.append(row.seq)
                    break
                futures.append((row.seq, future))
            for seq, future in futures:
                try:
                    await future
                except Exception as exc:
                    error = error or exc
                    failed.append(seq)
                else:
                    sent.append(seq)
            if error is not None:
                break
        return sent, failed, error

    @contextlib.asynccontextmanager
    async def _publishing_connection(self) -> AsyncIterator[AsyncConnection | None]:
        """The connection to read and mark rows on: on PostgreSQL the one holding the outbox
        lock (None when another replica holds it), on SQLite a fresh one."""
        engine = self._session_factory.kw["bind"]
        if engine.dialect.name != "postgresql":
            async with engine.connect() as connection:
                yield connection
            return
        if not await self._is_leader():
            yield None
            return
        assert self._leader_connection is not None
        try:
            yield self._leader_connection
        except BaseException:
            # The connection may be dead (and the lock with it): compete again next time.
            await self.release()
            raise

    async def _is_leader(self) -> bool:
        """On PostgreSQL, only the replica holding the outbox lock publishes (keeps per-key order
        when a service runs several replicas); SQLite has one process by construction.

        A held lock is not checked here: the relay's next statement on the lock's connection
        finds a dead one, which gives the lock up (see :meth:`_publishing_connection`).
        """
        engine = self._session_factory.kw["bind"]
        if engine.dialect.name != "postgresql":
            return True
        if self._leader_connection is not None:
            return True
        connection = await engine.connect()
        key = int.from_bytes(hashlib.sha256(f"outbox:{self._service}".encode()).digest()[:8], "big")
        key -= 1 << 63  # a signed bigint
        try:
            got = (
                await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            ).scalar()
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if got:
            # Each of the relay's statements stands alone (read a batch, mark it sent), so no
            # BEGIN/COMMIT round trips; the session-level lock does not depend on transactions.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            self._leader_connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        """Give up leadership (closing the connection releases the advisory lock)."""
        if self._leader_connection is not None:
            connection, self._leader_connection = self._leader_connection, None
            with contextlib.suppress(Exception):
                await connection.rollback()
                # The connection goes back to the pool: unlock, or the pool keeps the lock.
                await connection.execute(text("SELECT pg_advisory_unlock_all()"))
                await connection.commit()
            with contextlib.suppress(Exception):
                await connection.close()


async def pending_count(session_factory: SessionFactory) -> int:
    """How many outbox rows are not yet published (for reconciliation and tests)."""
    async with session_factory() as session:
        result = await session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
        )
        return int(result.scalar_one())


async def purge_published_before(
    session_factory: SessionFactory, cutoff: datetime, *, batch: int = 1000
) -> int:
    """Delete outbox rows published before ``cutoff`` (never an unpublished one), ``batch`` rows
    per transaction; returns how many. Events carry personal data, so they are not kept."""
    return await delete_in_batches(
        session_factory,
        _OUTBOX.c.seq,
        _OUTBOX.c.published_at < cutoff,
        batch=batch,
    )
