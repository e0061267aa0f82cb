"""Commands fieldwork accepts (imperative), and the actions a technician takes on a visit.

The actions are one discriminated union (by ``type``), shared by the REST route of one action
and the offline app's batch, so both routes apply the very same rules.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from contracts.common import (
    GeoPoint,
    Money,
    PartLine,
    Quantity,
    WarrantyStatus,
    WorkItem,
    WorkItemKind,
)
from contracts.dates import IsoDate, IsoDatetime
from contracts.fieldwork import (
    CentreDecisionKind,
    Rating,
    RepairFailureReason,
    SafetyIncidentKind,
)
from fieldwork.domain.visit import (
    AttemptKind,
    DoorOutcome,
    EvidenceKind,
    MissingPartOption,
    NextStep,
)

Text = Annotated[str, Field(min_length=1, max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LoanerSerial = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
"""A loaner's serial, trimmed: "L1 " is loaner "L1"; a blank one is refused (FLD-6)."""


def _no_float(value: object) -> object:
    # Money crosses the API as a decimal string: a JSON float may already have lost a fen.
    if isinstance(value, float):
        raise ValueError('money is a decimal string such as "128.50", never a float')
    return value


Amount = Annotated[Money, Field(ge=0), BeforeValidator(_no_float)]
"""An amount in CNY, never negative: a decimal string in JSON (e.g. `"128.50"`), not a float."""


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Depart(_Action):
    """Leave for the customer with the kit checked (FLD-1); a loaner when the order asks."""

    type: Literal["depart"] = "depart"
    eta: IsoDatetime
    """When the technician expects to arrive: from the departure to `eta_horizon_hours` (policy)
    after it (SCH-6)."""
    kit_checked: list[ShortText] = Field(default_factory=list, max_length=100)
    """The kit items checked, in the words of the job type's kit list."""
    loaner_serial: LoanerSerial | None = None
    """The loaner on board (FLD-1): one of the order's product line."""
    position: GeoPoint | None = None


class Arrive(_Action):
    """Record arrival, time and place (FLD-2)."""

    type: Literal["arrive"] = "arrive"
    position: GeoPoint | None = None


class LogAttempt(_Action):
    """A door knock, phone call or word with the neighbours (FLD-2)."""

    type: Literal["log_attempt"] = "log_attempt"
    kind: AttemptKind
    reached: StrictBool = False
    detail: Text | None = None


class RecordDoorOutcome(_Action):
    """Who was at the door, and the next step (FLD-3)."""

    type: Literal["door_outcome"] = "door_outcome"
    outcome: DoorOutcome
    next_step: NextStep
    id_shown: StrictBool
    customer_consent: StrictBool = False
    detail: Text | None = None


class RecordNotHome(_Action):
    """Nobody home after knocking and phoning; the note left (FLD-2)."""

    type: Literal["not_home"] = "not_home"
    note: Text | None = None
    note_photo_ref: ShortText | None = None
    neighbours_asked: StrictBool = False


class WorkItemIn(_Action):
    """One line of work for billing to price (BIL-1..BIL-6); fieldwork never prices it."""

    kind: WorkItemKind
    description: ShortText
    fee_code: ShortText | None = None
    """The fee schedule code: required for a `fee`; a material's schedule code may go here or
    in `part_no`."""
    part_no: ShortText | None = None
    """The part number (required for a `part`) or the material's code."""
    quantity: Quantity = Decimal(1)
    stock_price: Annotated[Amount, Field(gt=0)] | None = None
    """Purchase price per unit of a material not on the fee schedule (BIL-4); materials only."""
    handled_at: IsoDatetime | None = None
    """When the item is (or was) handled; items within 30 minutes of each other are charged as
    the single highest fee (BIL-3). Default: the time of the diagnosis. From the visit's arrival
    to `work_item_horizon_hours` (policy) after the diagnosis."""
    covered_by_warranty: StrictBool | None = None
    """Whether the warranty covers this item; null lets billing decide from the order (BIL-1)."""
    warranty_card_price: Amount | None = None
    """The price the customer's warranty card gives for this item; the lower is charged
    (BIL-2)."""
    upgrade: StrictBool = False
    """An upgrade the customer chose, not a repair (BIL-6); parts only."""
    trade_in: StrictBool = False
    """The customer trades in the old part for the schedule's credit (BIL-6); parts only."""

    @model_validator(mode="after")
    def _fits_its_kind(self) -> WorkItemIn:
        if self.kind is WorkItemKind.FEE and self.fee_code is None:
            raise ValueError("a fee item needs its fee_code")
        if self.kind is WorkItemKind.PART and self.part_no is None:
            raise ValueError("a part needs its part_no")
        if self.kind is WorkItemKind.MATERIAL and not (
            self.part_no or self.fee_code or self.stock_price is not None
        ):
            raise ValueError("a material needs its code (part_no) or its stock_price")
        if self.stock_price is not None and self.kind is not WorkItemKind.MATERIAL:
            raise ValueError("stock_price is for materials only (BIL-4)")
        if (self.upgrade or self.trade_in) and self.kind is not WorkItemKind.PART:
            raise ValueError("upgrade and trade_in are for parts only (BIL-6)")
        return self

    def to_contract(self) -> WorkItem:
        """The contract's work item (the visit dates an undated one with the diagnosis)."""
        return WorkItem.model_validate(self.model_dump())


