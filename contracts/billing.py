"""Events published by the billing service (topic ``fsm.billing.events``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import EventData
from contracts.common import Money, Quantity, RuleId, WarrantyStatus, WorkItemKind

Currency = Literal["CNY"]


class _BillingEvent(EventData):
    producer: ClassVar[str] = "billing"


class QuoteLine(BaseModel):
    """One priced line of a quote, with the rule that produced its price (BIL-1..BIL-6)."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    kind: WorkItemKind
    fee_code: str | None = None
    """The fee schedule code; null for a material priced at stock price + 30 % (BIL-4)."""
    part_no: str | None = None
    """The part or material number, for parts and materials (BIL-4, BIL-9)."""
    description: str
    quantity: Quantity = Decimal(1)
    unit_price: Money
    amount: Money
    """`quantity × unit_price` after the rule's rounding; 0 for covered work (BIL-1)."""
    rule_id: RuleId
    """The rule that produced this price, e.g. `BIL-1` (in warranty, free) or `BIL-4`."""
    covered_by_warranty: bool = False
    note: str | None = None
    """Why the line is priced so, e.g. "bundled with W01: only the highest fee is charged"."""


class QuoteIssued(_BillingEvent):
    """Billing priced the work a technician listed (QuoteRequested) strictly by the published fee
    schedule (BIL-1..BIL-6): covered work is free, the lower of schedule and warranty card wins
    (BIL-2), bundled items are charged as the single highest (BIL-3).

    The customer sees it before any work (FLD-4) and accepts or declines it.
    """

    event_type: ClassVar[str] = "QuoteIssued"

    order_id: str
    visit_id: str | None = None
    quote_id: str
    request_id: str | None = None
    """The QuoteRequested this answers."""
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    lines: list[QuoteLine]
    total: Money
    currency: Currency = "CNY"
    schedule_version: str
    """Version of the fee schedule the prices come from."""


class QuoteRefused(_BillingEvent):
    """Billing cannot price the work a technician listed (QuoteRequested) by the fee schedule
    (BIL-1..BIL-6), e.g. a quantity × price too large for a quote line: no QuoteIssued will
    answer this request. Published once per request; the refusal stays on the order's charge.

    There is no quote the customer could consent to (FLD-4): the technician corrects the work
    listed and asks again, with a new request id.
    """

    event_type: ClassVar[str] = "QuoteRefused"

    order_id: str
    visit_id: str | None = None
    request_id: str
    """The QuoteRequested refused."""
    reason: str
    """Why it cannot be priced, in words for the technician (what to correct)."""
    refused_at: AwareDatetime
    """When billing tried to price it and refused it."""


class ChargeWaived(_BillingEvent):
    """The centre approved waiving or reducing a charge the customer refused or disputed (BIL-8);
    who approved and why are recorded.
    """

    event_type: ClassVar[str] = "ChargeWaived"

    order_id: str
    quote_id: str
    amount_waived: Money
    new_total: Money
    """The quote's total after its waivers: what the customer is asked to sign for (BIL-9)."""
    approved_by: str
    reason: str
    carried_from_quote_id: str | None = None
    """Set when an earlier approval moved to the quote accepted in its place (a supplement): the
    same waiver, not a new one; totals of waivers must not add it twice."""


class QuoteVoidReason(StrEnum):
    """Why nothing is charged for a quote any more (BIL-1, FLD-4)."""

    ORDER_CANCELLED = "order_cancelled"
    """The order was cancelled before the quote was accepted, or before its work was done."""
    DECLINED_AT_LATER_VISIT = "declined_at_later_visit"
    """Its work was not done on its visit and the customer declined the job when a later visit
    quoted it again: nobody consents to the work any more."""


class QuoteVoided(_BillingEvent):
    """Nothing is charged for a quote any more (BIL-1, FLD-4): the customer's answer stays on
    record (`answer`), the quote no longer binds anyone. Events of other services come in any
    order, so a later report (the work was completed before the cancellation, after all) can
    put it back in force: QuoteReinstated then follows.
    """

    event_type: ClassVar[str] = "QuoteVoided"

    order_id: str
    visit_id: str | None = None
    quote_id: str
    answer: Literal["issued", "accepted"]
    """The customer's answer when it was voided: `issued` (none yet) or `accepted`."""
    reason: QuoteVoidReason
    voided_at: AwareDatetime
    """The cancellation's time, or when the customer declined at the later visit."""
    declined_quote_id: str | None = None
    """The later visit's quote the customer declined (reason `declined_at_later_visit`)."""


