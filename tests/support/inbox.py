"""A throwaway side-effect table and an inbox-guarded handler, for the inbox and consumer tests."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from contracts.envelope import EventEnvelope
from servicekit.db import SessionFactory
from servicekit.uow import SqlUnitOfWork
from support.db import create_tables
from support.events import order_created

TEST_REGISTRY = registry()


class TestTable(SQLModel, registry=TEST_REGISTRY):
    """Base of the test-only tables, kept out of the kit's and the services' metadata."""

    __test__ = False


class Effect(TestTable, table=True):
    """One row per application of an event: the side effect whose count the tests check."""

    __tablename__ = "test_effect"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=36)


class Boom(Exception):
    """A handler's failure after it wrote its effect, before the commit."""


async def create_effect_table(engine: AsyncEngine) -> None:
    """Create the kit tables and :class:`Effect`."""
    await create_tables(engine, TEST_REGISTRY.metadata)


async def apply(
    session_factory: SessionFactory,
    event: EventEnvelope,
    *,
    rendezvous: asyncio.Barrier | None = None,
    fail: bool = False,
) -> bool:
    """A consumer-side handler: claim the event, write the effect and a follow-up event, commit.

    Returns False when the inbox says the event was applied already. With ``rendezvous`` it waits
    (up to half a second) for the other party after the inbox check; with ``fail`` it raises
    :class:`Boom` after writing, so nothing commits.
    """
    async with SqlUnitOfWork(session_factory) as uow:
        if not await uow.claim_inbox(event):
            return False
        uow.session.add(Effect(event_id=str(event.id)))
        uow.record(order_created(event.subject, note="follow-up"))
        if rendezvous is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rendezvous.wait(), timeout=0.5)
        if fail:
            raise Boom("after the effect, before the commit")
        await uow.commit()
        return True


async def count(session_factory: SessionFactory, model: type[SQLModel]) -> int:
    """Rows in ``model``'s table."""
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def effect_event_ids(session_factory: SessionFactory) -> list[str]:
    """The event ids of all effects, in insertion order."""
    async with session_factory() as session:
        result = await session.execute(select(Effect.event_id).order_by(Effect.id))  # type: ignore[arg-type]
        return list(result.scalars())
