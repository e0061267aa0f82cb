"""Feedback's REST API (thin: schema → command → bus → read model)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from feedback.entrypoints.dependencies import ReaderDep, UowFactoryDep
from feedback.entrypoints.schemas import OrderEventsOut
from feedback.service_layer import views

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
router = APIRouter(prefix="/v1", tags=["orders"])


@router.get(
    "/orders/{order_id}/events",
    response_model=OrderEventsOut,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    summary="Read the events feedback recorded for an order",
)
async def read_order_events(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The events of interest to feedback (the order, remote resolutions, assignments, lateness,
    revisits, how each visit ended, what the customer signed and what was charged) seen for the
    order, oldest first, each with a short summary of its data.

    404 when feedback has seen no such event for the order.
    """
    order_file = await views.order_file(order_id, uow=uow())
    return OrderEventsOut.from_domain(order_file)
