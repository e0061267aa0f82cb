"""A unit taken back to the workshop under an accepted quote (FLD-6) through billing's event
handling and REST: once the workshop returns it repaired, that quote's work is done and stays
charged, whatever the customer answers to a quote of a later visit (BIL-1, FLD-4)."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from billing.adapters.tables import AccountRow
from contracts.fieldwork import (
    QuoteAccepted,
    QuoteDeclined,
    UnitReturned,
    UnitTakenBack,
    VisitOutcome,
)
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import IGNITER, accepted_order, fee, outbox, publish, send, visit_closed
from .test_revisits import _quoted, _v2_assigned

TAKEN_AT = T0 + timedelta(hours=1)
RETURNED_AT = T0 + timedelta(days=5)


async def _taken_back(runtime: ServiceRuntime, order_id: str) -> None:
    """v-1's unit goes to the workshop (receipt TB-1) under its accepted quote."""
    await send(
        runtime,
        UnitTakenBack(
            order_id=order_id,
            visit_id="v-1",
            technician_id="t-1",
            receipt_number="TB-1",
            promised_return_date=date(2026, 3, 10),
        ),
        at=TAKEN_AT,
    )


async def _taken_back_and_returned(runtime: ServiceRuntime, order_id: str) -> None:
    """v-1's unit goes to the workshop under its accepted quote and comes back repaired on v-2."""
    await _taken_back(runtime, order_id)
    await visit_closed(
        runtime, order_id, outcome=VisitOutcome.TAKEN_BACK, closed_at=TAKEN_AT, at=TAKEN_AT
    )
    await _v2_assigned(runtime, order_id, at=RETURNED_AT)
    await send(
        runtime,
        UnitReturned(
            order_id=order_id, visit_id="v-2", receipt_number="TB-1", returned_at=RETURNED_AT
        ),
        at=RETURNED_AT,
    )


async def test_bil_1_fld_6_a_declined_quote_after_the_workshop_repair_leaves_it_charged(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")  # 170.00, the unit then taken back
    await _taken_back_and_returned(runtime, "o-1")
    other = await _quoted(runtime, "o-1", "v-2", fee("W01"), request_id="req-2", at=RETURNED_AT)

    await send(
        runtime,
        QuoteDeclined(order_id="o-1", visit_id="v-2", quote_id=other, reason="不修了"),
        at=RETURNED_AT + timedelta(minutes=10),
    )

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "accepted"),
        (other, "declined"),
    ]
    assert charge["summary"]["charge"] == "170.00"
    assert await outbox(runtime, "QuoteVoided") == []


async def test_bil_1_fld_6_a_quote_accepted_after_the_workshop_repair_adds_to_its_charge(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")  # 170.00
    await _taken_back_and_returned(runtime, "o-1")
    other = await _quoted(runtime, "o-1", "v-2", IGNITER, request_id="req-2", at=RETURNED_AT)

    await send(
        runtime,
        QuoteAccepted(order_id="o-1", visit_id="v-2", quote_id=other),
        at=RETURNED_AT + timedelta(minutes=10),
    )

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "accepted"),
        (other, "accepted"),
    ]
    assert charge["summary"]["charge"] == "290.00"


async def test_bil_1_fld_6_a_unit_returned_unrepaired_leaves_the_quote_of_work_not_done(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")
    await _taken_back(runtime, "o-1")
    await send(
        runtime,
        UnitReturned(
            order_id="o-1",
            visit_id="v-2",
            receipt_number="TB-1",
            returned_at=RETURNED_AT,
            repaired=False,
        ),
        at=RETURNED_AT,
    )
    other = await _quoted(runtime, "o-1", "v-2", fee("W02"), request_id="req-2", at=RETURNED_AT)

    await send(runtime, QuoteDeclined(order_id="o-1", visit_id="v-2", quote_id=other))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "voided"),
        (other, "declined"),
    ]
    assert charge["summary"]["charge"] == "0.00"


async def test_bil_1_fld_6_a_take_back_heard_before_billing_kept_them_is_read_off_the_file(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first = await accepted_order(runtime, "o-1")
    await _taken_back_and_returned(runtime, "o-1")
    # as an account saved by the release before: its take-backs not kept, the file has them
    async with runtime.session_factory() as session, session.begin():
        row = await session.get(AccountRow, "o-1")
        assert row is not None
        state = dict(row.state)
        assert state.pop("take_backs")
        row.state = {**state, "completed_visits": [], "completed_at": {}}
    await send(
        runtime,
        UnitReturned(
            order_id="o-1", visit_id="v-2", receipt_number="TB-1", returned_at=RETURNED_AT
        ),
        at=RETURNED_AT + timedelta(seconds=1),
    )
    other = await _quoted(runtime, "o-1", "v-2", fee("W01"), request_id="req-2", at=RETURNED_AT)

    await send(runtime, QuoteDeclined(order_id="o-1", visit_id="v-2", quote_id=other))

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert [(q["quote_id"], q["status"]) for q in charge["quotes"]] == [
        (first, "accepted"),
        (other, "declined"),
    ]
