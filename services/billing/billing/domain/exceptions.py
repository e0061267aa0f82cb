"""Billing's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class BillingError(Exception):
    """Base of billing's domain errors."""


class OrderNotFound(BillingError):
    """Billing has seen no event of interest for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Nothing is known about order {order_id}.")
        self.order_id = order_id


class PersonalDataErased(BillingError):
    """The order's retention is over and its customer's personal data was erased (BIL-11): no
    command on it is taken any more (``BillingAccount.refuse_if_erased``: a waiver, a payment, a
    refund, an invoice, an invoice's delivery, a signature, approving what a quote held at
    issue), 409 as in intake, scheduling, fieldwork and feedback. Reads still answer it, erased;
    its amounts stay for the accounts, and what billing hears of it later is still applied."""

    def __init__(self, order_id: str, action: str, anonymised_at: datetime) -> None:
        super().__init__(
            f"Order {order_id} is past its retention and its customer's personal data was "
            f"erased at {anonymised_at.isoformat()} (BIL-11): '{action}' is no longer possible."
        )
        self.order_id = order_id
        self.action = action
        self.anonymised_at = anonymised_at
        self.extensions = {"anonymised_at": anonymised_at.isoformat()}


class CashLedgerNotFound(BillingError):
    """The caller holds no such cash ledger: a partner network reads its own and its own
    technicians' only, a technician their own (BIL-10). Answered exactly as an unknown one."""

    def __init__(self, holder_id: str) -> None:
        super().__init__(f"No cash ledger of {holder_id} is yours to read.")
        self.holder_id = holder_id


class ChargeItemNotFound(BillingError):
    """The order has no such waiver, payment, refund or invoice (the order itself is one the
    caller may read: any other answers OrderNotFound)."""

    def __init__(self, order_id: str, kind: str, item_id: str) -> None:
        super().__init__(f"Order {order_id} has no {kind} {item_id}.")
        self.order_id = order_id


class RemittanceNotFound(BillingError):
    """The cash ledger has no such remittance (the ledger itself is one the caller may read:
    any other answers CashLedgerNotFound)."""

    def __init__(self, holder_id: str, entry_id: str) -> None:
        super().__init__(f"The cash ledger of {holder_id} has no remittance {entry_id}.")
        self.holder_id = holder_id


class ScheduleNotFound(BillingError):
    """No fee schedule (version) is published for the product line."""

    def __init__(self, product_line: str, version: int | None = None) -> None:
        which = f"version {version} of " if version is not None else ""
        super().__init__(f"No {which}fee schedule is published for product line {product_line}.")


class ScheduleVersionTaken(BillingError):
    """Another publication of the same product line got the version number first (retry)."""


class RateCardNotFound(BillingError):
    """The network has no rate card (version) published, or none in force yet (BIL-12)."""

    def __init__(self, network_id: str, version: int | None = None, *, now: bool = False) -> None:
        if version is not None:
            message = f"No version {version} of a rate card is published for network {network_id}."
        elif now:
            message = f"No rate card of network {network_id} is in force yet."
        else:
            message = f"No rate card is published for network {network_id}."
        super().__init__(message)


class RateCardVersionTaken(BillingError):
    """Another publication of the same network's card got the version number first (retry)."""


class NotAllowed(BillingError):
    """The request is not allowed in the charge's current state (409)."""

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


class OrderWasCancelled(NotAllowed):
    """The order was cancelled (OrderCancelled): nothing more is taken or invoiced on it, only
    work completed before the cancellation stays charged (BIL-1) and what was paid beyond it is
    refunded with the centre's approval (BIL-8) (409)."""


class InvalidAmount(BillingError):
    """An amount breaks a money rule (422), e.g. a waiver larger than the charge."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.extensions = {"errors": [{"field": field, "message": message, "type": "value_error"}]}


class InvalidDate(BillingError):
    """A date breaks a rule (422), e.g. an invoice delivery promised for a day already past."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.extensions = {"errors": [{"field": field, "message": message, "type": "value_error"}]}


class ConcurrentUpdate(BillingError):
    """Someone else changed the same charge at the same time; retry the request."""