class Diagnose(_Action):
    """Cause, parts, warranty status (FLD-4); chargeable work asks billing for a quote.

    The work items go to billing as they are (QuoteRequested) with the customer's warranty card
    terms, the order's installation date and product line; in warranty, listed work items are
    quoted too (free under BIL-1) so the report can show them with the schedule version.
    """

    type: Literal["diagnose"] = "diagnose"
    cause: Text
    fault_code: ShortText | None = None
    parts: list[PartLine] = Field(default_factory=list, max_length=100)
    work_items: list[WorkItemIn] = Field(default_factory=list, max_length=100)
    chargeable: StrictBool | None = None
    """Overrides the default: chargeable out of (or unknown) warranty, or when an item is not
    covered by the warranty or is an upgrade."""
    warranty_status: WarrantyStatus | None = None
    """The status found on site; the order's status when absent."""
    warranty_card_amount: Amount | None = None
    """The total the customer's warranty card gives for this work, if any; the lower of it and
    the schedule is charged (BIL-2)."""
    installed_on: IsoDate | None = None
    """The installation date, for set-up work (BIL-5), not after the day of the diagnosis;
    default: the order's."""
    unknown_fault: StrictBool = False
    take_back_needed: StrictBool = False


class AcceptQuote(_Action):
    """The customer consents to the issued quote, with their signature (FLD-4)."""

    type: Literal["accept_quote"] = "accept_quote"
    quote_id: ShortText
    signature_ref: ShortText


class DeclineQuote(_Action):
    """No consent: no work, the visit ends declined (FLD-4), also while billing's quote is still
    awaited (then without `quote_id`)."""

    type: Literal["decline_quote"] = "decline_quote"
    quote_id: ShortText | None = None
    """The issued quote declined; omitted before billing has issued one (or to decline the
    one issued, whichever it is)."""
    reason: Text | None = None
    discount_requested: StrictBool = False


class StartRepair(_Action):
    """Start the repair."""

    type: Literal["start_repair"] = "start_repair"


class RecordWork(_Action):
    """A repair step and the parts fitted (serials when noted, FLD-6)."""

    type: Literal["record_work"] = "record_work"
    description: Text
    parts: list[PartLine] = Field(default_factory=list, max_length=100)


class ReportMissingPart(_Action):
    """Wrong or missing part: fetch now or rebook (FLD-5)."""

    type: Literal["missing_part"] = "missing_part"
    option: MissingPartOption
    parts: list[PartLine] = Field(default_factory=list, max_length=100)
    detail: Text | None = None
    next_visit_agreed: StrictBool = False


class Resume(_Action):
    """Back with the part (FLD-5)."""

    type: Literal["resume"] = "resume"


class Escalate(_Action):
    """Report an unknown fault to the technical desk (FLD-7)."""

    type: Literal["escalate"] = "escalate"
    description: Text
    fault_code: ShortText | None = None
    desk: Literal["technical_desk", "head_office"] = "technical_desk"


class RefuseTakeBack(_Action):
    """The customer refuses take-back: repair on site, part serials noted (FLD-6)."""

    type: Literal["refuse_take_back"] = "refuse_take_back"


