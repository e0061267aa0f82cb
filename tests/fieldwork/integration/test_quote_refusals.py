"""Billing's QuoteRefused through the consumer's handler: the visit's REST read model shows its
quote request refused with billing's reason, and the technician sends a corrected request with a
new request id, which billing can then price (FLD-4, BIL-1), against a real database (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from contracts.billing import QuoteRefused
from contracts.common import WarrantyStatus
from contracts.envelope import EventEnvelope
from servicekit.runtime import ServiceRuntime

from ..conftest import Clock, igniter_quote, ok, on_site, order, outbox

PART = {"part_no": "P-1", "name": "点火针"}
REASON = (
    "amounts too large to quote (amount): a quote line and its total must stay below "
    "1,000,000,000,000 CNY; check the quantities and stock prices and ask again"
)


async def test_fld_4_a_refused_quote_request_shows_on_the_visit_and_a_corrected_one_is_sent(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    visit = await ok(admin, "v-1", type="diagnose", cause="点火针老化", parts=[PART])
    first = visit["quote"]["request_id"]
    refused_at = clock.now + timedelta(minutes=1)
    refusal = EventEnvelope.wrap(
        QuoteRefused(
            order_id="o-1",
            visit_id="v-1",
            request_id=first,
            reason=REASON,
            refused_at=refused_at,
        ),
        time=refused_at,
    )

    await runtime.handle_event(refusal)

    visit = (await admin.get("/v1/visits/v-1")).json()
    assert visit["quote"]["status"] == "refused"
    assert visit["quote"]["refusal"] == {
        "reason": REASON,
        "at": refused_at.isoformat().replace("+00:00", "Z"),
    }
    assert [q["request_id"] for q in visit["refused_quotes"]] == [first]
    assert visit["state"] == "diagnosing" and "diagnose" in visit["allowed"]
    await runtime.handle_event(refusal)  # delivered again
    assert (await admin.get("/v1/visits/v-1")).json() == visit
    events = (await admin.get("/v1/orders/o-1/events")).json()["events"]
    assert [e["type"] for e in events].count("QuoteRefused") == 1
    schemas = runtime.app.openapi()["components"]["schemas"]
    assert "refused" in schemas["QuoteStatus"]["enum"]
    assert schemas["Quote"]["properties"]["refusal"]["description"]

    clock.advance(minutes=3)
    visit = await ok(admin, "v-1", type="diagnose", cause="点火针老化", parts=[PART])

    second = visit["quote"]["request_id"]
    asked = [e.data for e in await outbox(runtime) if e.event_name == "QuoteRequested"]
    assert [a["request_id"] for a in asked] == [first, second] and second != first
    assert (visit["state"], visit["quote"]["status"]) == ("awaiting_consent", "requested")
    await runtime.handle_event(EventEnvelope.wrap(igniter_quote(second)))
    visit = (await admin.get("/v1/visits/v-1")).json()
    assert (visit["quote"]["status"], visit["quote"]["quote_id"]) == ("issued", "q-1")
    assert [q["request_id"] for q in visit["refused_quotes"]] == [first]
