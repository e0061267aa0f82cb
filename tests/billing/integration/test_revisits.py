"""Revisits and supplements through billing's event handling and REST, against a real database
(SQLite and PostgreSQL): a job declined at the revisit is not charged (BIL-1, FLD-4), a waiver
goes on applying to the supplement accepted in its quote's place (BIL-8), and every visit is
signed for what it charged (BIL-9)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx

from contracts.common import AssigneeKind, WorkItem, WorkItemKind
from contracts.fieldwork import (
    CustomerSignedOff,
    QuoteAccepted,
    QuoteDeclined,
    QuoteRequested,
    RepairFailed,
    RepairFailureReason,
    SignOff,
    VisitOutcome,
)
from contracts.scheduling import OrderAssigned
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import (
    IGNITER,
    accepted_order,
    fee,
    key,
    outbox,
    publish,
    send,
    visit_closed,
    waived,
)
from .test_cancellation import repaired

REBOOKED_AT = T0 + timedelta(hours=1)
REVISIT_AT = T0 + timedelta(days=2)
TAPE = WorkItem(
    kind=WorkItemKind.MATERIAL, description="生料带", part_no="M-TAPE", quantity=Decimal(4)
)
SEALANT = WorkItem(  # not on the schedule: 10.00 + 30 % = 13.00 (BIL-4)
    kind=WorkItemKind.MATERIAL, description="密封胶", stock_price=Decimal("10.00")
)
JOB = (fee("CO"), fee("W02"), IGNITER, fee("W01", 60), TAPE)  # 30 + 50 + 120 + 20 + 10 = 230.00


async def _unfinished(runtime: ServiceRuntime, order_id: str) -> None:
    """The part was missing on v-1: the repair failed and the visit is rebooked (FLD-5)."""
    await send(
        runtime,
        RepairFailed(
            order_id=order_id,
            visit_id="v-1",
            technician_id="t-1",
            reason=RepairFailureReason.MISSING_PART,
            next_visit_agreed=True,
        ),
        at=REBOOKED_AT,
    )
    await visit_closed(
        runtime, order_id, outcome=VisitOutcome.UNFINISHED, closed_at=REBOOKED_AT, at=REBOOKED_AT
    )


async def _quoted(
    runtime: ServiceRuntime,
    order_id: str,
    visit_id: str,
    *items: WorkItem,
    request_id: str,
    at: datetime = REVISIT_AT,
) -> str:
    """``visit_id`` asks billing to price ``items``; returns the quote issued."""
    await send(
        runtime,
        QuoteRequested(
            order_id=order_id, visit_id=visit_id, request_id=request_id, items=list(items)
        ),
        at=at,
    )
    issued = await outbox(runtime, "QuoteIssued")
    [quote] = [e for e in issued if e.data["request_id"] == request_id]
    return str(quote.data["quote_id"])


async def _v2_assigned(runtime: ServiceRuntime, order_id: str, at: datetime = REVISIT_AT) -> None:
    """The order's next visit, v-2, assigned to t-1 ``at``."""
    await send(
        runtime,
        OrderAssigned(
            order_id=order_id,
            visit_id="v-2",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="disp-1",
        ),
        at=at,
    )


async def _revisit(
    runtime: ServiceRuntime, order_id: str, *items: WorkItem, request_id: str = "req-2"
) -> str:
    """v-2 assigned to t-1 at the revisit and quoted ``items``; its quote id."""
    await _v2_assigned(runtime, order_id)
    return await _quoted(runtime, order_id, "v-2", *items, request_id=request_id)


def _signed_off(order_id: str, visit_id: str, amount: str) -> CustomerSignedOff:
    return CustomerSignedOff(
        order_id=order_id,
        visit_id=visit_id,
        technician_id="t-1",
        sign_off=SignOff.SIGNED,
        signature_ref=f"sig-{visit_id}",
        amount_acknowledged=Decimal(amount),
    )


