"""Who holds an order in billing follows scheduling (SCH-1, SCH-10, SCH-12): a network or technician
that handed the order back, or whose assignment the centre cancelled, no longer reads or acts
on it, as in intake, scheduling and fieldwork; the money its technician took before stays on
that technician's cash ledger with the record of who took it (BIL-10, BIL-12). A network reads
the cash ledgers of its own technicians only, whoever holds their orders now (BIL-10)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from support.statements import statements_sent

from billing.domain.policy import BillingPolicy
from billing.service_layer.handlers import apply_retention
from contracts.common import AssigneeKind
from contracts.fieldwork import VisitClosed, VisitOutcome
from contracts.scheduling import (
    OrderReassigned,
    OrderReturnedToCentre,
    ReturnReason,
    RevisitBooked,
    RevisitReason,
)
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock
from .test_billing_api import accepted_order, key, order_created, publish, send

CASH = {"method": "cash", "amount": "50.00"}


def _placed_with_technician(
    order_id: str,
    network: str,
    *,
    technician: str | None = None,
    visit_id: str = "v-1",
    previous_network: str | None = None,
    reassigned_by: str | None = None,
) -> OrderReassigned:
    """``order_id``'s visit, held by ``previous_network`` (else ``network`` itself), placed by
    ``reassigned_by`` (else ``network``'s dispatcher) with ``technician`` (else
    ``<network>-tech``) working for ``network``."""
    return OrderReassigned(
        order_id=order_id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician or f"{network}-tech",
        network_id=network,
        previous_assignee_kind=AssigneeKind.NETWORK,
        previous_network_id=previous_network or network,
        reassigned_by=reassigned_by or f"{network}-dispatcher",
    )


async def _held_by_technician_of(
    runtime: ServiceRuntime, client: httpx.AsyncClient, order_id: str, network: str
) -> tuple[dict[str, str], dict[str, str]]:
    """``order_id``, its quote accepted, given to ``network``, whose dispatcher placed it with its
    own technician ``<network>-tech``; the network's and the technician's key headers."""
    await accepted_order(runtime, order_id, network=network)
    await send(runtime, _placed_with_technician(order_id, network))
    partner = await key(runtime, "partner", network_id=network, name=f"{network}-partner")
    technician = await key(runtime, "technician", technician_id=f"{network}-tech")
    return partner, technician


def _returned(order_id: str, reason: ReturnReason, network: str | None) -> OrderReturnedToCentre:
    return OrderReturnedToCentre(
        order_id=order_id,
        visit_id="v-1",
        reason=reason,
        returned_by="disp-1" if reason is ReturnReason.OTHER else f"{network}-partner",
        technician_id=f"{network}-tech" if network else "t-1",
        network_id=network,
    )


def _moved_to(order_id: str, network: str, visit_id: str = "v-2") -> OrderReassigned:
    return OrderReassigned(
        order_id=order_id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.NETWORK,
        network_id=network,
        previous_assignee_kind=AssigneeKind.TECHNICIAN,
        previous_technician_id="net-1-tech",
        previous_network_id="net-1",
        reassigned_by="disp-1",
    )


async def _refused_everywhere(
    client: httpx.AsyncClient, order_id: str, headers: dict[str, str]
) -> None:
    """Every order route answers 404, as for an unknown order."""
    answers = [
        await client.get(f"/v1/orders/{order_id}/charge", headers=headers),
        await client.post(f"/v1/orders/{order_id}/payments", json=CASH, headers=headers),
        await client.post(
            f"/v1/orders/{order_id}/invoices", json={"delivery": "on_site"}, headers=headers
        ),
        await client.post(
            f"/v1/orders/{order_id}/signature",
            json={"amount": "0.00", "parts": []},
            headers=headers,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 404, f"{answer.request.url}: {answer.text}"
        assert answer.headers["content-type"] == "application/problem+json"


async def test_bil_10_a_network_reads_its_technicians_cash_after_the_order_moved_to_another(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    net_1, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    paid = await client.post("/v1/orders/o-1/payments", json=CASH, headers=technician)
    assert paid.status_code == 201, paid.text
    # the visit failed; the centre gives the revisit to another network
    await send(runtime, _moved_to("o-1", "net-2"))
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")

    own = await client.get("/v1/cash/net-1-tech", headers=net_1)
    another = await client.get("/v1/cash/net-1-tech", headers=net_2)

    assert own.status_code == 200, own.text
    assert own.json()["cash_on_hand"] == "50.00"
    assert another.status_code == 404, another.text
    assert another.headers["content-type"] == "application/problem+json"
    assert "50.00" not in another.text
    # the order itself is net-2's now
    assert (await client.get("/v1/orders/o-1/charge", headers=net_2)).status_code == 200
    assert (await client.get("/v1/orders/o-1/charge", headers=net_1)).status_code == 404


async def test_bil_10_a_technician_reads_no_one_elses_cash_as_if_it_did_not_exist(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    _, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    assert (await client.post("/v1/orders/o-1/payments", json=CASH, headers=technician)).is_success
    other = await key(runtime, "technician", technician_id="t-9")

    theirs = await client.get("/v1/cash/net-1-tech", headers=other)
    nobody = await client.get("/v1/cash/nobody", headers=other)

    for refused in (theirs, nobody):
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/cash/t-9", headers=other)).status_code == 200


async def test_sch_1_a_network_that_rejected_the_order_no_longer_acts_on_it_in_billing(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1", network="net-1")
    net_1 = await key(runtime, "partner", network_id="net-1", name="net-1-partner")
    assert (await client.get("/v1/orders/o-1/charge", headers=net_1)).status_code == 200

    await send(runtime, _returned("o-1", ReturnReason.CANNOT_STAFF, "net-1"))

    await _refused_everywhere(client, "o-1", net_1)
    charge = await client.get("/v1/orders/o-1/charge")  # the centre
    assert charge.status_code == 200 and charge.json()["payments"] == [], charge.text
    events = (await client.get("/v1/orders/o-1/events")).json()
    assert "OrderReturnedToCentre" in [e["type"] for e in events["events"]]


async def test_sch_12_bil_10_a_cancelled_assignment_moves_the_order_and_leaves_the_cash_taken(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    net_1, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    paid = await client.post("/v1/orders/o-1/payments", json=CASH, headers=technician)
    assert paid.status_code == 201, paid.text

    await send(runtime, _returned("o-1", ReturnReason.OTHER, "net-1"))

    await _refused_everywhere(client, "o-1", net_1)
    await _refused_everywhere(client, "o-1", technician)
    # the money stays where it went: on the technician's ledger, which they and their network
    # still read, and on the order as taken by them for net-1 (BIL-10, BIL-12)
    for reader in (technician, net_1):
        ledger = await client.get("/v1/cash/net-1-tech", headers=reader)
        assert ledger.status_code == 200, ledger.text
        assert ledger.json()["cash_on_hand"] == "50.00"
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(p["by"], p["amount"]) for p in charge["payments"]] == [("net-1-tech", "50.00")]
    settlement = (await client.get("/v1/settlements/net-1/2026-04")).json()
    assert [i["amount"] for i in settlement["items"] if i["kind"] == "fee_collected"] == ["50.00"]

    # placed again with another network, that one holds it and reads no one else's cash
    await send(runtime, _moved_to("o-1", "net-2"))
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")
    assert (await client.get("/v1/orders/o-1/charge", headers=net_2)).status_code == 200
    assert (await client.get("/v1/cash/net-1-tech", headers=net_2)).status_code == 404
    await _refused_everywhere(client, "o-1", net_1)


async def test_sch_10_a_revisit_left_to_the_centre_is_no_longer_the_networks(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    net_1, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    kept = RevisitBooked(
        order_id="o-1",
        visit_id="v-2",
        previous_visit_id="v-1",
        reason=RevisitReason.MISSING_PART,
        technician_id="net-1-tech",
    )
    await send(runtime, kept)
    # the same technician keeps the revisit: the network still holds the order
    for holder in (net_1, technician):
        assert (await client.get("/v1/orders/o-1/charge", headers=holder)).status_code == 200

    left = RevisitBooked(
        order_id="o-1",
        visit_id="v-3",
        previous_visit_id="v-2",
        reason=RevisitReason.OTHER,
        technician_id=None,
    )
    await send(runtime, left)

    await _refused_everywhere(client, "o-1", net_1)
    await _refused_everywhere(client, "o-1", technician)
    assert (await client.get("/v1/orders/o-1/charge")).status_code == 200


async def test_bil_11_why_the_order_went_back_is_erased_with_the_customers_data(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await send(runtime, order_created("o-1"))
    returned = _returned("o-1", ReturnReason.CUSTOMER_NOT_HOME, "net-1")
    await send(runtime, returned.model_copy(update={"detail": "王芳 不在家, 邻居说出差"}))
    closed = VisitClosed(
        order_id="o-1",
        visit_id="v-1",
        technician_id="net-1-tech",
        outcome=VisitOutcome.CUSTOMER_NOT_HOME,
        closed_at=T0,
    )
    await send(runtime, closed)
    clock.now = T0 + timedelta(days=400)

    anonymised = await apply_retention(
        uow_factory=runtime.app.state.uow_factory, policy=BillingPolicy(), clock=clock
    )

    assert anonymised == 1
    events = (await client.get("/v1/orders/o-1/events")).json()["events"]
    back = [e["summary"] for e in events if e["type"] == "OrderReturnedToCentre"]
    assert back and "detail" not in back[0] and back[0]["reason"] == "customer_not_home"


async def _statements_reading(
    runtime: ServiceRuntime, client: httpx.AsyncClient, holder: str, headers: dict[str, str]
) -> int:
    await client.get(f"/v1/cash/{holder}", headers=headers)  # the key's lookup cached
    with statements_sent(runtime.engine) as sent:
        read = await client.get(f"/v1/cash/{holder}", headers=headers)
    assert read.status_code == 200, read.text
    return len(sent)


async def test_bil_10_a_network_reads_its_technicians_cash_in_as_many_statements_for_any_orders(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # Whether every order the cash was taken on recorded the holder as the network's
    # technician is one query, not an account read per order.
    await publish(client)
    net_1, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    assert (await client.post("/v1/orders/o-1/payments", json=CASH, headers=technician)).is_success
    one_order = await _statements_reading(runtime, client, "net-1-tech", net_1)
    for order_id in ("o-2", "o-3", "o-4"):
        await _held_by_technician_of(runtime, client, order_id, "net-1")
        paid = await client.post(f"/v1/orders/{order_id}/payments", json=CASH, headers=technician)
        assert paid.status_code == 201, paid.text

    four_orders = await _statements_reading(runtime, client, "net-1-tech", net_1)

    assert four_orders == one_order
    ledger = (await client.get("/v1/cash/net-1-tech", headers=net_1)).json()
    assert ledger["cash_on_hand"] == "200.00"


async def test_bil_10_a_network_reads_no_ledger_with_cash_its_technician_took_for_another(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # net-1-tech took cash on o-1 for net-1, then on o-2 working for net-2: the ledger is
    # neither network's alone.
    await publish(client)
    net_1, technician = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    assert (await client.post("/v1/orders/o-1/payments", json=CASH, headers=technician)).is_success
    await accepted_order(runtime, "o-2", network="net-2")
    await send(runtime, _placed_with_technician("o-2", "net-2", technician="net-1-tech"))
    assert (await client.post("/v1/orders/o-2/payments", json=CASH, headers=technician)).is_success
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")

    for network in (net_1, net_2):
        refused = await client.get("/v1/cash/net-1-tech", headers=network)
        assert refused.status_code == 404, refused.text
    assert (await client.get("/v1/cash/net-1-tech", headers=technician)).status_code == 200
