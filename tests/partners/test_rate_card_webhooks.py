"""BIL-12: a partner network is told over its webhooks when billing publishes a new version of
its rate card (RateCardVersionPublished, an event about the network, not about an order): that
network's endpoints only, never another network's, as its filter admits, once."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from partner_support import add_network, order_for
from scheduling_support import Harness
from webhook_testkit import Receiver, verifier_clock, verify

from contracts.billing import NetworkWorkKind, RateCardLine, RateCardVersionPublished
from contracts.envelope import EventEnvelope

RATE_CARD = "fsm.RateCardVersionPublished.v1"


def _card(h: Harness, network_id: str, version: int = 1) -> RateCardVersionPublished:
    return RateCardVersionPublished(
        network_id=network_id,
        version=version,
        label=f"{network_id}@v{version}",
        effective_from=h.clock.now + timedelta(days=1),
        published_at=h.clock.now,
        published_by="finance",
        rates=[
            RateCardLine(product_line="water_heater", kind=NetworkWorkKind.REPAIR, amount=65),
            RateCardLine(product_line="*", kind=NetworkWorkKind.INSTALLATION, amount=95.5),
        ],
    )


async def _subscribe(h: Harness, network_id: str, receiver: Receiver, **extra: Any) -> Any:
    key = await h.key("partner", network_id=network_id)
    response = await h.client.post(
        "/v1/webhooks/subscriptions",
        json={"url": receiver.url(network_id), **extra},
        headers=key,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _sent(h: Harness, receiver: Receiver) -> dict[str, list[dict[str, Any]]]:
    """What each network received, by network id (the receiver's path)."""
    await h.run_job("webhooks")
    by_network: dict[str, list[dict[str, Any]]] = {}
    for received in receiver.received:
        by_network.setdefault(received.path.strip("/"), []).append(json.loads(received.body))
    receiver.reset()
    return by_network


async def test_bil_12_a_new_rate_card_version_reaches_its_network_only_signed_once(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    sub = await _subscribe(h, "n1", receiver)
    await _subscribe(h, "n2", receiver)
    envelope = EventEnvelope.wrap(_card(h, "n1", version=3))
    await h.runtime.handle_event(envelope)
    await h.runtime.handle_event(envelope)  # heard twice: sent once

    report = await h.run_job("webhooks")
    assert report.succeeded == 1  # type: ignore[attr-defined]
    [received] = receiver.received
    assert received.path == "/n1"
    with verifier_clock(h.clock.now):
        body = verify(sub["secret"], received)
    assert body["type"] == RATE_CARD
    assert body["id"] == str(envelope.id) == received.headers["webhook-id"]
    assert body["subject"] == "n1"
    assert body["data"]["network_id"] == "n1"
    assert (body["data"]["version"], body["data"]["label"]) == (3, "n1@v3")
    assert body["data"]["rates"] == [
        {"product_line": "water_heater", "kind": "repair", "amount": "65"},
        {"product_line": "*", "kind": "installation", "amount": "95.5"},
    ]
    assert Decimal(body["data"]["rates"][1]["amount"]) == Decimal("95.50")


async def test_bil_12_a_rate_card_is_never_sent_to_another_network_nor_logged_as_its_own(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    await _subscribe(h, "n1", receiver)
    await _subscribe(h, "n2", receiver)
    await order_for(h, "o2", "n2")  # n2 holds an order; the card is not about it
    await _sent(h, receiver)

    await h.feed(_card(h, "n1"))
    sent = await _sent(h, receiver)
    assert list(sent) == ["n1"]
    assert [b["type"] for b in sent["n1"]] == [RATE_CARD]

    n2 = await h.key("partner", network_id="n2")
    n2_log = await h.client.get("/v1/webhooks/deliveries", headers=n2)
    assert n2_log.status_code == 200, n2_log.text
    assert RATE_CARD not in {d["event_type"] for d in n2_log.json()["items"]}
    n1 = await h.key("partner", network_id="n1")
    n1_log = await h.client.get(
        "/v1/webhooks/deliveries", params={"event_type": RATE_CARD}, headers=n1
    )
    assert n1_log.status_code == 200, n1_log.text
    assert [d["event_type"] for d in n1_log.json()["items"]] == [RATE_CARD]


async def test_bil_12_a_network_without_endpoints_or_unknown_to_dispatch_is_sent_nothing(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await add_network(h, "n1")
    await _subscribe(h, "n1", receiver)
    await h.feed(_card(h, "n2"))  # n2 has no endpoint
    await h.feed(_card(h, "net-unknown"))
    assert await _sent(h, receiver) == {}


async def test_bil_12_filters_name_the_rate_card_event_and_one_excluding_it_gets_nothing(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    n1_sub = await _subscribe(
        h, "n1", receiver, event_types=["fsm.Order*", "fsm.TechnicianArrived.*"]
    )
    await _subscribe(h, "n2", receiver, event_types=[RATE_CARD])
    key = await h.key("partner", network_id="n2")
    for accepted in (["fsm.RateCard*"], ["fsm.RateCardVersionPublished.*"]):
        response = await h.client.post(
            "/v1/webhooks/subscriptions",
            json={"url": receiver.url("n2-more"), "event_types": accepted},
            headers=key,
        )
        assert response.status_code == 201, response.text

    await h.feed(_card(h, "n1"))
    await h.feed(_card(h, "n2"))
    sent = await _sent(h, receiver)
    assert "n1" not in sent
    assert [b["data"]["network_id"] for b in sent["n2"]] == ["n2"]
    assert [b["data"]["network_id"] for b in sent["n2-more"]] == ["n2", "n2"]

    # n1's card was kept for it: once its filter admits the event, a replay sends it its own
    n1 = await h.key("partner", network_id="n1")
    path = f"/v1/webhooks/subscriptions/{n1_sub['id']}"
    widened = await h.client.patch(path, json={"event_types": [RATE_CARD]}, headers=n1)
    assert widened.status_code == 200, widened.text
    since = (h.clock.now - timedelta(hours=1)).isoformat()
    replay = await h.client.post(f"{path}/replay", json={"since": since}, headers=n1)
    assert replay.status_code == 202, replay.text
    assert replay.json()["scheduled"] == 1
    sent = await _sent(h, receiver)
    assert list(sent) == ["n1"]
    assert [b["data"]["network_id"] for b in sent["n1"]] == ["n1"]
