"""Billing's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from billing.domain.exceptions import (
    CashLedgerNotFound,
    ChargeItemNotFound,
    ConcurrentUpdate,
    InvalidAmount,
    InvalidDate,
    NotAllowed,
    OrderNotFound,
    OrderWasCancelled,
    PersonalDataErased,
    RateCardNotFound,
    RateCardVersionTaken,
    RemittanceNotFound,
    ScheduleNotFound,
    ScheduleVersionTaken,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    CashLedgerNotFound: (404, "Cash ledger not found"),
    ChargeItemNotFound: (404, "Not found on the order"),
    RemittanceNotFound: (404, "Remittance not found"),
    ScheduleNotFound: (404, "Fee schedule not found"),
    ScheduleVersionTaken: (409, "Schedule version taken"),
    RateCardNotFound: (404, "Rate card not found"),
    RateCardVersionTaken: (409, "Rate card version taken"),
    NotAllowed: (409, "Not allowed in this state"),
    OrderWasCancelled: (409, "Order cancelled"),
    # 409, not 410, as in intake, scheduling and fieldwork: the order's charge is still there
    # (GET answers it); only deciding on it is over (BIL-11).
    PersonalDataErased: (409, "Personal data erased"),
    InvalidAmount: (422, "Invalid amount"),
    InvalidDate: (422, "Invalid date"),
    ConcurrentUpdate: (409, "Concurrent update"),
}
