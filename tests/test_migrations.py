"""Every service's Alembic migrations build exactly the schema its models describe, on SQLite and
on PostgreSQL (a model changed without a migration fails here, not in production)."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from feedback.domain.case import Visit
from fsm.services import SERVICE_NAMES
from servicekit.db import make_engine
from servicekit.migrations import kit_metadata, upgrade
from servicekit.webhooks import WEBHOOK_REGISTRY

#: Kit tables a service keeps beyond the outbox, inbox, keys and idempotency records.
EXTRA_METADATA = {"scheduling": [WEBHOOK_REGISTRY.metadata]}


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_reach_the_models_schema(service: str, database_url: str) -> None:
    spec = importlib.import_module(f"{service}.bootstrap").SPEC
    await upgrade(spec.migrations_dir, database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync: Connection) -> list[Any]:
                merged = MetaData()
                for metadata in (kit_metadata(), spec.metadata, *EXTRA_METADATA.get(service, [])):
                    for table in metadata.tables.values():
                        table.to_metadata(merged)
                context = MigrationContext.configure(sync, opts={"compare_type": False})
                return list(compare_metadata(context, merged))

            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


_MIGRATE_IN_A_PROCESS = """
import asyncio, importlib, sys, time
from servicekit.migrations import upgrade
spec = importlib.import_module(sys.argv[1] + ".bootstrap").SPEC
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # all start at once, imports done
asyncio.run(upgrade(spec.migrations_dir, sys.argv[2]))
"""


async def test_replicas_starting_together_migrate_one_after_the_other(database_url: str) -> None:
    # Every replica of a service migrates its database as it starts (`fsm serve`), so replicas
    # scaled out at once race to create the same tables; each must wait for the one before.
    # Separate processes, as replicas are (Alembic's context is global to a process).
    start_at = time.time() + 8
    replicas = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MIGRATE_IN_A_PROCESS,
            "scheduling",
            database_url,
            str(start_at),
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outcomes = [await asyncio.wait_for(r.communicate(), timeout=120) for r in replicas]
    failures = [
        err.decode()[-2000:] for r, (_, err) in zip(replicas, outcomes, strict=True) if r.returncode
    ]
    assert failures == []
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            heads = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await engine.dispose()
    assert len(heads) == 1


async def _upgraded_to(service: str, revision: str, database_url: str) -> Path:
    """Migrate ``service``'s database up to ``revision``; returns its migrations directory."""
    migrations: Path = importlib.import_module(f"{service}.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision=revision)
    return migrations


def _table(name: str, **columns: Any) -> sa.TableClause:
    """The columns of ``name`` an old revision had, to write rows as that revision would."""
    return sa.table(name, *(sa.column(column, kind) for column, kind in columns.items()))


async def test_billing_0005_finds_the_promised_dates_of_invoices_issued_before_it(
    database_url: str,
) -> None:
    migrations = await _upgraded_to("billing", "0004", database_url)
    account = _table(
        "billing_account",
        order_id=sa.String,
        version=sa.Integer,
        warranty_status=sa.String,
        paid_work=sa.Boolean,
        coordination_ticket=sa.Boolean,
        pending=sa.Boolean,
        state=sa.JSON,
    )

    def invoice(number: str, status: str, promised_by: str | None) -> dict[str, Any]:
        return {"number": number, "status": status, "promised_by": promised_by}

    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for order_id, invoices in {
                "o-tracked": [
                    invoice("F1", "delivered", "2026-05-01"),
                    invoice("F2", "posted", "2026-05-09"),
                    invoice("F3", "to_deliver", "2026-05-08"),
                ],
                "o-delivered": [invoice("F4", "delivered", "2026-05-02")],
                "o-none": [],
            }.items():
                await conn.execute(
                    account.insert().values(
                        order_id=order_id,
                        version=0,
                        warranty_status="out_of_warranty",
                        paid_work=True,
                        coordination_ticket=False,
                        pending=False,
                        state={"invoices": invoices},
                    )
                )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT order_id, invoice_due_on FROM billing_account ORDER BY order_id")
            )
            due = {order_id: str(day) if day else None for order_id, day in rows}
    finally:
        await engine.dispose()
    assert due == {"o-delivered": None, "o-none": None, "o-tracked": "2026-05-08"}


