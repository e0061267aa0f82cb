"""The relay keeps each key's order when a send fails: an event of a key is never in flight
while an earlier event of the same key is unacknowledged, so a failed send cannot let a later
event of that key reach the topic first. Events of different keys still go out together."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from support.events import envelope

from servicekit.db import SessionFactory
from servicekit.outbox import OutboxRelay, add_to_outbox, pending_count

TOPIC = "orders.test"


class FlakyPublisher:
    """A producer whose sends are acknowledged (or fail) a moment after they are enqueued,
    as a real one pipelines them; ``fail_once`` event ids fail on their first send."""

    def __init__(self, *, fail_once: set[str]) -> None:
        self.fail_once = set(fail_once)
        self.on_topic: list[tuple[str, str]] = []  # (key, event id), in acknowledgement order
        self.in_flight: dict[str, int] = defaultdict(int)
        self.most_in_flight = 0
        self.most_in_flight_of_one_key = 0

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        event_id = dict(headers or [])["ce_id"].decode()
        order = (key or b"").decode()
        self.in_flight[order] += 1
        self.most_in_flight = max(self.most_in_flight, sum(self.in_flight.values()))
        self.most_in_flight_of_one_key = max(self.most_in_flight_of_one_key, self.in_flight[order])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def acknowledge() -> None:
            self.in_flight[order] -= 1
            if event_id in self.fail_once:
                self.fail_once.discard(event_id)
                future.set_exception(TimeoutError(f"{event_id} timed out"))
                return
            self.on_topic.append((order, event_id))
            future.set_result(None)

        asyncio.get_running_loop().call_soon(acknowledge)
        return future


async def _commit(session_factory: SessionFactory, order_id: str) -> str:
    event = envelope(order_id)
    async with session_factory() as session:
        await add_to_outbox(session, event, topic=TOPIC)
        await session.commit()
    return str(event.id)


def _first_heard(on_topic: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each key's events in the order a consumer deduplicating by event id applies them."""
    heard: dict[str, list[str]] = defaultdict(list)
    for key, event_id in on_topic:
        if event_id not in heard[key]:
            heard[key].append(event_id)
    return heard


async def test_a_failed_send_does_not_let_a_later_event_of_its_order_overtake_it(
    session_factory: SessionFactory,
) -> None:
    committed: dict[str, list[str]] = defaultdict(list)
    for order_id in ["order-a", "order-b", "order-a", "order-b", "order-a"]:
        committed[order_id].append(await _commit(session_factory, order_id))
    publisher = FlakyPublisher(fail_once={committed["order-a"][0]})
    relay = OutboxRelay(session_factory=session_factory, publisher=publisher, service="test")

    try:
        with pytest.raises(TimeoutError):
            await relay.publish_pending()
        for _ in range(5):
            if await pending_count(session_factory) == 0:
                break
            await relay.publish_pending()
    finally:
        await relay.release()

    assert await pending_count(session_factory) == 0
    assert _first_heard(publisher.on_topic) == committed
    assert publisher.most_in_flight_of_one_key == 1


async def test_events_of_different_orders_are_in_flight_together(
    session_factory: SessionFactory,
) -> None:
    """The relay's throughput: one round trip for a batch of distinct keys, not one per event."""
    committed = [await _commit(session_factory, f"order-{n}") for n in range(20)]
    publisher = FlakyPublisher(fail_once=set())
    relay = OutboxRelay(session_factory=session_factory, publisher=publisher, service="test")

    try:
        assert await relay.publish_pending() == 20
    finally:
        await relay.release()

    assert publisher.most_in_flight == 20
    assert [event_id for _, event_id in publisher.on_topic] == committed
