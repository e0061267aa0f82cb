"""Request and response bodies of fieldwork's REST API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from fieldwork.domain.commands import LoanerSerial, VisitAction
from fieldwork.domain.coordination import CoordinationTicket
from fieldwork.domain.model import OrderFile
from fieldwork.domain.visit import Evidence, Visit
from fieldwork.domain.workshop import Loaner, TakeBack
from servicekit.dates import IsoDatetime

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class RecordedEventOut(BaseModel):
    """One event of interest seen for the order."""

    event_id: str
    type: str = Field(description="The event name, e.g. `OrderAssigned`.")
    version: int
    time: datetime = Field(description="When the fact happened (UTC).")
    source: str = Field(description="The producing service, e.g. `/fsm/scheduling`.")
    summary: dict[str, Any] = Field(
        description="The event's scalar fields (objects flattened one level as `parent.child`). "
        "Once the order is anonymised (BIL-11) the customer's fields (`customer.*`) and free "
        'text that may name them (reasons, requests, guidance, details) read `"[erased]"`.'
    )


class OrderEventsOut(BaseModel):
    """The events fieldwork has recorded for an order, oldest first."""

    order_id: str
    events: list[RecordedEventOut]
    anonymised_at: datetime | None = Field(
        default=None,
        description="When the customer's personal data was erased, the order's retention being "
        "over (BIL-11); null while it is kept. Events heard afterwards store none either.",
    )

    @classmethod
    def from_domain(cls, order_file: OrderFile) -> OrderEventsOut:
        """Read model of the order file."""
        return cls(
            order_id=order_file.order_id,
            events=[RecordedEventOut(**vars(e)) for e in order_file.entries],
            anonymised_at=order_file.anonymised_at,
        )


class VisitOut(Visit):
    """A visit: its state, the actions possible now, and everything recorded on it.

    Once the order's retention is over (`anonymised_at` set, BIL-11) the customer's personal
    data is gone, one way throughout: free text that may name them (not-home note, attempt and
    door details, decline reasons, sign-off comments, failure detail, incident descriptions,
    centre request and handover reasons) reads `"[erased]"` (null stays null); the arrival
    `position` and every reference to a signature image, photo or note photo are null (their
    lists empty, `evidence` keeping barcode scans only). It takes no action any more: `allowed`
    is empty, and every action or upload answers 409 `Personal data erased`."""

    allowed: list[str] = Field(default_factory=list)
    """The actions possible in the current state."""
    on_site_seconds_now: int = 0
    """Arrival to the end (or to now while on site), unrounded (FLD-11)."""

    @classmethod
    def from_domain(cls, visit: Visit, *, now: datetime | None = None) -> VisitOut:
        """Read model of a visit."""
        return cls(
            **visit.model_dump(),
            allowed=visit.allowed_actions(),
            on_site_seconds_now=int(visit.on_site_time(now).total_seconds()),
        )


NEXT_CURSOR = "Pass it as `cursor` for the next page; null on the last page."


class VisitListOut(BaseModel):
    """A page of visits, oldest first."""

    items: list[VisitOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class VisitActionIn(BaseModel):
    """One action on a visit; `type` says which (see the schemas of the union)."""

    model_config = ConfigDict(extra="forbid")

    action: VisitAction


class OfflineActionIn(BaseModel):
    """An action the app recorded offline."""

    model_config = ConfigDict(extra="forbid")

    client_id: ShortText
    """Unique per action on the device (a UUID): replays of it are applied once."""
    visit_id: ShortText
    occurred_at: IsoDatetime
    """When it happened on site; actions are applied in this order."""
    action: VisitAction


class OfflineBatchIn(BaseModel):
    """A batch of actions recorded offline."""

    model_config = ConfigDict(extra="forbid")

    actions: list[OfflineActionIn] = Field(min_length=1, max_length=1000)


class OfflineResultOut(BaseModel):
    """What happened to one action of a batch."""

    client_id: str
    visit_id: str
    type: str
    occurred_at: str
    status: str = Field(description="`applied`, `duplicate` (applied before) or `refused`.")
    reason: str | None = None
    """Why it was refused."""
    visit_state: str | None = None
    problem: dict[str, Any] | None = None
    """The rule broken or the actions allowed, as in the problem document of the REST route;
    for a visit whose order's personal data was erased (BIL-11) its `type`
    (`https://fsm.example/problems/personal-data-erased`), `title` ("Personal data erased") and
    `anonymised_at`, each action of the visit refused so."""


class OfflineBatchOut(BaseModel):
    """The result of each action, in the order they were sent."""

    results: list[OfflineResultOut]


class EvidenceOut(BaseModel):
    """A stored upload; `ref` is what actions name (photo_refs, signature_ref...)."""

    evidence_id: str = Field(
        description="Its id within the visit: GET /v1/visits/{visit_id}/evidence/{evidence_id}."
    )
    ref: str
    kind: str
    content_type: str
    size: int
    at: datetime

    @classmethod
    def from_domain(cls, item: Evidence) -> EvidenceOut:
        """Read model of an upload."""
        return cls(evidence_id=item.evidence_id, **item.model_dump())


class VisitTimeOut(BaseModel):
    """On-site time of one visit (FLD-11)."""

    visit_id: str
    state: str
    arrived_at: datetime | None
    ended_at: datetime | None
    on_site_seconds: int


class OrderVisitsOut(BaseModel):
    """The visits of an order with their on-site time, unrounded, and the total (FLD-11)."""

    order_id: str
    visits: list[VisitTimeOut]
    total_on_site_seconds: int
    total_on_site_minutes: float = Field(description="total seconds / 60, not rounded")


class LoanerIn(BaseModel):
    """A unit added to the loaner inventory (FLD-6)."""

    model_config = ConfigDict(extra="forbid")

    serial: LoanerSerial = Field(
        description="As printed on the unit, any text (`/` too), trimmed (blank refused): its "
        "URL is "
        "`/v1/loaners/{serial}` with the serial percent-encoded (`/` as `%2F`). Only `.` and "
        "`..` are refused: clients drop them from a URL."
    )
    product_line: ShortText
    condition: ShortText = "good"

    @field_validator("serial")
    @classmethod
    def _reachable_by_url(cls, serial: str) -> str:
        # Clients remove "." and ".." segments from a URL (RFC 3986 5.2.4), even encoded
        # ones at times: such a loaner could never be read or collected.
        if serial in {".", ".."}:
            raise ValueError(f"A serial of only {serial!r} cannot be part of a URL.")
        return serial


class LoanerOut(BaseModel):
    """A loaner and where it is."""

    serial: str
    product_line: str
    state: str
    condition: str
    order_id: str | None
    receipt_number: str | None
    due_back: date | None

    @classmethod
    def from_domain(cls, loaner: Loaner) -> LoanerOut:
        """Read model of a loaner."""
        return cls(
            serial=loaner.serial,
            product_line=loaner.product_line,
            state=loaner.state.value,
            condition=loaner.condition,
            order_id=loaner.order_id,
            receipt_number=loaner.receipt_number,
            due_back=loaner.due_back,
        )


class LoanerListOut(BaseModel):
    """A page of the loaner inventory, by serial."""

    items: list[LoanerOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class ProgressIn(BaseModel):
    """A step of the workshop repair."""

    model_config = ConfigDict(extra="forbid")

    stage: ShortText
    note: Text | None = None


class UnitReturnIn(BaseModel):
    """The unit is back with the customer (FLD-6)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    repaired: StrictBool = True
    """Whether the unit came back repaired: it decides how the order ends, so only a JSON
    boolean is taken (not "no", 0 or "false")."""
    visit_id: ShortText | None = None
    """The visit that brought the unit back: a later visit of the take-back's order, one the
    caller holds, that went to the customer."""
    loaner_recovered: StrictBool | None = None
    """Whether the loaner lent with the unit was collected from the customer (a JSON boolean).
    Required while one is out: it goes back in stock only when collected; one the customer kept
    stays lent to the order until collected (`POST /v1/loaners/{serial}/collect`). Never true
    when no loaner was lent."""
    loaner_condition: ShortText | None = None
    """The condition of the loaner collected (with `loaner_recovered` true)."""

    @model_validator(mode="after")
    def _condition_of_a_collected_loaner(self) -> UnitReturnIn:
        if self.loaner_condition is not None and self.loaner_recovered is False:
            raise ValueError(
                "loaner_condition is the condition of the loaner collected: a loaner the "
                "customer kept has none to record"
            )
        return self


