"""Response bodies of fieldwork's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from fieldwork.domain.model import OrderFile


class RecordedEventOut(BaseModel):
    """One event of interest seen for the order."""

    event_id: str
    type: str = Field(description="The event name, e.g. `OrderAssigned`.")
    version: int
    time: datetime = Field(description="When the fact happened (UTC).")
    source: str = Field(description="The producing service, e.g. `/fsm/scheduling`.")
    summary: dict[str, Any] = Field(
        description="The event's scalar fields (objects flattened one level as `parent.child`)."
    )


class OrderEventsOut(BaseModel):
    """The events fieldwork has recorded for an order, oldest first."""

    order_id: str
    events: list[RecordedEventOut]

    @classmethod
    def from_domain(cls, order_file: OrderFile) -> OrderEventsOut:
        """Read model of the order file."""
        return cls(
            order_id=order_file.order_id,
            events=[RecordedEventOut(**vars(e)) for e in order_file.entries],
        )