class TakeUnitBack(_Action):
    """The unit goes to the workshop, a loaner stays (FLD-6)."""

    type: Literal["take_back"] = "take_back"
    receipt_number: ShortText
    appearance: Text
    photo_refs: list[ShortText] = Field(default_factory=list, max_length=50)
    promised_return_date: IsoDate
    """From the day the unit is taken (business time zone) to the policy's
    `take_back_return_max_days` after it; else 422 naming it (FLD-6)."""
    unit_serial: ShortText | None = None
    loaner_serial: LoanerSerial | None = None
    """The loaner lent (FLD-6), of the order's product line; default: the one on board."""


class StartTest(_Action):
    """Start the test run (FLD-9)."""

    type: Literal["start_test"] = "start_test"


class Reexamine(_Action):
    """The test failed: examine again (FLD-9)."""

    type: Literal["reexamine"] = "reexamine"


class CompleteRepair(_Action):
    """Repair done; not tested / not sure feed the call-backs (FLD-9)."""

    type: Literal["complete_repair"] = "complete_repair"
    tested: StrictBool
    sure_fixed: StrictBool
    latent_faults_fixed: list[Text] = Field(default_factory=list, max_length=50)
    parts: list[PartLine] = Field(default_factory=list, max_length=100)
    cause: Text | None = None
    remedy: Text | None = None


class CompleteInstallation(_Action):
    """Installation confirmed with photos and barcodes (FLD-10)."""

    type: Literal["complete_installation"] = "complete_installation"
    installed_on: IsoDate | None = None
    """The installation date (BIL-5): between the visit's arrival day and the day of completion
    (Asia/Shanghai business days), not before the purchase date; default: the day of completion."""
    photo_refs: list[ShortText] = Field(default_factory=list, max_length=50)
    barcodes: list[ShortText] = Field(default_factory=list, max_length=50)
    substandard_conditions: list[Text] = Field(default_factory=list, max_length=20)
    conditions_signature_ref: ShortText | None = None


class Fail(_Action):
    """The repair cannot be finished on this visit."""

    type: Literal["fail"] = "fail"
    reason: RepairFailureReason
    detail: Text | None = None
    next_visit_agreed: StrictBool = False


class RequestCentreDecision(_Action):
    """Return, exchange or compensation demanded: sent to the centre (FLD-8)."""

    type: Literal["request_centre_decision"] = "request_centre_decision"
    kind: CentreDecisionKind
    reason: Text
    amount_claimed: Amount | None = None
    meets_return_conditions: StrictBool | None = None


class ReportDamage(_Action):
    """Damage to the customer's property (FLD-13)."""

    type: Literal["report_damage"] = "report_damage"
    description: Text
    estimated_cost: Amount | None = None
    photo_refs: list[ShortText] = Field(default_factory=list, max_length=50)


class ReportSafetyIncident(_Action):
    """Detained, abused or in danger: the centre takes over (FLD-14)."""

    type: Literal["safety_incident"] = "safety_incident"
    kind: SafetyIncidentKind
    description: Text
    technician_safe: StrictBool = True
    leave_site: StrictBool = True


class SignOffVisit(_Action):
    """Ratings and signature, or refused to sign (FLD-12)."""

    type: Literal["sign_off"] = "sign_off"
    signed: StrictBool
    signature_ref: ShortText | None = None
    repair_quality: Rating | None = None
    service_attitude: Rating | None = None
    amount_acknowledged: Amount | None = None
    """The amount the customer signs for (BIL-9): must be the accepted quote's total, 0 when the
    visit charges nothing (no quote accepted: nothing quoted, declined or never answered);
    defaults to it (0 for a free quote, none when nothing was quoted) when signed. Not with a
    refusal to sign."""
    comments: Text | None = None


class CompleteReport(_Action):
    """Cause and remedy completed later, at the office (FLD-12)."""

    type: Literal["complete_report"] = "complete_report"
    cause: Text | None = None
    remedy: Text | None = None


