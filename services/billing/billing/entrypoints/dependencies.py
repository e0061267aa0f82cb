"""FastAPI dependencies of billing's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from billing.service_layer.unit_of_work import BillingUnitOfWork
from servicekit.auth import Principal, require_roles


def get_uow_factory(request: Request) -> Callable[[], BillingUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], BillingUnitOfWork] = request.app.state.uow_factory
    return factory


UowFactoryDep = Annotated[Callable[[], BillingUnitOfWork], Depends(get_uow_factory)]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