class QuoteReinstated(_BillingEvent):
    """A quote voided earlier is in force again (BIL-1): a report heard late showed its work
    was completed before the order's cancellation, or the later answer that voided it changed.
    `status` is the customer's answer it stands on again.
    """

    event_type: ClassVar[str] = "QuoteReinstated"

    order_id: str
    visit_id: str | None = None
    quote_id: str
    status: Literal["issued", "accepted", "declined", "superseded"]
    """Where it stands again: the customer's answer (one given before the cancellation but
    heard after it counts), or superseded by a quote accepted in its place."""


class ReceiptIssued(_BillingEvent):
    """A receipt was issued for the amount charged; there is always one (BIL-7)."""

    event_type: ClassVar[str] = "ReceiptIssued"

    order_id: str
    quote_id: str | None = None
    receipt_number: str
    amount: Money
    currency: Currency = "CNY"


class InvoiceDelivery(StrEnum):
    """How an invoice reaches the customer (BIL-7)."""

    ON_SITE = "on_site"
    POST = "post"
    ELECTRONIC = "electronic"
    LATER_VISIT = "later_visit"


class InvoiceIssued(_BillingEvent):
    """An invoice the customer asked for was issued (BIL-7); when none was at hand it is posted
    or delivered later and tracked until delivered.
    """

    event_type: ClassVar[str] = "InvoiceIssued"

    order_id: str
    invoice_number: str
    amount: Money
    currency: Currency = "CNY"
    buyer_name: str | None = None
    """The invoice title (person or organisation)."""
    buyer_tax_id: str | None = None
    delivery: InvoiceDelivery = InvoiceDelivery.ON_SITE
    promised_by: date | None = None
    """Delivery date promised when the invoice is not handed over on site."""
    credits: str | None = None
    """Set on a credit invoice (红字发票, negative amount) issued when invoiced money was
    refunded: the number of the invoice it reverses."""
    status: Literal["to_deliver", "delivered", "withdrawn"] | None = None
    """Where its delivery stands as issued (BIL-7): `delivered` (handed over on site or sent
    electronically), `to_deliver` (posted or brought on a later visit: tracked until delivered),
    or `withdrawn` (a credit invoice completing the reversal of an invoice that never left the
    centre: that invoice is withdrawn with it and neither is delivered, whatever `delivery`
    says). Null on events published before billing set it: read `delivery` then."""


class InvoiceDeliveryOverdue(_BillingEvent):
    """An invoice that was not handed over is still not delivered after the promised date
    (BIL-7: tracked until delivered): raised once per invoice, so the centre chases the post or
    sends it again before the customer has to ask."""

    event_type: ClassVar[str] = "InvoiceDeliveryOverdue"

    order_id: str
    invoice_number: str
    delivery: InvoiceDelivery
    status: Literal["to_deliver", "posted"]
    promised_by: date
    tracking_number: str | None = None
    detected_at: AwareDatetime


class PaymentMethod(StrEnum):
    """How a customer paid."""

    CASH = "cash"
    CARD = "card"
    MOBILE = "mobile"


class PaymentCollected(_BillingEvent):
    """The customer paid (BIL-7, BIL-9); cash adds to the collector's cash on hand (BIL-10)."""

    event_type: ClassVar[str] = "PaymentCollected"

    order_id: str
    quote_id: str | None = None
    method: PaymentMethod
    amount: Money
    currency: Currency = "CNY"
    collected_by: str
    """The technician or desk clerk that took the money."""
    receipt_number: str | None = None
    at_desk: bool = False
    """Taken at a service-hall desk (desk business, sampled for call-backs under FBK-4), not by
    a technician on site."""
    approved_by: str | None = None
    """Set when the centre recorded the payment as a correction for `collected_by`, who took the
    money (BIL-10): the centre's user who recorded and so approved it. Null: recorded by whoever
    took it."""
    correction_reason: str | None = None
    """Why the centre recorded it as a correction (BIL-10); set with `approved_by`."""


