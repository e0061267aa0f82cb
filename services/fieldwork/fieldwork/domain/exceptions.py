"""Fieldwork's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations


class FieldworkError(Exception):
    """Base of fieldwork's domain errors."""


class OrderNotFound(FieldworkError):
    """Fieldwork has seen no event of interest for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Nothing is known about order {order_id}.")
        self.order_id = order_id
