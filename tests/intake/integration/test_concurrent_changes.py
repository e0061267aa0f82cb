"""Concurrent changes of one order (or key, or warranty period) on PostgreSQL (READ COMMITTED):
each test holds one transaction open at its commit, with whatever locks it took, while a second
one runs against the same row (see ``support.races``), then checks that neither change was lost
and that no event was published twice.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import select
from support import races

from intake.adapters.tables import WarrantyPeriodRow
from intake.domain import commands
from intake.entrypoints import api_keys
from intake.service_layer import handlers
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.auth import Principal

from .conftest import Intake, order_body

T = TypeVar("T")

pytestmark = races.postgres_only


async def race(
    intake: Intake,
    first: Callable[[IntakeUnitOfWork], Coroutine[Any, Any, Any]],
    second: Callable[[], Coroutine[Any, Any, T]],
) -> tuple[T, bool]:
    """``first`` on intake's unit of work held at its commit, raced by ``second``: ``second``'s
    result and whether it had to wait."""
    uow = IntakeUnitOfWork(intake.runtime.session_factory, clock=intake.clock)
    _, result, waited = await races.race_held_at_commit(intake.runtime.engine, uow, first, second)
    return result, waited


def _report(phone: str = "13800138000") -> dict[str, Any]:
    body = order_body()
    return {**body, "customer": {**body["customer"], "phone": phone}}


async def _take(intake: Intake, phone: str = "13800138000") -> str:
    response = await intake.admin.post("/v1/orders", json=_report(phone))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _cancel(order_id: str) -> Callable[[IntakeUnitOfWork], Coroutine[Any, Any, Any]]:
    async def cancel(uow: IntakeUnitOfWork) -> Any:
        return await handlers.cancel_order(
            commands.CancelOrder(order_id=order_id, reason="fixed it", cancelled_by="agent-1"),
            uow=uow,
        )

    return cancel


async def test_int_8_a_report_arriving_while_its_open_order_is_cancelled_takes_a_new_order(
    intake: Intake,
) -> None:
    cancelled_id = await _take(intake)

    second_report, waited = await race(
        intake,
        _cancel(cancelled_id),
        lambda: intake.admin.post("/v1/orders", json=order_body()),
    )

    assert second_report.status_code == 201, second_report.text
    assert second_report.json()["duplicate"] is False
    assert second_report.json()["id"] != cancelled_id
    cancelled = (await intake.admin.get(f"/v1/orders/{cancelled_id}")).json()
    assert cancelled["status"] == "cancelled"
    assert await intake.events("DuplicateLinked") == []
    assert await intake.order_count() == 2
    assert waited  # it found the order open, then waited for its lock


async def test_int_3_the_sla_check_skips_an_order_being_changed_and_reports_it_once_later(
    intake: Intake,
) -> None:
    changing, other = await _take(intake, "13800138001"), await _take(intake, "13800138002")
    intake.clock.advance(hours=2)  # both hand-over clocks (1 h) ran out

    def check() -> Coroutine[Any, Any, int]:
        return handlers.check_sla_clocks(
            uow=intake.runtime.app.state.uow_factory(), clock=intake.clock
        )

    reported, waited = await race(intake, _cancel(changing), check)

    assert not waited  # it never waits for a command holding an order
    assert reported == 1
    assert [e.order_id for e in await intake.events("SlaBreached")] == [other]
    assert await check() == 1  # the skipped order, now that it is free
    assert await check() == 0
    breached = sorted(e.order_id for e in await intake.events("SlaBreached"))
    assert breached == sorted([changing, other])
    stored = (await intake.admin.get(f"/v1/orders/{changing}")).json()
    assert stored["status"] == "cancelled"  # the cancellation survived the check


async def test_int_3_two_replicas_checking_sla_clocks_at_once_report_each_breach_once(
    intake: Intake,
) -> None:
    for i in range(3):
        await _take(intake, f"1380013800{i}")
    intake.clock.advance(hours=2)

    async def first(uow: IntakeUnitOfWork) -> int:
        return await handlers.check_sla_clocks(uow=uow, clock=intake.clock)

    reported, _ = await race(
        intake,
        first,
        lambda: handlers.check_sla_clocks(
            uow=intake.runtime.app.state.uow_factory(), clock=intake.clock
        ),
    )

    assert reported == 0
    assert len(await intake.events("SlaBreached")) == 3


async def test_a_key_revoked_twice_at_once_is_revoked_once(intake: Intake) -> None:
    issued = await intake.admin.post("/v1/api-keys", json={"name": "agent 7", "role": "agent"})
    key_id = issued.json()["key_id"]
    admin = Principal(key_id="admin", role="admin", name="admin")

    async def first(uow: IntakeUnitOfWork) -> None:
        await api_keys.revoke_key(key_id, uow=lambda: uow, principal=admin, now=intake.clock())

    second, waited = await race(
        intake, first, lambda: intake.admin.delete(f"/v1/api-keys/{key_id}")
    )

    assert second.status_code == 204
    assert len(await intake.events("ApiKeyRevoked")) == 1
    assert waited  # for the first revocation, which it then saw


async def test_int_5_two_admins_setting_a_new_lines_warranty_at_once_both_succeed(
    intake: Intake,
) -> None:
    async def first(uow: IntakeUnitOfWork) -> None:
        await handlers.set_warranty_period(
            commands.SetWarrantyPeriod(product_line="robot_vacuum", months=24, set_by="admin-1"),
            uow=uow,
            clock=intake.clock,
        )

    second, waited = await race(
        intake,
        first,
        lambda: intake.admin.put("/v1/warranty-periods/robot_vacuum", json={"months": 36}),
    )

    assert second.status_code == 200, second.text
    async with intake.runtime.session_factory() as session:
        stored = (await session.execute(select(WarrantyPeriodRow))).scalars().all()
    assert [(row.product_line, row.months) for row in stored] == [("robot_vacuum", 36)]
    assert waited  # for the first admin's new row, which it then replaced


async def test_int_5_a_warranty_period_removed_twice_at_once_is_removed_once(
    intake: Intake,
) -> None:
    assert (
        await intake.admin.put("/v1/warranty-periods/robot_vacuum", json={"months": 24})
    ).status_code == 200

    async def first(uow: IntakeUnitOfWork) -> None:
        await handlers.remove_warranty_period(
            commands.RemoveWarrantyPeriod(product_line="robot_vacuum"), uow=uow
        )

    second, waited = await race(
        intake, first, lambda: intake.admin.delete("/v1/warranty-periods/robot_vacuum")
    )

    assert second.status_code == 404, second.text
    assert waited
