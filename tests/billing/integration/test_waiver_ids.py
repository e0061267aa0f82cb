"""Waivers approved before waivers had ids (BIL-8), against a real database (SQLite and
PostgreSQL): migration 0008 gives each one a `waiver_id`, one per approval, so that the charge
lists it and `GET /v1/orders/{id}/waivers/{waiver_id}` reads it; portions share an id only where
the stored data shows they are one approval, and a second run changes nothing."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from billing.bootstrap import bootstrap
from billing.domain.account import BillingAccount
from billing.settings import BillingSettings
from servicekit.db import make_engine
from servicekit.migrations import upgrade

from ..conftest import ADMIN, ADMIN_KEY, Clock
from ..unit.test_account import IGNITER, NOW, REPAIR, _quote_on, accepted_account
from ..unit.test_revisits import _quote_as

ACCOUNT = sa.table(
    "billing_account",
    *(
        sa.column(name, kind)
        for name, kind in {
            "order_id": sa.String,
            "version": sa.Integer,
            "product_line": sa.String,
            "warranty_status": sa.String,
            "paid_work": sa.Boolean,
            "coordination_ticket": sa.Boolean,
            "pending": sa.Boolean,
            "state": sa.JSON,
        }.items()
    ),
)
AN_HOUR = timedelta(hours=1)


def _as_stored_before_ids(account: BillingAccount, *, keep_ids_from: int | None = None) -> Any:
    """The account's state as a release before waiver ids kept it: no `waiver_id`, or `null`
    once a release that read it without one saved it again. Waivers from ``keep_ids_from`` on
    were approved after the upgrade and keep theirs."""
    state = account.state.model_dump(mode="json")
    for n, waiver in enumerate(state["waivers"]):
        if keep_ids_from is not None and n >= keep_ids_from:
            continue
        if n % 2:
            waiver["waiver_id"] = None
        else:
            del waiver["waiver_id"]
    return state


def _carried_and_split() -> Any:
    """One approval split over two visits' quotes, its portion on the second visit's quote then
    carried to the supplement accepted in that quote's place; a later approval on the first."""
    account = accepted_account([REPAIR])  # v-1: 50.00, done
    account.work_completed("repair", visit_id="v-1", at=NOW)
    second = _quote_on(account, "v-2", IGNITER)  # v-2: 120.00
    account.quote_answered(second, accepted=True, discount_requested=False, at=NOW)
    # 120.00 off v-2 and 30.00 off v-1
    account.waive(amount=Decimal("150.00"), approved_by="disp-1", reason="goodwill", now=NOW)
    account.waive(
        amount=Decimal("5.00"), approved_by="disp-1", reason="goodwill", now=NOW + AN_HOUR
    )
    supplement = _quote_as(account, "r-v-2-again", "v-2", IGNITER, REPAIR)  # 170.00
    account.quote_answered(
        supplement, accepted=True, discount_requested=False, at=NOW + 2 * AN_HOUR
    )
    carried, on_first, later = account.state.waivers
    assert (carried.quote_id, carried.carried_from) == (supplement, second)
    assert on_first.quote_id == later.quote_id != supplement
    return _as_stored_before_ids(account)


def _same_instant_then_with_id() -> Any:
    """Two approvals stored with the same time, approver and reason on the same quote (a
    stopped clock): two approvals, since one approval takes one portion off each quote. Then
    one approved after the upgrade, which has its id."""
    account = accepted_account()  # 170.00
    for amount in ("10.00", "20.00"):
        account.waive(amount=Decimal(amount), approved_by="disp-1", reason="goodwill", now=NOW)
    account.waive(amount=Decimal("30.00"), approved_by="disp-2", reason="late", now=NOW + AN_HOUR)
    return _as_stored_before_ids(account, keep_ids_from=2)


