"""The billing account of one order: what billing knows of the order, its quotes, the charge,
waivers, payments, receipts, invoices and the customer's signature (BIL-1..BIL-9, BIL-11)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from billing.domain.exceptions import (
    ChargeItemNotFound,
    InvalidAmount,
    InvalidDate,
    NotAllowed,
    OrderWasCancelled,
    PersonalDataErased,
)
from billing.domain.installations import Installation, installation_of, serial_key
from billing.domain.money import ZERO
from billing.domain.policy import BillingPolicy
from billing.domain.pricing import add_months, price_quote
from billing.domain.reports import SettlementItem
from billing.domain.schedule import FeeSchedule
from contracts.base import EventData
from contracts.billing import (
    ChargeWaived,
    InvoiceDelivery,
    InvoiceDeliveryOverdue,
    InvoiceIssued,
    OrderRetentionExpired,
    PaymentCollected,
    PaymentMethod,
    PaymentRefunded,
    QuoteIssued,
    QuoteLine,
    QuoteRefused,
    QuoteReinstated,
    QuoteVoided,
    QuoteVoidReason,
    ReceiptIssued,
    RetentionClass,
)
from contracts.common import Money, PartLine, WarrantyStatus, WorkItem, WorkItemKind
from contracts.ids import new_id


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QuoteStatus(StrEnum):
    """Where a quote stands with the customer."""

    ISSUED = "issued"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SUPERSEDED = "superseded"
    """Accepted, then replaced by a quote the customer accepted for the same work not done yet
    (a supplement after a re-diagnosis, or a revisit quoting the job again): that one is charged,
    with the waivers approved on this one (BIL-1, BIL-8)."""
    VOIDED = "voided"
    """Nothing is charged for it (BIL-1, FLD-4): the order was cancelled before it was
    accepted, or before the accepted work was completed; or the accepted work was not completed
    on its visit and the customer declined the job when a later visit quoted it again."""


class QuoteRequest(_State):
    """What fieldwork asked billing to price (QuoteRequested), kept while it cannot be priced."""

    request_id: str
    visit_id: str | None = None
    items: list[WorkItem]
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    warranty_card_amount: Money | None = None
    installed_on: date | None = None
    product_line: str | None = None
    requested_at: AwareDatetime
    waiting_for: str | None = None
    """Why it is not priced yet: the order's product line or a published schedule."""


class RefusedRequest(_State):
    """A quote request billing cannot price (e.g. amounts beyond what a quote can carry): kept
    with the reason instead of being dropped, so that it can be seen and followed up."""

    request_id: str
    visit_id: str | None = None
    requested_at: AwareDatetime
    refused_at: AwareDatetime
    reason: str


class Quote(_State):
    """A priced quote (QuoteIssued)."""

    quote_id: str
    request_id: str | None = None
    visit_id: str | None = None
    issued_at: AwareDatetime
    schedule_version: str
    warranty_status: WarrantyStatus
    lines: list[QuoteLine]
    total: Money
    status: QuoteStatus = QuoteStatus.ISSUED
    discount_requested: bool = False
    answered_at: AwareDatetime | None = None
    """When the customer accepted or declined it, as the event says."""
    superseded_by: str | None = None
    """The quote accepted in its place (status `superseded`)."""
    voided_at: AwareDatetime | None = None
    """When it was voided: the order's cancellation, or the customer declining the job at a
    later visit (BIL-1)."""
    voided_from: QuoteStatus | None = None
    """The customer's answer when it was voided (`issued`: none yet, or `accepted`); a late
    report that its work was completed in time makes it charged again."""
    void_announced: bool = False
    """Whether QuoteVoided was the last of QuoteVoided / QuoteReinstated published for it."""
    waived_at_issue: Money = ZERO
    """Waivers approved on the accepted quote this one replaces once accepted (a supplement),
    already deducted from `total` as issued, one `BIL-8` line each: the customer consents to
    (FLD-4) and signs for (BIL-9) the price charged. They move to this quote when it is
    accepted and are not deducted twice."""
    held_at_issue: Money = ZERO
    """The part of ``waived_at_issue`` its acceptance did not carry: the waivers were approved
    on a quote whose work, a late report shows, was completed before this one was accepted, so
    that quote stays charged with them. Not charged all the same: the customer consented to the
    price issued (FLD-4, BIL-1) and signs for it (BIL-9); a reduction the centre has not
    approved yet (BIL-8), logged for it to approve (`GET /v1/held-reductions`). Once it
    approves it (``BillingAccount.approve_held``) a waiver covers it and this is 0."""
    held_waiver_id: str | None = None
    """The waiver by which the centre approved what this quote held at issue (BIL-8): who
    approved it, why and when are that waiver's."""

    @property
    def before_waivers(self) -> Decimal:
        """The schedule's price of the work: ``total`` before the waivers deducted at issue."""
        return self.total + self.waived_at_issue

    @property
    def answer(self) -> QuoteStatus:
        """The customer's answer, whether or not a cancellation voided the quote."""
        return self.voided_from or self.status


@dataclass(frozen=True)
class _Void:
    """Why a quote is void (BIL-1, FLD-4), since when, and the later quote declined if that is
    why."""

    reason: QuoteVoidReason
    at: datetime
    declined_quote_id: str | None = None


class Waiver(_State):
    """A waiver or reduction the centre approved (BIL-8)."""

    waiver_id: str
    """The approval it is part of (`GET /v1/orders/{order_id}/waivers/{waiver_id}`): the
    portions one approval takes off several quotes share it, and keep it when carried. Given
    by ``BillingAccount.waive``; billing's migration 0008 gave one to each waiver approved
    before waivers had ids, so a waiver is never without one."""
    quote_id: str
    """The quote it reduces: the one it was approved on, or the quote accepted in its place."""
    amount: Money
    new_total: Money
    """That quote's total after its waivers, when this one was applied."""
    approved_by: str
    reason: str
    at: AwareDatetime
    carried_from: str | None = None
    """The quote the centre approved it on, when a quote accepted in that one's place
    (status `superseded`) carries it now."""
    approved_amount: Money | None = None
    """What the centre approved, when the quote carrying it now charges less than that: a
    waiver never takes a quote below zero."""
    approves_held: bool = False
    """The centre's approval of what its quote (``carried_from``, else ``quote_id``) held at
    issue (``Quote.held_at_issue``): a reduction the price issued had already made, so the
    charge did not change when it was approved (BIL-8, FLD-4). Carried as any waiver."""

    @model_validator(mode="before")
    @classmethod
    def _stored_with_its_id(cls, data: Any) -> Any:
        # A stored waiver without an id is a database not migrated: refused rather than read
        # without one (or given one that the next read would not give again).
        if isinstance(data, dict):
            waiver_id = data.get("waiver_id")
            if not (isinstance(waiver_id, str) and waiver_id.strip()):
                raise ValueError(
                    "a waiver stored without its waiver_id: billing's migration 0008 gives "
                    "every waiver one (`fsm migrate billing`)"
                )
        return data


class PaymentKind(StrEnum):
    """Money in or money back."""

    PAYMENT = "payment"
    REFUND = "refund"


class Payment(_State):
    """Money the customer paid, or was paid back (positive amounts)."""

    payment_id: str
    kind: PaymentKind
    method: PaymentMethod
    amount: Money
    by: str
    at: AwareDatetime
    receipt_number: str
    approved_by: str | None = None
    """Who approved it: a refund (BIL-8), or a payment the centre recorded as a correction for
    the technician or desk that took it (``by``, BIL-10)."""
    reason: str | None = None
    """Why it was approved."""
    at_desk: bool = False
    """Taken at a service-hall desk rather than by a technician on site (FBK-4)."""
    network_id: str | None = None
    """The partner network whose technician took the money (None: the centre), for its
    monthly settlement (BIL-12)."""


class InvoiceStatus(StrEnum):
    """Delivery of an invoice (BIL-7)."""

    TO_DELIVER = "to_deliver"
    POSTED = "posted"
    DELIVERED = "delivered"
    WITHDRAWN = "withdrawn"
    """Never to be delivered: an invoice still at the centre that credit invoices reversed in
    full, and the credit invoice that completed the reversal (see
    ``BillingAccount.credit_invoice``). Only a credit invoice withdraws one."""


INVOICE_TRANSITIONS: dict[InvoiceStatus, tuple[InvoiceStatus, ...]] = {
    InvoiceStatus.TO_DELIVER: (InvoiceStatus.POSTED, InvoiceStatus.DELIVERED),
    InvoiceStatus.POSTED: (InvoiceStatus.DELIVERED,),
    InvoiceStatus.DELIVERED: (),
    InvoiceStatus.WITHDRAWN: (),
}


class Invoice(_State):
    """An invoice issued on request and tracked until delivered (BIL-7)."""

    number: str
    amount: Money
    buyer_name: str | None = None
    buyer_tax_id: str | None = None
    delivery: InvoiceDelivery
    status: InvoiceStatus
    promised_by: date | None = None
    tracking_number: str | None = None
    issued_at: AwareDatetime
    delivered_at: AwareDatetime | None = None
    overdue_reported_at: AwareDatetime | None = None
    """When InvoiceDeliveryOverdue was raised for it (once)."""
    credits: str | None = None
    """For a credit invoice (红字发票, a negative amount): the number of the invoice it
    reverses in part or whole, after a refund of invoiced money."""
    not_chased_because: str | None = None
    """Why its delivery is no longer chased (BIL-7): credit invoices reversed all of it, so the
    customer is owed no invoice for it any more; or it is the credit invoice withdrawn with
    the invoice it reverses."""

    @property
    def awaits_delivery(self) -> bool:
        """On its way to the customer (to deliver or posted), still chased, and not yet
        reported overdue."""
        return (
            self.status in (InvoiceStatus.TO_DELIVER, InvoiceStatus.POSTED)
            and self.not_chased_because is None
            and self.overdue_reported_at is None
        )


