"""Commands billing accepts (imperative)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billing.domain.rate_cards import NetworkRate
from billing.domain.schedule import ScheduleContent
from contracts.billing import InvoiceDelivery, PaymentMethod
from contracts.common import PartLine


@dataclass(frozen=True)
class PublishFeeSchedule:
    """Publish the next version of a product line's fee schedule (admin)."""

    product_line: str
    content: ScheduleContent
    published_by: str


@dataclass(frozen=True)
class PublishRateCard:
    """Publish the next version of a partner network's rate card, in force from
    ``effective_from`` (now when None; never in the past) (admin, BIL-12)."""

    network_id: str
    rates: list[NetworkRate]
    effective_from: datetime | None
    published_by: str


@dataclass(frozen=True)
class WaiveCharge:
    """Waive or reduce the charge, approved by the centre (BIL-8)."""

    order_id: str
    amount: Decimal
    approved_by: str
    reason: str


@dataclass(frozen=True)
class ApproveHeldReduction:
    """The centre approves what a quote held at issue: deducted from the price the customer
    consented to, covered by no waiver (BIL-8, FLD-4)."""

    order_id: str
    quote_id: str
    approved_by: str
    reason: str


@dataclass(frozen=True)
class CollectPayment:
    """Record a payment (cash, card, mobile), full or partial, and issue its receipt (BIL-7)."""

    order_id: str
    method: PaymentMethod
    amount: Decimal
    collected_by: str
    at_desk: bool = False
    """Taken at a service-hall desk, not by a technician on site (desk business, FBK-4)."""
    by_centre: bool = False
    """Taken by the centre (its call centre by phone, its service-hall desk, a dispatcher), not
    by a partner network's people: on no network's monthly statement (BIL-12)."""
    approved_by: str | None = None
    """The centre's user who recorded it for ``collected_by`` as a correction (BIL-10)."""
    reason: str | None = None
    """Why the centre recorded it for ``collected_by``."""


@dataclass(frozen=True)
class RefundPayment:
    """Pay money back, approved by the centre, and issue the refund's receipt (BIL-7, BIL-8)."""

    order_id: str
    method: PaymentMethod
    amount: Decimal
    refunded_by: str
    approved_by: str
    reason: str


@dataclass(frozen=True)
class IssueInvoice:
    """Issue the invoice the customer asked for (BIL-7)."""

    order_id: str
    buyer_name: str | None
    buyer_tax_id: str | None
    delivery: InvoiceDelivery
    promised_by: date | None


@dataclass(frozen=True)
class TrackInvoice:
    """Record the delivery progress of an invoice (BIL-7)."""

    order_id: str
    invoice_number: str
    status: str
    tracking_number: str | None = None


@dataclass(frozen=True)
class RecordSignature:
    """The customer signed for the amount charged and the parts replaced (BIL-9)."""

    order_id: str
    amount: Decimal
    parts: list[PartLine] = field(default_factory=list)
    signature_ref: str | None = None
    visit_id: str | None = None
    """The visit signed off; None: the whole order."""


@dataclass(frozen=True)
class RecordRemittance:
    """Cash handed to finance by a technician or desk (BIL-10)."""

    holder_id: str
    amount: Decimal
    received_by: str
