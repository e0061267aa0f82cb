"""Installations kept by the unit's serial, against a real database (SQLite and PostgreSQL): a
set-up item on a new order for a unit the platform installed earlier is dated by that
installation (BIL-5); the migration that brought the record in finds the installations heard
before it."""

from __future__ import annotations

import importlib
from datetime import date, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from contracts.common import Product
from contracts.fieldwork import InstallationCompleted
from servicekit.db import make_engine
from servicekit.migrations import upgrade
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import SCHEDULE, fee, order_created, outbox, publish, quote_requested, send

WITH_SETUP = {
    **SCHEDULE,
    "fees": [
        *SCHEDULE["fees"],
        {"fee_code": "S01", "description": "调试", "price": "60.0", "category": "setup"},
    ],
}
INSTALLED_ON = date(2026, 4, 30)
TWO_WEEKS_LATER = T0 + timedelta(days=14)


def _order(order_id: str, serial: str | None, line: str = "water_heater") -> Any:
    created = order_created(order_id)
    return created.model_copy(update={"product": Product(line=line, model="JSQ24", serial=serial)})


def _installed(order_id: str) -> InstallationCompleted:
    return InstallationCompleted(
        order_id=order_id, visit_id="v-1", technician_id="t-1", installed_on=INSTALLED_ON
    )


async def _setup_quoted(runtime: ServiceRuntime, order_id: str, serial: str | None) -> Any:
    """A new order of the unit ``serial`` asks for a set-up two weeks after the installation;
    returns the set-up line of its quote."""
    await send(runtime, _order(order_id, serial), at=TWO_WEEKS_LATER)
    await send(runtime, quote_requested(order_id, fee("S01")), at=TWO_WEEKS_LATER)
    [issued] = [e for e in await outbox(runtime, "QuoteIssued") if e.subject == order_id]
    [line] = issued.data["lines"]
    return line


async def test_bil_5_setup_on_a_new_order_of_a_unit_installed_here_is_dated_by_the_installation(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client, WITH_SETUP)
    await send(runtime, _order("o-install", "SN-123 AB"))
    await send(runtime, _installed("o-install"))

    line = await _setup_quoted(runtime, "o-later", " sn-123ab ")

    assert (line["amount"], line["rule_id"]) == ("0.00", "BIL-5")  # within a month: free
    assert "installed on 2026-04-30 by order o-install" in line["note"]
    other = await _setup_quoted(runtime, "o-other", "SN-999")
    assert (other["amount"], other["note"]) == (
        "60.00",
        "installation date unknown: charged per schedule",
    )


async def test_bil_5_an_installation_heard_before_its_order_is_kept_once_the_serial_is_known(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client, WITH_SETUP)
    await send(runtime, _installed("o-install"))  # fieldwork's topic ran ahead of intake's
    await send(runtime, _order("o-install", "SN-123AB"), at=T0 + timedelta(minutes=1))

    line = await _setup_quoted(runtime, "o-later", "SN-123AB")

    assert line["amount"] == "0.00"


async def test_bil_5_an_installation_of_another_product_line_does_not_date_the_setup(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client, WITH_SETUP)
    await send(runtime, _order("o-install", "SN-123AB", line="boiler"))
    await send(runtime, _installed("o-install"))

    line = await _setup_quoted(runtime, "o-later", "SN-123AB")

    assert line["amount"] == "60.00"


async def test_bil_5_migration_0006_keeps_the_installations_heard_before_it(
    database_url: str,
) -> None:
    migrations = importlib.import_module("billing.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0005")
    event = sa.table(
        "billing_order_event",
        *(
            sa.column(name, kind)
            for name, kind in {
                "event_id": sa.String,
                "order_id": sa.String,
                "type": sa.String,
                "version": sa.Integer,
                "time": sa.DateTime(timezone=True),
                "source": sa.String,
                "summary": sa.JSON,
            }.items()
        ),
    )
    account = sa.table(
        "billing_account",
        *(
            sa.column(name, kind)
            for name, kind in {
                "order_id": sa.String,
                "version": sa.Integer,
                "warranty_status": sa.String,
                "paid_work": sa.Boolean,
                "coordination_ticket": sa.Boolean,
                "pending": sa.Boolean,
                "state": sa.JSON,
            }.items()
        ),
    )
    heard = [
        ("o-1", "OrderCreated", {"product.line": "water_heater", "product.serial": "SN-1 A"}),
        ("o-1", "InstallationCompleted", {"installed_on": "2026-04-30"}),
        ("o-2", "OrderCreated", {"product.line": "water_heater"}),  # no serial: not kept
        ("o-2", "InstallationCompleted", {"installed_on": "2026-04-30"}),
    ]
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for seq, (order_id, kind, summary) in enumerate(heard):
                await conn.execute(
                    event.insert().values(
                        event_id=f"e-{seq}",
                        order_id=order_id,
                        type=kind,
                        version=1,
                        time=T0 + timedelta(minutes=seq),
                        source="/fsm/test",
                        summary=summary,
                    )
                )
            await conn.execute(
                account.insert().values(
                    order_id="o-1",
                    version=0,
                    warranty_status="out_of_warranty",
                    paid_work=False,
                    coordination_ticket=False,
                    pending=False,
                    state={},
                )
            )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT order_id, product_line, serial, serial_key, installed_on "
                        "FROM billing_installation"
                    )
                )
            ).all()
            state = (
                await conn.execute(sa.select(account.c.state).where(account.c.order_id == "o-1"))
            ).scalar_one()
    finally:
        await engine.dispose()
    assert [(*r[:4], str(r[4])) for r in rows] == [
        ("o-1", "water_heater", "SN-1 A", "sn-1a", "2026-04-30")
    ]
    assert (state["product_serial"], state["installation_completed_on"]) == ("SN-1 A", "2026-04-30")