class SignedPart(_State):
    """A part and quantity the customer signed for (BIL-9)."""

    part_no: str
    quantity: Decimal


class Signature(_State):
    """The customer's signature on the amount charged and the parts replaced (BIL-9)."""

    visit_id: str | None = None
    """The visit signed off, for what that visit charged; None: signed for the whole order."""
    amount: Money
    parts: list[SignedPart] = Field(default_factory=list)
    signature_ref: str | None = None
    signed_at: AwareDatetime
    matches_charge: bool
    """Whether the amount and parts signed for are those charged: by the visit signed off, or
    by the whole order for a signature naming no visit."""
    charged: Money | None = None
    """What the visit (or the order) charged when the customer signed."""


class PendingNetworkFee(_State):
    """A network's fee for completed work heard before the order's product line (BIL-12): not
    priced until the line is known, since the network's rate card prices work per line.

    Recorded as a settlement item as soon as billing learns the line (OrderCreated,
    OrderVerified, a quote request's line), by the card version in force when the work was
    done. A fee of an order whose line never becomes known stays pending: it is on no statement
    until then."""

    fee_id: str
    """The id of the completion event: the settlement item's id, so it is recorded once."""
    network_id: str
    kind: str
    """`repair` or `installation`."""
    visit_id: str | None = None
    occurred_at: AwareDatetime
    """When the work was done, as the event says."""
    heard_at: AwareDatetime | None = None
    """When billing heard of the work (None: held before billing kept it): the card is the
    version in force at the earlier of this and ``occurred_at`` (see ``pricing_moment``)."""

    def pricing_moment(self, now: datetime) -> datetime:
        """The moment whose rate card version prices the work: when it was done, but never
        later than when billing heard of it (``now`` when that was not kept).

        Fieldwork's clock may run ahead of billing's (``offline_clock_skew_seconds``), so work
        can be dated a little after billing hears of it. A version published meanwhile takes
        effect at its publication at the earliest, after billing heard of the work; priced at
        the work's own time, the same work would be owed at the version before when priced at
        once, and at the new one when priced later (its product line learnt or corrected).
        Capped, every pricing of the work picks the version in force when billing heard of it
        (BIL-12: a version never reprices work done)."""
        return min(self.occurred_at, self.heard_at or now)


class RecordedNetworkFee(PendingNetworkFee):
    """A network's fee on the settlement (BIL-12), as it stands: what it is owed now for the
    work, and the product line and card version that priced it. A later change of the
    order's product line re-prices it by an adjustment of the difference."""

    product_line: str | None = None
    """The product line the fee is priced for (None: priced without one)."""
    amount: Money
    """What the network is owed for the work: the first item plus its adjustments."""
    basis: str
    """The card version and rate, or the policy default, that priced ``amount``."""
    adjustments: int = 0
    """How many adjustment items re-priced it."""

    def adjustment_id(self, number: int) -> str:
        """The settlement item id of the fee's ``number``-th adjustment (from 1): the same
        however often that re-pricing is asked, so it is recorded once."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.fee_id}:reprice:{number}"))


#: How a completed job's fee item describes it: `repair fee, visit v-1, rate card net-9@v1 (...)`.
_FEE_DESCRIPTION = re.compile(r"^(repair|installation) fee, visit (.*?), (.+)$")


class AccountState(_State):
    """Everything billing keeps on one order besides its events."""

    customer: dict[str, Any] | None = None
    """The customer's personal data as the order gave it (removed by retention, BIL-11)."""
    installed_on: date | None = None
    product_serial: str | None = None
    """The serial of the order's unit, as the order gave it: an earlier installation of the
    same unit dates its set-up (BIL-5)."""
    installation_completed_on: date | None = None
    """When this order's installation was completed (InstallationCompleted): kept by the unit's
    serial for later orders of the same unit (BIL-5)."""
    requests: list[QuoteRequest] = Field(default_factory=list)
    refused_requests: list[RefusedRequest] = Field(default_factory=list)
    """Requests that could not be priced, with why; no quote answers them."""
    quotes: list[Quote] = Field(default_factory=list)
    waivers: list[Waiver] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list)
    invoices: list[Invoice] = Field(default_factory=list)
    signatures: list[Signature] = Field(default_factory=list)
    """One per visit signed off (and one for the whole order), oldest signing first (BIL-9)."""
    work_done: list[str] = Field(default_factory=list)
    """`repair` / `installation` per completed visit (BIL-12)."""
    completed_visits: list[str] = Field(default_factory=list)
    """Visits whose work was completed: their accepted quotes stay charged (BIL-1)."""
    completed_at: dict[str, AwareDatetime] = Field(default_factory=dict)
    """When each completed visit's work was completed, as the event says (not when billing
    heard of it): work completed before a cancellation stays charged (BIL-1)."""
    take_backs: dict[str, str] = Field(default_factory=dict)
    """The visit each unit taken to the workshop was taken back on, by the take-back receipt's
    number (UnitTakenBack): the workshop does the work that visit's accepted quote stands for
    (FLD-6), so the unit returned repaired completes that work (BIL-1)."""
    cancelled_at: AwareDatetime | None = None
    """When the order was cancelled (OrderCancelled): no quote is priced, accepted or paid
    after it, and only work completed before it is charged (BIL-1)."""
    visit_networks: dict[str, str | None] = Field(default_factory=dict)
    """The network (None: the centre) each visit was last assigned to (BIL-12)."""
    technician_networks: dict[str, str | None] = Field(default_factory=dict)
    """The network (None: the centre) of each technician assigned to the order (BIL-12)."""
    pending_network_fees: list[PendingNetworkFee] = Field(default_factory=list)
    """Networks' fees for work completed before the order's product line was known, waiting
    for it (BIL-12); recorded and removed once it is."""
    network_fees: list[RecordedNetworkFee] = Field(default_factory=list)
    """Networks' fees on the settlement, each as it stands (BIL-12): re-priced when the order's
    product line changes."""

    @model_validator(mode="before")
    @classmethod
    def _signatures_of_old_documents(cls, data: Any) -> Any:
        # Documents stored before signatures were kept per visit hold one `signature`.
        if isinstance(data, dict) and "signature" in data:
            data = dict(data)
            old = data.pop("signature")
            if old is not None and not data.get("signatures"):
                data["signatures"] = [old]
        return data

    @property
    def signature(self) -> Signature | None:
        """The latest signature, if any."""
        return self.signatures[-1] if self.signatures else None


def _refusal_reason(exc: ValidationError | ArithmeticError) -> str:
    """Why a quote request could not be priced, for the order's file and the logs."""
    if isinstance(exc, ValidationError):
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        detail = f" ({', '.join(fields)})" if fields else ""
    else:
        detail = ""
    return (
        f"amounts too large to quote{detail}: a quote line and its total must stay below "
        "1,000,000,000,000 CNY; check the quantities and stock prices and ask again"
    )