async def store_accounts(database_url: str, states: dict[str, Any], *, version: int) -> None:
    """Store billing accounts (``states`` by order id) as a release before a migration did:
    rows written straight to the table, an out-of-warranty water heater's paid work."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for order_id, state in states.items():
                await conn.execute(
                    ACCOUNT.insert().values(
                        order_id=order_id,
                        version=version,
                        product_line="water_heater",
                        warranty_status="out_of_warranty",
                        paid_work=True,
                        coordination_ticket=False,
                        pending=False,
                        state=state,
                    )
                )
    finally:
        await engine.dispose()


async def _states(database_url: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(ACCOUNT.c.order_id, ACCOUNT.c.state))
            return {order_id: state for order_id, state in rows}
    finally:
        await engine.dispose()


@asynccontextmanager
async def _billing(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Billing serving the migrated database, as the admin."""
    runtime = bootstrap(
        BillingSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
        ),
        clock=Clock(),
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtime.app),
            base_url="http://billing",
            headers=ADMIN,
        ) as client:
            yield client
    finally:
        await runtime.engine.dispose()


async def test_bil_8_migration_0008_gives_each_approval_before_waiver_ids_one_readable_id(
    database_url: str,
) -> None:
    migrations = importlib.import_module("billing.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0007")
    seeded = {"o-carried": _carried_and_split(), "o-same-instant": _same_instant_then_with_id()}
    with_id = seeded["o-same-instant"]["waivers"][2]["waiver_id"]
    await store_accounts(database_url, seeded, version=3)

    await upgrade(migrations, database_url)

    states = await _states(database_url)
    carried, on_first, later = (w.get("waiver_id") for w in states["o-carried"]["waivers"])
    assert all(isinstance(i, str) and i for i in (carried, on_first, later))
    # the portions of the 150.00 approval, one of them carried since, share one id
    assert carried == on_first != later
    ten, twenty, thirty = (w.get("waiver_id") for w in states["o-same-instant"]["waivers"])
    assert len({ten, twenty, thirty}) == 3 and thirty == with_id
    # nothing else of the state changed
    for order_id, state in seeded.items():
        stripped = [
            {k: v for k, v in w.items() if k != "waiver_id"} for w in states[order_id]["waivers"]
        ]
        assert stripped == [
            {k: v for k, v in w.items() if k != "waiver_id"} for w in state["waivers"]
        ]
        assert {k: v for k, v in states[order_id].items() if k != "waivers"} == {
            k: v for k, v in state.items() if k != "waivers"
        }

    async with _billing(database_url) as client:
        charge = await client.get("/v1/orders/o-carried/charge")
        assert charge.status_code == 200, charge.text
        assert [w["waiver_id"] for w in charge.json()["waivers"]] == [carried, on_first, later]
        read = await client.get(f"/v1/orders/o-carried/waivers/{carried}")
        assert read.status_code == 200, read.text
        approval = read.json()
        assert (approval["waiver_id"], approval["approved_by"], approval["reason"]) == (
            carried,
            "disp-1",
            "goodwill",
        )
        assert [p["amount"] for p in approval["portions"]] == ["120.00", "30.00"]
        assert approval["portions"][0]["carried_from"] is not None
        read = await client.get(f"/v1/orders/o-carried/waivers/{later}")
        assert read.status_code == 200, read.text
        assert [p["amount"] for p in read.json()["portions"]] == ["5.00"]
        for waiver_id, amount in ((ten, "10.00"), (twenty, "20.00")):
            read = await client.get(f"/v1/orders/o-same-instant/waivers/{waiver_id}")
            assert read.status_code == 200, read.text
            assert [p["amount"] for p in read.json()["portions"]] == [amount]


async def test_bil_8_migration_0008_run_again_keeps_the_ids_it_gave(database_url: str) -> None:
    migrations = importlib.import_module("billing.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0007")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                ACCOUNT.insert().values(
                    order_id="o-carried",
                    version=3,
                    product_line="water_heater",
                    warranty_status="out_of_warranty",
                    paid_work=True,
                    coordination_ticket=False,
                    pending=False,
                    state=_carried_and_split(),
                )
            )
        await upgrade(migrations, database_url)
        first = await _states(database_url)
        assert all(w.get("waiver_id") for w in first["o-carried"]["waivers"])
        # run 0008 again over the ids it wrote (as a re-applied upgrade would)
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0007'"))
        await upgrade(migrations, database_url)
    finally:
        await engine.dispose()
    assert await _states(database_url) == first
