"""The order repository on a real database: a new order is written with Core inserts, and a
later save in the same unit of work updates those rows instead of inserting them again."""

from __future__ import annotations

from datetime import timedelta

from contracts.common import Address, Channel, Customer, Fault, Product
from contracts.intake import SlaClock
from intake.domain.model import Order, OrderStatus, SlaTimer
from intake.service_layer.unit_of_work import IntakeUnitOfWork

from .conftest import Intake


def _new_order(intake: Intake) -> Order:
    now = intake.clock()
    return Order.take(
        customer=Customer(
            name="王芳",
            phones=["+8613800138000", "+8613900139000"],
            address=Address(detail="西四路100号"),
        ),
        product=Product(line="water_heater", model="JSQ24-12"),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        now=now,
        clocks={
            SlaClock.HANDOVER: SlaTimer(
                clock=SlaClock.HANDOVER, started_at=now, due_at=now + timedelta(hours=1)
            )
        },
    )


async def test_new_order_round_trips_with_phones_clocks_and_timeline(intake: Intake) -> None:
    factory = intake.runtime.app.state.uow_factory
    order = _new_order(intake)
    async with factory() as uow:
        await uow.orders.add(order)
        await uow.commit()

    async with factory() as uow:
        stored = await uow.orders.get(order.id)
        assert stored is not None
        assert stored.customer.phones == ["+8613800138000", "+8613900139000"]
        assert [e.type for e in stored.timeline] == ["OrderCreated"]
        assert stored.clocks[SlaClock.HANDOVER].due_at == order.clocks[SlaClock.HANDOVER].due_at
        assert [o.id for o in await uow.orders.open_orders_with_phones(["+8613900139000"])] == [
            order.id
        ]


async def test_order_saved_again_in_the_unit_of_work_that_inserted_it_is_updated(
    intake: Intake,
) -> None:
    factory = intake.runtime.app.state.uow_factory
    order = _new_order(intake)
    uow: IntakeUnitOfWork
    async with factory() as uow:
        await uow.orders.add(order)
        await uow.commit()
        order.cancel(reason="customer fixed it", cancelled_by="agent-7")
        order.clocks[SlaClock.HANDOVER].stop(intake.clock() + timedelta(minutes=5))
        await uow.commit()

    async with factory() as uow:
        stored = await uow.orders.get(order.id)
        assert stored is not None
        assert stored.status is OrderStatus.CANCELLED
        assert [e.type for e in stored.timeline] == ["OrderCreated", "OrderCancelled"]
        assert stored.clocks[SlaClock.HANDOVER].stopped_at == intake.clock() + timedelta(minutes=5)
        assert sorted(stored.customer.phones) == ["+8613800138000", "+8613900139000"]
    assert await intake.order_count() == 1
