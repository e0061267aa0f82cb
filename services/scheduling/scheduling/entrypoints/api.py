"""Scheduling's REST API for dispatchers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from scheduling.entrypoints.dependencies import DispatchReaderDep, UowFactoryDep
from scheduling.entrypoints.schemas import DispatchOrderOut
from scheduling.service_layer import views
from servicekit.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["dispatch"])


@router.get(
    "/orders/{order_id}",
    response_model=DispatchOrderOut,
    responses=problem_responses(401, 403, 404),
    summary="Read an order's dispatch state",
)
async def read_dispatch_order(
    order_id: str, uow: UowFactoryDep, principal: DispatchReaderDep
) -> Any:
    """The order as dispatch sees it: awaiting verification (INT-2) or assignment, cancelled..."""
    return DispatchOrderOut.from_domain(await views.dispatch_order(order_id, uow=uow()))
