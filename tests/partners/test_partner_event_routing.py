"""Which partner network hears of another service's event about an order (issue 5, SCH-12): an
event naming a technician or a network goes to that network, not to whoever holds the order now
(FBK-4, FBK-8, FBK-9, FLD-13); an event naming nobody goes to the holder; a network that lost an
order learns only that it lost it, not who got it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from partner_support import AREAS, add_network, add_network_technician, order_for
from scheduling_support import Harness
from webhook_testkit import Receiver

from contracts.common import Channel
from contracts.feedback import (
    ComplaintFiled,
    FollowUpCompleted,
    FollowUpRecredited,
    FollowUpScheduled,
    FollowUpScores,
    FraudSignal,
    FraudSuspected,
)
from contracts.fieldwork import (
    DamageReported,
    SafetyIncident,
    SafetyIncidentKind,
    VisitClosed,
    VisitOutcome,
)
from contracts.scheduling import OrderWithdrawn, WithdrawalCause

DISPATCHER_REASON = "二次上门改派, 网点一师傅态度差"


async def _subscribe(h: Harness, network_id: str, receiver: Receiver) -> None:
    key = await h.key("partner", network_id=network_id)
    response = await h.client.post(
        "/v1/webhooks/subscriptions", json={"url": receiver.url(network_id)}, headers=key
    )
    assert response.status_code == 201, response.text


async def _sent(h: Harness, receiver: Receiver) -> dict[str, list[dict[str, Any]]]:
    """What each network received, by network id: the bodies, oldest first."""
    await h.run_job("webhooks")
    by_network: dict[str, list[dict[str, Any]]] = {"n1": [], "n2": []}
    for received in receiver.received:
        by_network[received.path.strip("/")].append(json.loads(received.body))
    for bodies in by_network.values():
        bodies.sort(key=lambda b: b["time"])
    receiver.reset()
    return by_network


def _types(bodies: list[dict[str, Any]]) -> list[str]:
    return [b["type"].removeprefix("fsm.").removesuffix(".v1") for b in bodies]


async def _move_to_n2(h: Harness) -> None:
    """A dispatcher moves o1 to network n2, which now serves n1's district too (SCH-12)."""
    widened = await h.client.put(
        "/v1/networks/n2",
        json={"name": "网点 n2", "skills": ["water_heater"], "areas": list(AREAS.values())},
    )
    assert widened.status_code == 200, widened.text
    moved = await h.client.post(
        "/v1/orders/o1/assignment", json={"network_id": "n2", "reason": DISPATCHER_REASON}
    )
    assert moved.status_code == 200, moved.text


async def _subscribed_networks(h: Harness, receiver: Receiver, *network_ids: str) -> None:
    """Register each network and subscribe it to every event, at ``receiver``."""
    for network in network_ids:
        await add_network(h, network)
        await _subscribe(h, network, receiver)


@pytest.fixture
async def o1_moved_to_n2(partners: Harness, receiver: Receiver) -> str:
    """Order o1 served by n1's technician nt1, then moved by a dispatcher to network n2 (SCH-12),
    both networks subscribed; returns the visit id. What the move itself sent is forgotten."""
    h = partners
    await _subscribed_networks(h, receiver, "n1", "n2")
    await add_network_technician(h, "nt1", "n1")
    await add_network_technician(h, "nt2", "n2")
    await order_for(h, "o1", "n1")
    await _move_to_n2(h)
    await _sent(h, receiver)
    return str((await h.order("o1"))["visit_id"])


def _scheduled(h: Harness, *, reason_rule: str = "FBK-4", **named: str) -> FollowUpScheduled:
    """Call-back task-1 about o1 scheduled now, naming the ``technician_id``/``visit_id`` given."""
    return FollowUpScheduled(
        order_id="o1", task_id="task-1", reason_rule=reason_rule, due_at=h.clock.now, **named
    )


