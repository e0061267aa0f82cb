"""Request and response bodies of billing's REST API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from billing.domain.account import (
    BillingAccount,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentKind,
    PendingNetworkFee,
    Quote,
    QuoteRequest,
    RefusedRequest,
    Signature,
    Waiver,
)
from billing.domain.cash import CashEntry, CashPosition
from billing.domain.model import OrderFile
from billing.domain.money import FEN
from billing.domain.rate_cards import NetworkRate, RateCard, Rates
from billing.domain.reports import Statement
from billing.domain.schedule import FeeSchedule, ScheduleContent
from billing.domain.tax_ids import tax_id_problem
from contracts.billing import InvoiceDelivery, PaymentMethod
from contracts.common import Money, PartLine, WarrantyStatus
from servicekit.dates import IsoDate, IsoDatetime

PositiveMoney = Annotated[
    Decimal,
    Field(gt=0, max_digits=14, decimal_places=2, examples=["128.50"]),
    # kept in fen however written ("1E+1", 0.5): receipts, ledgers and events show 10.00, 0.50
    AfterValidator(lambda v: v.quantize(FEN)),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
]
"""A positive amount in CNY with at most two decimals (string or number in JSON)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordedEventOut(BaseModel):
    """One event of interest seen for the order."""

    event_id: str
    type: str = Field(description="The event name, e.g. `QuoteRequested`.")
    version: int
    time: datetime = Field(description="When the fact happened (UTC).")
    source: str = Field(description="The producing service, e.g. `/fsm/fieldwork`.")
    summary: dict[str, Any] = Field(
        description="The event's scalar fields (objects flattened one level as `parent.child`)."
    )


class OrderEventsOut(BaseModel):
    """The events billing has recorded for an order, oldest first."""

    order_id: str
    events: list[RecordedEventOut]

    @classmethod
    def from_domain(cls, order_file: OrderFile) -> OrderEventsOut:
        """Read model of the order file."""
        return cls(
            order_id=order_file.order_id,
            events=[RecordedEventOut(**vars(e)) for e in order_file.entries],
        )


# --- fee schedules ----------------------------------------------------------------------------


class FeeScheduleOut(BaseModel):
    """A published fee schedule version, as shown to the customer (BIL-1)."""

    product_line: str
    version: int
    label: str = Field(description="How quotes cite it, e.g. `water_heater@v3`.")
    published_at: datetime
    published_by: str
    content: ScheduleContent

    @classmethod
    def from_domain(cls, s: FeeSchedule) -> FeeScheduleOut:
        """Read model of a schedule."""
        return cls(
            product_line=s.product_line,
            version=s.version,
            label=s.label,
            published_at=s.published_at,
            published_by=s.published_by,
            content=s.content,
        )


class FeeScheduleVersionOut(BaseModel):
    """One version in a product line's schedule history."""

    version: int
    label: str
    published_at: datetime
    published_by: str

    @classmethod
    def from_domain(cls, s: FeeSchedule) -> FeeScheduleVersionOut:
        """Read model of one version in a list."""
        return cls(
            version=s.version,
            label=s.label,
            published_at=s.published_at,
            published_by=s.published_by,
        )


NEXT_CURSOR = "Pass it as `cursor` for the next page; null on the last page."