async def test_bil_1_fld_4_a_job_declined_at_the_revisit_owes_nothing_for_the_unfinished_visit(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")  # 170.00 accepted on v-1
    await _unfinished(runtime, "o-1")
    again = await _revisit(runtime, "o-1", fee("W02"), IGNITER)

    await send(
        runtime,
        QuoteDeclined(order_id="o-1", visit_id="v-2", quote_id=again, reason="太贵"),
        at=REVISIT_AT + timedelta(minutes=10),
    )

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "voided"),
        (again, "declined"),
    ]
    assert charge["accepted_quote_id"] is None
    assert (charge["summary"]["charge"], charge["summary"]["balance"]) == ("0.00", "0.00")
    technician = await key(runtime, "technician", technician_id="t-1")
    refused = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "170.00"}, headers=technician
    )
    assert refused.status_code == 409, refused.text
    assert await outbox(runtime, "PaymentCollected") == []


async def test_bil_1_bil_8_a_deposit_for_a_job_declined_at_the_revisit_is_a_refund_due(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    deposit = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "100.00"}, headers=technician
    )
    assert deposit.status_code == 201, deposit.text
    await _unfinished(runtime, "o-1")
    again = await _revisit(runtime, "o-1", fee("W02"), IGNITER)

    await send(runtime, QuoteDeclined(order_id="o-1", visit_id="v-2", quote_id=again))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert (charge["summary"]["charge"], charge["summary"]["paid"]) == ("0.00", "100.00")
    assert charge["refund_due"] == "100.00"
    dispatcher = await key(runtime, "dispatcher")
    refunded = await client.post(
        "/v1/orders/o-1/refunds",
        json={"method": "cash", "amount": "100.00", "refunded_by": "t-1", "reason": "客户拒修"},
        headers=dispatcher,
    )
    assert refunded.status_code == 201, refunded.text


async def test_bil_1_the_job_accepted_again_at_the_revisit_is_charged_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")
    await _unfinished(runtime, "o-1")
    again = await _revisit(runtime, "o-1", fee("W02"), IGNITER)

    await send(runtime, QuoteAccepted(order_id="o-1", visit_id="v-2", quote_id=again))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"], q["superseded_by"]) for q in charge["quotes"]] == [
        (first, "superseded", again),
        (again, "accepted", None),
    ]
    assert (charge["accepted_quote_ids"], charge["summary"]["charge"]) == ([again], "170.00")


async def test_bil_8_a_waiver_goes_on_applying_to_the_supplement_accepted_in_its_quotes_place(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")  # 170.00
    dispatcher = await key(runtime, "dispatcher")
    await waived(client, dispatcher, "30.00", "customer disputed the call-out")
    # the technician re-examines: a supplement repeats the quote's items and adds a second part
    supplement = await _quoted(
        runtime, "o-1", "v-1", fee("W02"), IGNITER, IGNITER, request_id="req-1b", at=T0
    )

    await send(runtime, QuoteAccepted(order_id="o-1", visit_id="v-1", quote_id=supplement))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "superseded"),
        (supplement, "accepted"),
    ]
    assert charge["summary"] == {
        "quoted": "290.00",
        "waived": "30.00",
        "held": "0.00",
        "charge": "260.00",
        "paid": "0.00",
        "balance": "260.00",
        "schedule_version": "water_heater@v1",
    }
    [waiver] = charge["waivers"]
    assert (waiver["quote_id"], waiver["carried_from"], waiver["amount"]) == (
        supplement,
        first,
        "30.00",
    )
    assert waiver["approved_by"] == "dispatcher-1"
    # fieldwork's total of the supplement, signed for at sign-off, is billing's charge (BIL-9)
    approved, carried = await outbox(runtime, "ChargeWaived")
    assert (approved.data["quote_id"], approved.data["new_total"]) == (first, "140.00")
    assert (carried.data["quote_id"], carried.data["amount_waived"]) == (supplement, "30.00")
    assert carried.data["new_total"] == charge["summary"]["charge"]
    # the same approval moved, not a second waiver: a total of waivers counts it once
    assert (approved.data.get("carried_from_quote_id"), carried.data["carried_from_quote_id"]) == (
        None,
        first,
    )


