"""FastAPI dependencies of scheduling's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from scheduling.domain.commands import Actor
from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from servicekit.auth import Principal, require_roles
from servicekit.messagebus import MessageBus
from servicekit.problems import ProblemError
from servicekit.webhooks import OwnerScope


async def get_uow_factory(request: Request) -> Callable[[], SchedulingUnitOfWork]:
    """Factory of units of work."""
    factory: Callable[[], SchedulingUnitOfWork] = request.app.state.uow_factory
    return factory


async def get_bus(request: Request) -> MessageBus:
    """The message bus built by the bootstrap."""
    bus: MessageBus = request.app.state.bus
    return bus


async def get_deps(request: Request) -> dict[str, Any]:
    """Clock, policy, travel times, time zone and solver from the bootstrap."""
    deps: dict[str, Any] = request.app.state.deps
    return deps


def actor(principal: Principal) -> Actor:
    """The domain's view of the caller."""
    return Actor(
        name=f"{principal.role}:{principal.name}",
        role=principal.role,
        technician_id=principal.technician_id,
        network_id=principal.network_id,
    )


UowFactoryDep = Annotated[Callable[[], SchedulingUnitOfWork], Depends(get_uow_factory)]
BusDep = Annotated[MessageBus, Depends(get_bus)]
DepsDep = Annotated[dict[str, Any], Depends(get_deps)]
DispatchReaderDep = Annotated[Principal, Depends(require_roles("dispatcher", "agent"))]
DispatcherDep = Annotated[Principal, Depends(require_roles("dispatcher"))]
AssignerDep = Annotated[Principal, Depends(require_roles("dispatcher", "partner"))]
HolderDep = Annotated[Principal, Depends(require_roles("dispatcher", "technician", "partner"))]
AnyReaderDep = Annotated[
    Principal, Depends(require_roles("dispatcher", "agent", "technician", "partner"))
]
ListerDep = Annotated[Principal, Depends(require_roles("dispatcher", "agent", "partner"))]
BookerDep = Annotated[
    Principal, Depends(require_roles("dispatcher", "agent", "technician", "partner"))
]


async def network_scope(
    principal: Annotated[Principal, Depends(require_roles("partner"))],
) -> OwnerScope:
    """Webhook self-service: a partner key manages its own network's endpoints, admins all."""
    if principal.role == "admin":
        return OwnerScope.everyone()
    if not principal.network_id:
        raise ProblemError(403, "This partner key is not bound to a network.", title="Forbidden")
    return OwnerScope.owner(principal.network_id)


PartnerDep = Annotated[Principal, Depends(require_roles("partner"))]