class FeeScheduleVersionListOut(BaseModel):
    """A page of a product line's schedule versions, newest (highest number) first."""

    items: list[FeeScheduleVersionOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


# --- network rate cards (BIL-12) ----------------------------------------------------------------


class RateCardIn(_In):
    """The next version of a network's rate card."""

    effective_from: IsoDatetime | None = Field(
        default=None,
        description="When the version takes effect: ISO 8601 with its UTC offset, now or later "
        "(never in the past); now when not given.",
        examples=["2026-12-01T00:00:00+08:00"],
    )
    rates: Rates = Field(
        description="What the network is paid per completed repair or installation, per product "
        "line (`*`: every line without a rate of its own); at most one rate per line and kind. "
        "Work no rate covers is paid the policy's flat fee."
    )


class RateCardOut(BaseModel):
    """A published version of a network's rate card (BIL-12)."""

    network_id: str
    version: int
    label: str = Field(description="How settlement items cite it, e.g. `net-9@v3`.")
    effective_from: datetime = Field(description="When it takes effect (UTC).")
    published_at: datetime
    published_by: str
    rates: list[NetworkRate]

    @classmethod
    def from_domain(cls, c: RateCard) -> RateCardOut:
        """Read model of a rate card version (its fields, and its label)."""
        return cls.model_validate(c, from_attributes=True)


class RateCardVersionOut(BaseModel):
    """One version in a network's rate card history."""

    version: int
    label: str
    effective_from: datetime
    published_at: datetime
    published_by: str

    @classmethod
    def from_domain(cls, c: RateCard) -> RateCardVersionOut:
        """Read model of one version in a list (its fields, and its label)."""
        return cls.model_validate(c, from_attributes=True)


class RateCardVersionListOut(BaseModel):
    """A page of a network's rate card versions, newest (highest number) first."""

    items: list[RateCardVersionOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


# --- the charge -------------------------------------------------------------------------------


class ChargeSummaryOut(BaseModel):
    """The amounts of the charge (BIL-7, BIL-8)."""

    quoted: Money = Field(
        description="Total of the accepted quotes: the latest one, and those of earlier visits "
        "whose work was completed."
    )
    waived: Money
    held: Money = Field(
        description="Deducted from a quote's price at issue for a waiver that, as a late report "
        "showed, stays on an earlier quote: not charged, since the customer consented to the "
        "price issued (FLD-4), and for the centre to approve (BIL-8) with `POST "
        "/v1/orders/{order_id}/quotes/{quote_id}/held-approval`, which makes it a waiver "
        "(`waived`) and leaves the charge as it is. Usually 0."
    )
    charge: Money = Field(
        description="What the customer owes in all: `quoted` less `waived` and `held`."
    )
    paid: Money = Field(description="Payments less refunds.")
    balance: Money = Field(description="Still to pay (negative: to refund).")
    schedule_version: str | None = Field(
        description="The schedule version the latest accepted quote cites."
    )


class ChargePaymentOut(Payment):
    """A payment or refund on the order's charge, with its receipt (BIL-7). A partner network
    holding the order sees every payment, for the customer's balance is one whoever took the
    money, but who took one of another network's (an earlier holder) and which network it was
    are not its to read (SCH-12, BIL-12): ``by``, ``network_id`` and ``reason`` are null and
    ``another_network`` is true. A refund is another network's when it pays back (any of)
    that network's money, as its statement shows, whoever paid it back. The centre sees them
    all in full."""

    by: str | None = Field(  # type: ignore[assignment]
        description="Who took (or paid back) the money; null on another network's payment as "
        "a partner network reads it."
    )
    another_network: bool = Field(
        default=False,
        description="Taken by another partner network's people than the reader's (a partner "
        "network's key or technician), or a refund of such money: who, which network and why "
        "are not shown.",
    )

    @classmethod
    def seen_by(
        cls, p: Payment, account: BillingAccount, network_id: str | None
    ) -> ChargePaymentOut:
        """``p`` as a reader of ``network_id`` (None: the centre, in full) sees it: another
        network's identity left out (SCH-12, BIL-12)."""
        full = cls.model_validate(p, from_attributes=True)
        if network_id is None:
            return full
        whose = {p.network_id or account.state.technician_networks.get(p.by)}
        if p.kind is PaymentKind.REFUND:
            # a refund is the networks' whose money it pays back, as on their statements,
            # whoever (the centre, by phone) paid it back
            whose.update(n for n, _ in account.refund_sources(p))
        if whose <= {None, network_id}:
            return full
        return full.model_copy(
            update={"by": None, "network_id": None, "reason": None, "another_network": True}
        )


class ChargeWaiverOut(Waiver):
    """A waiver on the order's charge (BIL-8). It reduces the customer's charge, so whoever
    holds the order sees it and its amount; but one the centre approved on another partner
    network's work (the visit of the quote it was approved on) says why and who approved it
    about that network, which is not the reader's to read (SCH-12, BIL-12): for a partner
    network, ``approved_by`` and ``reason`` are null and ``another_network`` is true. The
    centre sees them all in full."""

    approved_by: str | None = Field(  # type: ignore[assignment]
        description="Who approved it; null on another network's as a partner network reads it."
    )
    reason: str | None = Field(  # type: ignore[assignment]
        description="Why it was approved; null on another network's as a partner network reads it."
    )
    another_network: bool = Field(
        default=False,
        description="Approved on another partner network's work than the reader's (a partner "
        "network's key or technician): who approved it and why are not shown.",
    )

    @classmethod
    def seen_by(cls, w: Waiver, account: BillingAccount, network_id: str | None) -> ChargeWaiverOut:
        """``w`` as a reader of ``network_id`` (None: the centre, in full) sees it."""
        full = cls.model_validate(w, from_attributes=True)
        if network_id is None or account.waiver_network(w) in (None, network_id):
            return full
        return full.model_copy(
            update={"approved_by": None, "reason": None, "another_network": True}
        )


class OrderChargeOut(BaseModel):
    """An order's quotes, charge, payments with their receipts, invoices and signature: what
    the service report shows."""

    order_id: str
    product_line: str | None
    warranty_status: WarrantyStatus
    accepted_quote_id: str | None = Field(description="The latest accepted quote.")
    accepted_quote_ids: list[str] = Field(description="Every quote charged, oldest first.")
    summary: ChargeSummaryOut
    cancelled_at: datetime | None = Field(
        description="When the order was cancelled: its quotes are voided but those accepted for "
        "work completed before it, and no payment is taken any more (BIL-1)."
    )
    refund_due: Money = Field(
        description="Paid beyond the charge (e.g. for work a cancellation voided): to refund "
        "with the centre's approval (BIL-8)."
    )
    quotes: list[Quote]
    pending_requests: list[QuoteRequest]
    refused_requests: list[RefusedRequest] = Field(
        default_factory=list,
        description="Quote requests billing could not price (e.g. amounts beyond what a quote "
        "can carry), with the reason: no QuoteIssued answers them; fieldwork asks again.",
    )
    pending_network_fees: list[PendingNetworkFee] = Field(
        default_factory=list,
        description="Partner networks' fees for work completed before billing knew the order's "
        "product line, on no settlement yet: recorded, at the rate card version in force when "
        "the work was done, as soon as the line is known (BIL-12). Usually empty. A partner "
        "network reads its own network's only.",
    )
    waivers: list[ChargeWaiverOut] = Field(
        description="The waivers the centre approved: all of them, with their amounts (the "
        "charge is the customer's); a partner network reads who approved another network's and "
        "why as null (`another_network`)."
    )
    payments: list[ChargePaymentOut] = Field(
        description="Payments and refunds, each with its receipt: all of them, whoever held the "
        "order (the balance is the customer's); a partner network reads who took another "
        "network's and which network it was as null (`another_network`)."
    )
    invoices: list[Invoice]
    signature: Signature | None = Field(description="The latest signature.")
    signatures: list[Signature] = Field(
        description="Every signature: one per visit signed off, each compared with what that "
        "visit charged, and one for the whole order when signed without a visit (BIL-9); "
        "oldest first."
    )

    @classmethod
    def from_domain(cls, a: BillingAccount, network_id: str | None = None) -> OrderChargeOut:
        """Read model of the billing account: in full (the centre), or as the partner network
        ``network_id`` reads it, another network's fees and identity left out (SCH-12,
        BIL-12)."""
        accepted = a.accepted_quote
        return cls(
            order_id=a.order_id,
            product_line=a.product_line,
            warranty_status=a.warranty_status,
            accepted_quote_id=accepted.quote_id if accepted else None,
            accepted_quote_ids=[q.quote_id for q in a.accepted_quotes],
            summary=ChargeSummaryOut(
                quoted=a.quoted,
                waived=a.waived,
                held=a.held,
                charge=a.charge,
                paid=a.paid,
                balance=a.balance,
                schedule_version=accepted.schedule_version if accepted else None,
            ),
            cancelled_at=a.cancelled_at,
            refund_due=a.refund_due,
            quotes=a.state.quotes,
            pending_requests=a.state.requests,
            refused_requests=a.refused_requests,
            pending_network_fees=[
                f
                for f in a.state.pending_network_fees
                if network_id is None or f.network_id == network_id
            ],
            waivers=[ChargeWaiverOut.seen_by(w, a, network_id) for w in a.state.waivers],
            payments=[ChargePaymentOut.seen_by(p, a, network_id) for p in a.state.payments],
            invoices=a.state.invoices,
            signature=a.signature,
            signatures=a.state.signatures,
        )


class WaiverIn(_In):
    """A waiver or discount the caller (a dispatcher) approves (BIL-8)."""

    amount: PositiveMoney = Field(description="How much less the customer pays.")
    reason: str = Field(min_length=3, max_length=500, description="Why it was approved.")


class WaiverOut(BaseModel):
    """One waiver the centre approved (BIL-8): its portions, one per quote it reduces, as the
    order's charge lists them in `waivers`; one approved on another partner network's work
    shows a partner network neither who approved it nor why (`another_network`)."""

    order_id: str
    waiver_id: str
    approved_by: str | None
    reason: str | None
    at: datetime
    another_network: bool = Field(
        default=False,
        description="Approved on another partner network's work than the reader's: who "
        "approved it and why are not shown.",
    )
    portions: list[ChargeWaiverOut] = Field(
        description="What it takes off each quote, as in the charge's `waivers`."
    )

    @classmethod
    def from_domain(
        cls,
        order_id: str,
        portions: list[Waiver],
        account: BillingAccount,
        network_id: str | None = None,
    ) -> WaiverOut:
        """Read model of one approval's portions (at least one), in full (the centre) or as
        the partner network ``network_id`` of ``account``'s order reads it (SCH-12)."""
        seen = [ChargeWaiverOut.seen_by(p, account, network_id) for p in portions]
        hidden = any(p.another_network for p in seen)
        if hidden:
            seen = [
                p.model_copy(update={"approved_by": None, "reason": None, "another_network": True})
                for p in seen
            ]
        first = seen[0]
        return cls(
            order_id=order_id,
            waiver_id=first.waiver_id,
            approved_by=first.approved_by,
            reason=first.reason,
            at=first.at,
            another_network=hidden,
            portions=seen,
        )


class HeldApprovalIn(_In):
    """The centre's approval of what a quote held at issue (BIL-8): the caller (a dispatcher) is
    recorded as who approved it."""

    reason: str = Field(min_length=3, max_length=500, description="Why it was approved.")


class HeldQuoteOut(BaseModel):
    """An accepted quote holding a reduction the centre has not approved yet (BIL-8)."""

    quote_id: str
    visit_id: str | None
    held_at_issue: Money = Field(
        description="Deducted at issue, covered by no waiver, not charged: what approving it "
        "turns into a waiver."
    )
    total: Money = Field(description="The quote's total as issued: what it charges.")
    issued_at: datetime
    answered_at: datetime | None = Field(description="When the customer accepted it.")

    @classmethod
    def from_domain(cls, q: Quote) -> HeldQuoteOut:
        """Read model of one quote holding a reduction."""
        return cls(
            quote_id=q.quote_id,
            visit_id=q.visit_id,
            held_at_issue=q.held_at_issue,
            total=q.total,
            issued_at=q.issued_at,
            answered_at=q.answered_at,
        )


class HeldReductionOut(BaseModel):
    """An order whose quotes hold a reduction waiting for the centre's approval (BIL-8)."""

    order_id: str
    held: Money = Field(description="What its quotes hold in all (the charge's `held`).")
    held_since: datetime = Field(
        description="Since when the oldest of them waits: when the customer accepted it."
    )
    quotes: list[HeldQuoteOut] = Field(
        description="Each to approve with `POST /v1/orders/{order_id}/quotes/{quote_id}/"
        "held-approval`."
    )

    @classmethod
    def from_domain(cls, a: BillingAccount, since: datetime) -> HeldReductionOut:
        """Read model of an order holding reductions (``since``: as listed)."""
        return cls(
            order_id=a.order_id,
            held=a.held,
            held_since=a.held_unapproved_since or since,
            quotes=[HeldQuoteOut.from_domain(q) for q in a.held_quotes],
        )


class PendingNetworkFeesOut(BaseModel):
    """An order whose partner networks' fees wait for its product line (BIL-12)."""

    order_id: str
    pending_since: datetime = Field(
        description="When the earliest of the work listed was done (the list's order): of the "
        "listed network's work when the list is one network's."
    )
    fees: list[PendingNetworkFee] = Field(
        description="Each fee waiting, with the network owed, the kind of work, the visit and "
        "when it was done: put on the settlement, at the rate card version in force then, as "
        "soon as the order's product line is known (OrderCreated, OrderVerified, a quote "
        "request naming it)."
    )

    @classmethod
    def from_domain(
        cls, a: BillingAccount, since: datetime, network_id: str | None = None
    ) -> PendingNetworkFeesOut:
        """Read model of an order's waiting fees (``since``: as listed), of ``network_id``'s
        only when given, dated by that network's earliest waiting work (BIL-12)."""
        fees = [
            f
            for f in a.state.pending_network_fees
            if network_id is None or f.network_id == network_id
        ]
        return cls(
            order_id=a.order_id,
            pending_since=min((f.occurred_at for f in fees), default=since),
            fees=fees,
        )


class PendingNetworkFeesListOut(BaseModel):
    """A page of the orders whose networks' fees wait for the product line, the earliest work
    first (then by order id) (BIL-12)."""

    items: list[PendingNetworkFeesOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class HeldReductionListOut(BaseModel):
    """A page of the orders holding reductions the centre has not approved, the longest
    waiting first (then by order id) (BIL-8)."""

    items: list[HeldReductionOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class PaymentIn(_In):
    """A payment taken from the customer; partial payments are allowed (BIL-7)."""

    method: PaymentMethod
    amount: PositiveMoney
    collected_by: str | None = Field(
        default=None,
        max_length=200,
        description="Who physically took the money, whose cash on hand it adds to (BIL-10); "
        "defaults to the caller's technician id or key name. Technicians, desks and the call "
        "centre record what they take themselves (omit it, or name yourself); a partner network "
        "may name its own technician on the order; the centre names the technician or desk "
        "whose payment it records as a correction (with `correction_reason`).",
    )
    at_desk: bool = Field(
        default=False,
        description="Taken at a service-hall desk, not by a technician on site: desk business, "
        "sampled for call-backs (FBK-4).",
    )
    correction_reason: str | None = Field(
        default=None,
        min_length=3,
        max_length=500,
        description="The centre (dispatcher) only: why it records a payment that the technician "
        "or desk named in `collected_by` took, e.g. the technician's phone was dead; kept with "
        "the payment and the cash entry as who approved it and why.",
    )

    @field_validator("collected_by")
    @classmethod
    def _names_someone(cls, value: str | None) -> str | None:
        # a blank name would book the money, cash on hand included, to nobody (BIL-10)
        if value is None:
            return None
        if not value.strip():
            raise ValueError("names who took the money, or is omitted")
        return value.strip()


class RefundIn(_In):
    """Money paid back, approved by the caller (a dispatcher) (BIL-8)."""

    method: PaymentMethod
    amount: PositiveMoney
    refunded_by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=500)


class PaymentOut(BaseModel):
    """The payment or refund taken, its receipt, and the charge after it."""

    payment: ChargePaymentOut
    receipt_number: str
    summary: ChargeSummaryOut


class InvoiceIn(_In):
    """The invoice the customer asked for (BIL-7)."""

    buyer_name: str | None = Field(default=None, max_length=200)
    buyer_tax_id: str | None = Field(
        default=None,
        max_length=40,
        description="The buyer's unified social credit code (18 characters, its check character "
        "verified) or older 15- or 20-character taxpayer number; needs the buyer's name.",
    )
    delivery: InvoiceDelivery = InvoiceDelivery.ON_SITE
    promised_by: IsoDate | None = Field(
        default=None, description="Promised delivery date when not handed over on site."
    )

    @field_validator("buyer_tax_id")
    @classmethod
    def _well_formed_tax_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalised = "".join(value.split()).upper()
        problem = tax_id_problem(normalised)
        if problem:
            raise ValueError(problem)
        return normalised

    @model_validator(mode="after")
    def _tax_id_names_its_buyer(self) -> InvoiceIn:
        if self.buyer_tax_id and not (self.buyer_name and self.buyer_name.strip()):
            raise ValueError("an invoice with a buyer tax id names the buyer (buyer_name)")
        return self


class InvoiceDeliveryIn(_In):
    """Delivery progress of an invoice: to_deliver → posted → delivered (BIL-7)."""

    status: InvoiceStatus
    tracking_number: str | None = Field(default=None, max_length=100)


class SignatureIn(_In):
    """The customer's signature on the amount charged and the parts replaced (BIL-9)."""

    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
    parts: list[PartLine] = Field(default_factory=list)
    signature_ref: str | None = Field(default=None, max_length=300)
    visit_id: str | None = Field(
        default=None,
        max_length=100,
        description="The visit signed off: the signature must match what that visit charged (its "
        "accepted quote after waivers). Omitted: what the whole order charges.",
    )


# --- cash -------------------------------------------------------------------------------------


class RemittanceIn(_In):
    """Cash handed to finance; the caller records it (BIL-10)."""

    amount: PositiveMoney


class CashLedgerOut(BaseModel):
    """A technician's or desk's cash on hand (BIL-10) and one page of its ledger."""

    holder_id: str
    cash_on_hand: Money = Field(description="Over every entry of the ledger, not just this page.")
    held_since: datetime | None = Field(description="When the oldest cash still held was taken.")
    entries: list[CashEntry] = Field(
        description="One page of the ledger's movements in booking order (time, then id)."
    )
    next_cursor: str | None = Field(description=NEXT_CURSOR)

    @classmethod
    def from_domain(
        cls, position: CashPosition, entries: list[CashEntry], next_cursor: str | None
    ) -> CashLedgerOut:
        """Read model of a ledger's position and one page of its entries."""
        return cls(
            holder_id=position.holder_id,
            cash_on_hand=position.on_hand,
            held_since=position.held_since,
            entries=entries,
            next_cursor=next_cursor,
        )


class StatementOut(Statement):
    """A partner network's monthly settlement statement (BIL-12): the totals over the whole
    month and one page of its lines by order (then time and id)."""

    next_cursor: str | None = Field(description=NEXT_CURSOR)
