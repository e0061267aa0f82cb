"""SCH-1 / INT-7 through scheduling's store and webhooks: an order escalated to an emergency while
the network given it has not answered yet leaves that network less time to answer; the network
is told by NetworkAnswerDueChanged (outbox and its webhook), and the acceptance sweep keeps the
new time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from partner_support import add_network
from scheduling_support import Harness, created, local, window
from webhook_testkit import Receiver

from contracts.common import Channel
from contracts.intake import DuplicateLinked
from contracts.scheduling import AnswerDueChange, NetworkAnswerDueChanged


async def _network_holding_o1_booked_for_8_20(
    h: Harness, receiver: Receiver, *, event_types: list[str] | None = None
) -> None:
    """o1, booked with in-house t1 for 08:20, moved by a dispatcher at 08:05 to network n1,
    subscribed to ``event_types`` (default every event), which has until 09:30 (working time)
    to answer (SCH-1)."""
    await h.add_technician("t1", shift_start="07:00")
    await h.feed(created("o1", preferred=[window(8, 20)]))
    assert (await h.order("o1"))["technician_id"] == "t1"
    await add_network(h, "n1")
    key = await h.key("partner", network_id="n1")
    subscribed = await h.client.post(
        "/v1/webhooks/subscriptions",
        json={"url": receiver.url("n1"), "event_types": event_types or []},
        headers=key,
    )
    assert subscribed.status_code == 201, subscribed.text
    h.clock.now = local(8, 5)
    moved = await h.client.post(
        "/v1/orders/o1/assignment", json={"network_id": "n1", "reason": "t1 called in sick"}
    )
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["acceptance_due_at"]) == local(9, 30)
    await h.run_job("webhooks")
    receiver.reset()


async def _escalate(h: Harness, at: datetime) -> None:
    h.clock.now = at
    await h.feed(
        DuplicateLinked(
            order_id="o1",
            reported_at=at,
            channel=Channel.HOTLINE,
            fault_description="现在闻到燃气味",
            linked_by="agent-1",
            escalated_to_emergency=True,
        )
    )


async def _sent_to(h: Harness, receiver: Receiver, network_id: str) -> list[dict[str, Any]]:
    await h.run_job("webhooks")
    return [json.loads(r.body) for r in receiver.received if r.path.strip("/") == network_id]


async def test_sch_1_int_7_an_escalation_tells_the_silent_network_its_sooner_time_to_answer(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await _network_holding_o1_booked_for_8_20(h, receiver)

    await _escalate(h, local(8, 10))  # the 08:20 visit is within the emergency time: kept

    [sooner] = await h.published("NetworkAnswerDueChanged")
    assert sooner == NetworkAnswerDueChanged(
        order_id="o1",
        visit_id=(await h.order("o1"))["visit_id"],
        network_id="n1",
        acceptance_due_at=local(8, 40),
        previous_acceptance_due_at=local(9, 30),
        why=AnswerDueChange.EMERGENCY,
    )
    [told] = [
        b
        for b in await _sent_to(h, receiver, "n1")
        if b["type"] == NetworkAnswerDueChanged.cloudevents_type()
    ]
    assert told["subject"] == "o1"
    assert told["data"]["network_id"] == "n1" and told["data"]["why"] == "emergency"
    assert datetime.fromisoformat(told["data"]["acceptance_due_at"]) == local(8, 40)
    assert datetime.fromisoformat(told["data"]["previous_acceptance_due_at"]) == local(9, 30)
    order = await h.order("o1")
    assert order["network_id"] == "n1" and order["emergency"] is True
    assert datetime.fromisoformat(order["acceptance_due_at"]) == local(8, 40)

    h.clock.now = local(8, 39)
    assert await h.run_job("network_acceptance") == 0
    h.clock.now = local(8, 40)
    assert await h.run_job("network_acceptance") == 1
    assert (await h.order("o1"))["status"] == "awaiting_assignment"


async def test_an_endpoint_may_subscribe_to_the_sooner_time_to_answer_alone(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    only = NetworkAnswerDueChanged.cloudevents_type()
    await _network_holding_o1_booked_for_8_20(h, receiver, event_types=[only])
    await _escalate(h, local(8, 10))
    assert [b["type"] for b in await _sent_to(h, receiver, "n1")] == [only]


async def test_sch_1_int_7_a_network_that_accepted_hears_of_the_escalation_but_no_new_time(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await _network_holding_o1_booked_for_8_20(h, receiver)
    key = await h.key("partner", network_id="n1")
    accepted = await h.client.post("/v1/orders/o1/acceptance", headers=key)
    assert accepted.status_code == 200, accepted.text

    await _escalate(h, local(8, 10))

    assert await h.published("NetworkAnswerDueChanged") == []
    types = [b["type"] for b in await _sent_to(h, receiver, "n1")]
    assert types == ["fsm.DuplicateLinked.v1"]
