"""The centre finds and approves what quotes held at issue (BIL-8), against a real database
(SQLite and PostgreSQL): a late report kept a waiver on an earlier quote, so part of what the
revisit's quote deducted at issue is covered by no waiver; it is not charged (FLD-4, BIL-9)
and waits for the centre, listed by `GET /v1/held-reductions`; approved with
`POST /v1/orders/{order_id}/quotes/{quote_id}/held-approval` it becomes a waiver of its own
(who, why, when), published as ChargeWaived, and the charge does not change."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from contracts.fieldwork import QuoteAccepted
from servicekit.db import make_engine
from servicekit.migrations import upgrade
from servicekit.paging import encode_cursor
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from ..unit.test_held_approval import held_account
from .test_billing_api import IGNITER, accepted_order, fee, key, outbox, publish, send, waived
from .test_cancellation import repaired
from .test_list_paging import _pages, _refused_cursor
from .test_revisits import REBOOKED_AT, REVISIT_AT, _revisit
from .test_waiver_ids import _billing, store_accounts

LIST = "/v1/held-reductions"
REASON = {"reason": "late report kept the waiver on v-1; customer consented to 140.00"}


def _approval(order_id: str, quote_id: str) -> str:
    return f"/v1/orders/{order_id}/quotes/{quote_id}/held-approval"


async def held_order(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    order_id: str,
    *,
    accepted_at: datetime = REVISIT_AT + timedelta(minutes=10),
) -> tuple[str, str]:
    """v-1 accepted at 170.00 with a 30.00 waiver; v-2's quote issued at 140.00 carrying it; a
    late report shows v-1 completed before v-2's quote was accepted (at ``accepted_at``): v-2
    holds 30.00 at issue. Returns the two quotes."""
    dispatcher = await key(runtime, "dispatcher", name=f"dispatcher-{order_id}")
    first = await accepted_order(runtime, order_id)
    await waived(client, dispatcher, "30.00", "customer disputed the call-out", order_id)
    again = await _revisit(runtime, order_id, fee("W02"), IGNITER, request_id=f"{order_id}-req-2")
    await send(runtime, repaired(order_id), at=REBOOKED_AT)
    await send(
        runtime, QuoteAccepted(order_id=order_id, visit_id="v-2", quote_id=again), at=accepted_at
    )
    return first, again


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


async def test_bil_8_the_centre_finds_a_held_reduction_and_approves_it_with_who_and_why(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first, again = await held_order(runtime, client, "o-1")
    await accepted_order(runtime, "o-plain")  # nothing held: not listed
    dispatcher = await key(runtime, "dispatcher", name="disp-approver")

    listed = await client.get(LIST, headers=dispatcher)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["order_id"], item["held"]) == ("o-1", "30.00")
    assert datetime.fromisoformat(item["held_since"]) == REVISIT_AT + timedelta(minutes=10)
    [quote] = item["quotes"]
    assert (quote["quote_id"], quote["visit_id"], quote["held_at_issue"], quote["total"]) == (
        again,
        "v-2",
        "30.00",
        "140.00",
    )
    assert listed.json()["next_cursor"] is None
    waived_before = len(await outbox(runtime, "ChargeWaived"))

    approved = await client.post(_approval("o-1", again), json=REASON, headers=dispatcher)

    assert approved.status_code == 201, approved.text
    charge = approved.json()
    summary = charge["summary"]
    assert (summary["quoted"], summary["waived"], summary["held"], summary["charge"]) == (
        "340.00",
        "60.00",
        "0.00",
        "280.00",
    )
    [_, held] = charge["quotes"]
    assert held["held_at_issue"] == "0.00"
    waiver_id = held["held_waiver_id"]
    assert approved.headers["location"] == f"/v1/orders/o-1/waivers/{waiver_id}"
    read = await client.get(approved.headers["location"])
    assert read.status_code == 200, read.text
    assert (read.json()["approved_by"], read.json()["reason"]) == (
        "disp-approver",
        REASON["reason"],
    )
    [portion] = read.json()["portions"]
    assert (portion["quote_id"], portion["amount"], portion["approves_held"]) == (
        again,
        "30.00",
        True,
    )
    assert read.json()["at"]
    published = await outbox(runtime, "ChargeWaived")
    assert len(published) == waived_before + 1
    assert {k: published[-1].data[k] for k in ("quote_id", "amount_waived", "new_total")} == {
        "quote_id": again,
        "amount_waived": "30.00",
        "new_total": "140.00",
    }
    assert published[-1].data["approved_by"] == "disp-approver"
    assert (await client.get(LIST, headers=dispatcher)).json()["items"] == []
    # the charge as read afterwards says the same
    again_read = (await client.get("/v1/orders/o-1/charge")).json()
    assert again_read["summary"] == summary
    assert first != again


async def test_bil_8_a_held_reduction_is_approved_by_the_centre_once_and_refusals_are_problems(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    first, again = await held_order(runtime, client, "o-1")
    technician = await key(runtime, "technician", technician_id="t-1")
    partner = await key(runtime, "partner", network_id="n-1")
    agent = await key(runtime, "agent")
    dispatcher = await key(runtime, "dispatcher")
    for caller in (technician, partner, agent):
        _problem(await client.post(_approval("o-1", again), json=REASON, headers=caller), 403)
        _problem(await client.get(LIST, headers=caller), 403)

    _problem(await client.post(_approval("o-1", "nope"), json=REASON, headers=dispatcher), 404)
    _problem(await client.post(_approval("o-none", again), json=REASON, headers=dispatcher), 404)
    nothing = _problem(
        await client.post(_approval("o-1", first), json=REASON, headers=dispatcher), 409
    )
    assert "nothing to approve" in nothing["detail"]
    _problem(
        await client.post(_approval("o-1", again), json={"reason": "x"}, headers=dispatcher), 422
    )
    _problem(
        await client.post(
            _approval("o-1", again), json={**REASON, "amount": "30.00"}, headers=dispatcher
        ),
        422,
    )

    once = {**dispatcher, "Idempotency-Key": "approve-held-o-1"}
    approved = await client.post(_approval("o-1", again), json=REASON, headers=once)
    assert approved.status_code == 201, approved.text
    retried = await client.post(_approval("o-1", again), json=REASON, headers=once)
    assert (retried.status_code, retried.json()) == (201, approved.json())
    assert retried.headers["location"] == approved.headers["location"]
    twice = _problem(
        await client.post(_approval("o-1", again), json=REASON, headers=dispatcher), 409
    )
    assert twice["waiver_id"] in approved.headers["location"]
    assert "already approved" in twice["detail"]
    assert len([w for w in approved.json()["waivers"] if w["approves_held"]]) == 1
    charge = (await client.get("/v1/orders/o-1/charge")).json()
    assert len([w for w in charge["waivers"] if w["approves_held"]]) == 1


async def test_bil_8_bil_11_an_erased_order_takes_no_approval_of_what_it_held(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    _, again = await held_order(runtime, client, "o-1")
    async with runtime.app.state.uow_factory() as uow:
        account = uow.track(await uow.accounts.get("o-1"))
        account.anonymise(T0 + timedelta(days=800))
        await uow.accounts.save(account)
        await uow.commit()
    dispatcher = await key(runtime, "dispatcher")

    erased = _problem(
        await client.post(_approval("o-1", again), json=REASON, headers=dispatcher), 409
    )

    assert erased["title"] == "Personal data erased"
    assert erased["anonymised_at"]
    assert (await client.get("/v1/orders/o-1/charge")).json()["summary"]["held"] == "30.00"


async def test_bil_8_held_reductions_come_in_pages_oldest_waiting_first_each_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    accepted = {
        "o-b": REVISIT_AT + timedelta(minutes=30),
        "o-a": REVISIT_AT + timedelta(minutes=10),
        "o-c": REVISIT_AT + timedelta(minutes=10),
    }
    for order_id, at in accepted.items():
        await held_order(runtime, client, order_id, accepted_at=at)

    pages = await _pages(client, LIST, "items", limit=2)

    assert [len(p["items"]) for p in pages] == [2, 1]
    assert [i["order_id"] for p in pages for i in p["items"]] == ["o-a", "o-c", "o-b"]
    _refused_cursor(await client.get(LIST, params={"cursor": "not-a-cursor"}))
    # a cursor of another list is refused
    other = encode_cursor("cash-entries:at", T0, "o-a")
    _refused_cursor(await client.get(LIST, params={"cursor": other}))


async def test_bil_8_migration_0009_lists_what_quotes_held_before_it(database_url: str) -> None:
    migrations = importlib.import_module("billing.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0008")
    account, _, again = held_account()
    await store_accounts(
        database_url,
        {"o-held": account.state.model_dump(mode="json"), "o-approved": _approved_state()},
        version=1,
    )

    await upgrade(migrations, database_url)

    async with _billing(database_url) as client:
        listed = await client.get(LIST)
        assert listed.status_code == 200, listed.text
        [item] = listed.json()["items"]
        assert (item["order_id"], item["held"]) == ("o-held", "30.00")
        assert [q["quote_id"] for q in item["quotes"]] == [again]
        approved = await client.post(_approval("o-held", again), json=REASON)
        assert approved.status_code == 201, approved.text
        assert (await client.get(LIST)).json()["items"] == []
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            since = (
                await conn.execute(
                    sa.text("SELECT order_id, held_unapproved_since FROM billing_account")
                )
            ).all()
    finally:
        await engine.dispose()
    assert {order_id: value for order_id, value in since} == {"o-held": None, "o-approved": None}


def _approved_state() -> Any:
    account, _, again = held_account()
    account.approve_held(again, approved_by="disp-1", reason="ok", now=T0)
    return account.state.model_dump(mode="json")
