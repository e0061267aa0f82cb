"""A broker outage told to ops once, not once per retry.

While the broker is away, aiokafka's clients log an ERROR for every reconnect, metadata refresh,
fetch and heartbeat they try (measured: about 65 lines a second for one relay and one consumer),
and the outbox relay and the consumer fail on every retry. A service's :class:`BrokerWatch` turns
that into three kinds of line: ``kafka.broker_unreachable`` (WARNING) once, naming the bootstrap
address and what waits; ``kafka.broker_still_unreachable`` (WARNING) every
``FSM_KAFKA_OUTAGE_REMINDER_SECONDS``; ``kafka.broker_reachable`` (INFO) once it answers again,
with how long it was down. On ``/metrics``, ``fsm_broker_reachable{service}`` is 0 while an
outage is declared (1 otherwise, once the service runs) and ``fsm_broker_outages_total{service}``
counts the outages declared.

aiokafka's records about connections go to the watch of the task that logged them (its clients
run as tasks started inside the relay's or the consumer's context) and are shown only at DEBUG.
Every other record of aiokafka, and every error of ours that is not the broker being away (a
poison message, a failing handler, a refused commit), is logged as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

import structlog
from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    NodeNotReadyError,
    NotCoordinatorForGroupError,
    RequestTimedOutError,
)

from servicekit.metrics import BROKER_OUTAGES, BROKER_REACHABLE
from servicekit.settings import KafkaSettings

log = structlog.get_logger(__name__)

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    NodeNotReadyError,
    NoBrokersAvailable,
    RequestTimedOutError,
    KafkaTimeoutError,
    GroupCoordinatorNotAvailableError,
    NotCoordinatorForGroupError,
)
"""Kafka client errors that mean the broker did not answer, not that it refused what was asked."""

# aiokafka's records that name no exception but only happen when connections fail.
_CONNECTION_MESSAGES = (
    "Unable connect to",
    "Unable to update metadata",
    "Unable to request metadata",
)
# What follows from an outage inside the consumer group's bookkeeping: noise while it lasts, a
# real sign (a stalled event loop, a broker that forgot the group) when the broker is up.
_OUTAGE_AFTERMATH = ("coordinator dead", "Heartbeat session expired", "was not recognized")

_current: ContextVar[BrokerWatch | None] = ContextVar("broker_watch", default=None)


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` means the broker did not answer: a socket error or timeout itself, or a
    Kafka connection error it was raised from (a refused database connection wrapped in the
    database's error is not one)."""
    if isinstance(error, (OSError, TimeoutError)):
        return True
    seen: BaseException | None = error
    for _ in range(5):  # a short chain; guards against a cycle
        if seen is None:
            return False
        if isinstance(seen, CONNECTION_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _ConnectionNoise(logging.Filter):
    """On aiokafka's loggers: a record about a failed connection is reported to the watch of
    the task that logged it and shown only at DEBUG (the watch's lines say it once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        watch = _current.get()
        error = next((a for a in _args(record) if isinstance(a, BaseException)), None)
        if (error is not None and is_connection_error(error)) or str(record.msg).startswith(
            _CONNECTION_MESSAGES
        ):
            if watch is not None:
                message = record.getMessage()
                if error is not None and not str(error):  # a timeout says nothing by itself
                    message += type(error).__name__
                watch.suspect(message)
        elif not (
            watch is not None
            and watch.in_doubt
            and any(part in str(record.msg) for part in _OUTAGE_AFTERMATH)
        ):
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else (args,)


_NOISE_FILTER = _ConnectionNoise()


def quiet_connection_noise() -> None:
    """Put the filter on every aiokafka logger (each module logs on its own, and a logger's
    filter does not see its children's records). Idempotent."""
    import aiokafka.admin.client
    import aiokafka.consumer.group_coordinator
    import aiokafka.producer.sender  # noqa: F401  (their loggers must exist first)

    for name in list(logging.root.manager.loggerDict):
        if name == "aiokafka" or name.startswith("aiokafka."):
            logger = logging.getLogger(name)
            if _NOISE_FILTER not in logger.filters:
                logger.addFilter(_NOISE_FILTER)


class BrokerWatch:
    """Whether one service's broker is reachable, told to ops when that changes.

    A failure (a client's connection error, the relay's failed send) is only a suspicion: a
    probe (a metadata request to the bootstrap address) confirms it before the outage is
    declared, so a broken connection that comes straight back is no outage. While down, the
    probe runs every ``outage_probe_seconds``; the first that answers, or a successful publish
    or fetch, ends the outage and wakes whoever waits for it (:meth:`on_back`).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        service: str,
        publishes: bool,
        consumes: bool,
        outbox_pending: Callable[[], Awaitable[int]] | None = None,
        probe: Callable[[], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bootstrap = settings.bootstrap
        self._service = service
        affected = []
        if publishes:
            affected.append("publishing held in the outbox")
        if consumes:
            affected.append("consuming paused")
        self.affected = ", ".join(affected) or "nothing (no relay, no consumer)"
        self._remind_every = settings.outage_reminder_seconds
        self._probe_every = settings.outage_probe_seconds
        self._outbox_pending = outbox_pending
        self._probe = probe or self._metadata_answers(settings)
        self._clock = clock
        self._down_since: float | None = None
        self._no_probe_before = -math.inf
        self._confirming: asyncio.Task[bool] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._on_back: list[Callable[[], None]] = []
        self.connection_failures = 0
        """Connection failures seen since the outage began (kept out of the log)."""
        quiet_connection_noise()

    @staticmethod
    def _metadata_answers(settings: KafkaSettings) -> Callable[[], Awaitable[bool]]:
        from servicekit.kafka import broker_reachable

        async def probe() -> bool:
            return await broker_reachable(settings, within=settings.outage_probe_seconds)

        return probe

    @property
    def down(self) -> bool:
        """Whether an outage has been declared and not yet ended."""
        return self._down_since is not None

    @property
    def in_doubt(self) -> bool:
        """Whether an outage is declared or a failure is being checked."""
        return self.down or self._confirming is not None

    def on_back(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when an outage ends (e.g. to retry at once instead of backing off)."""
        self._on_back.append(callback)

    def start(self) -> None:
        """The service runs: show on ``/metrics`` that its broker is reachable (until an outage
        is declared) and that no outage has been declared yet."""
        BROKER_REACHABLE.labels(self._service).set(0 if self.down else 1)
        BROKER_OUTAGES.labels(self._service)  # a series at 0, so a rise from it can alert

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Report aiokafka's connection failures in the enclosed work (and the tasks it starts,
        such as the clients' own) to this watch."""
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    def suspect(self, error: str) -> None:
        """A client failed to reach the broker: count it, and check the broker unless an outage
        is declared already, a check is under way or one found it answering just now."""
        self.connection_failures += 1
        if self.down or self._confirming is not None or self._clock() < self._no_probe_before:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._confirming = loop.create_task(self._confirm(error), name="broker-watch-confirm")

    async def unreachable(self, error: BaseException) -> bool:
        """Whether the broker is down (``error`` was a connection failure), checking it if no
        outage is declared yet; the first check that finds it down declares the outage."""
        self.connection_failures += 1
        if self.down:
            return True
        if self._confirming is None:
            if self._clock() < self._no_probe_before:
                return False
            self._confirming = asyncio.create_task(
                self._confirm(repr(error)), name="broker-watch-confirm"
            )
        return await asyncio.shield(self._confirming)

    async def reachable(self) -> None:
        """A publish or a fetch went through: an outage, if any, is over."""
        if self.down:
            await self._back()

    async def close(self) -> None:
        """Stop checking (the service stops)."""
        for task in (self._confirming, self._monitor):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._confirming = self._monitor = None

    async def _answers(self) -> bool:
        try:
            return await self._probe()
        except asyncio.CancelledError:
            raise
        except Exception:
            return False

    async def _confirm(self, error: str) -> bool:
        try:
            if await self._answers():
                self._no_probe_before = self._clock() + self._probe_every
                if not self.down:
                    self.connection_failures = 0
                return False
            if not self.down:
                self._down_since = self._clock()
                BROKER_REACHABLE.labels(self._service).set(0)
                BROKER_OUTAGES.labels(self._service).inc()
                log.warning(
                    "kafka.broker_unreachable",
                    bootstrap=self.bootstrap,
                    affected=self.affected,
                    error=error,
                    outbox_pending=await self._pending(),
                    remind_every_s=self._remind_every or None,
                )
                self._monitor = asyncio.create_task(self._watch_outage(), name="broker-watch")
            return True
        finally:
            self._confirming = None

    async def _watch_outage(self) -> None:
        assert self._down_since is not None
        next_reminder = self._down_since + self._remind_every if self._remind_every else math.inf
        while self.down:
            await asyncio.sleep(self._probe_every)
            if await self._answers():
                await self._back()
                return
            now = self._clock()
            if now >= next_reminder and self._down_since is not None:
                next_reminder += self._remind_every
                log.warning(
                    "kafka.broker_still_unreachable",
                    bootstrap=self.bootstrap,
                    affected=self.affected,
                    down_for_s=round(now - self._down_since, 1),
                    connection_failures=self.connection_failures,
                    outbox_pending=await self._pending(),
                )

    async def _back(self) -> None:
        since, self._down_since = self._down_since, None
        if since is None:
            return
        BROKER_REACHABLE.labels(self._service).set(1)
        monitor, self._monitor = self._monitor, None
        if monitor is not None and monitor is not asyncio.current_task():
            monitor.cancel()
        log.info(
            "kafka.broker_reachable",
            bootstrap=self.bootstrap,
            down_for_s=round(self._clock() - since, 1),
            connection_failures=self.connection_failures,
            outbox_pending=await self._pending(),
        )
        self.connection_failures = 0
        for callback in self._on_back:
            callback()

    async def _pending(self) -> int | None:
        """Events waiting in the outbox, when known (the database may be away too)."""
        if self._outbox_pending is None:
            return None
        try:
            return await asyncio.wait_for(self._outbox_pending(), timeout=2)
        except asyncio.CancelledError:
            raise
        except Exception:
            return None