async def test_intake_0006_enters_every_phone_of_orders_taken_before_0003(
    database_url: str,
) -> None:
    migrations = await _upgraded_to("intake", "0005", database_url)
    orders = _table(
        "orders",
        id=sa.String,
        created_at=sa.DateTime(timezone=True),
        status=sa.String,
        channel=sa.String,
        emergency=sa.Boolean,
        primary_phone=sa.String,
        customer=sa.JSON,
        product=sa.JSON,
        fault=sa.JSON,
        preferred_windows=sa.JSON,
        needs_verification=sa.JSON,
        warranty_status=sa.String,
        version=sa.Integer,
        loaner_required=sa.Boolean,
        awaiting_verification=sa.Boolean,
        dispatch_override=sa.Boolean,
    )
    order_phone = _table("order_phone", order_id=sa.String, phone=sa.String)

    def order(order_id: str, phones: list[str]) -> dict[str, Any]:
        return {
            "id": order_id,
            "created_at": datetime(2026, 1, 5, 2, 0, tzinfo=UTC),
            "status": "received",
            "channel": "hotline",
            "emergency": False,
            "primary_phone": phones[0] if phones else "",
            "customer": {"name": "王芳", "phones": phones, "address": {}},
            "product": {"line": "water_heater"},
            "fault": {"description": "不出热水"},
            "preferred_windows": [],
            "needs_verification": [],
            "warranty_status": "unknown",
            "version": 1,
            "loaner_required": False,
            "awaiting_verification": False,
            "dispatch_override": False,
        }

    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                orders.insert(),
                [
                    order("o-two-phones", ["+8613800138000", "+8613900139000"]),
                    order("o-complete", ["+8613700137000"]),
                    order("o-no-phone", []),
                ],
            )
            # What revision 0003 entered: the main phones only.
            await conn.execute(
                order_phone.insert(),
                [
                    {"order_id": "o-two-phones", "phone": "+8613800138000"},
                    {"order_id": "o-complete", "phone": "+8613700137000"},
                ],
            )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT order_id, phone FROM order_phone ORDER BY order_id, phone")
            )
            phones = [tuple(row) for row in rows]
    finally:
        await engine.dispose()
    assert phones == [
        ("o-complete", "+8613700137000"),
        ("o-two-phones", "+8613800138000"),
        ("o-two-phones", "+8613900139000"),
    ]


async def test_feedback_0005_keeps_the_technician_balance_of_call_backs_sampled_before_it(
    database_url: str,
) -> None:
    migrations = await _upgraded_to("feedback", "0004", database_url)
    call_back = _table(
        "feedback_call_back",
        task_id=sa.String,
        order_id=sa.String,
        reason_rule=sa.String,
        status=sa.String,
        dedupe_key=sa.String,
        technician_id=sa.String,
        sample_rate=sa.Integer,
        created_at=sa.DateTime(timezone=True),
        not_before=sa.DateTime(timezone=True),
        due_at=sa.DateTime(timezone=True),
        data=sa.JSON,
    )
    moment = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

    def task(task_id: str, rule: str, technician_id: str | None) -> dict[str, Any]:
        return {
            "task_id": task_id,
            "order_id": f"o-{task_id}",
            "reason_rule": rule,
            "status": "open",
            "dedupe_key": f"{rule}:{task_id}",
            "technician_id": technician_id,
            "sample_rate": 10 if rule == "FBK-4" else None,
            "created_at": moment,
            "not_before": moment,
            "due_at": moment,
            "data": {},
        }

    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                call_back.insert(),
                [
                    task("sampled", "FBK-4", "tech-1"),
                    task("sampled-unassigned", "FBK-4", None),
                    task("untested", "FBK-2", "tech-1"),
                ],
            )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT task_id, stratum FROM feedback_call_back ORDER BY task_id")
            )
            strata = dict(tuple(row) for row in rows)
    finally:
        await engine.dispose()
    # Draws balance on the stratum column now; the sampled call-backs keep their technician.
    assert strata == {"sampled": "tech-1", "sampled-unassigned": "unassigned", "untested": None}


