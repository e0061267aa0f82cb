"""Feedback's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations


class FeedbackError(Exception):
    """Base of feedback's domain errors."""


class OrderNotFound(FeedbackError):
    """Feedback has seen no event of interest for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Nothing is known about order {order_id}.")
        self.order_id = order_id
