"""Commands intake accepts (imperative)."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.common import Channel, Customer, Fault, Product, TimeWindow


@dataclass(frozen=True)
class CreateOrder:
    """Take a new service request (INT-1)."""

    customer: Customer
    product: Product
    fault: Fault
    channel: Channel
    requests: str | None = None
    preferred_windows: list[TimeWindow] = field(default_factory=list)
    emergency: bool = False
    needs_verification: list[str] = field(default_factory=list)
