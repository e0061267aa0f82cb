"""FastAPI dependencies of feedback's routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from feedback.domain.policy import FeedbackPolicy
from feedback.domain.ports import WorkingCalendar
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from servicekit.auth import Principal, require_roles
from servicekit.messagebus import MessageBus
from servicekit.problems import ProblemError


async def get_uow_factory(request: Request) -> Callable[[], FeedbackUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], FeedbackUnitOfWork] = request.app.state.uow_factory
    return factory


async def get_bus(request: Request) -> MessageBus:
    """The message bus built by the bootstrap."""
    bus: MessageBus = request.app.state.bus
    return bus


async def get_policy(request: Request) -> FeedbackPolicy:
    """The feedback policy loaded at start-up."""
    policy: FeedbackPolicy = request.app.state.policy
    return policy


async def get_calendar(request: Request) -> WorkingCalendar:
    """The business calendar."""
    calendar: WorkingCalendar = request.app.state.calendar
    return calendar


async def get_now(request: Request) -> datetime:
    """The current time from the injected clock."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def caller_name(principal: Principal) -> str:
    """How a caller is recorded (its key's name, else its id)."""
    return principal.name or principal.key_id


def require_network_access(principal: Principal, network_id: str) -> None:
    """A partner network's key reads only its own network (403 otherwise)."""
    if principal.role == "partner" and principal.network_id != network_id:
        raise ProblemError(
            403,
            f"This key is bound to network '{principal.network_id}' and cannot read "
            f"network '{network_id}'.",
            title="Forbidden",
        )


def network_scope(principal: Principal, network_id: str | None) -> str | None:
    """The network filter a caller may use: a partner always sees only its own network."""
    if principal.role == "partner":
        if network_id is not None:
            require_network_access(principal, network_id)
        return principal.network_id or "-"
    return network_id


UowFactoryDep = Annotated[Callable[[], FeedbackUnitOfWork], Depends(get_uow_factory)]
BusDep = Annotated[MessageBus, Depends(get_bus)]
PolicyDep = Annotated[FeedbackPolicy, Depends(get_policy)]
CalendarDep = Annotated[WorkingCalendar, Depends(get_calendar)]
NowDep = Annotated[datetime, Depends(get_now)]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
AgentDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
NetworkReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher", "partner"))]
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
