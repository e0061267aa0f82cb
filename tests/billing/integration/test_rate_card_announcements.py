"""BIL-12: a new version of a partner network's rate card is announced on billing's topic
(RateCardVersionPublished, keyed by the network id), staged in billing's outbox in the
transaction that publishes the version, so partner networks can be told of it; a refused or
retried publication announces nothing more."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from contracts.billing import RateCardVersionPublished
from contracts.registry import parse_data
from contracts.topics import events_topic
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import outbox
from .test_rate_cards import CARD, create, refused


async def test_bil_12_publishing_a_rate_card_version_announces_it_keyed_by_the_network(
    client: httpx.AsyncClient, runtime: ServiceRuntime
) -> None:
    later = T0 + timedelta(days=10)
    await create(client)
    published = (await create(client, {**CARD, "effective_from": later.isoformat()})).json()

    announced = await outbox(runtime, "RateCardVersionPublished")
    assert [e.type for e in announced] == ["fsm.RateCardVersionPublished.v1"] * 2
    envelope = announced[1]
    assert envelope.subject == envelope.partitionkey == "net-9"
    assert envelope.source == "/fsm/billing"
    payload = parse_data(envelope)
    assert isinstance(payload, RateCardVersionPublished)
    assert (payload.network_id, payload.version, payload.label) == ("net-9", 2, "net-9@v2")
    assert payload.effective_from == later
    assert payload.published_at == T0
    assert payload.published_by == published["published_by"]
    # the rates as published, money as decimal strings like every amount in the contracts
    assert envelope.data["rates"] == CARD["rates"]
    assert envelope.data["currency"] == "CNY"
    async with runtime.session_factory() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    row = next(r for r in rows if r.event_id == str(envelope.id))
    assert (row.topic, row.key) == (events_topic("billing"), "net-9")


async def test_bil_12_a_refused_or_retried_publication_announces_nothing_more(
    client: httpx.AsyncClient, runtime: ServiceRuntime
) -> None:
    past = (T0 - timedelta(minutes=1)).isoformat()
    refused(
        await client.post("/v1/rate-cards/net-9/versions", json={**CARD, "effective_from": past})
    )
    assert await outbox(runtime, "RateCardVersionPublished") == []

    first = await create(client, **{"Idempotency-Key": "card-1"})
    await create(client, **{"Idempotency-Key": "card-1"})
    announced = await outbox(runtime, "RateCardVersionPublished")
    assert len(announced) == 1
    assert announced[0].data["version"] == first.json()["version"] == 1
    assert datetime.fromisoformat(announced[0].data["effective_from"]) == T0
