"""Billing's REST API (thin: schema → command → bus → read model)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from billing.entrypoints.dependencies import ReaderDep, UowFactoryDep
from billing.entrypoints.schemas import OrderEventsOut
from billing.service_layer import views

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
router = APIRouter(prefix="/v1", tags=["orders"])


@router.get(
    "/orders/{order_id}/events",
    response_model=OrderEventsOut,
    responses={401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    summary="Read the events billing recorded for an order",
)
async def read_order_events(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The events of interest to billing (the order and its warranty status, assignments,
    diagnoses, quote requests and the customer's answers, completed work, sign-offs, damage and
    closed visits) seen for the order, oldest first, each with a short summary of its data.

    404 when billing has seen no such event for the order.
    """
    order_file = await views.order_file(order_id, uow=uow())
    return OrderEventsOut.from_domain(order_file)
