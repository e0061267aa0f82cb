"""SCH-1 for partner networks: accept or reject within the policy time, then progress over REST
with the same events as in-house work (issue 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from partner_support import add_network, add_network_technician, order_for
from scheduling_support import Harness, created, local, window

from contracts.fieldwork import RepairCompleted, TechnicianArrived, TechnicianDeparted
from contracts.scheduling import ReturnReason


async def test_sch_1_a_network_that_cannot_staff_rejects_and_the_centre_gets_the_order_back(
    partners: Harness,
) -> None:
    h = partners
    await add_network(h, "n1")
    await order_for(h, "o1", "n1")
    key = await h.key("partner", network_id="n1")
    response = await h.client.post(
        "/v1/orders/o1/rejection", json={"reason": "both technicians on leave"}, headers=key
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "awaiting_assignment"
    [returned] = await h.published("OrderReturnedToCentre")
    assert returned.reason is ReturnReason.CANNOT_STAFF
    assert returned.detail == "both technicians on leave" and returned.network_id == "n1"
    # the order is no longer the network's: it reads as missing
    assert (await h.client.get("/v1/orders/o1", headers=key)).status_code == 404


async def test_sch_1_a_silent_network_loses_the_order_after_the_policy_time(
    partners: Harness,
) -> None:
    h = partners
    minutes = h.runtime.app.state.deps["policy"].network_accept_minutes
    await add_network(h, "n1")
    h.clock.now = local(10)  # working time: the minutes run at once
    await order_for(h, "silent", "n1")
    key = await h.key("partner", network_id="n1")
    shown = (await h.client.get("/v1/orders/silent", headers=key)).json()["acceptance_due_at"]
    assert datetime.fromisoformat(shown) == local(10, minutes)  # the network sees by when
    [given] = await h.published("OrderAssigned")  # ... and is told so with the order
    assert given.network_id == "n1" and given.acceptance_due_at == local(10, minutes)
    h.clock.advance(minutes=minutes - 1)
    assert await h.run_job("network_acceptance") == 0
    h.clock.advance(minutes=1)
    assert await h.run_job("network_acceptance") == 1
    [returned] = await h.published("OrderReturnedToCentre")
    assert returned.reason is ReturnReason.OTHER and returned.network_id == "n1"
    assert returned.detail is not None and f"within {minutes} working minutes" in returned.detail
    assert (await h.order("silent"))["status"] == "awaiting_assignment"


async def test_sch_1_an_accepted_order_stays_with_the_network(partners: Harness) -> None:
    h = partners
    await add_network(h, "n1")
    await order_for(h, "o1", "n1")
    key = await h.key("partner", network_id="n1")
    accepted = await h.client.post("/v1/orders/o1/acceptance", headers=key)
    assert accepted.status_code == 200 and accepted.json()["network_accepted_at"] is not None
    h.clock.advance(hours=3)
    assert await h.run_job("network_acceptance") == 0
    assert (await h.order("o1"))["network_id"] == "n1"


async def test_sch_2_a_network_names_its_technician_before_confirming_the_visit(
    partners: Harness,
) -> None:
    h = partners
    await add_network(h, "n1")
    await order_for(h, "o1", "n1")
    key = await h.key("partner", network_id="n1")
    slot = window(10, day=1)
    response = await h.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "confirmed", "window": slot.model_dump(mode="json")},
        headers=key,
    )
    assert response.status_code == 409
    assert response.json()["allowed"] == ["assign", "return"]
    assert await h.published("AppointmentConfirmed") == []


def _shape(events: list[Any]) -> list[tuple[str, ...]]:
    """Event types with the fields every later service reads from them."""
    shaped = []
    for e in events:
        if e.event_type in {"OrderAssigned", "OrderReassigned"}:
            shaped.append((e.event_type, e.assignee_kind.value, e.technician_name or ""))
        elif e.event_type == "AppointmentConfirmed":
            shaped.append((e.event_type, e.technician_name or "", str(e.customer_reached)))
        else:
            shaped.append((e.event_type,))
    return shaped


async def _visit(h: Harness, order_id: str, technician_id: str) -> None:
    """Fieldwork's events of a visit, as fieldwork publishes them for in-house and partner
    technicians alike (departed, arrived, completed)."""
    when = window(10, day=1).start
    order = await h.order(order_id)
    visit = order["visit_id"]
    await h.feed(
        TechnicianDeparted(order_id=order_id, visit_id=visit, technician_id=technician_id, eta=when)
    )
    await h.feed(
        TechnicianArrived(
            order_id=order_id, visit_id=visit, technician_id=technician_id, arrived_at=when
        )
    )
    await h.feed(
        RepairCompleted(
            order_id=order_id,
            visit_id=visit,
            technician_id=technician_id,
            tested=True,
            sure_fixed=True,
            on_site_minutes=40,
        )
    )


async def test_partner_progress_produces_the_same_events_as_in_house_work(
    partners: Harness,
) -> None:
    h = partners
    slot = window(10, day=1).model_dump(mode="json")
    # in-house: the centre's technician gets the order and confirms the visit
    await h.add_technician("t1", areas=["Dongying"])
    await h.feed(created("inhouse", district="Dongying"))
    t1 = await h.key("technician", technician_id="t1")
    confirmed = await h.client.post(
        "/v1/orders/inhouse/contact-attempts",
        json={"outcome": "confirmed", "window": slot},
        headers=t1,
    )
    assert confirmed.status_code == 200, confirmed.text
    await _visit(h, "inhouse", "t1")
    inhouse = [e for e in await h.published() if e.order_id == "inhouse"]

    # partner: given to the network, accepted, its own technician named, visit confirmed
    await add_network(h, "n2")
    await order_for(h, "partner", "n2")
    await add_network_technician(h, "nt1", "n2")
    key = await h.key("partner", network_id="n2")
    steps = [
        ("/v1/orders/partner/acceptance", None),
        ("/v1/orders/partner/assignment", {"technician_id": "nt1", "reason": "our Li"}),
        ("/v1/orders/partner/contact-attempts", {"outcome": "confirmed", "window": slot}),
    ]
    for url, body in steps:
        response = await h.client.post(url, json=body, headers=key)
        assert response.status_code == 200, (url, response.text)
    await _visit(h, "partner", "nt1")
    partner = [e for e in await h.published() if e.order_id == "partner"]

    # the network's hand-over to its technician is the one extra step; the rest is identical
    assert _shape(partner[:1]) == [("OrderAssigned", "network", "")]
    assert _shape(partner[1:2]) == [("OrderReassigned", "technician", "Tech nt1")]
    assert [s[0] for s in _shape(partner[2:])] == [s[0] for s in _shape(inhouse[1:])]
    assert _shape(partner[2:3]) == [("AppointmentConfirmed", "Tech nt1", "True")]
    assert _shape(inhouse[1:2]) == [("AppointmentConfirmed", "Tech t1", "True")]
    assert (await h.order("partner"))["status"] == (await h.order("inhouse"))["status"]
    assert (await h.order("partner"))["status"] == "visit_done"
