"""FastAPI dependencies of scheduling's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from servicekit.auth import Principal, require_roles


def get_uow_factory(request: Request) -> Callable[[], SchedulingUnitOfWork]:
    """Factory of units of work."""
    factory: Callable[[], SchedulingUnitOfWork] = request.app.state.uow_factory
    return factory


UowFactoryDep = Annotated[Callable[[], SchedulingUnitOfWork], Depends(get_uow_factory)]
DispatchReaderDep = Annotated[Principal, Depends(require_roles("dispatcher", "agent"))]
