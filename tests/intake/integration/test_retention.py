"""BIL-11 through intake's consumer: once billing says an order's retention is over, nothing of
the customer's personal data remains in intake's database, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert, inspect, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import AssigneeKind
from contracts.envelope import EventEnvelope
from contracts.feedback import FollowUpCompleted, FollowUpScores
from contracts.scheduling import OrderAssigned
from intake.entrypoints.consumer import make_handler
from servicekit.outbox import OutboxMessage

from .conftest import Intake

#: What the customer told the call centre; none of it may remain once the order is erased.
PERSONAL = (
    "王芳",
    "13800138000",
    "13905461234",
    "东营宾馆",
    "西四路100号",
    "3单元502",
    "李经理",
    "37.4341",
)
RETENTION = timedelta(days=366)


def _personal_body(make_order: Any) -> dict[str, Any]:
    return make_order(
        customer={
            "name": "王芳",
            "organisation": "东营宾馆有限公司",
            "contact_person": "李经理",
            "phone": "13800138000转8001",
            "phones": ["13905461234"],
            "address": {
                "province": "山东省",
                "city": "东营市",
                "district": "东营区",
                "street": "西四路100号",
                "detail": "3单元502",
                "lat": 37.4341,
                "lon": 118.6747,
            },
        },
        fault={"description": "王芳家的热水器打不着火", "code": "no_ignition"},
        requests="周六上午，找王芳或李经理",
    )


async def _taken(intake: Intake, make_order: Any) -> str:
    """An order with every kind of personal value intake keeps, and a second report of it
    from the customer's other phone (INT-8)."""
    body = _personal_body(make_order)
    order_id = str((await intake.admin.post("/v1/orders", json=body)).json()["id"])
    body["customer"]["phone"] = "13905461234"
    body["fault"] = {"description": "王芳又打来催了"}
    linked = await intake.admin.post("/v1/orders", json=body)
    assert linked.json()["duplicate"] is True, linked.text
    return order_id


def _expired(order_id: str, intake: Intake) -> OrderRetentionExpired:
    return OrderRetentionExpired(
        order_id=order_id,
        retention_class=RetentionClass.FREE,
        ended_at=intake.clock() - RETENTION,
        expired_at=intake.clock(),
    )


async def _personal_values_stored(intake: Intake) -> dict[str, list[str]]:
    """Every table of the database, every row read as text: which personal values each holds."""
    found: dict[str, list[str]] = {}
    async with intake.runtime.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for name in names:
            rows = (await conn.execute(select(text("*")).select_from(table(name)))).all()
            stored = " ".join(str(value) for row in rows for value in row)
            held = [value for value in PERSONAL if value in stored]
            if held:
                found[name] = held
    return found


async def test_bil_11_retention_expired_erases_every_personal_value_intake_stored(
    intake: Intake, make_order: Any
) -> None:
    order_id = await _taken(intake, make_order)
    resolved = await intake.admin.post(
        f"/v1/orders/{order_id}/resolve-remotely",
        json={"cause": "misuse", "guidance": "已指导王芳打开燃气阀"},
    )
    assert resolved.status_code == 200, resolved.text
    before = await _personal_values_stored(intake)
    assert set(before) >= {"orders", "order_phone", "outbox"}

    intake.clock.advance(days=366)
    await intake.deliver(_expired(order_id, intake))

    assert await _personal_values_stored(intake) == {}
    order = (await intake.admin.get(f"/v1/orders/{order_id}")).json()
    assert order["anonymised_at"] == intake.clock().isoformat().replace("+00:00", "Z")
    assert order["customer"] == {
        "name": "[erased]",
        "phones": [],
        "phone_extensions": {},
        "address": {
            "province": "山东省",
            "city": "东营市",
            "district": "东营区",
            "street": None,
            "detail": None,
            "location": None,
            "public_area": False,
        },
        "organisation": None,
        "contact_person": None,
    }
    assert order["requests"] == "[erased]"
    assert order["fault"] == {"description": "[erased]", "code": "no_ignition"}
    [report] = order["linked_reports"]
    assert report["caller_phone"] is None and report["caller_phone_extension"] is None
    assert report["fault_description"] == "[erased]"
    # Not personal: the product, the status and the timeline stay for figures and the audit.
    assert order["product"]["model"] == "JSQ24-12" and order["status"] == "resolved_remotely"
    assert [e["type"] for e in order["timeline"]] == [
        "OrderCreated",
        "DuplicateLinked",
        "OrderResolvedRemotely",
        "OrderRetentionExpired",
    ]
    # The events staged in the outbox go out erased, still valid for their contracts.
    [created] = await intake.events("OrderCreated")
    assert created.customer.name == "[erased]"  # type: ignore[attr-defined]
    [listed] = (await intake.admin.get("/v1/orders")).json()["items"]
    assert listed["customer"]["name"] == "[erased]" and listed["anonymised_at"] is not None


async def test_bil_11_int_8_an_erased_order_is_not_found_by_phone_nor_linked_to_a_new_report(
    intake: Intake, make_order: Any
) -> None:
    order_id = await _taken(intake, make_order)
    found = await intake.admin.get("/v1/orders", params={"phone": "13905461234"})
    assert [o["id"] for o in found.json()["items"]] == [order_id]

    intake.clock.advance(days=366)
    await intake.deliver(_expired(order_id, intake))

    for phone in ("13800138000", "13800138000转8001", "13905461234"):
        found = await intake.admin.get("/v1/orders", params={"phone": phone})
        assert found.json()["items"] == [], phone
    again = await intake.admin.post("/v1/orders", json=_personal_body(make_order))
    assert again.status_code == 201, again.text
    assert again.json()["id"] != order_id and again.json()["duplicate"] is False


