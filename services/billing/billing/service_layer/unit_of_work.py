"""Billing's unit of work: billing's repositories plus the kit's outbox and inbox, in one
transaction."""

from __future__ import annotations

from typing import Self

from billing.adapters.repository import (
    AccountRepository,
    CashRepository,
    FeeScheduleRepository,
    InstallationRepository,
    NumberSeries,
    OrderFileRepository,
    PaymentRepository,
    RateCardRepository,
    SettlementRepository,
)
from servicekit.uow import SqlUnitOfWork


class BillingUnitOfWork(SqlUnitOfWork):
    """Unit of work with billing's repositories."""

    order_files: OrderFileRepository
    schedules: FeeScheduleRepository
    accounts: AccountRepository
    numbers: NumberSeries
    payments: PaymentRepository
    cash: CashRepository
    settlements: SettlementRepository
    installations: InstallationRepository
    rate_cards: RateCardRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.order_files = OrderFileRepository(self.session)
        self.schedules = FeeScheduleRepository(self.session)
        self.accounts = AccountRepository(self.session)
        self.numbers = NumberSeries(self.session)
        self.payments = PaymentRepository(self.session)
        self.cash = CashRepository(self.session)
        self.settlements = SettlementRepository(self.session)
        self.installations = InstallationRepository(self.session)
        self.rate_cards = RateCardRepository(self.session)
        return self
