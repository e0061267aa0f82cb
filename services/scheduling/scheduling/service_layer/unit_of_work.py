"""Scheduling's unit of work."""

from __future__ import annotations

from typing import Self

from scheduling.adapters.repository import (
    DayPlanRepository,
    DispatchOrderRepository,
    NetworkRepository,
    TechnicianRepository,
)
from servicekit.uow import SqlUnitOfWork


class SchedulingUnitOfWork(SqlUnitOfWork):
    """Unit of work with scheduling's repositories."""

    orders: DispatchOrderRepository
    technicians: TechnicianRepository
    networks: NetworkRepository
    plans: DayPlanRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.orders = DispatchOrderRepository(self.session)
        self.technicians = TechnicianRepository(self.session)
        self.networks = NetworkRepository(self.session)
        self.plans = DayPlanRepository(self.session)
        return self