async def _waived_then_supplemented(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> tuple[str, str, dict[str, object]]:
    """q1 230.00 accepted, 30.00 waived (charge 200.00), then the technician re-examines: a
    supplement repeats q1's items and adds a 13.00 material (243.00 by the schedule). Returns
    q1, the supplement and its QuoteIssued data."""
    await publish(client)
    first = await accepted_order(runtime, "o-1", *JOB)
    dispatcher = await key(runtime, "dispatcher")
    await waived(client, dispatcher, "30.00", "customer disputed the call-out")
    supplement = await _quoted(runtime, "o-1", "v-1", *JOB, SEALANT, request_id="req-1b", at=T0)
    [issued] = [e for e in await outbox(runtime, "QuoteIssued") if e.data["quote_id"] == supplement]
    return first, supplement, issued.data


async def test_bil_8_bil_9_fld_4_the_supplement_is_issued_at_the_price_after_the_carried_waiver(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    first, supplement, issued = await _waived_then_supplemented(runtime, client)

    # the customer consents to what will be charged (FLD-4), not to the schedule's 243.00
    assert issued["total"] == "213.00"
    lines = issued["lines"]
    assert isinstance(lines, list)
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal("213.00")
    assert (lines[-1]["rule_id"], lines[-1]["amount"]) == ("BIL-8", "-30.00")
    assert first in lines[-1]["note"]
    await send(runtime, QuoteAccepted(order_id="o-1", visit_id="v-1", quote_id=supplement))
    # fieldwork signs off for the total it holds from QuoteIssued, ChargeWaived heard or not
    await send(runtime, _signed_off("o-1", "v-1", "213.00"), at=T0 + timedelta(hours=1))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert (charge["summary"]["quoted"], charge["summary"]["waived"]) == ("243.00", "30.00")
    assert charge["summary"]["charge"] == "213.00"
    [signature] = charge["signatures"]
    assert (signature["amount"], signature["charged"], signature["matches_charge"]) == (
        "213.00",
        "213.00",
        True,
    )
    [quote] = [q for q in charge["quotes"] if q["quote_id"] == supplement]
    assert (quote["total"], quote["waived_at_issue"]) == ("213.00", "30.00")
    [waiver] = charge["waivers"]
    assert (waiver["quote_id"], waiver["carried_from"], waiver["amount"]) == (
        supplement,
        first,
        "30.00",
    )
    _, carried = await outbox(runtime, "ChargeWaived")
    assert carried.data["carried_from_quote_id"] == first
    assert (carried.data["amount_waived"], carried.data["new_total"]) == ("30.00", "213.00")


async def test_bil_8_fld_4_a_supplement_declined_leaves_the_first_quote_with_its_waiver(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    first, supplement, _ = await _waived_then_supplemented(runtime, client)

    await send(runtime, QuoteDeclined(order_id="o-1", visit_id="v-1", quote_id=supplement))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "accepted"),
        (supplement, "declined"),
    ]
    assert charge["summary"]["charge"] == "200.00"
    [waiver] = charge["waivers"]
    assert (waiver["quote_id"], waiver["carried_from"], waiver["amount"]) == (first, None, "30.00")
    assert len(await outbox(runtime, "ChargeWaived")) == 1


async def test_bil_9_each_visit_is_signed_off_for_what_that_visit_charged(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")  # 170.00
    await send(runtime, repaired("o-1"))
    paid = await client.post("/v1/orders/o-1/payments", json={"method": "mobile", "amount": "170"})
    assert paid.status_code == 201, paid.text
    await send(runtime, _signed_off("o-1", "v-1", "170.00"))
    # dissatisfied at the call-back: a revisit finds more to do, 50.00 (FBK-7)
    revisit = await _revisit(runtime, "o-1", fee("W02"))
    await send(runtime, QuoteAccepted(order_id="o-1", visit_id="v-2", quote_id=revisit))

    await send(runtime, _signed_off("o-1", "v-2", "50.00"), at=REVISIT_AT + timedelta(hours=1))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert charge["summary"]["charge"] == "220.00"
    assert [
        (s["visit_id"], s["amount"], s["charged"], s["matches_charge"])
        for s in charge["signatures"]
    ] == [("v-1", "170.00", "170.00", True), ("v-2", "50.00", "50.00", True)]
    assert charge["signature"] == charge["signatures"][-1]


async def test_bil_9_a_signature_naming_its_visit_must_match_what_that_visit_charged(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    await accepted_order(runtime, "o-1")  # 170.00
    await send(runtime, repaired("o-1"))
    revisit = await _revisit(runtime, "o-1", fee("W02"))
    await send(runtime, QuoteAccepted(order_id="o-1", visit_id="v-2", quote_id=revisit))

    whole = await client.post(
        "/v1/orders/o-1/signature", json={"amount": "220.00", "visit_id": "v-2"}
    )
    assert whole.status_code == 409
    assert whole.json()["charge"] == "50.00"
    signed = await client.post(
        "/v1/orders/o-1/signature",
        json={"amount": "50.00", "visit_id": "v-2", "signature_ref": "sig-2"},
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["signature"]["visit_id"] == "v-2"
    assert signed.json()["signature"]["matches_charge"] is True


# --- FLD-4 / BIL-8: the quote in force changes between a supplement's issue and acceptance ------


async def test_fld_4_bil_8_a_supplement_accepted_before_its_visit_completed_is_charged_as_issued(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    first, supplement, issued = await _waived_then_supplemented(runtime, client)
    # the visit's completion is heard before the acceptance that preceded it
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))

    await send(
        runtime,
        QuoteAccepted(order_id="o-1", visit_id="v-1", quote_id=supplement),
        at=T0 + timedelta(minutes=30),
    )

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "superseded"),
        (supplement, "accepted"),
    ]
    assert charge["summary"]["charge"] == issued["total"] == "213.00"


async def test_fld_4_bil_8_a_revisit_quote_issued_before_a_late_completion_is_charged_as_issued(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")  # 170.00 on v-1
    dispatcher = await key(runtime, "dispatcher")
    await waived(client, dispatcher, "30.00", "customer disputed the call-out")
    again = await _revisit(runtime, "o-1", fee("W02"), IGNITER)
    [issued] = [e for e in await outbox(runtime, "QuoteIssued") if e.data["quote_id"] == again]
    assert issued.data["total"] == "140.00"  # carrying v-1's waiver, as billing knew then
    # a late report: v-1 did complete its work, before the revisit's quote was accepted
    await send(runtime, repaired("o-1"), at=REBOOKED_AT)

    await send(
        runtime,
        QuoteAccepted(order_id="o-1", visit_id="v-2", quote_id=again),
        at=REVISIT_AT + timedelta(minutes=10),
    )
    await send(runtime, _signed_off("o-1", "v-2", "140.00"), at=REVISIT_AT + timedelta(hours=1))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    # v-1 140.00 with its waiver, v-2 the 140.00 the customer consented to, not 170.00
    assert charge["summary"]["charge"] == "280.00"
    summary = charge["summary"]
    assert (summary["quoted"], summary["waived"], summary["held"]) == ("340.00", "30.00", "30.00")
    assert [(q["quote_id"], q["status"], q["held_at_issue"]) for q in charge["quotes"]] == [
        (first, "accepted", "0.00"),
        (again, "accepted", "30.00"),
    ]
    [signature] = charge["signatures"]
    assert (signature["charged"], signature["matches_charge"]) == ("140.00", True)
    [waiver] = charge["waivers"]
    assert (waiver["quote_id"], waiver["carried_from"]) == (first, None)