class PaymentRefunded(_BillingEvent):
    """Money was paid back to the customer (BIL-7, BIL-8); `amount` is positive, the refund's
    receipt is numbered in the receipt series. A cash refund leaves the refunder's cash on hand
    (BIL-10).
    """

    event_type: ClassVar[str] = "PaymentRefunded"

    order_id: str
    method: PaymentMethod
    amount: Money
    currency: Currency = "CNY"
    refunded_by: str
    """The technician or desk that paid the money back."""
    approved_by: str
    reason: str
    receipt_number: str | None = None


class RemittanceReason(StrEnum):
    """Which cash limit was exceeded (BIL-10)."""

    OVER_AMOUNT = "over_amount"
    """More than the cash limit (default 5,000 CNY) on hand."""
    HELD_TOO_LONG = "held_too_long"
    """Cash held longer than the limit (default 2 working days)."""


class CashRemittanceDue(_BillingEvent):
    """A technician or desk holds too much cash, or has held it too long, and must hand it to
    finance (BIL-10).

    Not about one order: the event's subject and partition key are `holder_id`.
    """

    event_type: ClassVar[str] = "CashRemittanceDue"
    subject_field: ClassVar[str] = "holder_id"

    holder_id: str
    """The technician or desk holding the cash."""
    cash_on_hand: Money
    currency: Currency = "CNY"
    reason: RemittanceReason
    oldest_collected_at: AwareDatetime | None = None
    due_by: AwareDatetime | None = None
    order_ids: list[str] = Field(default_factory=list)
    """Orders whose cash is held, for reconciliation."""


class RetentionClass(StrEnum):
    """How long an order's records are kept (BIL-11)."""

    PAID_WORK = "paid_work"
    """Paid work was done: 2 years by default."""
    FREE = "free"
    """No paid work: 1 year by default."""


class OrderRetentionExpired(_BillingEvent):
    """The order's retention period is over (BIL-11): billing has anonymised its account, and
    every service now erases the customer's personal data it keeps for this order (name,
    phones, address details, signature images, free-text notes that may name them), keeping
    what is not personal (dates, amounts, outcomes, receipt and invoice numbers) for figures
    and audit. Coordination tickets are kept permanently: no such event is ever published for
    them."""

    event_type: ClassVar[str] = "OrderRetentionExpired"

    order_id: str
    retention_class: RetentionClass
    ended_at: AwareDatetime
    """When the order last ended (a visit closed, a cancellation, a phone resolution): the
    retention period counts from it."""
    expired_at: AwareDatetime
    """When billing applied the expiry (the retention sweep's clock)."""


class NetworkWorkKind(StrEnum):
    """The kind of completed work a partner network is paid for by its rate card (BIL-12)."""

    REPAIR = "repair"
    INSTALLATION = "installation"


class RateCardLine(BaseModel):
    """One rate of a network's rate card: what the centre owes the network per completed `kind`
    of work on `product_line` (BIL-12)."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    product_line: str = Field(examples=["water_heater"])
    """A product line as fee schedules name it, or `*`: every line without a rate of its own."""
    kind: NetworkWorkKind
    amount: Money
    """What the network is owed per completed job of this kind on this line (never negative)."""


class RateCardVersionPublished(_BillingEvent):
    """Billing published a new version of a partner network's rate card (BIL-12): what the
    centre owes the network per completed repair or installation, per product line, for work
    done from `effective_from` on (now or later at publication: work already done is never
    repriced). Work no rate covers, on this card or none, is owed the policy's flat fee.

    A published version is never changed: a correction is a new version, which at the same
    `effective_from` replaces the earlier one. The card stays readable over REST
    (`GET /v1/rate-cards/{network_id}/versions/{version}`); scheduling sends this event to that
    network's webhook endpoints only.

    Not about one order: the event's subject and partition key are `network_id`.
    """

    event_type: ClassVar[str] = "RateCardVersionPublished"
    subject_field: ClassVar[str] = "network_id"

    network_id: str
    """The partner network the card pays."""
    version: int = Field(ge=1)
    """The card's version number: 1, then one more for each version published."""
    label: str = Field(examples=["net-9@v3"])
    """How settlement items cite this version, e.g. `net-9@v3`."""
    effective_from: AwareDatetime
    """When the version takes effect: work done from then on is owed at its rates."""
    published_at: AwareDatetime
    published_by: str
    """Who published it: the name (or id) of the API key used."""
    currency: Currency = "CNY"
    rates: list[RateCardLine]
    """At most one rate per product line and kind of work."""
