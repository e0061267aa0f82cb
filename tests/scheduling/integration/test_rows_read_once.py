"""Applying an event reads each order it changes once (issue 9: statements are a third of a
consumer's CPU per event). The session's identity map holds rows weakly, so the repositories keep
the rows read under their lock (and the rows they insert) for the rest of the transaction: saving
them does not read them again; an order is inserted from its OrderCreated without a second read
of the row it found absent. What each change stored is as before."""

from __future__ import annotations

from collections.abc import Callable

from scheduling_support import DONGYING, Harness, created, local, near, repaired, window
from support.statements import selects_by_table

from contracts.fieldwork import TechnicianArrived, TechnicianDeparted
from contracts.intake import OrderVerified
from scheduling.domain import commands
from scheduling.domain.model import AuditEntry, DispatchOrder, DispatchStatus, Technician
from scheduling.service_layer import handlers
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork

TECHNICIAN = commands.Actor(name="t1", role="technician", technician_id="t1")


def _uow(harness: Harness) -> SchedulingUnitOfWork:
    factory: Callable[[], SchedulingUnitOfWork] = harness.runtime.app.state.uow_factory
    return factory()


async def _stored(harness: Harness, order_id: str) -> DispatchOrder:
    async with _uow(harness) as uow:
        order = await uow.orders.get(order_id)
    assert order is not None
    return order


async def _stored_technician(harness: Harness, technician_id: str) -> Technician:
    async with _uow(harness) as uow:
        tech = await uow.technicians.get(technician_id)
    assert tech is not None
    return tech


async def test_sch_1_a_new_order_placed_at_once_is_read_once_and_inserted(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")

    with selects_by_table(harness.runtime.engine) as selects:
        await harness.feed(created("o1"))

    # the order (absent), the jobs held per day and per technician (SCH-1) and the held jobs of
    # the day it is placed on; it is inserted without reading its row again
    assert selects["dispatch_order"] == 4
    order = await _stored(harness, "o1")
    assert (order.status, order.technician_id) == (DispatchStatus.ASSIGNED, "t1")
    assert [a.action for a in await _audit(harness, "o1")] == ["assign"]


async def test_an_order_awaiting_verification_is_read_once_and_inserted(harness: Harness) -> None:
    with selects_by_table(harness.runtime.engine) as selects:
        await harness.feed(created("o1", needs_verification=["warranty"]))

    assert selects["dispatch_order"] == 1  # found absent, then inserted
    order = await _stored(harness, "o1")
    assert order.status is DispatchStatus.AWAITING_VERIFICATION


async def test_sch_1_an_order_placed_once_verified_is_read_once_under_its_lock(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", needs_verification=["warranty"]))

    with selects_by_table(harness.runtime.engine) as selects:
        await harness.feed(OrderVerified(order_id="o1", verified=["warranty"]))

    # the order under its lock, then the placement's three reads; saved without a read
    assert selects["dispatch_order"] == 4
    order = await _stored(harness, "o1")
    assert (order.status, order.technician_id) == (DispatchStatus.ASSIGNED, "t1")


async def test_sch_6_sch_8_each_visit_report_reads_the_order_once_and_keeps_its_change(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=2)]))
    visit_id = (await _stored(harness, "o1")).visit_id
    harness.clock.now = local(9, 30)
    engine = harness.runtime.engine

    with selects_by_table(engine) as on_departed:
        await harness.feed(
            TechnicianDeparted(
                order_id="o1", visit_id=visit_id, technician_id="t1", eta=local(9, 55)
            )
        )
    departed = await _stored(harness, "o1")
    with selects_by_table(engine) as on_arrived:
        await harness.feed(
            TechnicianArrived(
                order_id="o1", visit_id=visit_id, technician_id="t1", arrived_at=local(9, 58)
            )
        )
    arrived = await _stored(harness, "o1")
    with selects_by_table(engine) as on_completed:
        await harness.feed(repaired("o1", visit_id=visit_id, technician_id="t1"))

    # one locked read of the order per event, none when it is saved; the technician the
    # report names is read to know their network (issue 5); the visit done, the job leaves
    # its technician: one more (indexed) read, of their jobs kept on a later shift beside it,
    # checked again (SCH-1, SCH-3)
    for selects in (on_departed, on_arrived):
        assert (selects["dispatch_order"], selects["technician"]) == (1, 1)
    assert (on_completed["dispatch_order"], on_completed["technician"]) == (2, 1)
    assert departed.status is DispatchStatus.EN_ROUTE
    assert departed.predicted_arrival == local(9, 55)
    assert (arrived.status, arrived.arrived_at) == (DispatchStatus.ON_SITE, local(9, 58))
    assert (await _stored(harness, "o1")).status is DispatchStatus.VISIT_DONE


async def test_sch_6_a_position_report_reads_the_technician_and_their_jobs_once(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=2)]))
    await harness.feed(created("o2", preferred=[window(14, hours=2)]))
    harness.clock.now = local(9, 0)
    deps = harness.runtime.app.state.deps
    here = near(DONGYING, north_km=3)

    with selects_by_table(harness.runtime.engine) as selects:
        forecasts = await handlers.report_position(
            commands.ReportPosition(technician_id="t1", actor=TECHNICIAN, position=here),
            uow=_uow(harness),
            clock=harness.clock,
            policy=deps["policy"],
            travel=deps["travel"],
        )

    # the technician under its lock and the table's next revision; their held jobs under
    # their locks, each saved without a read
    assert (selects["technician"], selects["dispatch_order"]) == (2, 1)
    assert sorted(o.order_id for o in forecasts) == ["o1", "o2"]
    tech = await _stored_technician(harness, "t1")
    assert (tech.position, tech.position_at) == (here, local(9, 0))
    for order in forecasts:
        assert (await _stored(harness, order.order_id)).predicted_arrival == order.predicted_arrival
        assert order.predicted_arrival is not None


async def test_a_row_kept_under_a_lock_is_read_again_once_the_transaction_committed(
    harness: Harness,
) -> None:
    await harness.feed(created("o1", needs_verification=["warranty"]))

    async with _uow(harness) as uow:
        order = await uow.orders.get("o1", for_update=True)
        assert order is not None
        await uow.commit()  # the lock is gone: what was read under it is no longer known
        with selects_by_table(harness.runtime.engine) as selects:
            order.area = "Kenli"
            await uow.orders.save(order)
        await uow.commit()

    assert selects["dispatch_order"] == 1
    assert (await _stored(harness, "o1")).area == "Kenli"


async def _audit(harness: Harness, order_id: str) -> list[AuditEntry]:
    async with _uow(harness) as uow:
        return list(await uow.orders.audit(order_id))
