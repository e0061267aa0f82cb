"""The inbox: an event delivered twice, one after the other or at the same time, is applied once,
and a handling that fails leaves no trace so the redelivery applies it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from support.events import envelope
from support.inbox import Boom, Effect, apply, count, create_effect_table

from servicekit.db import SessionFactory
from servicekit.inbox import InboxMessage
from servicekit.outbox import OutboxMessage


@pytest.fixture(autouse=True)
async def _effect_table(engine: AsyncEngine) -> None:
    await create_effect_table(engine)


async def test_redelivered_event_is_applied_once(session_factory: SessionFactory) -> None:
    event = envelope()

    assert await apply(session_factory, event) is True
    assert await apply(session_factory, event) is False

    assert await count(session_factory, Effect) == 1
    assert await count(session_factory, InboxMessage) == 1
    assert await count(session_factory, OutboxMessage) == 1


async def test_event_delivered_twice_at_once_is_applied_once(
    session_factory: SessionFactory,
) -> None:
    event = envelope()
    rendezvous = asyncio.Barrier(2)

    outcomes = await asyncio.gather(
        apply(session_factory, event, rendezvous=rendezvous),
        apply(session_factory, event, rendezvous=rendezvous),
        return_exceptions=True,
    )

    # SQLite serialises the writers; on PostgreSQL the second claim's INSERT ... ON CONFLICT
    # waits for the first transaction and, once it commits, inserts nothing. Either way the
    # second handling learns it is a duplicate without an error.
    assert sorted(outcomes, key=str) == [False, True], outcomes
    assert await count(session_factory, Effect) == 1
    assert await count(session_factory, OutboxMessage) == 1
    # The consumer retries a failed handling; the retry finds the claim and does nothing.
    assert await apply(session_factory, event) is False
    assert await count(session_factory, Effect) == 1


async def test_failed_handling_leaves_no_claim_so_the_redelivery_applies_it(
    session_factory: SessionFactory,
) -> None:
    event = envelope()

    with pytest.raises(Boom):
        await apply(session_factory, event, fail=True)
    assert await count(session_factory, Effect) == 0
    assert await count(session_factory, InboxMessage) == 0
    assert await count(session_factory, OutboxMessage) == 0

    assert await apply(session_factory, event) is True
    assert await count(session_factory, Effect) == 1
    assert await count(session_factory, OutboxMessage) == 1
