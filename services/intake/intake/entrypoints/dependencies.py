"""FastAPI dependencies of intake's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.auth import Principal, require_roles
from servicekit.messagebus import MessageBus


def get_bus(request: Request) -> MessageBus:
    """The message bus built by the bootstrap."""
    bus: MessageBus = request.app.state.bus
    return bus


def get_uow_factory(request: Request) -> Callable[[], IntakeUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], IntakeUnitOfWork] = request.app.state.uow_factory
    return factory


BusDep = Annotated[MessageBus, Depends(get_bus)]
UowFactoryDep = Annotated[Callable[[], IntakeUnitOfWork], Depends(get_uow_factory)]
AgentDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
