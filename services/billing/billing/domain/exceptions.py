"""Billing's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations


class BillingError(Exception):
    """Base of billing's domain errors."""


class OrderNotFound(BillingError):
    """Billing has seen no event of interest for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Nothing is known about order {order_id}.")
        self.order_id = order_id
