"""A partner key sees and acts on its own network's orders only: another network's order answers
exactly like a missing one, on every route that names an order (issue 5)."""

from __future__ import annotations

import json
from typing import Any

from partner_support import add_network, add_network_technician, order_for
from scheduling_support import Harness, window

WINDOW = window(10, day=1)
BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/v1/orders/{order_id}"): None,
    ("GET", "/v1/orders/{order_id}/audit"): None,
    ("GET", "/v1/orders/{order_id}/slots"): None,
    ("POST", "/v1/orders/{order_id}/assignment"): {"technician_id": "nt1", "reason": "ours"},
    ("POST", "/v1/orders/{order_id}/assignment/cancellation"): {"reason": "mine now"},
    ("POST", "/v1/orders/{order_id}/return"): {"reason": "cannot_staff", "detail": "x"},
    ("POST", "/v1/orders/{order_id}/acceptance"): None,
    ("POST", "/v1/orders/{order_id}/rejection"): {"reason": "nobody free"},
    ("POST", "/v1/orders/{order_id}/appointment"): {
        "start": WINDOW.start.isoformat(),
        "end": WINDOW.end.isoformat(),
    },
    ("POST", "/v1/orders/{order_id}/contact-attempts"): {
        "outcome": "confirmed",
        "window": {"start": WINDOW.start.isoformat(), "end": WINDOW.end.isoformat()},
    },
    ("POST", "/v1/orders/{order_id}/reschedule"): {
        "start": WINDOW.start.isoformat(),
        "end": WINDOW.end.isoformat(),
        "reason": "moved",
        "customer_consent": True,
    },
    ("POST", "/v1/orders/{order_id}/lateness/refusal"): None,
    ("POST", "/v1/orders/{order_id}/postponement"): {"reason": "away"},
    ("POST", "/v1/orders/{order_id}/relocation"): {
        "location": {"lat": 37.5, "lon": 118.7},
        "go_now": True,
        "customer_consent": True,
    },
}


def _order_routes(h: Harness) -> set[tuple[str, str]]:
    """Every operation of the published API whose path names an order."""
    return {
        (method.upper(), path)
        for path, operations in h.runtime.app.openapi()["paths"].items()
        if "{order_id}" in path
        for method in operations
    }


async def _call(h: Harness, method: str, path: str, order_id: str, key: dict[str, str]) -> Any:
    body = BODIES[(method, path)]
    url = path.replace("{order_id}", order_id)
    response = await h.client.request(method, url, json=body, headers=key)
    text = response.text.replace(order_id, "<id>")
    return response.status_code, json.loads(text) if text else None


async def test_a_partner_key_lists_and_reads_only_its_networks_orders(partners: Harness) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    await order_for(h, "o1", "n1")
    await order_for(h, "o2", "n2")
    key = await h.key("partner", network_id="n1")
    listed = await h.client.get("/v1/orders", headers=key)
    assert [o["order_id"] for o in listed.json()["items"]] == ["o1"]
    # a partner cannot widen its list with the centre's filter: asking for another network's
    # orders is refused
    widened = await h.client.get("/v1/orders", params={"network_id": "n2"}, headers=key)
    assert widened.status_code == 403, widened.text
    assert widened.headers["content-type"].startswith("application/problem+json")
    assert (await h.client.get("/v1/orders/o1", headers=key)).status_code == 200
    assert (await h.client.get("/v1/orders/o2", headers=key)).status_code == 404
    unbound = await h.key("partner")
    assert (await h.client.get("/v1/orders", headers=unbound)).json()["items"] == []
    assert (await h.client.get("/v1/orders/o1", headers=unbound)).status_code == 404
    centre = await h.client.get("/v1/orders")
    assert {o["order_id"] for o in centre.json()["items"]} == {"o1", "o2"}


async def test_every_order_route_answers_another_networks_key_like_a_missing_order(
    partners: Harness,
) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    await order_for(h, "o2", "n2")
    await add_network_technician(h, "nt1", "n1")
    await add_network_technician(h, "nt2", "n2")
    intruder = await h.key("partner", network_id="n1")
    routes = _order_routes(h)
    assert routes == set(BODIES), "a new order route needs a body here so the walk covers it"
    before = await h.published()
    for method, path in sorted(routes):
        theirs = await _call(h, method, path, "o2", intruder)
        missing = await _call(h, method, path, "no-such-order", intruder)
        assert theirs == missing, (method, path, theirs)
        assert theirs[0] in {403, 404}, (method, path, theirs)
    assert await h.published() == before, "another network's key changed nothing"
    order = await h.order("o2")
    assert order["network_id"] == "n2" and order["status"] == "assigned"
    # the owner's key is admitted on the same routes (the walk above can fail)
    owner = await h.key("partner", network_id="n2")
    status, _ = await _call(h, "GET", "/v1/orders/{order_id}", "o2", owner)
    assert status == 200
    status, _ = await _call(h, "POST", "/v1/orders/{order_id}/acceptance", "o2", owner)
    assert status == 200


async def test_webhook_subscriptions_of_another_network_answer_404(
    partners: Harness,
) -> None:
    h = partners
    n1 = await h.key("partner", network_id="n1")
    n2 = await h.key("partner", network_id="n2")
    created = await h.client.post(
        "/v1/webhooks/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=n1
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["owner_id"] == "n1" and sub["secret"].startswith("whsec_")
    assert (
        await h.client.get(f"/v1/webhooks/subscriptions/{sub['id']}", headers=n2)
    ).status_code == 404
    assert (await h.client.get("/v1/webhooks/subscriptions", headers=n2)).json() == []
    everyone = await h.client.get("/v1/webhooks/subscriptions")
    assert [s["id"] for s in everyone.json()] == [sub["id"]]
