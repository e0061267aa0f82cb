"""Commands intake accepts (imperative)."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.common import Channel, Customer, Fault, Product, ServiceType, TimeWindow
from contracts.intake import RemoteResolutionCause


@dataclass(frozen=True)
class CreateOrder:
    """Take a new service request (INT-1), or link it to the open order it repeats (INT-8).

    ``phone_extensions``: the extension of each of the customer's phones behind a switchboard,
    keyed by its E.164 number."""

    customer: Customer
    product: Product
    fault: Fault
    channel: Channel
    requests: str | None = None
    preferred_windows: list[TimeWindow] = field(default_factory=list)
    emergency: bool = False
    taken_by: str | None = None
    service_type: ServiceType = ServiceType.REPAIR
    phone_extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyOrder:
    """Complete, correct or confirm an order's details; a dispatcher may override (INT-2).

    ``phone_extensions`` are those of ``customer``'s phones (read only with ``customer``)."""

    order_id: str
    verified_by: str
    customer: Customer | None = None
    product: Product | None = None
    fault: Fault | None = None
    confirmed: list[str] = field(default_factory=list)
    dispatch_override: bool = False
    phone_extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolveRemotely:
    """Close the order as resolved by phone guidance (INT-4)."""

    order_id: str
    guidance: str
    resolved_by: str
    cause: RemoteResolutionCause = RemoteResolutionCause.OTHER


@dataclass(frozen=True)
class ReopenOrder:
    """Open a remotely resolved order again for a visit (INT-4)."""

    order_id: str
    reason: str
    reopened_by: str


@dataclass(frozen=True)
class CancelOrder:
    """Cancel an order with a reason (SCH-12)."""

    order_id: str
    reason: str
    cancelled_by: str
    requested_by_customer: bool = False


@dataclass(frozen=True)
class SetWarrantyPeriod:
    """Set the warranty period of a product line (INT-5, admins)."""

    product_line: str
    months: int
    set_by: str


@dataclass(frozen=True)
class RemoveWarrantyPeriod:
    """Forget an admin's warranty period; the policy's applies again (INT-5)."""

    product_line: str
