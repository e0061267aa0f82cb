"""The order repository on a real database: a new order is written with Core inserts, and a
later save in the same unit of work updates those rows instead of inserting them again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from contracts.common import Address, Channel, Customer, Fault, Product
from contracts.intake import SlaClock
from intake.adapters.tables import OrderPhoneRow, OrderRow
from intake.domain.model import Order, OrderStatus, SlaTimer
from intake.domain.policy import IntakePolicy
from intake.domain.rules import Phone, WarrantyTable
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.calendar import BusinessCalendar

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
        assert [
            o.id for o in await uow.orders.open_orders_with_phones([Phone("+8613900139000")])
        ] == [order.id]


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


async def _phone_rows(intake: Intake, order_id: str) -> dict[str, str | None]:
    async with intake.runtime.session_factory() as session:
        rows = await session.execute(
            select(OrderPhoneRow.phone, OrderPhoneRow.extension).where(
                OrderPhoneRow.order_id == order_id
            )
        )
        return {phone: extension for phone, extension in rows}


async def test_phone_extensions_are_stored_with_the_customer_and_in_the_phone_rows(
    intake: Intake,
) -> None:
    factory = intake.runtime.app.state.uow_factory
    order = _new_order(intake)
    order.phone_extensions = {"+8613900139000": "8001"}
    async with factory() as uow:
        await uow.orders.add(order)
        await uow.commit()
    assert await _phone_rows(intake, order.id) == {
        "+8613800138000": None,
        "+8613900139000": "8001",
    }

    async with factory() as uow:
        stored = await uow.orders.get(order.id)
        assert stored is not None
        assert stored.phone_extensions == {"+8613900139000": "8001"}
        stored.verify(
            now=intake.clock(),
            policy=IntakePolicy(),
            calendar=BusinessCalendar(),
            reported_on=intake.clock().date(),
            warranty=WarrantyTable(),
            verified_by="agent 7",
            customer=stored.customer,
            phone_extensions={"+8613800138000": "12"},
            override=True,
        )
        await uow.commit()
    assert await _phone_rows(intake, order.id) == {"+8613800138000": "12", "+8613900139000": None}


async def test_an_order_stored_before_extensions_existed_loads_with_none(intake: Intake) -> None:
    factory = intake.runtime.app.state.uow_factory
    order = _new_order(intake)
    async with factory() as uow:
        await uow.orders.add(order)
        await uow.commit()
    async with intake.runtime.session_factory() as session:
        row = await session.get(OrderRow, order.id)
        assert row is not None
        row.customer = {k: v for k, v in row.customer.items() if k != "phone_extensions"}
        await session.commit()

    async with factory() as uow:
        stored = await uow.orders.get(order.id)
        assert stored is not None
        assert stored.phone_extensions == {}
        assert stored.customer.phones == ["+8613800138000", "+8613900139000"]


async def test_int_8_a_phone_finds_the_open_orders_of_its_extension_or_of_none(
    intake: Intake,
) -> None:
    factory = intake.runtime.app.state.uow_factory
    switchboard = "+861062345678"
    ids: dict[str | None, str] = {}
    async with factory() as uow:
        for extension in ("123", "456", None):
            order = _new_order(intake)
            order.customer = order.customer.model_copy(update={"phones": [switchboard]})
            order.phone_extensions = {switchboard: extension} if extension else {}
            await uow.orders.add(order)
            ids[extension] = order.id
        await uow.commit()

    async def found(*phones: Phone) -> set[str]:
        async with factory() as uow:
            return {o.id for o in await uow.orders.open_orders_with_phones(list(phones))}

    assert await found(Phone(switchboard, "123")) == {ids["123"], ids[None]}
    assert await found(Phone(switchboard, "789")) == {ids[None]}
    assert await found(Phone(switchboard)) == set(ids.values())
    assert await found(Phone(switchboard, "789"), Phone(switchboard, "456")) == {
        ids["456"],
        ids[None],
    }
    assert await found(Phone("+8613800138000", "123")) == set()