def _completed(**result: Any) -> FollowUpCompleted:
    """The result of call-back task-1 about o1."""
    return FollowUpCompleted(order_id="o1", task_id="task-1", **result)


def _recredited(**technicians: str | None) -> FollowUpRecredited:
    """Call-back task-1's reached result, satisfied, moved between the technicians given."""
    return FollowUpRecredited(
        order_id="o1",
        task_id="task-1",
        problem_solved=True,
        satisfied=True,
        scores=FollowUpScores(service_attitude=9, professional_ability=8, comments="师傅很好"),
        **technicians,
    )


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_9_a_complaint_about_a_networks_technician_reaches_it_not_the_new_holder(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.feed(
        ComplaintFiled(
            order_id="o1",
            complaint_id="c1",
            level=2,
            staff_fault_class="A",
            channel=Channel.HOTLINE,
            description="师傅收了红包",
            technician_id="nt1",
            confirmed_by_customer=True,
        )
    )
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["ComplaintFiled"]
    assert sent["n1"][0]["data"]["technician_id"] == "nt1"
    assert sent["n2"] == []


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_an_event_naming_a_network_goes_to_that_network(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.feed(
        ComplaintFiled(
            order_id="o1",
            complaint_id="c1",
            channel=Channel.HOTLINE,
            description="网点推诿",
            network_id="n1",
        )
    )
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["ComplaintFiled"] and sent["n2"] == []


async def test_fbk_4_fbk_8_fld_13_reports_about_an_earlier_visit_reach_the_technicians_network(
    partners: Harness, receiver: Receiver, o1_moved_to_n2: str
) -> None:
    h = partners
    visit_id = o1_moved_to_n2
    now = h.clock.now
    await h.feed(_scheduled(h, visit_id=visit_id, technician_id="nt1"))
    await h.feed(_completed(reached=True, satisfied=False))
    await h.feed(
        FraudSuspected(
            order_id="o1",
            signal=FraudSignal.CONTRADICTED_SIGN_OFF,
            technician_id="nt1",
            visit_id=visit_id,
        )
    )
    await h.feed(
        DamageReported(
            order_id="o1",
            visit_id=visit_id,
            technician_id="nt1",
            description="地板划伤",
            estimated_cost=Decimal("80.0"),
        )
    )
    await h.feed(
        VisitClosed(
            order_id="o1",
            visit_id="an-earlier-visit",
            technician_id="nt1",
            outcome=VisitOutcome.COMPLETED,
            closed_at=now,
        )
    )
    sent = await _sent(h, receiver)
    assert sorted(_types(sent["n1"])) == [
        "DamageReported",
        "FollowUpCompleted",
        "FollowUpScheduled",
        "FraudSuspected",
        "VisitClosed",
    ]
    assert sent["n2"] == []
    assert (await h.order("o1"))["network_id"] == "n2"  # the earlier visit's report moved nothing


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_an_event_naming_nobody_still_reaches_the_network_holding_the_order(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.feed(
        ComplaintFiled(order_id="o1", complaint_id="c1", channel=Channel.HOTLINE, description="慢")
    )
    sent = await _sent(h, receiver)
    assert _types(sent["n2"]) == ["ComplaintFiled"]
    assert sent["n1"] == []


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_a_follow_up_of_an_in_house_technicians_work_reaches_no_network(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.add_technician("t1")
    await h.feed(_scheduled(h, technician_id="t1"))
    # the call-back's result names nobody: it follows its scheduling, which went to no network
    await h.feed(_completed(reached=True, satisfied=True))
    sent = await _sent(h, receiver)
    assert sent == {"n1": [], "n2": []}


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_5_a_call_back_result_naming_the_technician_reaches_its_network_unscheduled(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    # no FollowUpScheduled was ever sent (or its message was purged after
    # message_retention_days): the result names the technician credited with the visit
    await h.feed(_completed(reached=True, satisfied=False, technician_id="nt1"))
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["FollowUpCompleted"]
    assert sent["n1"][0]["data"]["technician_id"] == "nt1"
    assert sent["n2"] == []


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_5_the_technician_a_call_back_result_names_wins_over_where_its_scheduling_went(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    # scheduled naming nobody, so the holder n2 was told; the result credits n1's technician
    await h.feed(_scheduled(h, reason_rule="FBK-3"))
    assert _types((await _sent(h, receiver))["n2"]) == ["FollowUpScheduled"]
    await h.feed(_completed(reached=False, technician_id="nt1"))
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["FollowUpCompleted"]
    assert sent["n2"] == []


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_5_a_call_back_result_naming_an_in_house_technician_reaches_no_network(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.add_technician("t1")
    await h.feed(_completed(reached=True, satisfied=True, technician_id="t1"))
    assert await _sent(h, receiver) == {"n1": [], "n2": []}


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_5_a_call_back_result_naming_no_technician_follows_its_scheduling(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.feed(_scheduled(h, technician_id="nt1"))
    assert _types((await _sent(h, receiver))["n1"]) == ["FollowUpScheduled"]
    # an event published before FollowUpCompleted named the technician
    older = _completed(reached=True, satisfied=True)
    assert older.technician_id is None
    await h.feed(older)
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["FollowUpCompleted"]
    assert sent["n2"] == []


async def test_fld_14_a_safety_incident_at_an_earlier_visit_reaches_both_networks(
    partners: Harness, receiver: Receiver, o1_moved_to_n2: str
) -> None:
    h = partners
    visit_id = o1_moved_to_n2
    await h.feed(
        SafetyIncident(
            order_id="o1",
            visit_id=visit_id,
            technician_id="nt1",
            kind=SafetyIncidentKind.HAZARD,
            description="燃气泄漏",
        )
    )
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["SafetyIncident"]
    assert _types(sent["n2"]) == ["SafetyIncident"]


async def test_a_network_that_lost_the_order_is_not_told_who_got_it_nor_the_dispatchers_words(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await _subscribed_networks(h, receiver, "n1", "n2")
    await add_network_technician(h, "nt2", "n2")
    await order_for(h, "o1", "n1")
    await _sent(h, receiver)
    await _move_to_n2(h)
    sent = await _sent(h, receiver)
    assert "OrderReassigned" not in _types(sent["n1"])
    [lost] = [b for b in sent["n1"] if b["type"] == "fsm.OrderWithdrawn.v1"]
    assert lost["subject"] == "o1"
    withdrawn = OrderWithdrawn.model_validate(lost["data"])
    assert withdrawn.why is WithdrawalCause.REASSIGNED and withdrawn.order_id == "o1"
    assert withdrawn.previous_technician_id is None and withdrawn.reason is None
    told = json.dumps(lost, ensure_ascii=False)
    assert "n2" not in told and DISPATCHER_REASON not in told
    [got] = [b for b in sent["n2"] if b["type"] == "fsm.OrderReassigned.v1"]
    assert got["data"]["network_id"] == "n2" and got["data"]["reason"] == DISPATCHER_REASON


async def test_sch_12_an_endpoint_subscribed_to_the_reassignment_alone_is_told_it_lost_the_order(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    for network in ("n1", "n2"):
        await add_network(h, network)
    key = await h.key("partner", network_id="n1")
    for path, types in (("/n1", ["fsm.OrderReassigned.v1"]), ("/n1", ["fsm.OrderWithdrawn.v1"])):
        response = await h.client.post(
            "/v1/webhooks/subscriptions",
            json={"url": receiver.url(path.strip("/")), "event_types": types},
            headers=key,
        )
        assert response.status_code == 201, response.text
    await order_for(h, "o1", "n1")
    await _move_to_n2(h)
    sent = await _sent(h, receiver)
    # each of the two endpoints gets the one withdrawal, under the same webhook-id
    assert _types(sent["n1"]) == ["OrderWithdrawn", "OrderWithdrawn"]
    assert len({b["id"] for b in sent["n1"]}) == 1
    OrderWithdrawn.model_validate(sent["n1"][0]["data"])


async def test_a_network_whose_order_the_dispatcher_takes_back_gets_only_the_coded_reason(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await _subscribed_networks(h, receiver, "n1")
    await order_for(h, "o1", "n1")
    await _sent(h, receiver)
    taken_back = await h.client.post(
        "/v1/orders/o1/assignment/cancellation", json={"reason": DISPATCHER_REASON}
    )
    assert taken_back.status_code == 200, taken_back.text
    sent = await _sent(h, receiver)
    [returned] = [b for b in sent["n1"] if b["type"] == "fsm.OrderWithdrawn.v1"]
    assert DISPATCHER_REASON not in json.dumps(returned, ensure_ascii=False)
    withdrawn = OrderWithdrawn.model_validate(returned["data"])
    assert withdrawn.why is WithdrawalCause.RETURNED_TO_CENTRE
    assert withdrawn.reason == "other"  # the coded reason stays


# -- a call-back result re-credited to another technician (FBK-5, FBK-11) -------------------------


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_11_a_re_credited_result_reaches_both_networks_each_naming_its_own_technician(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    await h.feed(_recredited(technician_id="nt2", previous_technician_id="nt1"))
    sent = await _sent(h, receiver)
    # n1 takes the result off nt1's figures, n2 (holding the order now) puts it on nt2's
    assert _types(sent["n1"]) == ["FollowUpRecredited"]
    assert _types(sent["n2"]) == ["FollowUpRecredited"]
    # each network reads its own technician only, never who of another network has it now
    for network, named in {"n1": (None, "nt1"), "n2": ("nt2", None)}.items():
        data = sent[network][0]["data"]
        assert (data["technician_id"], data["previous_technician_id"]) == named
        assert (data["reached"], data["problem_solved"], data["satisfied"]) == (True, True, True)
        assert data["scores"]["service_attitude"] == 9
        assert "comments" not in data["scores"]  # the customer's remarks are never sent


@pytest.mark.usefixtures("o1_moved_to_n2")
@pytest.mark.parametrize(
    ("technicians", "told"),
    [
        ({"technician_id": "t1", "previous_technician_id": "nt1"}, "n1"),
        ({"technician_id": "nt1", "previous_technician_id": "t1"}, "n1"),
        ({"technician_id": "t1", "previous_technician_id": "t2"}, None),
        ({"technician_id": None, "previous_technician_id": "t1"}, None),
    ],
    ids=["network_to_centre", "centre_to_network", "centre_to_centre", "centre_to_nobody"],
)
async def test_fbk_11_a_re_credited_result_reaches_no_network_for_a_centre_technician(
    partners: Harness, receiver: Receiver, technicians: dict[str, str | None], told: str | None
) -> None:
    h = partners
    for technician in ("t1", "t2"):
        await h.add_technician(technician)
    await h.feed(_recredited(**technicians))
    sent = await _sent(h, receiver)
    assert {n: _types(b) for n, b in sent.items()} == {
        n: (["FollowUpRecredited"] if n == told else []) for n in ("n1", "n2")
    }


@pytest.mark.usefixtures("o1_moved_to_n2")
async def test_fbk_11_a_result_that_named_no_technician_is_re_credited_where_it_went(
    partners: Harness, receiver: Receiver
) -> None:
    h = partners
    # scheduled and answered naming nobody: both went to the holder n2
    await h.feed(_scheduled(h, reason_rule="FBK-3"))
    await h.feed(_completed(reached=True, satisfied=True))
    assert _types((await _sent(h, receiver))["n2"]) == ["FollowUpScheduled", "FollowUpCompleted"]
    await h.feed(_recredited(technician_id="nt1", previous_technician_id=None))
    sent = await _sent(h, receiver)
    assert _types(sent["n1"]) == ["FollowUpRecredited"]
    assert _types(sent["n2"]) == ["FollowUpRecredited"]
