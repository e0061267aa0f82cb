"""Read models of scheduling."""

from __future__ import annotations

from datetime import date

from scheduling.adapters.repository import OrderCursor
from scheduling.domain.exceptions import (
    DispatchOrderNotFound,
    NetworkNotFound,
    TechnicianNotFound,
)
from scheduling.domain.model import AuditEntry, DispatchOrder, Network, Technician
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork


async def dispatch_order(
    order_id: str, *, uow: SchedulingUnitOfWork, network_id: str | None = None
) -> DispatchOrder:
    """The order as dispatch sees it; DispatchOrderNotFound when unknown or, when ``network_id``
    limits the view (a partner key), held by another network — the two are indistinguishable."""
    async with uow:
        found = await uow.orders.get(order_id)
        if found is None or (network_id is not None and found.network_id != network_id):
            raise DispatchOrderNotFound(order_id)
        return found


async def orders(
    *,
    uow: SchedulingUnitOfWork,
    network_id: str | None = None,
    after: OrderCursor | None = None,
    limit: int = 100,
) -> list[DispatchOrder]:
    """A page of orders, newest first, after ``after``: those a network holds now
    (``network_id``), or every order for the centre."""
    async with uow:
        return await uow.orders.listed(network_id=network_id, after=after, limit=limit)


async def audit(order_id: str, *, uow: SchedulingUnitOfWork) -> list[AuditEntry]:
    """Who changed the order's dispatch, when and why."""
    async with uow:
        if await uow.orders.get(order_id) is None:
            raise DispatchOrderNotFound(order_id)
        return await uow.orders.audit(order_id)


async def technician(technician_id: str, *, uow: SchedulingUnitOfWork) -> Technician:
    """A technician; TechnicianNotFound when unknown."""
    async with uow:
        found = await uow.technicians.get(technician_id)
        if found is None:
            raise TechnicianNotFound(technician_id)
        return found


async def technicians(*, uow: SchedulingUnitOfWork) -> list[Technician]:
    """All technicians."""
    async with uow:
        return await uow.technicians.list()


async def networks(*, uow: SchedulingUnitOfWork) -> list[Network]:
    """All partner networks."""
    async with uow:
        return await uow.networks.list()


async def network(network_id: str, *, uow: SchedulingUnitOfWork) -> Network:
    """One partner network; NetworkNotFound when unknown."""
    async with uow:
        found = await uow.networks.get(network_id)
    if found is None:
        raise NetworkNotFound(network_id)
    return found


async def jobs_of(technician_id: str, *, uow: SchedulingUnitOfWork) -> list[DispatchOrder]:
    """The visits a technician holds, by appointment; TechnicianNotFound when unknown."""
    async with uow:
        if await uow.technicians.get(technician_id) is None:
            raise TechnicianNotFound(technician_id)
        held = await uow.orders.held(technician_id)
    return sorted(
        held,
        key=lambda o: (
            o.appointment is None,
            o.appointment.start if o.appointment else o.received_at,
        ),
    )


async def day_plan(day: date, *, uow: SchedulingUnitOfWork) -> dict[str, object] | None:
    """The applied plan of a day, or None."""
    async with uow:
        row = await uow.plans.get(day)
        if row is None:
            return None
        return {
            "day": row.plan_date,
            "visits": row.visits,
            "unassigned": row.unassigned,
            "unassigned_reasons": row.unassigned_reasons,
            "dirty": row.dirty,
        }
