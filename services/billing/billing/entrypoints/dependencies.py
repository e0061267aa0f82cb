"""FastAPI dependencies of billing's routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from billing.service_layer.unit_of_work import BillingUnitOfWork
from servicekit.auth import Principal, require_roles
from servicekit.calendar import BusinessCalendar
from servicekit.messagebus import MessageBus


async def get_uow_factory(request: Request) -> Callable[[], BillingUnitOfWork]:
    """Factory of units of work, for read models."""
    factory: Callable[[], BillingUnitOfWork] = request.app.state.uow_factory
    return factory


async def get_bus(request: Request) -> MessageBus:
    """The message bus built by the bootstrap."""
    bus: MessageBus = request.app.state.bus
    return bus


async def get_calendar(request: Request) -> BusinessCalendar:
    """The business calendar of the policy file."""
    calendar: BusinessCalendar = request.app.state.runtime.calendar
    return calendar


async def get_now(request: Request) -> datetime:
    """The current time from the injected clock."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


UowFactoryDep = Annotated[Callable[[], BillingUnitOfWork], Depends(get_uow_factory)]
BusDep = Annotated[MessageBus, Depends(get_bus)]
CalendarDep = Annotated[BusinessCalendar, Depends(get_calendar)]
NowDep = Annotated[datetime, Depends(get_now)]
ReaderDep = Annotated[Principal, Depends(require_roles("agent", "dispatcher"))]
"""Call centre and dispatch: read any order's billing."""
ChargeReaderDep = Annotated[
    Principal, Depends(require_roles("agent", "dispatcher", "technician", "partner"))
]
"""Everyone who may see a charge: the centre, the technician on site, the partner network."""
AnyoneDep = Annotated[
    Principal, Depends(require_roles("agent", "dispatcher", "technician", "partner"))
]
"""Any authenticated caller (fee schedules are public to whoever shows them to customers)."""
CollectorDep = Annotated[
    Principal, Depends(require_roles("technician", "agent", "dispatcher", "partner"))
]
"""Who takes payments, invoices and signatures: technicians on site and service desks."""
ApproverDep = Annotated[Principal, Depends(require_roles("dispatcher"))]
"""Waivers, discounts and refunds need the centre's approval (BIL-8)."""
FinanceDep = Annotated[Principal, Depends(require_roles("dispatcher"))]
"""Remittances, reconciliation and settlements: the centre (admins pass every check)."""
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
"""Publishing fee schedules."""
RateCardReaderDep = Annotated[Principal, Depends(require_roles("dispatcher", "partner"))]
"""Network rate cards: the centre (admins pass every check), and a partner network its own."""
