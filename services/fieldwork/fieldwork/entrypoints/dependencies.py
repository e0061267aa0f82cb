"""FastAPI dependencies of fieldwork's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from servicekit.auth import Principal, require_roles


def get_uow_factory(request: Request) -> Callable[[], FieldworkUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], FieldworkUnitOfWork] = request.app.state.uow_factory
    return factory


UowFactoryDep = Annotated[Callable[[], FieldworkUnitOfWork], Depends(get_uow_factory)]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
