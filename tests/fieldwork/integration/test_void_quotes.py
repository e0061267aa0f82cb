"""Billing's QuoteVoided and QuoteReinstated through the consumer's handler: the visit shows the
quote voided (when, why, the answer it had), charges nothing for it and takes no answer to it, in
either order relative to the visit's end; reinstated, it is back (BIL-1, FLD-4, BIL-9), against a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from contracts.billing import QuoteReinstated, QuoteVoided, QuoteVoidReason
from contracts.common import WarrantyStatus
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCancelled
from servicekit.runtime import ServiceRuntime

from ..conftest import Clock, act, igniter_quote, ok, on_site, order, outbox, upload

PART = {"part_no": "P-1", "name": "点火针"}


async def issued(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> None:
    """Out of warranty, on site: quote q-1 (80) issued, awaiting the customer's consent."""
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    visit = await ok(admin, "v-1", type="diagnose", cause="点火针老化", parts=[PART])
    await runtime.handle_event(EventEnvelope.wrap(igniter_quote(visit["quote"]["request_id"])))


async def accepted(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> None:
    """Quote q-1 (80) accepted: the visit is repairing."""
    await issued(runtime, admin, clock)
    signature = await upload(admin, "v-1", "signature")
    await ok(admin, "v-1", type="accept_quote", quote_id="q-1", signature_ref=signature)


async def hear_void(
    runtime: ServiceRuntime,
    at: datetime,
    *,
    answer: Literal["issued", "accepted"] = "accepted",
    reason: QuoteVoidReason = QuoteVoidReason.ORDER_CANCELLED,
    declined_quote_id: str | None = None,
) -> None:
    await runtime.handle_event(
        EventEnvelope.wrap(
            QuoteVoided(
                order_id="o-1",
                visit_id="v-1",
                quote_id="q-1",
                answer=answer,
                reason=reason,
                voided_at=at,
                declined_quote_id=declined_quote_id,
            ),
            time=at,
        )
    )


async def quote_of(admin: httpx.AsyncClient) -> dict[str, Any]:
    quote: dict[str, Any] = (await admin.get("/v1/visits/v-1")).json()["quote"]
    return quote


async def closings(runtime: ServiceRuntime) -> list[tuple[str, bool]]:
    return [
        (e.data["outcome"], e.data["paid_work"])
        for e in await outbox(runtime)
        if e.event_name == "VisitClosed"
    ]


async def test_fld_4_bil_1_a_quote_voided_after_the_visit_ended_shows_voided_and_charges_nothing(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await accepted(runtime, admin, clock)
    await ok(admin, "v-1", type="missing_part", option="rebook", next_visit_agreed=True)
    assert await closings(runtime) == [("unfinished", True)]
    declined_at = clock.now + timedelta(days=2)

    await hear_void(
        runtime,
        declined_at,
        reason=QuoteVoidReason.DECLINED_AT_LATER_VISIT,
        declined_quote_id="q-2",
    )

    quote = await quote_of(admin)
    assert quote["status"] == "voided" and quote["total"] == "80"
    assert quote["void"] == {
        "reason": "declined_at_later_visit",
        "at": declined_at.isoformat().replace("+00:00", "Z"),
        "answer": "accepted",
        "declined_quote_id": "q-2",
    }
    signature = await upload(admin, "v-1", "signature")
    wrong = await act(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=signature,
        amount_acknowledged="80",
    )
    assert wrong.status_code == 409 and wrong.json()["amount_charged"] == "0.00"
    schemas = runtime.app.openapi()["components"]["schemas"]
    assert "voided" in schemas["QuoteStatus"]["enum"]
    assert schemas["Quote"]["properties"]["void"]["description"]
    assert schemas["QuoteVoid"]["properties"]["answer"]["description"]


async def test_fld_4_a_void_heard_twice_changes_nothing_and_reinstated_it_is_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await accepted(runtime, admin, clock)
    await ok(admin, "v-1", type="missing_part", option="rebook")
    await hear_void(runtime, clock.now + timedelta(days=2))
    voided = await admin.get("/v1/visits/v-1")

    await hear_void(runtime, clock.now + timedelta(days=2))  # billing published it again
    assert (await admin.get("/v1/visits/v-1")).json() == voided.json()

    await runtime.handle_event(
        EventEnvelope.wrap(
            QuoteReinstated(order_id="o-1", visit_id=None, quote_id="q-1", status="accepted")
        )
    )

    quote = await quote_of(admin)
    assert (quote["status"], quote["void"]) == ("accepted", None)
    signed = await ok(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=await upload(admin, "v-1", "signature"),
        amount_acknowledged="80",
    )
    assert signed["signed_off"]["amount_acknowledged"] == "80"
    events = (await admin.get("/v1/orders/o-1/events")).json()["events"]
    assert [e["type"] for e in events].count("QuoteVoided") == 2


async def test_fld_4_a_quote_voided_while_awaiting_consent_cannot_be_answered(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await issued(runtime, admin, clock)
    signature = await upload(admin, "v-1", "signature")
    await hear_void(runtime, clock.now, answer="issued")

    accept = await act(admin, "v-1", type="accept_quote", quote_id="q-1", signature_ref=signature)
    decline = await act(admin, "v-1", type="decline_quote", reason="太贵")

    for refused in (accept, decline):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["rule"] == "FLD-4" and problem["void_reason"] == "order_cancelled"
        assert "q-1 was voided" in problem["detail"] and "cancelled" in problem["detail"]
    assert "QuoteAccepted" not in [e.event_name for e in await outbox(runtime)]
    assert (await quote_of(admin))["void"]["answer"] == "issued"


async def test_fld_4_a_visit_ending_after_its_quote_was_voided_closes_without_paid_work(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await accepted(runtime, admin, clock)
    clock.advance(minutes=20)
    # billing heard the cancellation before fieldwork did: the void comes first
    await hear_void(runtime, clock.now)

    refused = await act(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderCancelled(order_id="o-1", reason="客户不修了", cancelled_by="agent-1"),
            time=clock.now,
        )
    )

    assert refused.status_code == 409 and "voided" in refused.json()["detail"]
    assert (await admin.get("/v1/visits/v-1")).json()["state"] == "aborted"
    assert await closings(runtime) == [("aborted", False)]
    assert (await quote_of(admin))["status"] == "voided"
