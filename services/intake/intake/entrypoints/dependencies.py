"""FastAPI dependencies of intake's routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from intake.domain.policy import IntakePolicy
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from servicekit.auth import Principal, require_roles
from servicekit.idempotency import HEADER, MAX_KEY_LENGTH
from servicekit.messagebus import MessageBus


async def get_bus(request: Request) -> MessageBus:
    """The message bus built by the bootstrap."""
    bus: MessageBus = request.app.state.bus
    return bus


async def get_uow_factory(request: Request) -> Callable[[], IntakeUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], IntakeUnitOfWork] = request.app.state.uow_factory
    return factory


async def get_policy(request: Request) -> IntakePolicy:
    """Intake's policy, validated at start-up."""
    policy: IntakePolicy = request.app.state.policy
    return policy


async def get_now(request: Request) -> datetime:
    """The current time from the service's clock (``bootstrap``'s ``clock``)."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


BusDep = Annotated[MessageBus, Depends(get_bus)]
NowDep = Annotated[datetime, Depends(get_now)]
UowFactoryDep = Annotated[Callable[[], IntakeUnitOfWork], Depends(get_uow_factory)]
PolicyDep = Annotated[IntakePolicy, Depends(get_policy)]
AgentDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher", "partner"))]
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=MAX_KEY_LENGTH,
        description="Makes a retry safe: the same key and body get the same answer without "
        "doing the work twice; the same key with another body is refused (422). Keys are kept "
        "24 h (policy).",
        examples=["3f9c2b1e-call-4711-retry"],
    ),
]