async def test_bil_11_commands_on_an_erased_order_are_refused_with_409_personal_data_erased(
    intake: Intake, make_order: Any
) -> None:
    order_id = await _taken(intake, make_order)
    await intake.admin.post(
        f"/v1/orders/{order_id}/resolve-remotely", json={"cause": "misuse", "guidance": "g"}
    )
    intake.clock.advance(days=366)
    await intake.deliver(_expired(order_id, intake))

    for action, body in (
        ("reopen", {"reason": "王芳说还是不行"}),
        ("cancel", {"reason": "x"}),
        ("verify", {"customer": _personal_body(make_order)["customer"]}),
        ("resolve-remotely", {"guidance": "g"}),
    ):
        refused = await intake.admin.post(f"/v1/orders/{order_id}/{action}", json=body)
        assert refused.status_code == 409, (action, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["title"] == "Personal data erased"
        assert refused.json()["anonymised_at"] == intake.clock().isoformat()
    assert await _personal_values_stored(intake) == {}


async def test_bil_11_late_events_after_the_erasure_store_nothing_personal_and_change_nothing(
    intake: Intake, make_order: Any
) -> None:
    order_id = await _taken(intake, make_order)
    intake.clock.advance(days=366)
    expired = EventEnvelope.wrap(_expired(order_id, intake), time=intake.clock())
    handle = make_handler(intake.runtime.app.state.uow_factory, clock=intake.clock)
    await handle(expired)
    erased = (await intake.admin.get(f"/v1/orders/{order_id}")).json()

    intake.clock.advance(hours=1)
    await handle(expired)  # redelivered: the inbox knows it
    assert (await intake.admin.get(f"/v1/orders/{order_id}")).json() == erased
    await intake.deliver(_expired(order_id, intake))  # published again: seen, nothing more
    again = (await intake.admin.get(f"/v1/orders/{order_id}")).json()
    assert again["timeline"][:-1] == erased["timeline"]
    assert {k: v for k, v in again.items() if k != "timeline"} == {
        k: v for k, v in erased.items() if k != "timeline"
    }

    await intake.deliver(
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="d-1",
        )
    )
    await intake.deliver(
        FollowUpCompleted(
            order_id=order_id,
            task_id="task-1",
            reached=True,
            satisfied=True,
            problem_solved=True,
            scores=FollowUpScores(comments="王芳很满意，电话13800138000"),
        )
    )
    assert await _personal_values_stored(intake) == {}
    late = (await intake.admin.get(f"/v1/orders/{order_id}")).json()
    assert late["technician_id"] == "t-1" and late["customer"]["name"] == "[erased]"
    assert late["anonymised_at"] == erased["anonymised_at"]


#: Events of other orders in the outbox: a week of published ones waits there for the purge.
OTHER_ORDERS_EVENTS = 5000


async def _fill_outbox_with_other_orders(intake: Intake) -> None:
    """Give the outbox the size it has in production, so the planner has a reason to choose."""
    published = intake.clock()
    async with intake.runtime.engine.begin() as conn:
        await conn.execute(
            insert(OutboxMessage),
            [
                {
                    "event_id": str(uuid.UUID(int=n)),
                    "topic": "fsm.intake.events",
                    "key": str(uuid.UUID(int=n + OTHER_ORDERS_EVENTS)),
                    "event_type": "fsm.OrderCreated.v1",
                    "payload": "{" + "x" * 600 + "}",
                    "headers": "{}",
                    "created_at": published,
                    "published_at": published,
                    "attempts": 1,
                }
                for n in range(OTHER_ORDERS_EVENTS)
            ],
        )
        await conn.execute(text("ANALYZE"))


async def _plan(conn: AsyncConnection, statement: str, parameters: Any) -> str:
    """The database's plan for one statement as the driver ran it."""
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    rows = (await conn.exec_driver_sql(explain + statement, parameters)).all()
    return "\n".join(str(row[-1]) for row in rows)


async def test_bil_11_erasing_an_order_finds_its_outbox_rows_through_the_key_index(
    intake: Intake, make_order: Any
) -> None:
    # The outbox holds every service's events of the last week: erasing one order's events
    # must look them up by the order id (the key), not read the whole table.
    order_id = await _taken(intake, make_order)
    await _fill_outbox_with_other_orders(intake)
    outbox_reads: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM outbox" in statement and "key" in statement:
            outbox_reads.append((statement, parameters))

    event.listen(intake.runtime.engine.sync_engine, "before_cursor_execute", seen)
    try:
        intake.clock.advance(days=366)
        await intake.deliver(_expired(order_id, intake))
    finally:
        event.remove(intake.runtime.engine.sync_engine, "before_cursor_execute", seen)

    assert outbox_reads, "the erasure did not read the order's outbox rows"
    async with intake.runtime.engine.connect() as conn:
        plans = [await _plan(conn, statement, parameters) for statement, parameters in outbox_reads]
    for plan in plans:
        assert "ix_outbox_key" in plan, plan
        assert "Seq Scan" not in plan and "SCAN outbox" not in plan, plan
    async with intake.runtime.engine.connect() as conn:
        of_order = (
            await conn.execute(
                select(OutboxMessage.payload).where(OutboxMessage.key == order_id)  # type: ignore[arg-type]
            )
        ).scalars()
        assert [payload for payload in of_order if "王芳" in payload] == []