async def test_feedback_0006_indexes_when_open_complaints_run_past_their_sla(
    database_url: str,
) -> None:
    migrations = await _upgraded_to("feedback", "0005", database_url)
    complaint = _table(
        "feedback_complaint",
        complaint_id=sa.String,
        order_id=sa.String,
        stage=sa.String,
        level=sa.Integer,
        filed_at=sa.DateTime(timezone=True),
        data=sa.JSON,
    )
    filed = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    due = "2026-01-05T10:00:00+08:00"

    def row(complaint_id: str, stage: str, **current: str | None) -> dict[str, Any]:
        state = {"stage": stage, "owner": "desk", "entered_at": filed.isoformat(), "note": None}
        state |= {"due_at": due, "left_at": None, "overdue_reported_at": None} | current
        return {
            "complaint_id": complaint_id,
            "order_id": f"o-{complaint_id}",
            "stage": stage,
            "level": 1,
            "filed_at": filed,
            "data": {"stages": [state]},
        }

    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                complaint.insert(),
                [
                    row("waiting", "accepted"),
                    row("reported", "accepted", overdue_reported_at="2026-01-05T02:05:00+00:00"),
                    row("no-sla", "followed_up", due_at=None),
                    row("closed", "closed"),
                ],
            )
        await upgrade(migrations, database_url)
        migrated = _table(
            "feedback_complaint",
            complaint_id=sa.String,
            overdue_check_at=sa.DateTime(timezone=True),
        )
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(migrated))
            check_at = {str(r.complaint_id): r.overdue_check_at for r in rows}
    finally:
        await engine.dispose()
    # Only the complaint still to be reported is found by the sweep's index, at its SLA end.
    assert check_at == {
        "waiting": datetime(2026, 1, 5, 2, 0, tzinfo=UTC),
        "reported": None,
        "no-sla": None,
        "closed": None,
    }


async def test_feedback_0009_counts_take_backs_returned_repaired_before_0007_done_at_their_return(
    database_url: str,
) -> None:
    migrations = await _upgraded_to("feedback", "0008", database_url)
    visit = _table(
        "feedback_visit",
        order_id=sa.String,
        visit_id=sa.String,
        technician_id=sa.String,
        outcome=sa.String,
        closed_at=sa.DateTime(timezone=True),
        completed_at=sa.DateTime(timezone=True),
        sheet_flagged=sa.Boolean,
        data=sa.JSON,
    )
    order_event = _table(
        "feedback_order_event",
        event_id=sa.String,
        order_id=sa.String,
        type=sa.String,
        version=sa.Integer,
        time=sa.DateTime(timezone=True),
        source=sa.String,
        summary=sa.JSON,
    )
    taken_at = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    returned_at = datetime(2026, 1, 9, 6, 30, tzinfo=UTC)

    def taken_back(
        order_id: str, visit_id: str, completed_at: datetime | None = None, **heard: Any
    ) -> dict[str, Any]:
        # What the release before 0007 kept of a visit that took the unit back: no receipt,
        # no return (it did not apply UnitReturned), no completion.
        data = {"visit_id": visit_id, "technician_id": "tech-b", "kind": "repair"}
        data |= {"outcome": "taken_back", "closed_at": taken_at.isoformat(), **heard}
        return {
            "order_id": order_id,
            "visit_id": visit_id,
            "technician_id": "tech-b",
            "outcome": "taken_back",
            "closed_at": taken_at,
            "completed_at": completed_at,
            "sheet_flagged": False,
            "data": data,
        }

    def event(order_id: str, kind: str, at: datetime, **summary: Any) -> dict[str, Any]:
        return {
            "event_id": f"{order_id}:{kind}:{summary['receipt_number']}",
            "order_id": order_id,
            "type": kind,
            "version": 1,
            "time": at,
            "source": "/fsm/fieldwork",
            "summary": summary,
        }

    def took(order_id: str, visit_id: str, receipt: str) -> dict[str, Any]:
        return event(order_id, "UnitTakenBack", taken_at, visit_id=visit_id, receipt_number=receipt)

    def returned(order_id: str, receipt: str, *, repaired: bool) -> dict[str, Any]:
        return event(
            order_id,
            "UnitReturned",
            returned_at,
            receipt_number=receipt,
            returned_at=returned_at.isoformat().replace("+00:00", "Z"),
            repaired=repaired,
            loaner_recovered=True,
        )

    heard_live = returned_at + timedelta(days=30)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                visit.insert(),
                [
                    taken_back("o-repaired", "v-repaired"),
                    taken_back("o-unrepaired", "v-unrepaired"),
                    taken_back("o-in-workshop", "v-in-workshop"),
                    taken_back("o-two", "v-first"),
                    taken_back("o-two", "v-second"),
                    taken_back(
                        "o-live",
                        "v-live",
                        take_back_receipt="TB-L",
                        unit_returned_at=heard_live.isoformat(),
                        unit_repaired=True,
                        completed_at=heard_live,
                    ),
                ],
            )
            await conn.execute(
                order_event.insert(),
                [
                    took("o-repaired", "v-repaired", "TB-1"),
                    returned("o-repaired", "TB-1", repaired=True),
                    took("o-unrepaired", "v-unrepaired", "TB-2"),
                    returned("o-unrepaired", "TB-2", repaired=False),
                    took("o-in-workshop", "v-in-workshop", "TB-3"),
                    took("o-two", "v-first", "TB-4"),
                    took("o-two", "v-second", "TB-5"),
                    returned("o-two", "TB-4", repaired=True),
                    took("o-live", "v-live", "TB-L"),
                    returned("o-live", "TB-L", repaired=True),
                ],
            )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(visit))).all()
    finally:
        await engine.dispose()
    completed = {r.visit_id: r.completed_at for r in rows}
    # FBK-4, FBK-8 select on completed_at: the repaired return is the work done, as UnitReturned
    # heard now sets it; a unit back unrepaired or still in the workshop is no work done.
    assert completed == {
        "v-repaired": returned_at,
        "v-unrepaired": None,
        "v-in-workshop": None,
        "v-first": returned_at,
        "v-second": None,
        "v-live": heard_live,
    }
    # The visits hold the return as the live handler keeps it, so saving the case again (any
    # later event of the order) derives the same completed_at instead of clearing it.
    visits = {r.visit_id: Visit.model_validate(r.data) for r in rows}
    assert {visit_id: v.work_done_at for visit_id, v in visits.items()} == completed
    unrepaired = visits["v-unrepaired"]
    assert (unrepaired.take_back_receipt, unrepaired.unit_repaired) == ("TB-2", False)
    # A unit still in the workshop is found by its receipt when it comes back.
    assert visits["v-second"].take_back_receipt == "TB-5"


