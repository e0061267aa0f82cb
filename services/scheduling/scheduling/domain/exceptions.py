"""Scheduling's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations


class SchedulingError(Exception):
    """Base of scheduling's domain errors."""


class DispatchOrderNotFound(SchedulingError):
    """Scheduling knows no order with this id."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Scheduling knows no order {order_id}.")
        self.order_id = order_id