VisitAction = Annotated[
    Depart
    | Arrive
    | LogAttempt
    | RecordDoorOutcome
    | RecordNotHome
    | Diagnose
    | AcceptQuote
    | DeclineQuote
    | StartRepair
    | RecordWork
    | ReportMissingPart
    | Resume
    | Escalate
    | RefuseTakeBack
    | TakeUnitBack
    | StartTest
    | Reexamine
    | CompleteRepair
    | CompleteInstallation
    | Fail
    | RequestCentreDecision
    | ReportDamage
    | ReportSafetyIncident
    | SignOffVisit
    | CompleteReport,
    Field(discriminator="type"),
]


@dataclass(frozen=True)
class Actor:
    """Who acts: a technician acts only on their own visits, a partner network's key only on its
    network's visits; others (admin) on any."""

    key_id: str
    technician_id: str | None = None
    restricted: StrictBool = False
    """True for technician keys: only visits with their technician id exist for them."""
    network_id: str | None = None
    """Set for partner keys: only visits held by this network exist for them."""
    partner: StrictBool = False
    """True for partner keys (an unbound one, without network_id, sees no visit at all)."""

    @property
    def scope(self) -> str:
        """The namespace of the caller's offline client ids."""
        return f"tech:{self.technician_id}" if self.restricted else f"key:{self.key_id}"

    def may_see(self, *, technician_id: str | None, network_id: str | None) -> bool:
        """Whether a visit with this technician and network exists for the actor."""
        if self.restricted and (self.technician_id is None or technician_id != self.technician_id):
            # A technician key bound to no technician holds no visit; it must not match the
            # visits nobody holds (back at the centre, or a network's not yet given out).
            return False
        return not self.partner or (self.network_id is not None and network_id == self.network_id)


@dataclass(frozen=True)
class ActOnVisit:
    """Apply one action to a visit, now (``at`` None) or at the time it happened."""

    visit_id: str
    action: VisitAction
    actor: Actor
    at: datetime | None = None


@dataclass(frozen=True)
class OfflineAction:
    """One action the app recorded offline."""

    client_id: str
    visit_id: str
    occurred_at: datetime
    action: VisitAction

    def fingerprint(self) -> str:
        """A digest of what the action is (its visit, time and content), to tell a replay of its
        client id from the id's reuse for another action."""
        content = {
            "visit_id": self.visit_id,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "action": self.action.model_dump(mode="json"),
        }
        encoded = json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class ApplyOfflineBatch:
    """Apply actions recorded offline, in the order they happened."""

    actor: Actor
    actions: list[OfflineAction] = field(default_factory=list)


@dataclass(frozen=True)
class UploadEvidence:
    """Store an image for a visit (FLD-10) through the storage port."""

    visit_id: str
    actor: Actor
    kind: EvidenceKind
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RegisterLoaner:
    """Add a unit to the loaner inventory (FLD-6)."""

    serial: str
    product_line: str
    condition: str = "good"


@dataclass(frozen=True)
class RecordWorkshopProgress:
    """A step of a taken-back unit's repair (FLD-6)."""

    receipt_number: str
    stage: str
    note: str | None = None


@dataclass(frozen=True)
class ReturnUnit:
    """A taken-back unit is back with the customer; its loaner back in stock if collected
    (FLD-6)."""

    receipt_number: str
    actor: Actor
    repaired: StrictBool = True
    visit_id: str | None = None
    loaner_recovered: StrictBool | None = None
    """Whether the loaner lent with the unit was collected; required when one is out."""
    loaner_condition: str | None = None


@dataclass(frozen=True)
class CollectLoaner:
    """A loaner the customer kept is collected from them, back in stock (FLD-6)."""

    serial: str
    actor: Actor
    condition: str | None = None


@dataclass(frozen=True)
class LogTicketContact:
    """Add a dated contact to a coordination ticket (FLD-15)."""

    ticket_id: str
    by: str
    channel: str
    note: str
    at: datetime | None = None


@dataclass(frozen=True)
class CheckTicket:
    """The team lead checked a coordination ticket (FLD-15)."""

    ticket_id: str
    by: str
    note: str | None = None


@dataclass(frozen=True)
class AssignTicket:
    """Name the owner of a coordination ticket (FLD-15)."""

    ticket_id: str
    owner: str


@dataclass(frozen=True)
class CloseTicket:
    """The work is finished (FLD-15)."""

    ticket_id: str
    resolution: str