async def test_scheduling_0010_finds_the_order_of_webhook_messages_stored_before_it(
    database_url: str,
) -> None:
    migrations = await _upgraded_to("scheduling", "0009", database_url)
    message = _table(
        "webhook_message",
        id=sa.String,
        owner_id=sa.String,
        message_id=sa.String,
        event_type=sa.String,
        payload=sa.Text,
        created_at=sa.DateTime(timezone=True),
    )
    bodies = {
        "m-order": '{"type":"fsm.OrderAssigned.v1","subject":"o-1","data":{"order_id":"o-1"}}',
        "m-quoting": '{"type":"fsm.Ping.v1","data":{"note":"\\"subject\\":\\"o-1\\""}}',
        "m-not-json": "not json",
    }
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for n, (message_id, payload) in enumerate(bodies.items()):
                await conn.execute(
                    message.insert().values(
                        id=f"id-{n}",
                        owner_id="net-a",
                        message_id=message_id,
                        event_type="x",
                        payload=payload,
                        created_at=datetime(2026, 5, 1, tzinfo=UTC),
                    )
                )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT message_id, subject FROM webhook_message"))
            subjects = dict(rows.all())
    finally:
        await engine.dispose()
    assert subjects == {"m-order": "o-1", "m-quoting": None, "m-not-json": None}