class BillingAccount:
    """The billing aggregate of one order. Changes append events to ``events``."""

    def __init__(
        self,
        *,
        order_id: str,
        product_line: str | None = None,
        warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN,
        network_id: str | None = None,
        technician_id: str | None = None,
        paid_work: bool = False,
        coordination_ticket: bool = False,
        ended_at: datetime | None = None,
        anonymised_at: datetime | None = None,
        state: AccountState | None = None,
        version: int = 0,
    ) -> None:
        self.order_id = order_id
        self.product_line = product_line
        self.warranty_status = warranty_status
        self.network_id = network_id
        self.technician_id = technician_id
        self.paid_work = paid_work
        self.coordination_ticket = coordination_ticket
        self.ended_at = ended_at
        self.anonymised_at = anonymised_at
        self.state = state or AccountState()
        self.version = version
        self.events: list[EventData] = []

    # --- what the order tells billing -------------------------------------------------------

    def learn_order(
        self,
        *,
        product_line: str | None,
        warranty_status: WarrantyStatus,
        customer: dict[str, Any] | None,
        installed_on: date | None,
        serial: str | None = None,
    ) -> None:
        """Facts of OrderCreated / OrderVerified; a known warranty status wins over unknown."""
        if product_line:
            self.product_line = product_line
        if serial_key(serial):
            self.state.product_serial = serial
        self.learn_warranty(warranty_status)
        if customer is not None and self.anonymised_at is None:
            self.state.customer = customer
        if installed_on is not None:
            self.state.installed_on = installed_on

    def learn_warranty(self, status: WarrantyStatus) -> None:
        """The warranty status travels with the order (BIL-1); unknown never erases a known one."""
        if status is not WarrantyStatus.UNKNOWN:
            self.warranty_status = status

    def assign(
        self,
        *,
        network_id: str | None,
        technician_id: str | None,
        visit_id: str | None = None,
    ) -> None:
        """Who holds the order's visit now, and which network each visit and technician
        belongs to (for settlements, BIL-12)."""
        self.network_id = network_id
        self.technician_id = technician_id
        if visit_id is not None:
            self.state.visit_networks[visit_id] = network_id
        if technician_id is not None:
            self.state.technician_networks[technician_id] = network_id

    def returned_to_centre(self) -> None:
        """The order is back with the centre's dispatchers (OrderReturnedToCentre: a network
        rejected it or did not accept it in time, its assignment was cancelled, the customer
        postponed; or a revisit waits in the centre's queue, RevisitBooked with no technician):
        nobody holds it until they place it again, so its former holder no longer acts on it
        (SCH-1, SCH-10, SCH-12). Which network each visit and technician worked for stays: the
        money a technician took before stays theirs, as taken for that network (BIL-10,
        BIL-12)."""
        self.network_id = None
        self.technician_id = None

    def revisit_booked(self, *, visit_id: str, technician_id: str | None) -> None:
        """Another visit follows (RevisitBooked): kept by the same technician it stays with the
        order's holder; with none kept it waits for the centre to place it (SCH-10)."""
        if technician_id is None:
            self.returned_to_centre()
            return
        self.assign(network_id=self.network_id, technician_id=technician_id, visit_id=visit_id)

    def network_of(
        self, *, technician_id: str | None = None, visit_id: str | None = None
    ) -> str | None:
        """The network (None: the centre) of the party that did the work or took the money:
        that of ``technician_id`` when an assignment named them, else the network ``visit_id``
        was assigned to, else the order's holder as billing last heard (BIL-12). Not simply the
        holder: the order may have moved on (a revisit given to another network) before billing
        hears of the work, since assignments and field reports come on different topics."""
        if technician_id is not None and technician_id in self.state.technician_networks:
            return self.state.technician_networks[technician_id]
        if visit_id is not None and visit_id in self.state.visit_networks:
            return self.state.visit_networks[visit_id]
        return self.network_id

    def work_completed(
        self,
        kind: str,
        installed_on: date | None = None,
        *,
        visit_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """A repair or installation was completed on ``visit_id`` at ``at`` (BIL-12;
        installation date for BIL-5)."""
        self.state.work_done.append(kind)
        self._visit_completed(visit_id, at)
        if installed_on is not None:
            self.state.installed_on = installed_on
            if kind == "installation":
                self.state.installation_completed_on = installed_on

    def unit_taken_back(self, *, visit_id: str, receipt_number: str) -> None:
        """``visit_id``'s unit went to the workshop on ``receipt_number`` (FLD-6): the work its
        accepted quote stands for is done there, not on the visit."""
        self.state.take_backs[receipt_number] = visit_id

    def unit_returned(self, *, receipt_number: str, repaired: bool, at: datetime) -> None:
        """The unit of ``receipt_number`` came back at ``at`` (FLD-6). Repaired, the work of
        the visit it was taken back on is completed then: that visit's accepted quote stays
        charged, neither replaced by nor voided by the answer to a later visit's quote (BIL-1,
        FLD-4). Returned unrepaired, that work was not done."""
        visit_id = self.state.take_backs.get(receipt_number)
        if repaired and visit_id is not None:
            self._visit_completed(visit_id, at)

    def hold_network_fee(self, fee: PendingNetworkFee) -> None:
        """Keep a network's fee until the order's product line is known (BIL-12), once."""
        if all(f.fee_id != fee.fee_id for f in self.state.pending_network_fees):
            self.state.pending_network_fees.append(fee)

    def take_pending_network_fees(self) -> list[PendingNetworkFee]:
        """The fees held for the product line, now that it is known; none while it is not
        (BIL-12). Taken once: they leave the account in the transaction that records them."""
        if not self.product_line:
            return []
        fees, self.state.pending_network_fees = self.state.pending_network_fees, []
        return fees

    @property
    def network_fees_pending_since(self) -> datetime | None:
        """When the earliest work whose network fee waits for the product line was done; None
        when none waits (BIL-12)."""
        return min((f.occurred_at for f in self.state.pending_network_fees), default=None)

    @property
    def network_fees_pending_by_network(self) -> dict[str, datetime]:
        """For each network whose fees wait for the product line, when its own earliest such
        work was done (BIL-12): one network's list is dated by its work, not another's."""
        since: dict[str, datetime] = {}
        for f in self.state.pending_network_fees:
            if f.network_id not in since or f.occurred_at < since[f.network_id]:
                since[f.network_id] = f.occurred_at
        return since

    def network_fee_recorded(self, fee: RecordedNetworkFee) -> None:
        """Remember a fee put on the settlement, once (BIL-12)."""
        if all(f.fee_id != fee.fee_id for f in self.state.network_fees):
            self.state.network_fees.append(fee)

    @property
    def untracked_network_fees(self) -> bool:
        """Whether work may have been owed to a network before billing kept its fees on the
        order (BIL-12): more work completed than fees kept (the centre's own work counts too,
        so this only says where to look)."""
        kept = len(self.state.network_fees) + len(self.state.pending_network_fees)
        return len(self.state.work_done) > kept

    def adopt_network_fees(self, items: Sequence[SettlementItem]) -> None:
        """Keep the network fees of the order's settlement items not kept yet, as an earlier
        release recorded them (BIL-12), so that they are re-priced like the others. Their
        product line was not kept. A fee stands with the adjustments already made of it (a
        release that does not keep the fees may have saved the order after they were made), so
        that the next re-pricing neither repeats nor misses a difference."""
        kept = {f.fee_id for f in self.state.network_fees}
        by_id = {item.item_id: item for item in items}
        for item in items:
            matched = _FEE_DESCRIPTION.match(item.description)
            if item.item_id in kept or matched is None:
                continue
            kind, visit, basis = matched.groups()
            fee = RecordedNetworkFee(
                fee_id=item.item_id,
                network_id=item.network_id,
                kind=kind,
                visit_id=None if visit == "None" else visit,
                occurred_at=item.occurred_at,
                amount=item.amount,
                basis=basis,
            )
            while (adjusted := by_id.get(fee.adjustment_id(fee.adjustments + 1))) is not None:
                fee.amount += adjusted.amount
                fee.adjustments += 1
            self.state.network_fees.append(fee)

    def network_fees_to_reprice(self) -> list[RecordedNetworkFee]:
        """The fees priced for another product line than the order's, now that it is known
        (BIL-12): OrderVerified corrected it, or it was learnt after them."""
        if not self.product_line:
            return []
        return [f for f in self.state.network_fees if f.product_line != self.product_line]

    def network_fee_repriced(
        self, fee_id: str, *, amount: Decimal, basis: str, adjusted: bool
    ) -> None:
        """A fee now stands at ``amount`` by ``basis`` for the order's product line (BIL-12);
        ``adjusted``: an adjustment item made up the difference."""
        for fee in self.state.network_fees:
            if fee.fee_id == fee_id:
                fee.product_line = self.product_line
                fee.amount = amount
                fee.basis = basis
                fee.adjustments += int(adjusted)

    @property
    def installation(self) -> Installation | None:
        """The installation this order completed, once its unit's line and serial are known:
        kept so that a later order of the same unit knows when it was installed (BIL-5)."""
        serial, day = self.state.product_serial, self.state.installation_completed_on
        if not self.product_line or serial is None or day is None:
            return None
        return Installation(
            order_id=self.order_id, product_line=self.product_line, serial=serial, installed_on=day
        )

    def _visit_completed(self, visit_id: str | None, at: datetime | None) -> None:
        if visit_id is None:
            return
        if visit_id not in self.state.completed_visits:
            self.state.completed_visits.append(visit_id)
        known = self.state.completed_at.get(visit_id)
        if at is not None and (known is None or at < known):
            self.state.completed_at[visit_id] = at
        self._void_uncharged()

    def visit_closed(
        self,
        *,
        at: datetime,
        paid_work: bool,
        coordination_ticket: bool,
        visit_id: str | None = None,
        completed: bool = False,
    ) -> None:
        """The latest end of the order, for retention (BIL-11). A quote request of the visit
        still waiting for a fee schedule is dropped: the visit ended without it (the customer
        declined before it came, or the work stopped), so no one would answer its quote. A
        visit that ended ``completed`` had its work done (BIL-1)."""
        if completed:
            self._visit_completed(visit_id, at)
        if visit_id is not None:
            self.state.requests = [r for r in self.state.requests if r.visit_id != visit_id]
        self.ended_at = at if self.ended_at is None else max(self.ended_at, at)
        self.paid_work = self.paid_work or paid_work
        self.coordination_ticket = self.coordination_ticket or coordination_ticket

    def resolved_remotely(self, *, at: datetime) -> None:
        """The order was resolved by phone guidance at ``at``, with no visit (INT-4): it ended
        then, so its retention clock starts (BIL-11). It is kept as a free order unless paid
        work was done on an earlier visit of it (``paid_work``)."""
        self.ended_at = at if self.ended_at is None else max(self.ended_at, at)

    def reopened(self, *, at: datetime) -> None:
        """The order resolved by phone is open again at ``at`` (INT-4): the retention clock its
        end started stops until it ends again (a visit closed, a cancellation, another
        resolution by phone) (BIL-11). An end after the reopening stands: a visit closed since
        then and heard first, fieldwork's events being read on another topic than intake's."""
        if self.ended_at is not None and self.ended_at <= at:
            self.ended_at = None

    def coordination_ticket_opened(self) -> None:
        """The order became a coordination ticket (FLD-15): it is kept for good (BIL-11)."""
        self.coordination_ticket = True

    @property
    def cancelled_at(self) -> datetime | None:
        """When the order was cancelled, if it was."""
        return self.state.cancelled_at

    def cancelled(self, *, at: datetime) -> None:
        """The order was cancelled at ``at`` (BIL-1): quote requests still waiting are dropped;
        quotes never accepted, and accepted quotes whose work was not completed before ``at``,
        are voided. Work completed before it stays charged; what was paid beyond that is a
        refund due, paid back with the centre's approval (BIL-8). Receipts stay."""
        self.ended_at = at if self.ended_at is None else max(self.ended_at, at)
        if self.state.cancelled_at is None or at < self.state.cancelled_at:
            self.state.cancelled_at = at
        self.state.requests = []
        self._void_uncharged()

    def _after_cancellation(self, at: datetime | None) -> bool:
        """Whether a fact of ``at`` (None: unknown) comes after the order's cancellation."""
        cancelled_at = self.state.cancelled_at
        return cancelled_at is not None and (at is None or at > cancelled_at)

    def _done_before_cancellation(self, visit_id: str | None) -> bool:
        if visit_id is None or visit_id not in self.state.completed_visits:
            return False
        done = self.state.completed_at.get(visit_id)
        return done is None or not self._after_cancellation(done)

    def _void_uncharged(self) -> None:
        """Void the quotes nothing is charged for (BIL-1, FLD-4), restoring one voided that a
        late report shows is charged after all (events of other services come in any order).
        Each change from what was last announced is published (QuoteVoided, QuoteReinstated),
        so fieldwork's record of the visit does not show a void quote as in force."""
        for index, quote in enumerate(self.state.quotes):
            void = self._void(index, quote)
            if void is None and quote.voided_from is not None:
                quote.status, quote.voided_from, quote.voided_at = quote.answer, None, None
            elif void is not None and quote.status is not QuoteStatus.VOIDED:
                quote.status, quote.voided_from, quote.voided_at = (
                    QuoteStatus.VOIDED,
                    quote.answer,
                    void.at,
                )
            self._announce_void(quote, void)

    def _announce_void(self, quote: Quote, void: _Void | None) -> None:
        """Publish the quote's void or reinstatement if it differs from what was announced."""
        if (void is not None) == quote.void_announced:
            return
        quote.void_announced = void is not None
        if void is None:
            self.events.append(
                QuoteReinstated(
                    order_id=self.order_id,
                    visit_id=quote.visit_id,
                    quote_id=quote.quote_id,
                    status=quote.status.value,
                )
            )
            return
        self.events.append(
            QuoteVoided(
                order_id=self.order_id,
                visit_id=quote.visit_id,
                quote_id=quote.quote_id,
                answer=quote.answer.value,
                reason=void.reason,
                voided_at=void.at,
                declined_quote_id=void.declined_quote_id,
            )
        )

    def _void(self, index: int, quote: Quote) -> _Void | None:
        """Why and since when the ``index``-th quote is void, if it is. Declined and superseded
        quotes stay so. An accepted quote whose visit did not complete its work is void once the
        customer declines the job quoted again at a later visit: nobody consents to the work
        any more, so none is done (FLD-4). On a cancelled order every other quote is void but
        those accepted for work completed before the cancellation."""
        answer = quote.answer
        if answer in (QuoteStatus.DECLINED, QuoteStatus.SUPERSEDED):
            return None
        if answer is QuoteStatus.ACCEPTED:
            declined = self._declined_later(index, quote)
            if declined is not None:
                return _Void(
                    QuoteVoidReason.DECLINED_AT_LATER_VISIT,
                    declined.answered_at or declined.issued_at,
                    declined.quote_id,
                )
        cancelled_at = self.state.cancelled_at
        if cancelled_at is None:
            return None
        if answer is QuoteStatus.ACCEPTED and self._done_before_cancellation(quote.visit_id):
            return None
        return _Void(QuoteVoidReason.ORDER_CANCELLED, cancelled_at)

    def _declined_later(self, index: int, quote: Quote) -> Quote | None:
        """A quote of a later visit the customer declined while the work ``quote`` (the
        ``index``-th, accepted) stands for was not completed, if any. A supplement declined on
        the same visit leaves the accepted quote in force (FLD-4, as fieldwork does)."""
        visit_id = quote.visit_id
        if visit_id is None or visit_id in self.state.completed_visits:
            return None
        return next(
            (
                later
                for later in self.state.quotes[index + 1 :]
                if later.answer is QuoteStatus.DECLINED
                and later.visit_id is not None
                and later.visit_id != visit_id
            ),
            None,
        )

    # --- quotes (BIL-1..BIL-6) ---------------------------------------------------------------

    def request_quote(self, request: QuoteRequest) -> None:
        """Keep a request until it is priced; none is kept on a cancelled order (BIL-1): its
        quote would charge for work that is not to be done."""
        if self.state.cancelled_at is not None:
            return
        if request.product_line:
            self.product_line = self.product_line or request.product_line
        self.learn_warranty(request.warranty_status)
        if (
            any(r.request_id == request.request_id for r in self.state.requests)
            or any(q.request_id == request.request_id for q in self.state.quotes)
            or any(r.request_id == request.request_id for r in self.state.refused_requests)
        ):
            return
        self.state.requests.append(request)

    @property
    def invoice_due_on(self) -> date | None:
        """The earliest promised date of an invoice still to be delivered and not yet reported
        overdue (BIL-7): the day after it, the invoice sweep looks at this account."""
        dates = [i.promised_by for i in self.state.invoices if self._chased(i) and i.promised_by]
        return min(dates, default=None)

    @property
    def pending(self) -> bool:
        """Whether a quote request waits for the product line or a schedule."""
        return bool(self.state.requests)

    @property
    def undated_unit(self) -> str | None:
        """The serial of the order's unit when a waiting request has no installation date from
        the request or the order: the installations recorded of that unit date it (BIL-5)."""
        if self.state.installed_on is not None or not serial_key(self.state.product_serial):
            return None
        if all(r.installed_on is not None for r in self.state.requests):
            return None
        return self.state.product_serial

    def line_of(self, request: QuoteRequest) -> str | None:
        """The product line whose schedule prices ``request``."""
        return request.product_line or self.product_line

    def price_pending(
        self,
        *,
        schedules: dict[str, FeeSchedule],
        policy: BillingPolicy,
        now: datetime,
        tz: tzinfo,
        installations: Sequence[Installation] = (),
        in_force: Mapping[str, FeeSchedule] | None = None,
    ) -> list[Quote]:
        """Price every waiting request whose schedule is known; QuoteIssued for each. Days
        are counted in ``tz``, the business calendar's time zone. ``installations`` are those
        recorded of the order's unit (by serial): when neither the request nor the order gives
        the installation date, the latest of them dates a set-up item (BIL-5).

        ``in_force`` maps a request id to the schedule version in force when it was made
        (BIL-1), which prices it; ``schedules`` (by product line) prices the others. A request
        that cannot be priced (amounts beyond what a quote can carry) is refused: kept in
        ``refused_requests`` with the reason, never left to fail again, and announced once
        (QuoteRefused), as the request is never taken again (``request_quote``)."""
        issued: list[Quote] = []
        waiting: list[QuoteRequest] = []
        if self.state.cancelled_at is not None:
            self.state.requests = []
        for request in self.state.requests:
            line = self.line_of(request)
            schedule = (in_force or {}).get(request.request_id) or (
                schedules.get(line) if line else None
            )
            if schedule is None:
                why = "product line" if line is None else f"a published fee schedule for {line}"
                waiting.append(request.model_copy(update={"waiting_for": why}))
                continue
            try:
                issued.append(self._price(request, schedule, policy, now, tz, installations))
            except (ValidationError, ArithmeticError) as exc:
                refusal = RefusedRequest(
                    request_id=request.request_id,
                    visit_id=request.visit_id,
                    requested_at=request.requested_at,
                    refused_at=now,
                    reason=_refusal_reason(exc),
                )
                self.state.refused_requests.append(refusal)
                self.events.append(
                    QuoteRefused(
                        order_id=self.order_id,
                        visit_id=refusal.visit_id,
                        request_id=refusal.request_id,
                        reason=refusal.reason,
                        refused_at=refusal.refused_at,
                    )
                )
        self.state.requests = waiting
        return issued

    @property
    def refused_requests(self) -> list[RefusedRequest]:
        """Quote requests that could not be priced, oldest first."""
        return list(self.state.refused_requests)

    def _price(
        self,
        request: QuoteRequest,
        schedule: FeeSchedule,
        policy: BillingPolicy,
        now: datetime,
        tz: tzinfo,
        installations: Sequence[Installation] = (),
    ) -> Quote:
        status = (
            request.warranty_status
            if request.warranty_status is not WarrantyStatus.UNKNOWN
            else self.warranty_status
        )
        installed_on = request.installed_on or self.state.installed_on
        earlier = None
        if installed_on is None:
            # BIL-5: a unit the platform installed for an earlier order is dated by that one.
            earlier = installation_of(
                installations,
                product_line=self.line_of(request),
                serial=self.state.product_serial,
                by=request.requested_at.astimezone(tz).date(),
            )
        priced = price_quote(
            schedule=schedule,
            items=request.items,
            warranty_status=status,
            policy=policy,
            quoted_at=request.requested_at,
            tz=tz,
            installed_on=earlier.installed_on if earlier else installed_on,
            installed_note=earlier.note if earlier else None,
            warranty_card_amount=request.warranty_card_amount,
        )
        lines, deducted = self._waivers_carried_to(priced.lines, priced.total)
        quote = Quote(
            quote_id=str(new_id()),
            request_id=request.request_id,
            visit_id=request.visit_id,
            issued_at=now,
            schedule_version=schedule.label,
            warranty_status=status,
            lines=lines,
            total=priced.total - deducted,
            waived_at_issue=deducted,
        )
        self.state.quotes.append(quote)
        self.events.append(
            QuoteIssued(
                order_id=self.order_id,
                visit_id=quote.visit_id,
                quote_id=quote.quote_id,
                request_id=quote.request_id,
                warranty_status=status,
                lines=quote.lines,
                total=quote.total,
                schedule_version=quote.schedule_version,
            )
        )
        return quote

    def _waivers_carried_to(
        self, lines: list[QuoteLine], total: Decimal
    ) -> tuple[list[QuoteLine], Decimal]:
        """``lines`` with a `BIL-8` line deducting each waiver a new quote carries once accepted
        (those of the accepted quotes it then replaces, see ``quote_answered``), never below
        zero, and the amount deducted. Priced so, a supplement is issued at what it charges:
        the customer consents to that (FLD-4) and fieldwork has it to sign for (BIL-9) before
        the acceptance moves the waiver (BIL-8)."""
        replaced = {q.quote_id for q in self._replaced_on_acceptance()}
        deducted = ZERO
        carried = list(lines)
        for waiver in self.state.waivers:
            if waiver.quote_id not in replaced:
                continue
            amount = min(waiver.amount, total - deducted)
            if amount <= 0:
                continue
            deducted += amount
            carried.append(
                QuoteLine(
                    kind=WorkItemKind.FEE,
                    description=f"waiver approved by {waiver.approved_by}: {waiver.reason}",
                    quantity=Decimal(1),
                    unit_price=-amount,
                    amount=-amount,
                    rule_id="BIL-8",
                    note=f"waiver approved on quote {waiver.carried_from or waiver.quote_id}, "
                    f"carried to this quote when it is accepted in that one's place",
                )
            )
        return carried, deducted

    def _replaced_on_acceptance(
        self, accepted: Quote | None = None, at: datetime | None = None
    ) -> list[Quote]:
        """The accepted quotes a quote accepted at ``at`` replaces (``accepted``: that quote):
        those for work not done yet, i.e. of visits whose work was not completed by then
        (FLD-4). ``at`` None: by what billing knows now. A visit completed after the acceptance,
        but heard of before it (events of other topics come in any order), did its work under
        the supplement accepted on it: that one is charged, not both."""
        return [
            q
            for q in self.state.quotes
            if q.status is QuoteStatus.ACCEPTED
            and q is not accepted
            and not self._completed_by(q.visit_id, at)
        ]

    def _completed_by(self, visit_id: str | None, at: datetime | None) -> bool:
        """Whether ``visit_id``'s work was completed by ``at`` (None: at all, as far as billing
        knows; a completion heard without its time counts as before)."""
        if visit_id is None or visit_id not in self.state.completed_visits:
            return False
        done = self.state.completed_at.get(visit_id)
        return at is None or done is None or done <= at

    def quote(self, quote_id: str) -> Quote | None:
        """The quote of ``quote_id``."""
        return next((q for q in self.state.quotes if q.quote_id == quote_id), None)

    def quote_answered(
        self,
        quote_id: str,
        *,
        accepted: bool,
        discount_requested: bool,
        at: datetime | None = None,
    ) -> None:
        """The customer accepted or declined a quote at ``at`` (FLD-4). An accepted quote
        supersedes the one accepted for work not done yet (a supplement, or a revisit quoting
        the same job again) and carries its waivers (BIL-8), while the quotes of visits whose
        work was completed stay charged beside it (another job). Declined at a later visit, it
        voids the quote accepted for work not done yet: no consent, no work, no charge (BIL-1).
        An answer given after the order's cancellation changes nothing (BIL-1); one given
        before it but heard after counts, voided unless its work was completed in time."""
        quote = self.quote(quote_id)
        if quote is None or self._after_cancellation(at):
            return
        for voided in self.state.quotes:
            if voided.voided_from is not None:
                voided.status, voided.voided_from, voided.voided_at = voided.answer, None, None
        quote.answered_at = at or quote.answered_at
        if accepted:
            quote.status = QuoteStatus.ACCEPTED
            for other in self._replaced_on_acceptance(quote, quote.answered_at):
                other.status, other.superseded_by = QuoteStatus.SUPERSEDED, quote.quote_id
                self._carry_waivers(other, quote)
            # Covered by a waiver: those carried to it, and the centre's approval of what it
            # held, should its acceptance be heard again (BIL-8).
            carried = sum(
                (
                    w.amount
                    for w in self.state.waivers
                    if w.quote_id == quote.quote_id
                    and (w.carried_from is not None or w.approves_held)
                ),
                ZERO,
            )
            quote.held_at_issue = max(quote.waived_at_issue - carried, ZERO)
        else:
            quote.status = QuoteStatus.DECLINED
            quote.discount_requested = discount_requested
        self._void_uncharged()

    def _carry_waivers(self, superseded: Quote, by: Quote) -> None:
        """The waivers the centre approved on ``superseded`` go on reducing ``by``, accepted in
        its place, never below zero (BIL-8); ChargeWaived tells fieldwork the total of ``by``
        the customer now signs for (BIL-9): its total as issued when ``by`` was priced with
        them deducted already (``waived_at_issue``), which then they are not deducted from
        again. A waiver nothing is left to carry to stays where it was, on record."""
        for waiver in self.state.waivers:
            if waiver.quote_id != superseded.quote_id:
                continue
            # What the centre approved, not what a smaller quote it was carried to left of it.
            approved = waiver.approved_amount or waiver.amount
            amount = min(approved, max(by.before_waivers - self.waived_on(by), ZERO))
            if amount <= 0:
                continue
            waiver.approved_amount = approved if amount < approved else None
            waiver.carried_from = waiver.carried_from or superseded.quote_id
            waiver.quote_id, waiver.amount = by.quote_id, amount
            # Never above the price issued, which the customer consented to (FLD-4, BIL-9).
            waiver.new_total = max(min(by.before_waivers - self.waived_on(by), by.total), ZERO)
            self.events.append(
                ChargeWaived(
                    order_id=self.order_id,
                    quote_id=by.quote_id,
                    amount_waived=amount,
                    new_total=waiver.new_total,
                    approved_by=waiver.approved_by,
                    reason=f"{waiver.reason} (approved on quote {waiver.carried_from}, "
                    f"superseded by quote {by.quote_id})",
                    carried_from_quote_id=waiver.carried_from,
                )
            )

    # --- the charge ---------------------------------------------------------------------------

    @property
    def accepted_quotes(self) -> list[Quote]:
        """The quotes the customer consented to and is charged for, oldest first."""
        return [q for q in self.state.quotes if q.status is QuoteStatus.ACCEPTED]

    @property
    def accepted_quote(self) -> Quote | None:
        """The latest quote the customer consented to, if any (waivers and receipts cite it)."""
        accepted = self.accepted_quotes
        return accepted[-1] if accepted else None

    @property
    def quoted(self) -> Decimal:
        """The accepted quotes' totals before waivers (those deducted at issue included)."""
        return sum((q.before_waivers for q in self.accepted_quotes), ZERO)

    @property
    def waived(self) -> Decimal:
        """Total waived on the accepted quotes (BIL-8)."""
        ids = {q.quote_id for q in self.accepted_quotes}
        return sum((w.amount for w in self.state.waivers if w.quote_id in ids), ZERO)

    def waiver_network(self, waiver: Waiver) -> str | None:
        """The partner network whose work ``waiver`` was approved on (None: the centre's, or
        not known): the network the visit of the quote the centre approved it on
        (``carried_from``, else ``quote_id``) was assigned to, whoever holds the order now
        (BIL-8, BIL-12)."""
        quote = self.quote(waiver.carried_from or waiver.quote_id)
        if quote is None or quote.visit_id is None:
            return None
        return self.state.visit_networks.get(quote.visit_id)

    def waived_on(self, quote: Quote) -> Decimal:
        """Total waived on ``quote`` (BIL-8)."""
        return sum((w.amount for w in self.state.waivers if w.quote_id == quote.quote_id), ZERO)

    def quote_charge(self, quote: Quote) -> Decimal:
        """What ``quote`` charges once accepted: its price before waivers less the waivers it
        carries (BIL-8); those it was issued with deducted are among them once it is accepted,
        and what its acceptance could not carry of them is not charged either
        (``held_at_issue``): never more than the price issued, which the customer consented
        to (FLD-4)."""
        return max(quote.before_waivers - self.waived_on(quote) - quote.held_at_issue, ZERO)

    @property
    def held(self) -> Decimal:
        """Deducted at issue from the accepted quotes and not charged, though no waiver covers
        it any more (``Quote.held_at_issue``): for the centre to approve (BIL-8)."""
        return sum((q.held_at_issue for q in self.accepted_quotes), ZERO)

    @property
    def held_quotes(self) -> list[Quote]:
        """The accepted quotes holding a reduction the centre has not approved yet (BIL-8),
        oldest first."""
        return [q for q in self.accepted_quotes if q.held_at_issue > 0]

    @property
    def held_unapproved_since(self) -> datetime | None:
        """Since when the oldest of ``held_quotes`` waits for the centre's approval: when the
        customer accepted it (else when it was issued); None when nothing waits (BIL-8)."""
        return min((q.answered_at or q.issued_at for q in self.held_quotes), default=None)

    def approve_held(
        self, quote_id: str, *, approved_by: str, reason: str, now: datetime
    ) -> Waiver:
        """The centre approves what ``quote_id`` held at issue (``Quote.held_at_issue``), with
        who approved it and why (BIL-8): it becomes a waiver of its own on that quote
        (``approves_held``), with its own id, published as ChargeWaived as every approved
        waiver is. The charge does not change: the price issued, which the customer consented
        to (FLD-4) and signs for (BIL-9), already left it out; it is now an approved reduction
        (``waived``) rather than one waiting (``held``). Refused on an erased order (BIL-11),
        for a quote the order does not have, one already approved, and one holding nothing
        charged (not accepted, or nothing held)."""
        self.refuse_if_erased("approve a held reduction")
        quote = self.quote(quote_id)
        if quote is None:
            raise ChargeItemNotFound(self.order_id, "quote", quote_id)
        if quote.held_waiver_id is not None:
            approved = next(
                (w for w in self.state.waivers if w.waiver_id == quote.held_waiver_id), None
            )
            by = f" by {approved.approved_by} at {approved.at.isoformat()}" if approved else ""
            raise NotAllowed(
                f"What quote {quote_id} held at issue was already approved{by} (waiver "
                f"{quote.held_waiver_id}); nothing is left to approve.",
                waiver_id=quote.held_waiver_id,
                allowed=[],
            )
        if quote.status is not QuoteStatus.ACCEPTED or quote.held_at_issue <= 0:
            why = (
                f"it is {quote.status.value}, not charged"
                if quote.status is not QuoteStatus.ACCEPTED
                else "everything it deducted at issue is covered by a waiver"
            )
            raise NotAllowed(
                f"Quote {quote_id} of order {self.order_id} holds nothing to approve: {why} "
                f"(the order holds {self.held} in all, `GET /v1/held-reductions`).",
                held=str(quote.held_at_issue if quote.status is QuoteStatus.ACCEPTED else ZERO),
                allowed=[],
            )
        if not approved_by.strip() or not reason.strip():
            raise InvalidAmount("an approval needs who approved it and why", field="reason")
        # What the quote charges stays as it is: the held amount moves to a waiver.
        amount, charged = quote.held_at_issue, self.quote_charge(quote)
        quote.held_at_issue = ZERO
        waiver = Waiver(
            waiver_id=str(new_id()),
            quote_id=quote.quote_id,
            amount=amount,
            new_total=charged,
            approved_by=approved_by,
            reason=reason,
            at=now,
            approves_held=True,
        )
        self.state.waivers.append(waiver)
        quote.held_waiver_id = waiver.waiver_id
        self.events.append(
            ChargeWaived(
                order_id=self.order_id,
                quote_id=quote.quote_id,
                amount_waived=amount,
                new_total=waiver.new_total,
                approved_by=approved_by,
                reason=reason,
            )
        )
        return waiver

    def visit_charge(self, visit_id: str) -> Decimal:
        """What the visit charges: its accepted quote (after a supplement, the one accepted
        last) less waivers; 0 when none of its quotes is accepted (BIL-1, BIL-8)."""
        return sum(
            (self.quote_charge(q) for q in self.accepted_quotes if q.visit_id == visit_id), ZERO
        )

    @property
    def charge(self) -> Decimal:
        """What the customer owes in all: the accepted quotes less approved waivers and what
        was deducted at issue that no waiver covers any more (``held``)."""
        return sum((self.quote_charge(q) for q in self.accepted_quotes), ZERO)

    @property
    def paid(self) -> Decimal:
        """Payments less refunds."""
        total = ZERO
        for p in self.state.payments:
            total += p.amount if p.kind is PaymentKind.PAYMENT else -p.amount
        return total

    @property
    def balance(self) -> Decimal:
        """What is still to pay (negative: paid too much, to refund)."""
        return self.charge - self.paid

    @property
    def refund_due(self) -> Decimal:
        """What was paid beyond the charge (after a cancellation, beyond the work completed
        before it): to be paid back, with the centre's approval (BIL-8)."""
        return max(self.paid - self.charge, ZERO)

    def refuse_if_erased(self, action: str) -> None:
        """Refuse ``action``, a command on the order, once its retention is over and its
        customer's personal data erased (BIL-11): PersonalDataErased (409, as intake, scheduling,
        fieldwork and feedback answer), before anything changes or a receipt or invoice number
        is taken. Every command method checks it first; what billing hears of the order on the
        bus is still applied, and reads still answer it."""
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.order_id, action, self.anonymised_at)

    def _refuse_if_cancelled(self, what: str) -> None:
        cancelled_at = self.state.cancelled_at
        if cancelled_at is None:
            return
        due = self.refund_due
        raise OrderWasCancelled(
            f"Order {self.order_id} was cancelled at {cancelled_at.isoformat()}: {what} "
            f"Only work completed before the cancellation is charged ({self.charge}); "
            f"{self.paid} was paid, {due} is to be refunded with the centre's approval.",
            cancelled_at=cancelled_at.isoformat(),
            charge=str(self.charge),
            paid=str(self.paid),
            refund_due=str(due),
            allowed=["refunds"] if due > 0 else [],
        )

    def _accepted(self) -> Quote:
        quote = self.accepted_quote
        if quote is None:
            self._refuse_if_cancelled("no quote of it is charged.")
            raise NotAllowed(
                f"Order {self.order_id} has no accepted quote: nothing may be charged (BIL-1).",
                allowed=[],
            )
        return quote

    def waive(
        self, *, amount: Decimal, approved_by: str, reason: str, now: datetime
    ) -> list[Waiver]:
        """Waive or reduce the charge, with who approved it and why (BIL-8): off the latest
        accepted quote, and what exceeds it off the quotes accepted before, latest first, so
        that each visit's total (ChargeWaived ``new_total``, what the customer signs for on
        that visit, BIL-9) is never negative. Reduced below what was paid, the charge leaves
        the difference as a refund due (``refund_due``), paid back by an approved refund: the
        only way money paid for a charge goes back (``check_refund``). Refused on an erased
        order (BIL-11)."""
        self.refuse_if_erased("waive a charge")
        self._accepted()
        if not approved_by.strip() or not reason.strip():
            raise InvalidAmount("a waiver needs who approved it and why", field="reason")
        if amount <= 0:
            raise InvalidAmount("the amount waived must be positive", field="amount")
        if amount > self.charge:
            raise InvalidAmount(
                f"cannot waive {amount}: the charge is {self.charge} (a total is never negative)",
                field="amount",
            )
        waivers: list[Waiver] = []
        waiver_id = str(new_id())
        left = amount
        for quote in reversed(self.accepted_quotes):
            portion = min(left, self.quote_charge(quote))
            if portion <= 0:
                continue
            waiver = Waiver(
                waiver_id=waiver_id,
                quote_id=quote.quote_id,
                amount=portion,
                new_total=self.quote_charge(quote) - portion,
                approved_by=approved_by,
                reason=reason,
                at=now,
            )
            self.state.waivers.append(waiver)
            waivers.append(waiver)
            self.events.append(
                ChargeWaived(
                    order_id=self.order_id,
                    quote_id=quote.quote_id,
                    amount_waived=portion,
                    new_total=waiver.new_total,
                    approved_by=approved_by,
                    reason=reason,
                )
            )
            left -= portion
            if left <= 0:
                break
        return waivers

    def check_payment(self, amount: Decimal) -> None:
        """Refuse a payment the charge does not call for (before a receipt number is taken).
        On a cancelled order only what is still owed for work completed before the
        cancellation may be taken (BIL-1); none on an erased order (BIL-11)."""
        self.refuse_if_erased("collect a payment")
        if self.balance <= 0 or self.accepted_quote is None:
            self._refuse_if_cancelled("no payment is taken on it any more.")
        self._accepted()
        if amount <= 0:
            raise InvalidAmount("the amount must be positive", field="amount")
        if amount > self.balance:
            raise InvalidAmount(
                f"cannot take {amount}: {self.balance} is left to pay", field="amount"
            )

    def collect(
        self,
        *,
        method: PaymentMethod,
        amount: Decimal,
        collected_by: str,
        receipt_number: str,
        now: datetime,
        at_desk: bool = False,
        by_centre: bool = False,
        approved_by: str | None = None,
        reason: str | None = None,
    ) -> Payment:
        """A full or partial payment, always with a receipt (BIL-7); ``at_desk`` when a
        service-hall desk took it (desk business, FBK-4). ``approved_by`` and ``reason`` when the
        centre records it as a correction for ``collected_by``, who took it (BIL-10).

        Money the centre took (``by_centre``: its call centre by phone, its service-hall desk,
        a dispatcher) is no network's (BIL-12): ``collected_by`` then names no technician, and
        the order's holder did not take it. Else it is the network's whose people took it,
        at its own desk too."""
        self.check_payment(amount)
        quote = self._accepted()
        payment = Payment(
            payment_id=str(new_id()),
            kind=PaymentKind.PAYMENT,
            method=method,
            amount=amount,
            by=collected_by,
            at=now,
            receipt_number=receipt_number,
            approved_by=approved_by,
            reason=reason,
            at_desk=at_desk,
            network_id=None if by_centre else self.network_of(technician_id=collected_by),
        )
        self.state.payments.append(payment)
        self.paid_work = True
        self.events.append(
            PaymentCollected(
                order_id=self.order_id,
                quote_id=quote.quote_id,
                method=method,
                amount=amount,
                collected_by=collected_by,
                receipt_number=receipt_number,
                at_desk=at_desk,
                approved_by=approved_by,
                correction_reason=reason if approved_by is not None else None,
            )
        )
        self.events.append(
            ReceiptIssued(
                order_id=self.order_id,
                quote_id=quote.quote_id,
                receipt_number=receipt_number,
                amount=amount,
            )
        )
        return payment

    def refund_sources(self, refund: Payment) -> list[tuple[str | None, Decimal]]:
        """Who took the money ``refund`` pays back, by network (None: the centre), latest
        payments first; the refunds before it paid back theirs the same way (BIL-12)."""
        taken: list[list[Any]] = []  # [network, amount still held], oldest first
        for p in self.state.payments:
            if p.kind is PaymentKind.PAYMENT:
                taken.append([p.network_id, p.amount])
                continue
            left, sources = p.amount, []
            for entry in reversed(taken):
                portion = min(left, entry[1])
                if portion > 0:
                    entry[1] -= portion
                    left -= portion
                    sources.append((entry[0], portion))
            if p is refund:
                return sources
        return []

    def check_refund(self, amount: Decimal, approved_by: str, reason: str) -> None:
        """Refuse a refund nobody approved, or one of more than is refundable: what was paid
        beyond the charge (``refund_due``) (BIL-8). Money paid for what is still charged is
        not paid back as such, or the customer would owe it again: the centre first reduces the
        charge by an approved waiver, which makes what was paid beyond it a refund due. None is
        paid on an erased order (BIL-11)."""
        self.refuse_if_erased("refund a payment")
        if not approved_by.strip() or not reason.strip():
            raise InvalidAmount("a refund needs who approved it and why", field="reason")
        if amount <= 0:
            raise InvalidAmount("the amount must be positive", field="amount")
        if amount > self.paid:
            raise InvalidAmount(f"cannot refund {amount}: {self.paid} was paid", field="amount")
        due = self.refund_due
        if amount > due:
            raise NotAllowed(
                f"Cannot refund {amount} on order {self.order_id}: only what was paid beyond "
                f"the charge is refunded, {due} (paid {self.paid}, charge {self.charge}); "
                "refunded, money paid for what is still charged would be owed again. To pay "
                "it back, first reduce the charge by a waiver the centre approves (BIL-8): what "
                "was paid beyond the reduced charge can then be refunded.",
                charge=str(self.charge),
                paid=str(self.paid),
                refund_due=str(due),
                allowed=["waivers", "refunds"] if due > 0 else ["waivers"],
            )

    def refund(
        self,
        *,
        method: PaymentMethod,
        amount: Decimal,
        refunded_by: str,
        approved_by: str,
        reason: str,
        receipt_number: str,
        now: datetime,
    ) -> Payment:
        """Money paid back, with its own receipt (BIL-7, BIL-8)."""
        self.check_refund(amount, approved_by, reason)
        payment = Payment(
            payment_id=str(new_id()),
            kind=PaymentKind.REFUND,
            method=method,
            amount=amount,
            by=refunded_by,
            at=now,
            receipt_number=receipt_number,
            approved_by=approved_by,
            reason=reason,
        )
        self.state.payments.append(payment)
        self.events.append(
            PaymentRefunded(
                order_id=self.order_id,
                method=method,
                amount=amount,
                refunded_by=refunded_by,
                approved_by=approved_by,
                reason=reason,
                receipt_number=receipt_number,
            )
        )
        self.events.append(
            ReceiptIssued(
                order_id=self.order_id,
                quote_id=self.accepted_quote.quote_id if self.accepted_quote else None,
                receipt_number=receipt_number,
                amount=-amount,
            )
        )
        return payment

    # --- invoices (BIL-7) ---------------------------------------------------------------------

    @property
    def invoiced(self) -> Decimal:
        """What the invoices stand for, net of credit invoices."""
        return sum((i.amount for i in self.state.invoices), ZERO)

    def credited(self, invoice: Invoice) -> Decimal:
        """How much of ``invoice`` its credit invoices reverse (BIL-7)."""
        return -sum((i.amount for i in self.state.invoices if i.credits == invoice.number), ZERO)

    def _chased(self, invoice: Invoice) -> bool:
        """Whether ``invoice`` is still chased for delivery: awaiting it, and not reversed in
        full (which an invoice stored before reversals were recorded on it may be)."""
        return invoice.awaits_delivery and self.credited(invoice) < invoice.amount

    def invoices_to_credit(self) -> list[tuple[Invoice, Decimal]]:
        """After a refund of invoiced money, the invoices to reverse and by how much: the
        latest first, as far as each is not reversed already (BIL-7, BIL-8)."""
        over = self.invoiced - self.paid
        credits: list[tuple[Invoice, Decimal]] = []
        for invoice in reversed(self.state.invoices):
            if over <= 0:
                break
            if invoice.credits is not None:
                continue
            portion = min(over, invoice.amount - self.credited(invoice))
            if portion > 0:
                credits.append((invoice, portion))
                over -= portion
        return credits

    def credit_invoice(
        self, original: Invoice, *, amount: Decimal, number: str, now: datetime
    ) -> Invoice:
        """A credit invoice reversing ``amount`` of ``original`` (BIL-7), sent electronically,
        so delivered at once.

        Reversed in full, ``original`` is no longer chased for delivery, whatever its state
        (``not_chased_because`` says so): the customer is owed no invoice for money paid back.
        If it never left the centre (to deliver) it is withdrawn, and so is this credit invoice:
        a credit note reversing an invoice the customer never received has nothing to correct,
        so neither is delivered. Posted, it may still arrive, so this credit invoice is sent to
        annul it. Reversed in part, ``original`` is still to be delivered and chased by its
        promised date: the customer is owed it for what they paid, and gets this credit invoice
        at once for what was paid back (a credit invoice sent so stays delivered should a later
        one complete the reversal and withdraw ``original``)."""
        reversed_in_full = self.credited(original) + amount >= original.amount
        withdrawn = reversed_in_full and original.status is InvoiceStatus.TO_DELIVER
        credit = Invoice(
            number=number,
            amount=-amount,
            buyer_name=original.buyer_name,
            buyer_tax_id=original.buyer_tax_id,
            delivery=InvoiceDelivery.ELECTRONIC,
            status=InvoiceStatus.WITHDRAWN if withdrawn else InvoiceStatus.DELIVERED,
            issued_at=now,
            delivered_at=None if withdrawn else now,
            credits=original.number,
            not_chased_because=(
                f"withdrawn with invoice {original.number}, which it reverses and which never "
                "reached the customer"
                if withdrawn
                else None
            ),
        )
        self.state.invoices.append(credit)
        if reversed_in_full and original.status is not InvoiceStatus.DELIVERED:
            numbers = [i.number for i in self.state.invoices if i.credits == original.number]
            original.not_chased_because = (
                f"reversed in full by credit invoice {', '.join(numbers)} after a refund: the "
                "customer is owed no invoice for it"
            )
            if withdrawn:
                original.status = InvoiceStatus.WITHDRAWN
        self.events.append(
            InvoiceIssued(
                order_id=self.order_id,
                invoice_number=number,
                amount=-amount,
                buyer_name=original.buyer_name,
                buyer_tax_id=original.buyer_tax_id,
                delivery=InvoiceDelivery.ELECTRONIC,
                credits=original.number,
                status=credit.status.value,
            )
        )
        return credit

    @staticmethod
    def check_promise(
        promised_by: date | None, *, now: datetime, tz: tzinfo, policy: BillingPolicy
    ) -> date:
        """Refuse an invoice delivery promised for a day before today, which the next sweep
        would report overdue at once, or more than the policy's ``invoice_promise_max_days``
        ahead, which is no promise to the customer (BIL-7). Days are those of the business
        calendar (``tz``). Returns today's date there."""
        today = now.astimezone(tz).date()
        if promised_by is None:
            return today
        if promised_by < today:
            raise InvalidDate(
                f"promised_by {promised_by.isoformat()} is before today ({today.isoformat()}, "
                f"{tz}): an invoice's delivery can only be promised for today or a later day.",
                field="promised_by",
            )
        latest = today + timedelta(days=policy.invoice_promise_max_days)
        if promised_by > latest:
            raise InvalidDate(
                f"promised_by {promised_by.isoformat()} is more than "
                f"{policy.invoice_promise_max_days} days ahead: an invoice's delivery is promised "
                f"for {latest.isoformat()} at the latest.",
                field="promised_by",
            )
        return today

    def check_invoice(self) -> Decimal:
        """The amount to invoice: what was paid for the charge and not yet invoiced; money
        paid beyond the charge (for work a cancellation voided) is refunded, not invoiced. None
        is issued on an erased order (BIL-11)."""
        self.refuse_if_erased("issue an invoice")
        invoiced = self.invoiced
        amount = min(self.paid, self.charge) - invoiced
        if amount <= 0 and self.state.cancelled_at is not None:
            self._refuse_if_cancelled(
                f"nothing is left to invoice (invoiced {invoiced}) for work done."
            )
        if amount <= 0:
            raise NotAllowed(
                f"Nothing to invoice on order {self.order_id}: paid {self.paid}, "
                f"invoiced {invoiced}.",
                allowed=["payments"],
            )
        return amount

    def issue_invoice(
        self,
        *,
        number: str,
        buyer_name: str | None,
        buyer_tax_id: str | None,
        delivery: InvoiceDelivery,
        promised_by: date | None,
        now: datetime,
        tz: tzinfo,
        policy: BillingPolicy,
    ) -> Invoice:
        """An invoice for what was paid; handed over on site or tracked until delivered, by
        ``promised_by`` or, when no date was promised, within the policy's delivery days of
        issue (BIL-7). Days are those of the business calendar (``tz``); a promise for a day
        already past or beyond the policy's horizon is refused (``check_promise``)."""
        amount = self.check_invoice()
        today = self.check_promise(promised_by, now=now, tz=tz, policy=policy)
        at_once = delivery in (InvoiceDelivery.ON_SITE, InvoiceDelivery.ELECTRONIC)
        if not at_once and promised_by is None:
            promised_by = today + timedelta(days=policy.invoice_delivery_days)
        invoice = Invoice(
            number=number,
            amount=amount,
            buyer_name=buyer_name,
            buyer_tax_id=buyer_tax_id,
            delivery=delivery,
            status=InvoiceStatus.DELIVERED if at_once else InvoiceStatus.TO_DELIVER,
            promised_by=promised_by,
            issued_at=now,
            delivered_at=now if at_once else None,
        )
        self.state.invoices.append(invoice)
        self.events.append(
            InvoiceIssued(
                order_id=self.order_id,
                invoice_number=number,
                amount=amount,
                buyer_name=buyer_name,
                buyer_tax_id=buyer_tax_id,
                delivery=delivery,
                promised_by=promised_by,
                status=invoice.status.value,
            )
        )
        return invoice

    def track_invoice(
        self, number: str, *, status: InvoiceStatus, tracking_number: str | None, now: datetime
    ) -> Invoice:
        """Move an invoice along to_deliver → posted → delivered (BIL-7); not on an erased order
        (BIL-11)."""
        self.refuse_if_erased("track an invoice's delivery")
        invoice = next((i for i in self.state.invoices if i.number == number), None)
        if invoice is None:
            raise NotAllowed(f"Order {self.order_id} has no invoice {number}.", allowed=[])
        allowed = INVOICE_TRANSITIONS[invoice.status]
        if status not in allowed:
            raise NotAllowed(
                f"Invoice {number} is {invoice.status.value}; it cannot become {status.value}.",
                current=invoice.status.value,
                allowed=[s.value for s in allowed],
            )
        invoice.status = status
        if tracking_number:
            invoice.tracking_number = tracking_number
        if status is InvoiceStatus.DELIVERED:
            invoice.delivered_at = now
        return invoice

    def report_overdue_invoices(self, *, today: date, now: datetime) -> list[Invoice]:
        """InvoiceDeliveryOverdue, once, for every invoice still not delivered after its promised
        date (BIL-7), but those credit invoices reversed in full (see ``credit_invoice``);
        ``today`` is the business calendar's date. Returns those reported."""
        overdue = [
            i
            for i in self.state.invoices
            if self._chased(i) and i.promised_by is not None and i.promised_by < today
        ]
        for invoice in overdue:
            assert invoice.promised_by is not None
            invoice.overdue_reported_at = now
            self.events.append(
                InvoiceDeliveryOverdue(
                    order_id=self.order_id,
                    invoice_number=invoice.number,
                    delivery=invoice.delivery,
                    status="posted" if invoice.status is InvoiceStatus.POSTED else "to_deliver",
                    promised_by=invoice.promised_by,
                    tracking_number=invoice.tracking_number,
                    detected_at=now,
                )
            )
        return overdue

    # --- signature (BIL-9) --------------------------------------------------------------------

    def charged_parts(self, visit_id: str | None = None) -> dict[str, Decimal]:
        """Part numbers and quantities of the accepted quotes' part lines: of the visit
        ``visit_id``, or of the whole order."""
        parts: dict[str, Decimal] = {}
        for quote in self.accepted_quotes:
            if visit_id is not None and quote.visit_id != visit_id:
                continue
            for line in quote.lines:
                if line.kind is WorkItemKind.PART and line.part_no:
                    parts[line.part_no] = parts.get(line.part_no, Decimal(0)) + line.quantity
        return parts

    @property
    def signature(self) -> Signature | None:
        """The latest signature (BIL-9)."""
        return self.state.signature

    def sign(
        self,
        *,
        amount: Decimal,
        parts: list[PartLine],
        signature_ref: str | None,
        now: datetime,
        strict: bool,
        visit_id: str | None = None,
    ) -> Signature:
        """The customer signs for the amount charged and the parts replaced (BIL-9): on
        ``visit_id``, what that visit charged (its accepted quote after waivers; an earlier
        visit's work was signed for on that visit); else what the whole order charges. A visit
        (or the order) signed for again keeps the latest signature.

        ``strict`` refuses a signature that does not match the charge (REST), and any on an erased
        order (BIL-11); a signature seen on the bus is recorded either way, flagged when it does
        not match, but on an erased order without its ``signature_ref`` (personal data, which
        ``anonymise`` removed and which is not kept again).
        """
        if strict:
            self.refuse_if_erased("record a signature")
        signed_parts: dict[str, Decimal] = {}
        for part in parts:
            signed_parts[part.part_no] = signed_parts.get(part.part_no, Decimal(0)) + part.quantity
        charge = self.charge if visit_id is None else self.visit_charge(visit_id)
        charged_parts = self.charged_parts(visit_id)
        matches = amount == charge and (not parts or signed_parts == charged_parts)
        if strict and not matches:
            what = "the order" if visit_id is None else f"visit {visit_id}"
            raise NotAllowed(
                f"The customer signs for what {what} charges: {charge} and parts "
                f"{ {k: str(v) for k, v in charged_parts.items()} }; the signature says {amount} "
                f"and { {k: str(v) for k, v in signed_parts.items()} }.",
                charge=str(charge),
                parts={k: str(v) for k, v in charged_parts.items()},
            )
        signature = Signature(
            visit_id=visit_id,
            amount=amount,
            parts=[SignedPart(part_no=p.part_no, quantity=p.quantity) for p in parts],
            signature_ref=signature_ref if self.anonymised_at is None else None,
            signed_at=now,
            matches_charge=matches,
            charged=charge,
        )
        kept = [s for s in self.state.signatures if s.visit_id != visit_id]
        kept.append(signature)
        kept.sort(key=lambda s: s.signed_at)
        self.state.signatures = kept
        return signature

    # --- retention (BIL-11) -------------------------------------------------------------------

    def retention_until(self, policy: BillingPolicy) -> datetime | None:
        """When the order's personal data is to go; None while it must be kept."""
        if self.ended_at is None or self.coordination_ticket:
            return None
        years = policy.retention_paid_years if self.paid_work else policy.retention_free_years
        end = self.ended_at
        day = add_months(end.date(), 12 * years)
        return end.replace(year=day.year, month=day.month, day=day.day)

    def retention_due(self, now: datetime, policy: BillingPolicy) -> bool:
        """Whether the retention period ran out (and the data is still there)."""
        until = self.retention_until(policy)
        return self.anonymised_at is None and until is not None and until <= now

    def anonymise(self, now: datetime) -> None:
        """Remove the personal data; amounts, numbers and rules stay for the accounts. The other
        services are told (OrderRetentionExpired) to erase theirs (BIL-11)."""
        self.state.customer = None
        for invoice in self.state.invoices:
            invoice.buyer_name = None
            invoice.buyer_tax_id = None
        for signature in self.state.signatures:
            signature.signature_ref = None
        if self.anonymised_at is None and self.ended_at is not None:
            self.events.append(
                OrderRetentionExpired(
                    order_id=self.order_id,
                    retention_class=(
                        RetentionClass.PAID_WORK if self.paid_work else RetentionClass.FREE
                    ),
                    ended_at=self.ended_at,
                    expired_at=now,
                )
            )
        self.anonymised_at = now


#: ``detail``: why an order went back to the centre (OrderReturnedToCentre), free text that may
#: name the customer.
PERSONAL_SUMMARY_KEYS = frozenset(
    {
        "signature_ref",
        "comments",
        "caller_phone",
        "buyer_name",
        "buyer_tax_id",
        "requests",
        "detail",
    }
)


def is_personal(summary_key: str) -> bool:
    """Whether an event summary field holds personal data (BIL-11)."""
    return summary_key.startswith("customer.") or summary_key in PERSONAL_SUMMARY_KEYS
