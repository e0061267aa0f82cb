"""Concurrent changes of one order (or key, or warranty period) on PostgreSQL, where transactions
run at READ COMMITTED: each test holds one transaction open at its commit, with whatever locks it
took, while a second one runs against the same row, then checks that neither change was lost and
that no event was published twice.

SQLite needs none of this (the kit begins every transaction with BEGIN IMMEDIATE, so writers
take turns); the tests run on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, text

from intake.adapters.tables import WarrantyPeriodRow
from intake.domain import commands
from intake.entrypoints import api_keys
from intake.service_layer import handlers
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.auth import Principal

from .conftest import Intake, order_body

T = TypeVar("T")

#: Long enough never to be hit by a healthy run; a deadlock fails the test instead of hanging.
TIMEOUT = 10.0


@pytest.fixture
def database_url(database_url: str) -> str:
    """PostgreSQL only: on SQLite writers are serialised, there is no race to show."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the race needs PostgreSQL")
    return database_url


_WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class Gate:
    """Where the first transaction waits, at its commit, for the test to let it go on."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    async def pass_through(self) -> None:
        self.reached.set()
        await self.released.wait()


class HeldUnitOfWork(IntakeUnitOfWork):
    """Intake's unit of work, held open at its commit (with the locks it took) by a gate."""

    def __init__(self, intake: Intake, gate: Gate) -> None:
        super().__init__(intake.runtime.session_factory, clock=intake.clock)
        self._gate = gate

    async def commit(self) -> None:
        await self._gate.pass_through()
        await super().commit()


async def _blocked_or_finished(intake: Intake, second: asyncio.Task[Any]) -> bool:
    """Wait until ``second`` either waits on a lock in PostgreSQL (True) or has finished
    (False)."""
    async with intake.runtime.engine.connect() as connection:
        for _ in range(int(TIMEOUT / 0.02)):
            if second.done():
                return False
            waiting = await connection.scalar(_WAITING_ON_A_LOCK)
            # pg_stat_activity is read once per transaction: end it to see the next poll's.
            await connection.rollback()
            if waiting:
                return True
            await asyncio.sleep(0.02)
    raise AssertionError("the second transaction neither finished nor waited on a lock")


async def race(
    intake: Intake,
    first: Callable[[IntakeUnitOfWork], Coroutine[Any, Any, Any]],
    second: Callable[[], Coroutine[Any, Any, T]],
) -> tuple[T, bool]:
    """Run ``first`` on a unit of work held at its commit, start ``second`` meanwhile, let
    ``first`` commit once ``second`` waits on a lock or is done; ``second``'s result and whether
    it had to wait."""
    gate = Gate()
    first_task = asyncio.create_task(first(HeldUnitOfWork(intake, gate)))
    reached = asyncio.create_task(gate.reached.wait())
    await asyncio.wait({first_task, reached}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
    reached.cancel()
    if first_task.done():
        first_task.result()  # it failed before its commit: show why
        raise AssertionError("the first transaction committed without passing the gate")
    second_task = asyncio.create_task(second())
    try:
        waited = await _blocked_or_finished(intake, second_task)
    finally:
        gate.released.set()
    await asyncio.wait_for(first_task, TIMEOUT)
    return await asyncio.wait_for(second_task, TIMEOUT), waited


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
        await api_keys.revoke_key(key_id, uow=lambda: uow, principal=admin)

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
