"""FastAPI dependencies of fieldwork's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from fieldwork.domain.commands import Actor
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from servicekit.auth import Principal, require_roles
from servicekit.messagebus import MessageBus


async def get_uow_factory(request: Request) -> Callable[[], FieldworkUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], FieldworkUnitOfWork] = request.app.state.uow_factory
    return factory


async def get_bus(request: Request) -> MessageBus:
    """The message bus built by the bootstrap."""
    bus: MessageBus = request.app.state.bus
    return bus


def actor_of(principal: Principal) -> Actor:
    """The actor of a principal: technician keys are bound to their technician's visits, partner
    keys to their network's (an unbound partner key sees none)."""
    if principal.role == "technician":
        return Actor(
            key_id=principal.key_id, technician_id=principal.technician_id, restricted=True
        )
    if principal.role == "partner":
        return Actor(key_id=principal.key_id, network_id=principal.network_id, partner=True)
    return Actor(key_id=principal.key_id, technician_id=principal.technician_id)


async def _technician(
    principal: Annotated[Principal, Depends(require_roles("technician", "partner"))],
) -> Actor:
    return actor_of(principal)


async def _visit_reader(
    principal: Annotated[
        Principal, Depends(require_roles("technician", "partner", "agent", "dispatcher"))
    ],
) -> Actor:
    return actor_of(principal)


async def _order_visits_reader(
    principal: Annotated[Principal, Depends(require_roles("partner", "agent", "dispatcher"))],
) -> Actor:
    return actor_of(principal)


async def _returner(
    principal: Annotated[Principal, Depends(require_roles("technician", "partner", "dispatcher"))],
) -> Actor:
    return actor_of(principal)


UowFactoryDep = Annotated[Callable[[], FieldworkUnitOfWork], Depends(get_uow_factory)]
BusDep = Annotated[MessageBus, Depends(get_bus)]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
DispatcherDep = Annotated[Principal, Depends(require_roles("dispatcher"))]
TechnicianDep = Annotated[Actor, Depends(_technician)]
"""A technician (only their own visits), a partner network's key (only its network's visits) or
an admin (any visit)."""
VisitReaderDep = Annotated[Actor, Depends(_visit_reader)]
"""Technicians read their own visits, partner keys their network's; agents, dispatchers and
admins any."""
OrderVisitsReaderDep = Annotated[Actor, Depends(_order_visits_reader)]
"""Agents, dispatchers and admins read any order's visits; partner keys their network's."""
CentreDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
ReturnerDep = Annotated[Actor, Depends(_returner)]
"""A technician (units of their orders), a partner key (units of its network's visits) or a
dispatcher brings a unit back."""