class LoanerCollectIn(BaseModel):
    """A loaner the customer kept is collected from them (FLD-6)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    condition: ShortText | None = None
    """Its condition when collected; unchanged when omitted."""


class ProgressOut(BaseModel):
    """A step of the workshop repair."""

    at: datetime
    stage: str
    note: str | None = Field(
        description="The workshop's note; `\"[erased]\"` once the order's retention is over "
        "(BIL-11)."
    )


class TakeBackOut(BaseModel):
    """A unit taken back to the workshop (FLD-6)."""

    receipt_number: str
    order_id: str
    visit_id: str
    unit_serial: str | None
    appearance: str | None
    loaner_serial: str | None
    promised_return_date: date
    taken_at: datetime
    progress: list[ProgressOut]
    returned_at: datetime | None
    repaired: bool | None
    loaner_collected_at: datetime | None = Field(
        description="When the loaner lent with the unit was collected from the customer; null "
        "while they still have it (even after the unit came back), or when none was lent."
    )
    overdue_reported_at: datetime | None
    loaner_overdue_reported_at: datetime | None = Field(
        default=None,
        description="When the loaner the customer kept at the unit's return was reported not "
        "collected by its day (LoanerCollectionOverdue, FLD-6); null until then.",
    )

    @classmethod
    def from_domain(cls, tb: TakeBack) -> TakeBackOut:
        """Read model of a take-back."""
        return cls(
            receipt_number=tb.receipt_number,
            order_id=tb.order_id,
            visit_id=tb.visit_id,
            unit_serial=tb.unit_serial,
            appearance=tb.appearance,
            loaner_serial=tb.loaner_serial,
            promised_return_date=tb.promised_return_date,
            taken_at=tb.taken_at,
            progress=[ProgressOut(at=p.at, stage=p.stage, note=p.note) for p in tb.progress],
            returned_at=tb.returned_at,
            repaired=tb.repaired,
            loaner_collected_at=tb.loaner_collected_at,
            overdue_reported_at=tb.overdue_reported_at,
            loaner_overdue_reported_at=tb.loaner_overdue_reported_at,
        )


class ContactIn(BaseModel):
    """A contact about a coordination ticket."""

    model_config = ConfigDict(extra="forbid")

    by: ShortText
    channel: ShortText = "phone"
    note: Text
    at: IsoDatetime | None = None


class CheckIn(BaseModel):
    """A team lead's check."""

    model_config = ConfigDict(extra="forbid")

    by: ShortText
    note: Text | None = None


