"""Intake's REST API for call-centre software (thin: schema → command → bus → read model)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from intake.domain import commands
from intake.entrypoints.dependencies import AgentDep, BusDep, ReaderDep, UowFactoryDep
from intake.entrypoints.schemas import OrderCreate, OrderOut
from intake.service_layer import views
from servicekit.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["orders"])


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses=problem_responses(401, 403, 422),
    summary="Take a new order",
)
async def create_order(
    body: OrderCreate, bus: BusDep, principal: AgentDep, response: Response
) -> Any:
    """Take a customer's service request (INT-1).

    Missing or doubtful details (address, model, purchase date, vague fault) do not block intake:
    they are listed in `needs_verification` (INT-2). Malformed input (an invalid phone number, a
    purchase date in the future, a body that is not JSON) is refused with 422 naming each field.
    OrderCreated is published through the transactional outbox.
    """
    order = await bus.handle(
        commands.CreateOrder(
            customer=body.customer.to_value(),
            product=body.product.to_value(),
            fault=body.fault.to_value(),
            channel=body.channel,
            requests=body.requests,
            preferred_windows=[w.to_value() for w in body.preferred_windows],
            emergency=body.emergency,
            needs_verification=body.missing_details(),
        )
    )
    response.headers["Location"] = f"/v1/orders/{order.id}"
    return OrderOut.from_domain(order)


@router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    responses=problem_responses(401, 403, 404),
    summary="Read an order with its status and timeline",
)
async def read_order(order_id: str, uow: UowFactoryDep, principal: ReaderDep) -> Any:
    """The order, its status derived from every service's events, and its timeline (oldest
    first)."""
    order = await views.order(order_id, uow=uow())
    return OrderOut.from_domain(order)