async def test_scheduling_0014_gives_orders_awaiting_a_network_answer_their_30_minutes(
    database_url: str,
) -> None:
    # SCH-1: orders given to a network before 0014 keep the wall-clock time they were given
    migrations = await _upgraded_to("scheduling", "0013", database_url)
    order = _table(
        "dispatch_order",
        order_id=sa.String,
        received_at=sa.DateTime(timezone=True),
        product_line=sa.String,
        emergency=sa.Boolean,
        needs_verification=sa.JSON,
        loaner_required=sa.Boolean,
        service_type=sa.String,
        status=sa.String,
        preferred_windows=sa.JSON,
        visits=sa.JSON,
        assignee_kind=sa.String,
        network_id=sa.String,
        technician_id=sa.String,
        assigned_at=sa.DateTime(timezone=True),
        network_accepted_at=sa.DateTime(timezone=True),
        pinned=sa.Boolean,
        contact_attempts=sa.JSON,
    )
    given = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    rows = {
        "o-silent": ("assigned", "network", "n1", None, None),
        "o-accepted": ("assigned", "network", "n1", None, given + timedelta(minutes=5)),
        "o-technician": ("assigned", "technician", None, "t1", None),
        "o-confirmed": ("confirmed", "network", "n1", None, None),
    }
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for order_id, (status, kind, network, tech, accepted) in rows.items():
                await conn.execute(
                    order.insert().values(
                        order_id=order_id,
                        received_at=given,
                        product_line="water_heater",
                        emergency=False,
                        needs_verification=[],
                        loaner_required=False,
                        service_type="repair",
                        status=status,
                        preferred_windows=[],
                        visits=[],
                        assignee_kind=kind,
                        network_id=network,
                        technician_id=tech,
                        assigned_at=given,
                        network_accepted_at=accepted,
                        pinned=False,
                        contact_attempts=[],
                    )
                )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            found = await conn.execute(
                sa.select(
                    sa.column("order_id"),
                    sa.column("acceptance_due_at", sa.DateTime(timezone=True)),
                ).select_from(sa.table("dispatch_order"))
            )
            due = {
                order_id: at.replace(tzinfo=at.tzinfo or UTC) if at else None
                for order_id, at in found
            }
    finally:
        await engine.dispose()
    assert due == {
        "o-silent": given + timedelta(minutes=30),
        "o-accepted": None,
        "o-technician": None,
        "o-confirmed": None,
    }


async def test_scheduling_0015_leaves_networks_registered_before_it_on_the_business_calendar(
    database_url: str,
) -> None:
    # SCH-1: a network without office hours of its own (all four null) answers in the business
    # calendar's working time, as before 0015
    migrations = await _upgraded_to("scheduling", "0014", database_url)
    network = sa.table(
        "partner_network",
        *(
            sa.column(column, kind)
            for column, kind in (
                ("network_id", sa.String),
                ("name", sa.String),  # not through _table(): its first parameter is `name`
                ("skills", sa.JSON),
                ("areas", sa.JSON),
                ("active", sa.Boolean),
            )
        ),
    )
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                network.insert().values(
                    network_id="n1", name="网点", skills=["*"], areas=["*"], active=True
                )
            )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            found = await conn.execute(
                sa.text(
                    "SELECT network_id, office_opens, office_closes, office_weekdays, "
                    "office_open_on_public_holidays FROM partner_network"
                )
            )
            rows = [tuple(row) for row in found]
    finally:
        await engine.dispose()
    assert rows == [("n1", None, None, None, None)]


async def test_scheduling_0016_gives_technicians_registered_before_it_revision_0(
    database_url: str,
) -> None:
    # SCH-1: the roster cache's key sums revisions; rows written before 0016 count 0
    migrations = await _upgraded_to("scheduling", "0015", database_url)
    technician = sa.table(
        "technician",
        *(
            sa.column(column, kind)
            for column, kind in (
                ("technician_id", sa.String),
                ("name", sa.String),  # not through _table(): its first parameter is `name`
                ("skills", sa.JSON),
                ("areas", sa.JSON),
                ("home_lat", sa.Float),
                ("home_lon", sa.Float),
                ("shift_start", sa.String),
                ("shift_end", sa.String),
                ("working_days", sa.JSON),
                ("days_off", sa.JSON),
                ("daily_capacity", sa.Integer),
                ("active", sa.Boolean),
            )
        ),
    )
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for technician_id in ("t1", "t2"):
                await conn.execute(
                    technician.insert().values(
                        technician_id=technician_id,
                        name="李师傅",
                        skills=["water_heater"],
                        areas=["东营区"],
                        home_lat=37.43,
                        home_lon=118.67,
                        shift_start="09:00",
                        shift_end="18:00",
                        working_days=[0, 1, 2, 3, 4],
                        days_off=[],
                        daily_capacity=8,
                        active=True,
                    )
                )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            found = await conn.execute(
                sa.text("SELECT technician_id, revision FROM technician ORDER BY technician_id")
            )
            rows = [tuple(row) for row in found]
    finally:
        await engine.dispose()
    assert rows == [("t1", 0), ("t2", 0)]