class OwnerIn(BaseModel):
    """The ticket's new owner."""

    model_config = ConfigDict(extra="forbid")

    owner: ShortText


class CloseIn(BaseModel):
    """How the work was finished."""

    model_config = ConfigDict(extra="forbid")

    resolution: Text


class ContactOut(BaseModel):
    """A dated contact."""

    at: datetime
    by: str
    channel: str
    note: str


class CheckOut(BaseModel):
    """A check."""

    at: datetime
    by: str
    note: str | None


class TicketOut(BaseModel):
    """A coordination ticket (FLD-15)."""

    ticket_id: str
    order_id: str
    owner: str
    reason: str
    opened_at: datetime
    next_check_due: date
    contacts: list[ContactOut]
    checks: list[CheckOut]
    closed_at: datetime | None
    resolution: str | None

    @classmethod
    def from_domain(cls, t: CoordinationTicket) -> TicketOut:
        """Read model of a ticket."""
        return cls(
            ticket_id=t.ticket_id,
            order_id=t.order_id,
            owner=t.owner,
            reason=t.reason,
            opened_at=t.opened_at,
            next_check_due=t.next_check_due,
            contacts=[
                ContactOut(at=x.at, by=x.by, channel=x.channel, note=x.note) for x in t.contacts
            ],
            checks=[CheckOut(at=x.at, by=x.by, note=x.note) for x in t.checks],
            closed_at=t.closed_at,
            resolution=t.resolution,
        )


class TicketListOut(BaseModel):
    """A page of coordination tickets, the next check due first."""

    items: list[TicketOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)
