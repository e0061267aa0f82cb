"""Response bodies of scheduling's REST API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from scheduling.domain.model import DispatchOrder, DispatchStatus


class DispatchOrderOut(BaseModel):
    """An order as dispatch sees it."""

    order_id: str
    received_at: datetime
    product_line: str
    emergency: bool
    needs_verification: list[str]
    loaner_required: bool
    status: DispatchStatus
    dispatchable: bool

    @classmethod
    def from_domain(cls, order: DispatchOrder) -> DispatchOrderOut:
        """Read model of the aggregate."""
        return cls(
            order_id=order.order_id,
            received_at=order.received_at,
            product_line=order.product_line,
            emergency=order.emergency,
            needs_verification=order.needs_verification,
            loaner_required=order.loaner_required,
            status=order.status,
            dispatchable=order.dispatchable,
        )
