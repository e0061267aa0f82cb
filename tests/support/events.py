"""Ready-made events for tests."""

from __future__ import annotations

import uuid

from contracts.common import Address, Channel, Customer, Fault, Product
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCreated


def order_created(order_id: str | None = None, *, note: str = "does not cool") -> OrderCreated:
    """A minimal valid ``OrderCreated``; ``note`` becomes the fault description."""
    return OrderCreated(
        order_id=order_id or f"ord-{uuid.uuid4().hex[:8]}",
        customer=Customer(
            name="Li Lei", phones=["+8613800000000"], address=Address(city="Shanghai")
        ),
        product=Product(line="air-conditioner"),
        fault=Fault(description=note),
        channel=Channel.HOTLINE,
    )


def envelope(order_id: str | None = None, *, note: str = "does not cool") -> EventEnvelope:
    """An ``OrderCreated`` envelope keyed by ``order_id``."""
    return EventEnvelope.wrap(order_created(order_id, note=note))
