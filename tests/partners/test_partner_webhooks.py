"""Partner webhooks from scheduling's own flow: signed per Standard Webhooks (verified with the
official `standardwebhooks` package), a 410 disables the endpoint and tells ops, private
addresses are refused by the shipped policy, personal data is minimised (issue 5)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from partner_support import AREAS, MakeHarness, add_network, order_for
from scheduling_support import Harness, created
from standardwebhooks.webhooks import WebhookVerificationError
from support.races import postgres_only, race_held_at_commit
from webhook_testkit import Received, Receiver, Reply, verifier_clock, verify

from contracts.billing import InvoiceIssued
from contracts.fieldwork import TechnicianArrived
from scheduling.domain import commands
from scheduling.domain.policy import SchedulingPolicy
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork


async def _subscribe(h: Harness, network_id: str, receiver: Receiver, **extra: Any) -> Any:
    key = await h.key("partner", network_id=network_id)
    response = await h.client.post(
        "/v1/webhooks/subscriptions",
        json={"url": receiver.url(network_id), **extra},
        headers=key,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _body(received: Received) -> Any:
    return json.loads(received.body)


async def test_the_official_verifier_accepts_the_order_assignment_sent_to_the_network(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await add_network(h, "n1")
    sub = await _subscribe(h, "n1", receiver)
    await order_for(h, "o1", "n1")
    report = await h.run_job("webhooks")
    assert report.succeeded == 1  # type: ignore[attr-defined]
    [received] = receiver.received
    with verifier_clock(h.clock.now):
        verified = verify(sub["secret"], received)
    assert verified["type"] == "fsm.OrderAssigned.v1" and verified["subject"] == "o1"
    assert verified["data"]["network_id"] == "n1"
    [assigned] = await h.published("OrderAssigned")
    assert received.headers["webhook-id"] == verified["id"]
    tampered = Received(received.path, received.headers, received.body.replace(b"n1", b"n2"))
    with verifier_clock(h.clock.now), pytest.raises(WebhookVerificationError):
        verify(sub["secret"], tampered)
    h.clock.advance(minutes=10)  # outside the verifier's 5-minute tolerance
    with verifier_clock(h.clock.now), pytest.raises(WebhookVerificationError):
        verify(sub["secret"], received)
    assert assigned.order_id == "o1"


async def test_events_of_other_services_reach_only_the_network_holding_the_order_minimised(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    await _subscribe(h, "n1", receiver, event_types=["fsm.TechnicianArrived.*", "fsm.Invoice*"])
    await _subscribe(h, "n2", receiver)
    await order_for(h, "o1", "n1")
    await order_for(h, "o2", "n2")
    order = await h.order("o1")
    arrived = TechnicianArrived(
        order_id="o1", visit_id=order["visit_id"], technician_id="nt1", arrived_at=h.clock.now
    )
    invoice = InvoiceIssued(
        order_id="o1",
        invoice_number="INV-1",
        amount=Decimal("120.0"),
        buyer_name="王芳",
        buyer_tax_id="91370500MA3C",
    )
    await h.feed(arrived)
    await h.feed(invoice)
    await h.run_job("webhooks")
    by_path: dict[str, list[Any]] = {}
    for r in receiver.received:
        by_path.setdefault(r.path, []).append(_body(r))
    # Deliveries go out concurrently, so they may arrive in either order (as Standard Webhooks
    # allows: receivers order by the event's time).
    assert sorted(b["type"] for b in by_path["/n1"]) == [
        "fsm.InvoiceIssued.v1",
        "fsm.TechnicianArrived.v1",
    ]
    assert [b["subject"] for b in by_path["/n2"]] == ["o2"]  # only its own OrderAssigned
    sent_invoice = next(b for b in by_path["/n1"] if b["type"] == "fsm.InvoiceIssued.v1")["data"]
    assert sent_invoice["invoice_number"] == "INV-1"
    assert "buyer_name" not in sent_invoice and "buyer_tax_id" not in sent_invoice


async def test_a_410_disables_the_endpoint_and_ops_hear_of_it(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await add_network(h, "n1")
    sub = await _subscribe(h, "n1", receiver)
    receiver.script(Reply(status=410, body="gone"))
    await order_for(h, "o1", "n1")
    report = await h.run_job("webhooks")
    assert [d.cause for d in report.disabled] == ["gone"]  # type: ignore[attr-defined]
    read = await h.client.get(f"/v1/webhooks/subscriptions/{sub['id']}")
    assert read.json()["enabled"] is False
    [disabled] = await h.published("WebhookEndpointDisabled")
    assert disabled.network_id == "n1" and disabled.subscription_id == sub["id"]
    assert disabled.cause == "gone"
    # nothing more is sent to a disabled endpoint
    await h.feed(created("o2", district=AREAS["n1"]))
    await h.run_job("webhooks")
    assert len(receiver.received) == 1


async def test_a_private_address_url_is_refused_by_the_shipped_policy(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(SchedulingPolicy(plan_time_limit_seconds=0.3))
    key = await h.key("partner", network_id="n1")
    for url in ("https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://[::1]/hook"):
        response = await h.client.post("/v1/webhooks/subscriptions", json={"url": url}, headers=key)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["field"] == "url"
    plain = await h.client.post(
        "/v1/webhooks/subscriptions", json={"url": "http://8.8.8.8/hook"}, headers=key
    )
    assert plain.status_code == 422  # https required by default


@postgres_only
async def test_an_event_forwarded_while_the_order_leaves_its_network_does_not_reach_it(
    partners: Harness, receiver: Receiver
) -> None:
    # The event is forwarded to the network holding the order, read under the order's lock: a
    # move committed meanwhile is seen, so the network that lost the order gets no contact
    # details of it.
    h = partners
    await add_network(h, "n1")
    await _subscribe(h, "n1", receiver)
    await order_for(h, "o1", "n1")
    await h.add_technician("t1")
    invoice = InvoiceIssued(
        order_id="o1", invoice_number="INV-1", amount=Decimal("120.0"), buyer_name="王芳"
    )

    async def move_in_house(uow: SchedulingUnitOfWork) -> object:
        return await handlers.assign_order(
            commands.AssignOrder(
                order_id="o1",
                technician_id="t1",
                reason="network cannot staff it",
                actor=commands.Actor(name="dispatcher", role="dispatcher"),
            ),
            uow=uow,
            clock=h.clock,
            policy=h.runtime.app.state.deps["policy"],
            calendar=h.runtime.calendar,
            travel=h.runtime.app.state.deps["travel"],
            tz=h.runtime.app.state.deps["tz"],
        )

    outcome = await race_held_at_commit(
        h.runtime.engine,
        h.runtime.app.state.uow_factory(),
        move_in_house,
        lambda: h.feed(invoice),
    )

    assert outcome.waited
    await h.run_job("webhooks")
    sent = [_body(r)["type"] for r in receiver.received]
    assert "fsm.OrderWithdrawn.v1" in sent  # told it lost the order, without contact details
    assert "fsm.InvoiceIssued.v1" not in sent
