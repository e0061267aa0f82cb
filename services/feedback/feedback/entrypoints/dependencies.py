"""FastAPI dependencies of feedback's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from servicekit.auth import Principal, require_roles


def get_uow_factory(request: Request) -> Callable[[], FeedbackUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], FeedbackUnitOfWork] = request.app.state.uow_factory
    return factory


UowFactoryDep = Annotated[Callable[[], FeedbackUnitOfWork], Depends(get_uow_factory)]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
