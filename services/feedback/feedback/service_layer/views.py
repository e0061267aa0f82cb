"""Read models of feedback (queries go here, not through the command bus)."""

from __future__ import annotations

from feedback.domain.exceptions import OrderNotFound
from feedback.domain.model import OrderFile
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork


async def order_file(order_id: str, *, uow: FeedbackUnitOfWork) -> OrderFile:
    """The order's file, events oldest first; OrderNotFound when nothing is known about it."""
    async with uow:
        found = await uow.order_files.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        return found
