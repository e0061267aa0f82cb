"""Intake's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations


class IntakeError(Exception):
    """Base of intake's domain errors."""


class OrderNotFound(IntakeError):
    """No order has this id."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} does not exist.")
        self.order_id = order_id
