"""Deterministic races on PostgreSQL (READ COMMITTED) between two transactions on the same rows.

Transaction A runs a real handler up to a gate (its commit, say) and stops there with the locks it
took; B starts and runs until it finishes or PostgreSQL shows it waiting for a lock; then A goes
on, and B after it. Without the lock B finishes first on a stale read, and the stored state tells
the two apart.

SQLite needs none of this: the kit begins every transaction with BEGIN IMMEDIATE, so writers take
turns, and the tests run on PostgreSQL only (:data:`postgres_only`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, NamedTuple, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.uow import SqlUnitOfWork

F = TypeVar("F")
S = TypeVar("S")
U = TypeVar("U", bound=SqlUnitOfWork)

#: Long enough never to be hit by a healthy run; a deadlock fails the test instead of hanging.
TIMEOUT = 10.0

#: ``pytestmark`` of a module of races: its tests run on PostgreSQL only (see the module's text).
postgres_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

_WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class Gate:
    """Where transaction A waits, with the locks it took, for the test to let it go on."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    async def pass_through(self) -> None:
        """Stop here until :meth:`release` (at once if it was released already)."""
        self.reached.set()
        await self.released.wait()

    def release(self) -> None:
        """Let whoever waits at the gate, or comes to it later, go on."""
        self.released.set()


def hold_at_commit(uow: U, gate: Gate, *, when: Callable[[], bool] | None = None) -> U:
    """``uow`` (any service's unit of work) with each commit first passing ``gate``: held open
    there, locks taken, until the gate is released. ``when``, if given, says whether a commit is
    held; the others go straight on."""
    commit = uow.commit

    async def commit_after_the_gate() -> None:
        if when is None or when():
            await gate.pass_through()
        await commit()

    uow.commit = commit_after_the_gate
    return uow


async def blocked_or_finished(
    engine: AsyncEngine, task: asyncio.Future[Any], *, within: float = TIMEOUT
) -> bool:
    """Wait until ``task`` either waits on a lock in PostgreSQL (True) or has finished (False);
    fail after ``within`` seconds of neither."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with engine.connect() as connection:
        # pg_stat_activity is read once per transaction: autocommit sees a fresh one each poll.
        polling = await connection.execution_options(isolation_level="AUTOCOMMIT")
        while not task.done():
            if await polling.scalar(_WAITING_ON_A_LOCK):
                return True
            if loop.time() >= deadline:
                raise AssertionError("the second transaction neither finished nor waited on a lock")
            await asyncio.sleep(0.02)
    return False


class RaceOutcome(NamedTuple, Generic[F, S]):
    """How a race ended: both transactions' results and whether the second waited on a lock."""

    first: F
    second: S
    waited: bool


async def race(
    engine: AsyncEngine,
    gate: Gate,
    first: Awaitable[F],
    second: Callable[[], Awaitable[S]],
    *,
    within: float = TIMEOUT,
) -> RaceOutcome[F, S]:
    """Run ``first`` until it stops at ``gate``, start ``second`` and let it run until it
    finishes or waits on a lock, then release ``first``; both results (an error of either is
    raised) and whether ``second`` waited."""
    first_task = asyncio.ensure_future(first)
    second_task: asyncio.Future[S] | None = None
    try:
        reached = asyncio.ensure_future(gate.reached.wait())
        await asyncio.wait(
            {first_task, reached}, timeout=within, return_when=asyncio.FIRST_COMPLETED
        )
        reached.cancel()
        if not gate.reached.is_set():
            if first_task.done():
                first_task.result()  # it failed before the gate: show why
            raise AssertionError("the first transaction never reached its gate")
        second_task = asyncio.ensure_future(second())
        waited = await blocked_or_finished(engine, second_task, within=within)
        gate.release()
        first_result = await asyncio.wait_for(first_task, within)
        return RaceOutcome(first_result, await asyncio.wait_for(second_task, within), waited)
    finally:
        gate.release()
        for task in (first_task, second_task):
            if task is not None and not task.done():
                task.cancel()


async def race_held_at_commit(
    engine: AsyncEngine,
    uow: U,
    first: Callable[[U], Awaitable[F]],
    second: Callable[[], Awaitable[S]],
    *,
    within: float = TIMEOUT,
) -> RaceOutcome[F, S]:
    """:func:`race` with ``first`` run on ``uow`` held at its commit (:func:`hold_at_commit`)."""
    gate = Gate()
    return await race(engine, gate, first(hold_at_commit(uow, gate)), second, within=within)
