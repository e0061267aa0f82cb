"""The visit: one trip of a technician to the customer, from departure to sign-off (FLD-1..FLD-14).

An order may have several visits (a revisit after a missing part, the return of a taken-back
unit). Each visit is a state machine; every action checks that it is possible in the current
state (else :class:`IllegalTransition` lists the possible ones) and that the rules hold (else
:class:`RuleViolation` names the rule). The visit records the contract events it causes in
``events``; it never publishes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import EventData
from contracts.billing import QuoteLine, QuoteVoidReason
from contracts.common import (
    GeoPoint,
    PartLine,
    ServiceType,
    TimeWindow,
    WarrantyStatus,
    WorkItem,
    WorkItemKind,
)
from contracts.fieldwork import (
    CentreDecisionKind,
    CentreDecisionRequested,
    CustomerNotHome,
    CustomerSignedOff,
    DamageReported,
    DiagnosisRecorded,
    FaultEscalated,
    InstallationCompleted,
    QuoteAccepted,
    QuoteDeclined,
    QuoteRequested,
    Rating,
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    SafetyIncident,
    SafetyIncidentKind,
    SignOff,
    TechnicianArrived,
    TechnicianDeparted,
    UnitTakenBack,
    VisitClosed,
    VisitOutcome,
)
from contracts.privacy import ERASED, erase_text
from fieldwork.domain.exceptions import (
    IllegalTransition,
    InvalidInput,
    PersonalDataErased,
    RuleViolation,
)
from fieldwork.domain.policy import FieldworkPolicy


class VisitState(StrEnum):
    """Where a visit is."""

    SCHEDULED = "scheduled"
    DEPARTED = "departed"
    ARRIVED = "arrived"
    DIAGNOSING = "diagnosing"
    AWAITING_CONSENT = "awaiting_consent"
    REPAIRING = "repairing"
    PAUSED = "paused"
    """Fetching a missing part with the customer's agreement; on-site time still runs (FLD-5)."""
    TESTING = "testing"
    COMPLETED = "completed"
    NOT_HOME = "not_home"
    REBOOK = "rebook"
    DECLINED = "declined"
    FAILED = "failed"
    TAKEN_BACK = "taken_back"
    ABORTED = "aborted"
    CANCELLED = "cancelled"


S = VisitState
ON_SITE = frozenset({S.ARRIVED, S.DIAGNOSING, S.AWAITING_CONSENT, S.REPAIRING, S.PAUSED, S.TESTING})
ENDED = frozenset(
    {S.COMPLETED, S.NOT_HOME, S.REBOOK, S.DECLINED, S.FAILED, S.TAKEN_BACK, S.ABORTED, S.CANCELLED}
)
_WORK = frozenset({S.DIAGNOSING, S.REPAIRING, S.TESTING})
_SIGNABLE = frozenset({S.COMPLETED, S.TAKEN_BACK, S.FAILED, S.DECLINED, S.REBOOK})
#: FLD-4/FLD-5: waiting for billing's quote (none published, billing down) must not strand the
#: technician: the visit can still end unfinished (rebooked) from there. Take-back stays out: the
#: workshop would then do chargeable work the customer never consented to.
_ENDS_UNFINISHED = _WORK | {S.AWAITING_CONSENT}

#: Every action a technician can take, and the states it is possible in.
ACTIONS: dict[str, frozenset[VisitState]] = {
    "depart": frozenset({S.SCHEDULED}),
    "arrive": frozenset({S.DEPARTED}),
    "log_attempt": frozenset({S.ARRIVED}),
    "door_outcome": frozenset({S.ARRIVED}),
    "not_home": frozenset({S.ARRIVED}),
    "diagnose": frozenset({S.DIAGNOSING}),
    "accept_quote": frozenset({S.AWAITING_CONSENT}),
    "decline_quote": frozenset({S.AWAITING_CONSENT}),
    "start_repair": frozenset({S.DIAGNOSING}),
    "record_work": frozenset({S.REPAIRING}),
    "missing_part": frozenset({S.DIAGNOSING, S.REPAIRING, S.AWAITING_CONSENT}),
    "resume": frozenset({S.PAUSED}),
    "escalate": _WORK | {S.AWAITING_CONSENT},
    "refuse_take_back": _WORK,
    "take_back": _WORK,
    "start_test": frozenset({S.REPAIRING}),
    "reexamine": frozenset({S.TESTING}),
    "complete_repair": frozenset({S.REPAIRING, S.TESTING}),
    "complete_installation": _WORK,
    "fail": _ENDS_UNFINISHED,
    "request_centre_decision": ON_SITE,
    "report_damage": ON_SITE | ENDED - {S.CANCELLED},
    # FLD-14: a customer may turn abusive or detain the technician while the sheet is signed,
    # after the visit ended; the centre takes over then too.
    "safety_incident": ON_SITE | {S.DEPARTED} | _SIGNABLE,
    "sign_off": _SIGNABLE,
    "complete_report": _SIGNABLE,
}

#: Actions that are repair work: refused without the customer's consent when chargeable (FLD-4).
PAID_WORK_ACTIONS = frozenset(
    {"start_repair", "record_work", "complete_repair", "complete_installation", "start_test"}
)

#: FLD-10: how each kind of job is finished; the other way is not offered.
_NOT_FOR_INSTALLATIONS = frozenset({"complete_repair"})
_INSTALLATIONS_ONLY = frozenset({"complete_installation"})


class DoorOutcome(StrEnum):
    """Who or what the technician found at the door (FLD-3)."""

    CUSTOMER_PRESENT = "customer_present"
    SOMEONE_ELSE_CONFIRMED = "someone_else_confirmed"
    """E.g. a housekeeper, who phoned the customer and got their confirmation."""
    SOMEONE_ELSE_UNCONFIRMED = "someone_else_unconfirmed"
    CUSTOMER_OUT = "customer_out"
    POWER_CUT = "power_cut"
    CUSTOMER_EATING = "customer_eating"


class NextStep(StrEnum):
    """What follows a door outcome (FLD-3)."""

    PROCEED = "proceed"
    WAIT = "wait"
    """Wait, with the customer's consent."""
    REBOOK = "rebook"


_DOOR_STEPS: dict[DoorOutcome, frozenset[NextStep]] = {
    DoorOutcome.CUSTOMER_PRESENT: frozenset({NextStep.PROCEED}),
    DoorOutcome.SOMEONE_ELSE_CONFIRMED: frozenset({NextStep.PROCEED}),
    DoorOutcome.SOMEONE_ELSE_UNCONFIRMED: frozenset({NextStep.REBOOK}),
    DoorOutcome.CUSTOMER_OUT: frozenset({NextStep.WAIT, NextStep.REBOOK}),
    DoorOutcome.POWER_CUT: frozenset({NextStep.WAIT, NextStep.REBOOK}),
    DoorOutcome.CUSTOMER_EATING: frozenset({NextStep.WAIT, NextStep.REBOOK}),
}


class AttemptKind(StrEnum):
    """How the technician tried to reach the customer (FLD-2)."""

    DOOR = "door"
    PHONE = "phone"
    NEIGHBOURS = "neighbours"


class EvidenceKind(StrEnum):
    """What an uploaded image shows (FLD-6, FLD-10, FLD-12, FLD-13)."""

    PHOTO = "photo"
    BARCODE = "barcode"
    SIGNATURE = "signature"
    NOTE = "note"
    """A photo of the note left at the door (FLD-2)."""


class MissingPartOption(StrEnum):
    """What to do about a wrong or missing part (FLD-5)."""

    FETCH = "fetch"
    REBOOK = "rebook"


class QuoteStatus(StrEnum):
    """Where the consent of FLD-4 stands."""

    REQUESTED = "requested"
    ISSUED = "issued"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    VOIDED = "voided"
    """Billing no longer charges it (QuoteVoided): the order was cancelled before its work was
    done, or the customer declined the job at a later visit. Nothing is charged for it, and it
    can be neither accepted nor declined; ``void`` says when, why and the answer it had."""
    REFUSED = "refused"
    """Billing cannot price the request (QuoteRefused), e.g. a quantity × price too large for a
    quote line: no quote will come for it; ``refusal`` says why. The technician corrects the
    work listed and diagnoses again, which sends a new request."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Attempt(_Part):
    """A door knock, phone call or word with the neighbours, with its time (FLD-2)."""

    kind: AttemptKind
    at: datetime
    reached: bool = False
    detail: str | None = None


class DoorRecord(_Part):
    """The door outcome and its next step (FLD-3)."""

    outcome: DoorOutcome
    next_step: NextStep
    at: datetime
    id_shown: bool
    customer_consent: bool = False
    detail: str | None = None


class Evidence(_Part):
    """An uploaded image of the visit (stored through the storage port)."""

    ref: str
    kind: EvidenceKind
    content_type: str
    size: int
    at: datetime

    @property
    def evidence_id(self) -> str:
        """The upload's id within its visit: the stored file's name without its extension."""
        return self.ref.rsplit("/", 1)[-1].split(".", 1)[0]


class Diagnosis(_Part):
    """Cause, parts and warranty status found on site (FLD-4)."""

    cause: str
    fault_code: str | None = None
    parts: list[PartLine] = Field(default_factory=list)
    warranty_status: WarrantyStatus
    chargeable: bool
    unknown_fault: bool = False
    take_back_needed: bool = False
    at: datetime


class QuoteVoid(_Part):
    """Why billing no longer charges a quote (QuoteVoided; BIL-1, FLD-4), and since when."""

    reason: QuoteVoidReason
    at: datetime
    """The order's cancellation, or the customer's decline at the later visit."""
    answer: QuoteStatus
    """The customer's answer the quote had when voided: `issued` (none yet) or `accepted`; it
    is back in force with it if billing reinstates the quote (QuoteReinstated)."""
    declined_quote_id: str | None = None
    """The later visit's quote the customer declined (reason `declined_at_later_visit`)."""

    def describe(self) -> str:
        """The void in words, for the technician."""
        if self.reason is QuoteVoidReason.ORDER_CANCELLED:
            why = "the order was cancelled before its work was done"
        else:
            why = "the customer declined the job at a later visit" + (
                f" (quote {self.declined_quote_id})" if self.declined_quote_id else ""
            )
        return f"voided at {self.at.isoformat()}: {why}"


class QuoteRefusal(_Part):
    """Why billing cannot price a quote request (QuoteRefused; BIL-1, FLD-4), and since when."""

    reason: str
    """Billing's reason, in words for the technician: what to correct before asking again."""
    at: datetime
    """When billing refused the request."""


class Quote(_Part):
    """The quote the customer must consent to before paid work (FLD-4)."""

    request_id: str
    status: QuoteStatus = QuoteStatus.REQUESTED
    items: list[WorkItem] = Field(default_factory=list)
    consent_required: bool = True
    """False for work that is not chargeable (in warranty): quoted for the record, free (BIL-1)."""
    warranty_card_amount: Decimal | None = None
    installed_on: date | None = None
    product_line: str | None = None
    quote_id: str | None = None
    lines: list[QuoteLine] = Field(default_factory=list)
    total: Decimal | None = None
    schedule_version: str | None = None
    signature_ref: str | None = None
    decided_at: datetime | None = None
    decline_reason: str | None = None
    """Why the customer declined; kept here too, as a decline before the quote is issued
    publishes no QuoteDeclined to carry it (FLD-4)."""
    void: QuoteVoid | None = None
    """Set while the quote is `voided`: when, why, and the answer it had (BIL-1, FLD-4)."""
    refusal: QuoteRefusal | None = None
    """Set when billing refused to price the request (status `refused`): why, and when."""

    def refuse_if_voided(self) -> None:
        """No answer is given to a quote billing voided (FLD-4)."""
        if self.void is not None:
            raise RuleViolation(
                "FLD-4",
                f"Quote {self.quote_id} was {self.void.describe()}; nothing is charged for it "
                "and the customer can no longer accept or decline it",
                quote_id=self.quote_id,
                void_reason=self.void.reason.value,
                voided_at=self.void.at.isoformat(),
            )


class WorkStep(_Part):
    """A step of repair work, with the parts fitted (serials when noted, FLD-6)."""

    description: str
    parts: list[PartLine] = Field(default_factory=list)
    at: datetime


class Escalation(_Part):
    """A fault reported to the technical desk (FLD-7)."""

    description: str
    fault_code: str | None = None
    desk: str
    at: datetime


class CentreRequest(_Part):
    """A return, exchange or compensation demand sent to the centre (FLD-8)."""

    request_id: str
    kind: CentreDecisionKind
    reason: str
    amount_claimed: Decimal | None = None
    meets_return_conditions: bool | None = None
    status: str = "sent_to_centre"
    at: datetime


class Pause(_Part):
    """A pause to fetch a part (FLD-5); the time counts as on-site time (FLD-11)."""

    started_at: datetime
    ended_at: datetime | None = None
    parts: list[PartLine] = Field(default_factory=list)


class TakeBackRecord(_Part):
    """The take-back of this visit (FLD-6); its progress lives on the take-back itself."""

    receipt_number: str
    unit_serial: str | None = None
    appearance: str
    photo_refs: list[str]
    loaner_serial: str | None = None
    promised_return_date: date


class Installation(_Part):
    """The installation evidence (FLD-10)."""

    installed_on: date
    photo_refs: list[str]
    barcodes: list[str]
    substandard_conditions: list[str] = Field(default_factory=list)
    conditions_signature_ref: str | None = None


class Completion(_Part):
    """The test run and the result (FLD-9)."""

    tested: bool
    sure_fixed: bool
    latent_faults_fixed: list[str] = Field(default_factory=list)
    parts: list[PartLine] = Field(default_factory=list)


class SignOffRecord(_Part):
    """Ratings and signature, or the refusal to sign (FLD-12)."""

    repair_quality: Rating | None = None
    service_attitude: Rating | None = None
    sign_off: SignOff
    signature_ref: str | None = None
    amount_acknowledged: Decimal | None = None
    comments: str | None = None
    at: datetime


class Incident(_Part):
    """Damage (FLD-13) or a safety incident (FLD-14)."""

    kind: str
    description: str
    at: datetime
    estimated_cost: Decimal | None = None


class CalledOffTrip(_Part):
    """A trip to the customer called off on the way (SCH-6, SCH-10): the centre sent someone
    else or took the visit back (a postponement too) before the technician arrived."""

    technician_id: str | None
    network_id: str | None = None
    departed_at: datetime | None
    eta: datetime | None = None
    called_off_at: datetime
    reason: str
    handed_to: str | None = None
    """The technician the visit went to (None: back to the centre)."""
    loaner_serial: str | None = None
    """The loaner boarded for the trip, back to the inventory (FLD-1)."""


class Handover(_Part):
    """The visit changed hands before its technician was known to be at the door (SCH-6, SCH-8,
    SCH-10, SCH-12): kept so that an arrival the former holder logged offline before the change
    still counts when it is synced (on site wins)."""

    technician_id: str | None
    network_id: str | None = None
    at: datetime
    handed_to: str | None = None
    """The technician the visit went to (None: back to the centre)."""
    handed_to_network: str | None = None
    trip_called_off: bool = False
    """The technician was known to be on the way: the trip is in ``trips_called_off``."""
    reason: str = ""


class Visit(BaseModel):
    """One visit of one order (aggregate)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=False, use_attribute_docstrings=True
    )

    visit_id: str
    order_id: str
    technician_id: str | None = None
    network_id: str | None = None
    """The partner network holding the visit (scheduling's assignment); None for in-house work.
    A key of that network acts on the visit like a technician."""
    state: VisitState = VisitState.SCHEDULED
    job_type: str = "default"
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    loaner_required: bool = False
    window: TimeWindow | None = None
    created_at: datetime
    previous_visit_id: str | None = None
    unit_return: bool = False
    """The visit brings back a taken-back unit (RevisitBooked, reason unit_return): the customer
    has the order's loaner until then, so the visit needs no other one (FLD-1, FLD-6)."""
    rework: bool = False
    """Booked because the customer was not satisfied with the work of the visit before it
    (RevisitBooked, reason customer_dissatisfied, FBK-7)."""
    last_action_at: datetime | None = None
    """The time of the latest action applied: offline actions older than it are refused."""

    kit_checked: list[str] = Field(default_factory=list)
    departed_at: datetime | None = None
    eta: datetime | None = None
    loaner_serial: str | None = None
    arrived_at: datetime | None = None
    position: GeoPoint | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    door: list[DoorRecord] = Field(default_factory=list)
    not_home_note: str | None = None
    not_home_note_ref: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None
    chargeable: bool = False
    quote: Quote | None = None
    consented_quote: Quote | None = None
    """The quote the customer accepted before a re-diagnosis asked for a supplementary one
    (``quote``, awaiting their answer): it stays the charge and the consent for the work until
    the supplement, which repeats its items, is accepted; a declined supplement leaves it in force
    (FLD-4, BIL-9)."""
    declined_supplements: list[Quote] = Field(default_factory=list)
    """Supplementary quotes the customer declined, the accepted quote staying in force (FLD-4)."""
    refused_quotes: list[Quote] = Field(default_factory=list)
    """Every quote request of the visit billing refused to price (QuoteRefused), oldest first,
    each with its `refusal`; the latest also stays the visit's `quote` until the technician
    diagnoses again (a refused supplement gives way to the accepted quote at once)."""
    work: list[WorkStep] = Field(default_factory=list)
    pauses: list[Pause] = Field(default_factory=list)
    paused_from: VisitState | None = None
    escalations: list[Escalation] = Field(default_factory=list)
    take_back_refused: bool = False
    take_back: TakeBackRecord | None = None
    installation: Installation | None = None
    completion: Completion | None = None
    failure: RepairFailureReason | None = None
    failure_detail: str | None = None
    centre_requests: list[CentreRequest] = Field(default_factory=list)
    incidents: list[Incident] = Field(default_factory=list)
    signed_off: SignOffRecord | None = None
    cause: str | None = None
    remedy: str | None = None
    ended_at: datetime | None = None
    trips_called_off: list[CalledOffTrip] = Field(default_factory=list)
    """Trips to this visit called off on the way, oldest first (SCH-6, SCH-10)."""
    handovers: list[Handover] = Field(default_factory=list)
    """Every change of holder before anyone was known to be at the door, oldest first."""
    order_cancelled_at: datetime | None = None
    """When the order's cancellation (OrderCancelled) called the visit off before its technician
    was known to be at the door (SCH-12): what they logged offline before it still happened."""
    anonymised_at: datetime | None = None
    """When the customer's personal data was erased, the order's retention being over (BIL-11):
    free text that may name them (notes, details, comments, reasons, descriptions) reads
    "[erased]", the arrival position and the references to signature images, photos and note
    photos are null (their lists empty, the files deleted); barcode scans stay. The visit takes
    no more actions or uploads."""
    earlier_visits_seconds: int = Field(default=0, exclude=True)
    """On-site seconds of the order's other visits, set by the handler (FLD-11)."""
    events: list[EventData] = Field(default_factory=list, exclude=True)

    # -- reading -----------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """Whether the visit is over."""
        return self.state in ENDED

    @property
    def installation_job(self) -> bool:
        """Whether the job is an installation (the order's service type), finished with its
        photos and barcode scans (FLD-10)."""
        return self.job_type == ServiceType.INSTALLATION.value

    def allowed_actions(self) -> list[str]:
        """The actions possible in the current state (and for the job type, FLD-10): none once
        the order's personal data was erased (BIL-11)."""
        if self.anonymised_at is not None:
            return []
        other_way = _NOT_FOR_INSTALLATIONS if self.installation_job else _INSTALLATIONS_ONLY
        # FLD-6: a customer who refused the take-back keeps the unit: it is repaired on site.
        refused = {"take_back"} if self.take_back_refused else set()
        return [
            name
            for name, states in ACTIONS.items()
            if self.state in states and name not in other_way and name not in refused
        ]

    def existed_at(self, at: datetime, *, allowance: timedelta) -> bool:
        """Whether the visit existed at ``at`` (fieldwork heard of its assignment), give or take
        ``allowance``: the phone clock's skew, and the lead a dispatcher's call may have on the
        assignment entered after it."""
        return at >= self.created_at - allowance

    def check_existed_at(self, at: datetime, *, allowance: timedelta) -> None:
        """Refuse an action dated before the visit existed: a departure or an arrival then would
        count on-site time and an on-time arrival before the order was there to serve (FLD-11,
        SCH-7)."""
        if not self.existed_at(at, allowance=allowance):
            raise RuleViolation(
                "offline",
                f"occurred_at is before the visit existed (assigned at "
                f"{self.created_at.isoformat()})",
                earliest=(self.created_at - allowance).isoformat(),
            )

    def on_site_time(self, now: datetime | None = None) -> timedelta:
        """Arrival to the end of the visit (or ``now``), as it happened: pauses count (FLD-11)."""
        if self.arrived_at is None:
            return timedelta(0)
        end = self.ended_at or now or self.arrived_at
        return max(end - self.arrived_at, timedelta(0))

    @property
    def on_site_seconds(self) -> int:
        """Whole seconds on site (only sub-second parts are dropped)."""
        return int(self.on_site_time().total_seconds())

    @property
    def charged_quote(self) -> Quote | None:
        """The quote that is this visit's charge: accepted by the customer, or issued for work
        that needed no consent (free, BIL-1); while a supplementary quote awaits the customer's
        answer, the one they accepted before (FLD-4); None when there is none (a quote billing
        voided is none)."""
        for quote in (self.quote, self.consented_quote):
            if quote is None or quote.total is None:
                continue
            if quote.status is QuoteStatus.ACCEPTED:
                return quote
            if quote.status is QuoteStatus.ISSUED and not quote.consent_required:
                return quote
        return None

    @property
    def unused_loaner(self) -> str | None:
        """The loaner boarded for this visit and not lent, once the visit is over: it goes back
        to the inventory with the technician (FLD-6); None otherwise."""
        if not self.ended or self.loaner_serial is None:
            return None
        if self.take_back is not None and self.take_back.loaner_serial == self.loaner_serial:
            return None
        return self.loaner_serial

    @property
    def voided_quote(self) -> Quote | None:
        """The visit's quote billing voided (QuoteVoided), if any."""
        for quote in (self.quote, self.consented_quote):
            if quote is not None and quote.status is QuoteStatus.VOIDED:
                return quote
        return None

    @property
    def amount_charged(self) -> Decimal | None:
        """What the customer is charged for this visit's work: the accepted quote's total (after
        waivers); 0 for free work that was quoted, and when billing voided the quote (BIL-1);
        None when nothing was quoted."""
        quote = self.charged_quote
        if quote is None or quote.total is None:
            return Decimal("0.00") if self.voided_quote is not None else None
        if quote.status is not QuoteStatus.ACCEPTED:
            return Decimal("0.00")
        return quote.total

    def evidence_of(self, kind: EvidenceKind) -> set[str]:
        """Refs of the visit's uploads of ``kind``."""
        return {e.ref for e in self.evidence if e.kind is kind}

    @property
    def tech(self) -> str:
        """The technician id events carry."""
        return self.technician_id or "unassigned"

    # -- guards ------------------------------------------------------------------------------

    def refuse_if_erased(self, action: str) -> None:
        """No command acts on a visit whose order's personal data was erased (BIL-11), whatever
        its state: 409 "Personal data erased", as intake and scheduling answer."""
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.order_id, action, self.anonymised_at)

    def _check(self, action: str, at: datetime | None = None) -> None:
        self.refuse_if_erased(action)
        if self.network_id is None and self.technician_id is None:
            # The order went back to the centre (or was never placed): nobody holds the visit,
            # so nobody goes on it until a dispatcher assigns it again.
            raise RuleViolation(
                "SCH-12",
                "No technician holds this visit: a dispatcher assigns it before it is acted on",
                state=self.state.value,
            )
        if self.network_id is not None and self.technician_id is None:
            # Events carry the technician, as for in-house work: the network names one first.
            raise RuleViolation(
                "SCH-12",
                f"Network {self.network_id} has not named the technician of this visit yet: "
                "its dispatcher assigns one of its technicians before the visit is acted on",
                network_id=self.network_id,
                state=self.state.value,
            )
        if self.state not in ACTIONS[action]:
            if self.state is S.AWAITING_CONSENT and action in PAID_WORK_ACTIONS:
                raise RuleViolation(
                    "FLD-4",
                    "The work is chargeable: the customer must accept the quote, with their "
                    "signature, before any repair step",
                    state=self.state.value,
                    allowed=self.allowed_actions(),
                )
            raise IllegalTransition(action, self.state.value, self.allowed_actions())
        if action in PAID_WORK_ACTIONS:
            self._require_consent()
        if at is not None:
            if self.last_action_at is not None and at < self.last_action_at:
                # rule FLD-11: the visit's times are recorded as they happened, in order; an
                # action dated before the latest one would put an arrival before its departure
                # or a completion before its arrival.
                raise RuleViolation(
                    "FLD-11",
                    f"Out of order: the visit already has an action at "
                    f"{self.last_action_at.isoformat()}, after this one of {at.isoformat()}",
                    last_action_at=self.last_action_at.isoformat(),
                    state=self.state.value,
                )
            self.last_action_at = at

    def _require_consent(self) -> None:
        # rule FLD-4: no paid work without the customer's signed acceptance of the quote.
        if self.diagnosis is None and self._chargeable_unless_diagnosed:
            # The diagnosis decides whether the work is chargeable and asks the consent: skipped,
            # a repair out of (or of unknown) warranty would be done with neither.
            raise RuleViolation(
                "FLD-4",
                f"The unit's warranty is {self.warranty_status.value}: diagnose first, so that "
                "the customer is told whether the work is chargeable and consents to its quote "
                "before any work",
                state=self.state.value,
                warranty_status=self.warranty_status.value,
                instead="diagnose",
            )
        if not self.chargeable:
            return
        if self.quote is not None and self.quote.void is not None:
            raise RuleViolation(
                "FLD-4",
                f"The work is chargeable and its quote {self.quote.quote_id} was "
                f"{self.quote.void.describe()}: nobody consents to the work any more",
                state=self.state.value,
                quote_id=self.quote.quote_id,
                void_reason=self.quote.void.reason.value,
                voided_at=self.quote.void.at.isoformat(),
            )
        if self.quote is None or self.quote.status is not QuoteStatus.ACCEPTED:
            raise RuleViolation(
                "FLD-4",
                "The work is chargeable: the customer must accept the quote, with their "
                "signature, before any repair step",
                state=self.state.value,
                allowed=self.allowed_actions(),
            )

    @property
    def _chargeable_unless_diagnosed(self) -> bool:
        """Whether the work is chargeable by default (FLD-4): a repair of a unit not known to be
        in warranty. An installation is finished by its evidence (FLD-10), and the visit that
        brings a unit back from the workshop does the workshop's work (FLD-6)."""
        return (
            self.warranty_status is not WarrantyStatus.IN_WARRANTY
            and not self.installation_job
            and not self.unit_return
        )

    def _require_refs(self, refs: Sequence[str], kind: EvidenceKind, field: str) -> None:
        known = self.evidence_of(kind)
        unknown = [r for r in refs if r not in known]
        if unknown:
            raise RuleViolation(
                "FLD-10",
                f"{field} names uploads that are not {kind.value} uploads of this visit: "
                f"{', '.join(unknown)}",
                field=field,
            )

    def _signed_already(self) -> dict[str, str]:
        """The signature uploads already signed for something on this visit, and what for."""
        used: dict[str, str] = {}
        for quote in (self.quote, self.consented_quote, *self.declined_supplements):
            if quote is not None and quote.signature_ref:
                used[quote.signature_ref] = f"consent to quote {quote.quote_id}"
        if self.installation is not None and self.installation.conditions_signature_ref:
            used[self.installation.conditions_signature_ref] = "the installation's conditions"
        if self.signed_off is not None and self.signed_off.signature_ref:
            used[self.signed_off.signature_ref] = "the sign-off"
        return used

    def _require_fresh_signature(self, ref: str, field: str) -> None:
        """Each signing is its own signature: an image signed for one thing never stands for
        another (a sign-off "signed" with the consent's image is what FBK-8 hunts)."""
        earlier = self._signed_already().get(ref)
        if earlier is not None:
            raise RuleViolation(
                "FLD-12",
                f"{field} {ref} was signed for {earlier}; the customer signs this separately",
                field=field,
            )

    # -- lifecycle ---------------------------------------------------------------------------

    def _end(self, state: VisitState, outcome: VisitOutcome, at: datetime) -> None:
        self.state = state
        self.ended_at = at
        if self.pauses and self.pauses[-1].ended_at is None:
            self.pauses[-1].ended_at = at
        # FLD-4/BIL-9: paid work is the accepted quote's (the one still in force when a
        # supplementary quote was declined or never answered).
        charged = self.amount_charged
        paid = charged is not None and charged > 0
        own = self.on_site_seconds
        self.events.append(
            VisitClosed(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                outcome=outcome,
                closed_at=at,
                on_site_minutes=own // 60,
                service_minutes_total=(own + self.earlier_visits_seconds) // 60,
                paid_work=paid,
                on_site_seconds=own,
                service_seconds_total=own + self.earlier_visits_seconds,
            )
        )

    def depart(
        self,
        *,
        at: datetime,
        eta: datetime,
        kit_checked: Sequence[str],
        policy: FieldworkPolicy,
        loaner_serial: str | None = None,
        position: GeoPoint | None = None,
        loaner_lent: str | None = None,
    ) -> None:
        """Leave for the customer with the kit checked against the job type's list (FLD-1).

        ``loaner_lent`` is the loaner already lent to the customer for this order (their unit at
        the workshop): like a unit-return visit, the visit then needs no other loaner, and that
        loaner, named as ``loaner_serial``, is not on board: it is at the customer's (FLD-6)."""
        self._check("depart")
        self._check_eta(eta, departed_at=at, policy=policy)
        if loaner_serial is not None and loaner_serial == loaner_lent:
            loaner_serial = None
        # rule FLD-1/FLD-6: the order's loaner is needed once, to lend at the take-back; a
        # revisit while it is lent, or the visit that returns the unit, takes no other.
        needs_loaner = self.loaner_required and not self.unit_return and loaner_lent is None
        required = policy.kit_for(self.job_type, loaner_required=needs_loaner)
        checked = set(kit_checked)
        missing = [
            item
            for item in required
            if (item == policy.loaner_kit_item and not loaner_serial)
            or (item != policy.loaner_kit_item and item not in checked)
        ]
        if missing:
            # rule FLD-1 (and INT-6: a take-back-likely order needs a loaner in the kit)
            raise RuleViolation(
                "FLD-1",
                f"The kit is not complete for job type '{self.job_type}': "
                f"missing {', '.join(missing)}",
                missing=missing,
                kit=required,
            )
        self._check("depart", at)
        self.state = S.DEPARTED
        self.departed_at = at
        self.eta = eta
        self.kit_checked = list(kit_checked)
        self.loaner_serial = loaner_serial
        self.events.append(
            TechnicianDeparted(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                eta=eta,
                position=position,
                loaner_on_board=loaner_serial is not None,
                kit_checked=True,
            )
        )

    @staticmethod
    def _check_eta(eta: datetime, *, departed_at: datetime, policy: FieldworkPolicy) -> None:
        """The ETA is told to the customer and drives lateness (SCH-6, SCH-7): it lies between
        the departure (less the phone clock's drift) and the policy's horizon after it."""
        earliest = departed_at - timedelta(seconds=policy.offline_clock_skew_seconds)
        latest = departed_at + timedelta(hours=policy.eta_horizon_hours)
        if earliest <= eta <= latest:
            return
        where = (
            f"before the departure ({departed_at.isoformat()})"
            if eta < earliest
            else f"more than {policy.eta_horizon_hours} hours after the departure "
            f"({departed_at.isoformat()})"
        )
        raise InvalidInput(
            "SCH-6",
            f"The ETA {eta.isoformat()} is {where}: it cannot be told to the customer (SCH-7)",
            field="eta",
            earliest=earliest.isoformat(),
            latest=latest.isoformat(),
        )

    def arrive(self, *, at: datetime, position: GeoPoint | None = None) -> None:
        """Record arrival, time and place (FLD-2); on-site time runs from here (FLD-11)."""
        self._check("arrive", at)
        self.state = S.ARRIVED
        self.arrived_at = at
        self.position = position
        self.events.append(
            TechnicianArrived(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                arrived_at=at,
                position=position,
            )
        )

    def log_attempt(
        self, *, at: datetime, kind: AttemptKind, reached: bool = False, detail: str | None = None
    ) -> None:
        """Log a door knock, phone call or word with the neighbours, with its time (FLD-2)."""
        self._check("log_attempt", at)
        self.attempts.append(Attempt(kind=kind, at=at, reached=reached, detail=detail))

    def record_door_outcome(
        self,
        *,
        at: datetime,
        outcome: DoorOutcome,
        next_step: NextStep,
        id_shown: bool,
        customer_consent: bool = False,
        detail: str | None = None,
    ) -> None:
        """Record who was at the door and the next step (FLD-3). "Customer out" is what someone
        said (the person at the door, or a phone call that reached someone, logged with
        ``reached``); when nobody answers, that is the not-home rule (FLD-2)."""
        self._check("door_outcome")
        told = any(
            a.reached and a.kind in (AttemptKind.DOOR, AttemptKind.PHONE) and a.at <= at
            for a in self.attempts
        )
        if outcome is DoorOutcome.CUSTOMER_OUT and not told:
            # rule FLD-2: nobody answering is not "customer out": knock, phone, then not_home.
            raise RuleViolation(
                "FLD-2",
                "Nobody has said the customer is out: log the knock or call that reached someone "
                "(log_attempt with reached true) first. If nobody answers, knock again every "
                "interval, phone the customer and record 'not home' (not_home)",
                instead="not_home",
            )
        if next_step not in _DOOR_STEPS[outcome]:
            raise RuleViolation(
                "FLD-3",
                f"After '{outcome.value}' the next step is one of: "
                f"{', '.join(sorted(s.value for s in _DOOR_STEPS[outcome]))}",
                allowed_next_steps=sorted(s.value for s in _DOOR_STEPS[outcome]),
            )
        if next_step is NextStep.PROCEED and not id_shown:
            raise RuleViolation("FLD-3", "Show your ID at the door before going in")
        if next_step is NextStep.WAIT and not customer_consent:
            raise RuleViolation("FLD-3", "Waiting needs the customer's consent")
        self._check("door_outcome", at)
        self.door.append(
            DoorRecord(
                outcome=outcome,
                next_step=next_step,
                at=at,
                id_shown=id_shown,
                customer_consent=customer_consent,
                detail=detail,
            )
        )
        if next_step is NextStep.PROCEED:
            self.state = S.DIAGNOSING
        elif next_step is NextStep.REBOOK:
            if outcome in (DoorOutcome.SOMEONE_ELSE_UNCONFIRMED, DoorOutcome.CUSTOMER_OUT):
                self.events.append(
                    CustomerNotHome(
                        order_id=self.order_id,
                        visit_id=self.visit_id,
                        technician_id=self.tech,
                        arrived_at=self.arrived_at or at,
                        waited_minutes=int(self.on_site_time(at).total_seconds() // 60),
                        phoned=any(a.kind is AttemptKind.PHONE for a in self.attempts),
                        someone_else_home=outcome is DoorOutcome.SOMEONE_ELSE_UNCONFIRMED,
                    )
                )
            else:
                self.events.append(
                    RepairFailed(
                        order_id=self.order_id,
                        visit_id=self.visit_id,
                        technician_id=self.tech,
                        reason=RepairFailureReason.NEEDS_SECOND_VISIT,
                        detail=detail or outcome.value,
                    )
                )
            self._end(S.REBOOK, VisitOutcome.UNFINISHED, at)

    def record_not_home(
        self,
        *,
        at: datetime,
        policy: FieldworkPolicy,
        note: str | None = None,
        note_photo_ref: str | None = None,
        neighbours_asked: bool = False,
    ) -> None:
        """Nobody home: refused earlier than the wait after arrival, without a knock logged in
        every knock interval of that wait, or without a phone call after it that did not reach
        the customer; the note left (text or photo) is stored (FLD-2)."""
        self._check("not_home")
        arrived = self.arrived_at or at
        wait = timedelta(minutes=policy.not_home_after_minutes)
        earliest = arrived + wait
        if at < earliest:
            raise RuleViolation(
                "FLD-2",
                f"'Not home' can be recorded from {earliest.isoformat()} on: keep knocking and "
                f"phone the customer first",
                earliest_at=earliest.isoformat(),
            )
        knocked_until = self._knocking_done_at(arrived=arrived, at=at, policy=policy)
        if knocked_until is None:
            # rule FLD-2: nobody answers -> knock again every interval, for the whole wait.
            gap = self._unknocked(start=arrived, end=earliest, at=at, policy=policy)
            raise RuleViolation(
                "FLD-2",
                f"Knock again every {policy.door_knock_interval_seconds} s for "
                f"{policy.not_home_after_minutes} min, logging each knock (log_attempt, "
                f"kind door), before phoning: no knock logged from {gap[0].isoformat()}; after "
                "a gap the wait starts again",
                knock_interval_seconds=policy.door_knock_interval_seconds,
                knock_minutes=policy.not_home_after_minutes,
                unknocked_from=[g.isoformat() for g in gap],
            )
        # rule FLD-2: after the knocking, phone; "not home" is for a customer it did not reach.
        unreached_call = any(
            a.kind is AttemptKind.PHONE and not a.reached and knocked_until <= a.at <= at
            for a in self.attempts
        )
        if policy.not_home_requires_phone_attempt and not unreached_call:
            raise RuleViolation(
                "FLD-2",
                f"Phone the customer after the {policy.not_home_after_minutes} min of knocking "
                f"(from {knocked_until.isoformat()}) and log the call that did not reach them "
                "before recording 'not home'; a customer reached on the phone is a door "
                "outcome (FLD-3)",
                phone_from=knocked_until.isoformat(),
            )
        phoned = any(a.kind is AttemptKind.PHONE and a.at <= at for a in self.attempts)
        if not (note and note.strip()) and note_photo_ref is None:
            raise RuleViolation("FLD-2", "Leave a note (its text or a photo of it) at the door")
        if note_photo_ref is not None:
            self._require_refs([note_photo_ref], EvidenceKind.NOTE, "note_photo_ref")
        self._check("not_home", at)
        self.not_home_note = note
        self.not_home_note_ref = note_photo_ref
        asked = neighbours_asked or any(a.kind is AttemptKind.NEIGHBOURS for a in self.attempts)
        self.events.append(
            CustomerNotHome(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                arrived_at=arrived,
                waited_minutes=int((at - arrived).total_seconds() // 60),
                phoned=phoned,
                neighbours_asked=asked,
                note_left=True,
            )
        )
        self._end(S.NOT_HOME, VisitOutcome.CUSTOMER_NOT_HOME, at)

    def _unknocked(
        self, *, start: datetime, end: datetime, at: datetime, policy: FieldworkPolicy
    ) -> list[datetime]:
        """The starts of the stretches from ``start`` to ``end`` longer than the knock interval
        with no knock logged by ``at`` (FLD-2); a wait of zero, or one no longer than the
        interval, still needs one knock: nobody answered the door only if someone knocked."""
        knocks = sorted(a.at for a in self.attempts if a.kind is AttemptKind.DOOR and a.at <= at)
        if end <= start:
            return [] if any(start <= k for k in knocks) else [start]
        if not any(start <= k <= end for k in knocks):
            return [start]
        # "Knock again every interval" is the spacing of the knocks: no stretch of the wait
        # (arrival to first knock, knock to knock, last knock to the end) longer than it, however
        # the knocks fall against fixed slots.
        interval = timedelta(seconds=policy.door_knock_interval_seconds)
        marks = [start, *(k for k in knocks if start < k < end), end]
        return [a for a, b in pairwise(marks) if b - a > interval]

    def _knocking_done_at(
        self, *, arrived: datetime, at: datetime, policy: FieldworkPolicy
    ) -> datetime | None:
        """The end of the first full wait with a knock in every interval, from arrival or,
        after a gap, from a later knock (FLD-2); None when there is none by ``at``."""
        wait = timedelta(minutes=policy.not_home_after_minutes)
        starts = sorted(
            {arrived}
            | {a.at for a in self.attempts if a.kind is AttemptKind.DOOR and arrived < a.at}
        )
        for start in starts:
            if start + wait > at:
                break
            if not self._unknocked(start=start, end=start + wait, at=at, policy=policy):
                return start + wait
        return None

    def diagnose(
        self,
        *,
        at: datetime,
        cause: str,
        fault_code: str | None = None,
        parts: Sequence[PartLine] = (),
        work_items: Sequence[WorkItem] = (),
        chargeable: bool | None = None,
        unknown_fault: bool = False,
        take_back_needed: bool = False,
        warranty_status: WarrantyStatus | None = None,
        warranty_card_amount: Decimal | None = None,
        installed_on: date | None = None,
        product_line: str | None = None,
        rework_free: bool = False,
        today: date | None = None,
        policy: FieldworkPolicy | None = None,
        purchased_on: date | None = None,
    ) -> None:
        """Record cause, parts and warranty status (FLD-4). Chargeable work asks billing for a
        quote and waits for the customer's consent; work items listed for work that is not
        chargeable are quoted too (free, BIL-1), without waiting for consent. With
        ``rework_free``, a rework visit (FBK-7) is not chargeable unless ``chargeable`` says so,
        its items covered unless they say otherwise.

        Each item goes to billing with the time it is handled (``at`` unless it says, BIL-3),
        with the customer's warranty card terms (BIL-2), the installation date (BIL-5) and the
        product line whose schedule applies. An item's time lies between the arrival and the
        policy's horizon after the diagnosis, and the installation date is not after ``today``
        (the diagnosis's business day): billing bundles and dates the work by them (BIL-3,
        BIL-5)."""
        self._check("diagnose")
        self._check_work_times(
            work_items,
            at=at,
            policy=policy or FieldworkPolicy(),
            installed_on=installed_on,
            today=today or at.date(),
            purchased_on=purchased_on,
        )
        quote = self.quote
        consented = quote if quote is not None and quote.status is QuoteStatus.ACCEPTED else None
        status = warranty_status or self.warranty_status
        listed = [
            item if item.handled_at is not None else item.model_copy(update={"handled_at": at})
            for item in work_items
        ]
        items = listed or [
            WorkItem(
                kind=WorkItemKind.PART,
                description=p.name,
                part_no=p.part_no,
                quantity=p.quantity,
                covered_by_warranty=p.covered_by_warranty,
                handled_at=at,
            )
            for p in parts
        ]
        if rework_free and self.rework and chargeable is None:
            # rule FBK-7: redoing work the customer already had (and paid for) is not charged
            # again; an item marked not covered, or an upgrade, is new work and still is.
            items = [
                item
                if item.covered_by_warranty is not None or item.upgrade
                else item.model_copy(update={"covered_by_warranty": True})
                for item in items
            ]
            chargeable = any(i.covered_by_warranty is False or i.upgrade for i in items)
        excluded = any(i.covered_by_warranty is False or i.upgrade for i in items)
        is_chargeable = (
            chargeable
            if chargeable is not None
            else (status is not WarrantyStatus.IN_WARRANTY or excluded)
        )
        if chargeable:
            # rule FLD-4/BIL-1: the technician found the work chargeable (misuse, damage) on a
            # unit billing may know as in warranty; an item left undecided would be priced as
            # covered (free) and the customer consent to 0.00. Items that say otherwise keep it.
            items = [
                item
                if item.covered_by_warranty is not None
                else item.model_copy(update={"covered_by_warranty": False})
                for item in items
            ]
        if is_chargeable and not items and not take_back_needed and consented is None:
            raise RuleViolation(
                "FLD-4", "Chargeable work needs its work items (or parts) for billing to quote"
            )
        self._check("diagnose", at)
        self.warranty_status = status
        self.cause = cause
        self.diagnosis = Diagnosis(
            cause=cause,
            fault_code=fault_code,
            parts=list(parts),
            warranty_status=status,
            chargeable=is_chargeable,
            unknown_fault=unknown_fault,
            take_back_needed=take_back_needed,
            at=at,
        )
        self.chargeable = is_chargeable or consented is not None
        self.events.append(
            DiagnosisRecorded(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                cause=cause,
                fault_code=fault_code,
                parts=list(parts),
                warranty_status=status,
                chargeable=is_chargeable,
                unknown_fault=unknown_fault,
                take_back_needed=take_back_needed,
            )
        )
        if (is_chargeable and items) or listed:
            consent = is_chargeable
            if consented is not None:
                # rule FLD-4/BIL-9: more work found after the customer accepted a quote. The
                # accepted quote stays in force (the charge, the consent for the work) until the
                # customer answers a supplement that repeats its items: billing replaces a
                # visit's accepted quote with the one accepted after it, so the supplement
                # accepted is charged in full, and declined leaves the accepted one charged.
                self.consented_quote = consented
                items = [*consented.items, *items]
                if warranty_card_amount is None:
                    warranty_card_amount = consented.warranty_card_amount
                installed_on = installed_on or consented.installed_on
                product_line = product_line or consented.product_line
                consent = True
            request_id = str(uuid.uuid4())
            self.quote = Quote(
                request_id=request_id,
                items=items,
                consent_required=consent,
                warranty_card_amount=warranty_card_amount,
                installed_on=installed_on,
                product_line=product_line,
            )
            if consent:
                self.state = S.AWAITING_CONSENT
            self.events.append(
                QuoteRequested(
                    order_id=self.order_id,
                    visit_id=self.visit_id,
                    request_id=request_id,
                    technician_id=self.tech,
                    warranty_status=status,
                    items=items,
                    warranty_card_amount=warranty_card_amount,
                    installed_on=installed_on,
                    product_line=product_line,
                )
            )

    def _check_work_times(
        self,
        items: Sequence[WorkItem],
        *,
        at: datetime,
        policy: FieldworkPolicy,
        installed_on: date | None,
        today: date,
        purchased_on: date | None = None,
    ) -> None:
        """The times the technician gives with the work are ones that can be true (BIL-3,
        BIL-5): each item handled on this visit, the product installed by the diagnosis and not
        before its purchase (``purchased_on``, the order's, when known)."""
        arrived = self.arrived_at or at
        earliest = arrived - timedelta(seconds=policy.offline_clock_skew_seconds)
        latest = at + timedelta(hours=policy.work_item_horizon_hours)
        for index, item in enumerate(items):
            handled = item.handled_at
            if handled is None or earliest <= handled <= latest:
                continue
            raise InvalidInput(
                "BIL-3",
                f"Work item {index + 1} ({item.description}) is dated {handled.isoformat()}, "
                + (
                    f"before the arrival ({arrived.isoformat()})"
                    if handled < earliest
                    else f"more than {policy.work_item_horizon_hours} hours after the "
                    f"diagnosis ({at.isoformat()})"
                )
                + ": items are handled on this visit",
                field=f"work_items.{index}.handled_at",
                earliest=earliest.isoformat(),
                latest=latest.isoformat(),
            )
        if installed_on is not None and installed_on > today:
            raise InvalidInput(
                "BIL-5",
                f"The installation date {installed_on.isoformat()} is after the day of the "
                f"diagnosis ({today.isoformat()})",
                field="installed_on",
                latest=today.isoformat(),
            )
        if installed_on is not None and purchased_on is not None and installed_on < purchased_on:
            # rule BIL-5: set-up work is free or charged by the time since installation; an
            # installation before the purchase would price it as long past.
            raise InvalidInput(
                "BIL-5",
                f"The installation date {installed_on.isoformat()} is before the purchase date "
                f"({purchased_on.isoformat()}): give the date on the unit's installation record, "
                "or leave installed_on out and have the centre correct the order's dates",
                field="installed_on",
                earliest=purchased_on.isoformat(),
            )

    def quote_issued(
        self,
        *,
        quote_id: str,
        request_id: str | None,
        lines: Sequence[QuoteLine],
        total: Decimal,
        schedule_version: str,
    ) -> bool:
        """Billing priced the work (QuoteIssued); False when it answers no open request."""
        quote = self.quote
        if quote is None or quote.status is not QuoteStatus.REQUESTED:
            return False
        if request_id is not None and request_id != quote.request_id:
            return False
        quote.quote_id = quote_id
        quote.lines = list(lines)
        quote.total = total
        quote.schedule_version = schedule_version
        quote.status = QuoteStatus.ISSUED
        return True

    def quote_voided(
        self,
        *,
        quote_id: str,
        reason: QuoteVoidReason,
        at: datetime,
        answer: QuoteStatus,
        declined_quote_id: str | None = None,
    ) -> bool:
        """Billing no longer charges the quote (QuoteVoided; BIL-1, FLD-4): it shows *voided*,
        with when, why and the customer's answer it had, and charges nothing here, whether the
        visit is over or not. False when nothing changes (not this visit's quote, heard
        already, or declined: the customer's no stands)."""
        for quote in (self.quote, self.consented_quote):
            if quote is None or quote.quote_id != quote_id:
                continue
            if quote.status is QuoteStatus.DECLINED:
                return False
            if quote.void is not None:
                answer = quote.void.answer
            elif quote.status in (QuoteStatus.ISSUED, QuoteStatus.ACCEPTED):
                answer = quote.status  # the answer as given here, where the customer gave it
            void = QuoteVoid(
                reason=reason, at=at, answer=answer, declined_quote_id=declined_quote_id
            )
            if quote.void == void:
                return False
            quote.status, quote.void = QuoteStatus.VOIDED, void
            return True
        return False

    def quote_refused(self, *, request_id: str, reason: str, at: datetime) -> bool:
        """Billing cannot price the open request (QuoteRefused; BIL-1, FLD-4): it shows
        *refused* with billing's reason, and a visit waiting for the customer's consent goes
        back to the diagnosis, where the technician corrects the work and asks again (a new
        request). A refused supplement leaves the quote the customer accepted in force, as a
        declined one does (BIL-9). False when it answers no open request (an earlier request,
        one the customer declined already, or heard already)."""
        quote = self.quote
        if quote is None or quote.request_id != request_id:
            return False
        if quote.status is not QuoteStatus.REQUESTED:
            return False
        quote.status = QuoteStatus.REFUSED
        quote.refusal = QuoteRefusal(reason=reason, at=at)
        self.refused_quotes.append(quote.model_copy(deep=True))
        if self.consented_quote is not None:
            self.quote, self.consented_quote = self.consented_quote, None
        if self.state is S.AWAITING_CONSENT:
            self.state = S.DIAGNOSING
        elif self.state is S.PAUSED and self.paused_from is S.AWAITING_CONSENT:
            self.paused_from = S.DIAGNOSING
        return True

    def quote_reinstated(self, *, quote_id: str) -> bool:
        """A quote billing voided is in force again (QuoteReinstated, BIL-1): back to the
        customer's answer it had (no answer can be given while it is void). False when it is not
        this visit's voided quote (or heard already)."""
        for quote in (self.quote, self.consented_quote):
            if quote is None or quote.quote_id != quote_id or quote.void is None:
                continue
            quote.status, quote.void = quote.void.answer, None
            return True
        return False

    def charge_waived(self, *, quote_id: str, new_total: Decimal) -> bool:
        """The centre waived or reduced the charge (BIL-8)."""
        for quote in (self.quote, self.consented_quote):
            if quote is not None and quote.quote_id == quote_id:
                quote.total = new_total
                return True
        return False

    def _issued_quote(self, quote_id: str) -> Quote:
        quote = self.quote
        if quote is not None and quote.quote_id == quote_id:
            quote.refuse_if_voided()
        if quote is None or quote.status is not QuoteStatus.ISSUED:
            raise RuleViolation(
                "FLD-4", "Billing has not issued the quote yet: the customer cannot consent to it"
            )
        if quote.quote_id != quote_id:
            raise RuleViolation(
                "FLD-4", f"The open quote is {quote.quote_id}, not {quote_id}", quote_id=quote_id
            )
        return quote

    def accept_quote(self, *, at: datetime, quote_id: str, signature_ref: str) -> None:
        """The customer saw the quote and the fee schedule and signed their consent (FLD-4)."""
        self._check("accept_quote")
        quote = self._issued_quote(quote_id)
        self._require_refs([signature_ref], EvidenceKind.SIGNATURE, "signature_ref")
        self._require_fresh_signature(signature_ref, "signature_ref")
        self._check("accept_quote", at)
        quote.status = QuoteStatus.ACCEPTED
        quote.signature_ref = signature_ref
        quote.decided_at = at
        # FLD-4: an accepted supplement repeats the earlier quote's items and replaces it (as
        # billing does with the earlier accepted quote of the visit).
        self.consented_quote = None
        self.state = S.REPAIRING
        self.events.append(
            QuoteAccepted(
                order_id=self.order_id,
                visit_id=self.visit_id,
                quote_id=quote_id,
                signature_ref=signature_ref,
            )
        )

    def _declinable_quote(self, quote_id: str | None, *, discount_requested: bool) -> Quote:
        quote = self.quote
        if quote is None:
            raise RuleViolation("FLD-4", "No quote was requested: there is nothing to decline")
        if quote_id in (None, quote.quote_id):
            quote.refuse_if_voided()
        if quote.status is QuoteStatus.ISSUED:
            return quote if quote_id is None else self._issued_quote(quote_id)
        if quote_id is not None:
            raise RuleViolation(
                "FLD-4",
                f"Billing has not issued quote {quote_id}: decline without a quote_id",
                quote_id=quote_id,
            )
        if discount_requested:
            # rule BIL-8: a reduction is of a price; with no quote there is none to reduce.
            raise RuleViolation(
                "BIL-8",
                "No quote has been issued yet: there is no price to ask a reduction of",
                field="discount_requested",
            )
        return quote

    def decline_quote(
        self,
        *,
        at: datetime,
        quote_id: str | None = None,
        reason: str | None = None,
        discount_requested: bool = False,
    ) -> None:
        """No consent, no work: the visit ends declined (FLD-4). A declined supplementary
        quote (after a re-diagnosis) leaves the quote the customer accepted before in force:
        the work goes on with it, and it stays the charge (BIL-9).

        The customer may decline before billing has issued the quote (no fee schedule
        published, billing down): there is then no quote id, so no QuoteDeclined (its
        ``quote_id`` is required); VisitClosed with outcome *declined* tells the others, and a
        quote issued afterwards is ignored. ``quote_id`` omitted declines the issued quote."""
        self._check("decline_quote")
        quote = self._declinable_quote(quote_id, discount_requested=discount_requested)
        self._check("decline_quote", at)
        quote.status = QuoteStatus.DECLINED
        quote.decided_at = at
        quote.decline_reason = reason
        if quote.quote_id is not None:
            self.events.append(
                QuoteDeclined(
                    order_id=self.order_id,
                    visit_id=self.visit_id,
                    quote_id=quote.quote_id,
                    reason=reason,
                    discount_requested=discount_requested,
                )
            )
        if self.consented_quote is not None:
            # rule FLD-4/BIL-9: billing keeps charging the accepted quote; so does the visit.
            self.declined_supplements.append(quote)
            self.quote, self.consented_quote = self.consented_quote, None
            self.state = S.REPAIRING
            return
        self._end(S.DECLINED, VisitOutcome.DECLINED, at)

    def start_repair(self, *, at: datetime) -> None:
        """Start the repair (after consent when chargeable, FLD-4)."""
        self._check("start_repair", at)
        self.state = S.REPAIRING

    def record_work(
        self, *, at: datetime, description: str, parts: Sequence[PartLine] = ()
    ) -> None:
        """A repair step and the parts it fitted."""
        self._check("record_work", at)
        self.work.append(WorkStep(description=description, parts=list(parts), at=at))

    def missing_part(
        self,
        *,
        at: datetime,
        option: MissingPartOption,
        parts: Sequence[PartLine] = (),
        detail: str | None = None,
        next_visit_agreed: bool = False,
    ) -> None:
        """Wrong or missing part: fetch it now (paused, time still counted) or rebook (FLD-5)."""
        self._check("missing_part", at)
        if option is MissingPartOption.FETCH:
            self.paused_from = self.state
            self.state = S.PAUSED
            self.pauses.append(Pause(started_at=at, parts=list(parts)))
            return
        self.failure = RepairFailureReason.MISSING_PART
        self.failure_detail = detail
        self.events.append(
            RepairFailed(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                reason=RepairFailureReason.MISSING_PART,
                detail=detail,
                parts_needed=list(parts),
                next_visit_agreed=next_visit_agreed,
            )
        )
        self._end(S.REBOOK, VisitOutcome.UNFINISHED, at)

    def resume(self, *, at: datetime) -> None:
        """Back with the part: work goes on where it paused (FLD-5)."""
        self._check("resume", at)
        self.state = self.paused_from or S.DIAGNOSING
        self.paused_from = None
        self.pauses[-1].ended_at = at

    def escalate(
        self, *, at: datetime, description: str, fault_code: str | None = None, desk: str
    ) -> None:
        """Report a new, unknown fault to the technical desk (FLD-7)."""
        self._check("escalate", at)
        self.escalations.append(
            Escalation(description=description, fault_code=fault_code, desk=desk, at=at)
        )
        self.events.append(
            FaultEscalated(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                description=description,
                fault_code=fault_code,
                desk=desk,
            )
        )

    def refuse_take_back(self, *, at: datetime) -> None:
        """The customer refused take-back: repair on site, part serials noted (FLD-6)."""
        self._check("refuse_take_back", at)
        self.take_back_refused = True

    def take_unit_back(
        self,
        *,
        at: datetime,
        receipt_number: str,
        appearance: str,
        photo_refs: Sequence[str],
        promised_return_date: date,
        today: date,
        latest_return: date | None = None,
        unit_serial: str | None = None,
        loaner_serial: str | None = None,
        loaner_lent: str | None = None,
    ) -> None:
        """The unit goes to the workshop: appearance and photos recorded, receipt given, loaner
        lent, return date agreed (FLD-6), from ``today`` to ``latest_return`` (the policy's
        longest promise). ``loaner_lent`` is the loaner the customer already has for this
        order: they keep it, and no other is needed."""
        self._check("take_back")
        if self.take_back_refused:
            raise RuleViolation(
                "FLD-6",
                "The customer refused the take-back: the unit stays and is repaired on site, "
                "with the serial number of every part fitted (or the visit ends unfinished)",
                state=self.state.value,
                allowed=self.allowed_actions(),
            )
        if not appearance.strip():
            raise RuleViolation("FLD-6", "Record the unit's appearance before taking it back")
        if not photo_refs:
            raise RuleViolation("FLD-6", "Photograph the unit before taking it back")
        self._require_refs(photo_refs, EvidenceKind.PHOTO, "photo_refs")
        if promised_return_date < today:
            raise InvalidInput(
                "FLD-6",
                f"The promised return date {promised_return_date.isoformat()} is before the day "
                f"the unit is taken ({today.isoformat()})",
                field="promised_return_date",
                earliest=today.isoformat(),
            )
        if latest_return is not None and promised_return_date > latest_return:
            # rule FLD-6: the unit is returned by the date agreed; a date beyond any workshop
            # repair (9999-12-31) would never fall overdue, so nobody would chase the return.
            raise InvalidInput(
                "FLD-6",
                f"The promised return date {promised_return_date.isoformat()} is later than "
                f"the longest return the policy allows ({latest_return.isoformat()})",
                field="promised_return_date",
                latest=latest_return.isoformat(),
            )
        loaner = loaner_serial or self.loaner_serial
        if loaner is not None and loaner == loaner_lent:
            loaner = None
        if self.loaner_required and loaner is None and loaner_lent is None:
            raise RuleViolation("FLD-6", "This order asks for a loaner: lend one (loaner_serial)")
        self._check("take_back", at)
        self.take_back = TakeBackRecord(
            receipt_number=receipt_number,
            unit_serial=unit_serial,
            appearance=appearance,
            photo_refs=list(photo_refs),
            loaner_serial=loaner,
            promised_return_date=promised_return_date,
        )
        self.events.append(
            UnitTakenBack(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                receipt_number=receipt_number,
                unit_serial=unit_serial,
                appearance=appearance,
                loaner_serial=loaner,
                promised_return_date=promised_return_date,
            )
        )
        self._end(S.TAKEN_BACK, VisitOutcome.TAKEN_BACK, at)

    def start_test(self, *, at: datetime) -> None:
        """Start the test run (FLD-9)."""
        self._check("start_test", at)
        self.state = S.TESTING

    def reexamine(self, *, at: datetime) -> None:
        """The test run failed: examine again (FLD-9)."""
        self._check("reexamine", at)
        self.state = S.DIAGNOSING

    def complete_repair(
        self,
        *,
        at: datetime,
        tested: bool,
        sure_fixed: bool,
        latent_faults_fixed: Sequence[str] = (),
        parts: Sequence[PartLine] = (),
        cause: str | None = None,
        remedy: str | None = None,
    ) -> None:
        """The repair is done; untested or unsure feeds feedback's call-backs (FLD-9, FBK-2)."""
        self._check("complete_repair")
        if self.installation_job:
            # rule FLD-10: an installation is confirmed with its photos and barcode scans.
            raise RuleViolation(
                "FLD-10",
                "This job is an installation: confirm it with complete_installation, with the "
                "photos of the result and the barcode scans",
                instead="complete_installation",
            )
        if tested and self.state is not S.TESTING:
            raise RuleViolation("FLD-9", "Run the test (start_test) before reporting it tested")
        fitted = [*parts, *(p for step in self.work for p in step.parts)]
        # A blank serial is no serial noted: the customer could not check the part by it.
        if self.take_back_refused and any(not (p.serial or "").strip() for p in fitted):
            raise RuleViolation(
                "FLD-6",
                "The customer refused take-back: note the serial number of every part fitted",
            )
        self._check("complete_repair", at)
        self.completion = Completion(
            tested=tested,
            sure_fixed=sure_fixed,
            latent_faults_fixed=list(latent_faults_fixed),
            parts=list(fitted),
        )
        self.cause = cause or self.cause
        self.remedy = remedy or self.remedy
        self.ended_at = at
        self.events.append(
            RepairCompleted(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                tested=tested,
                sure_fixed=sure_fixed,
                parts=fitted,
                latent_faults_fixed=list(latent_faults_fixed),
                on_site_minutes=self.on_site_seconds // 60,
                on_site_seconds=self.on_site_seconds,
                cause=self.cause,
                remedy=self.remedy,
            )
        )
        self._end(S.COMPLETED, VisitOutcome.COMPLETED, at)

    def complete_installation(
        self,
        *,
        at: datetime,
        today: date,
        arrived_on: date | None,
        photo_refs: Sequence[str],
        barcodes: Sequence[str],
        policy: FieldworkPolicy,
        installed_on: date | None = None,
        purchased_on: date | None = None,
        substandard_conditions: Sequence[str] = (),
        conditions_signature_ref: str | None = None,
    ) -> None:
        """Installation confirmed with photos and barcode scans; a substandard condition needs
        the customer's signature (FLD-10).

        ``today`` is the business day of the completion and ``arrived_on`` that of the visit's
        arrival: the product is installed on this visit, so ``installed_on`` (default ``today``)
        lies between them, and not before ``purchased_on`` (the order's purchase date, when
        known). Billing prices set-up work from it (BIL-5)."""
        self._check("complete_installation")
        if not self.installation_job:
            # rule FLD-10: only an installation order is completed as one (InstallationCompleted).
            raise RuleViolation(
                "FLD-10",
                f"This job is not an installation (job type '{self.job_type}'): finish the "
                "repair with complete_repair",
                instead="complete_repair",
            )
        # rule FLD-10: a photo or barcode named twice is still one photo, one scan.
        photo_refs = list(dict.fromkeys(photo_refs))
        if len(photo_refs) < policy.installation_min_photos:
            raise RuleViolation(
                "FLD-10",
                f"Upload at least {policy.installation_min_photos} different photo(s) of the "
                "result",
                field="photo_refs",
            )
        self._require_refs(photo_refs, EvidenceKind.PHOTO, "photo_refs")
        codes = list(dict.fromkeys(b.strip() for b in barcodes if b.strip()))
        if len(codes) < policy.installation_min_barcodes:
            raise RuleViolation(
                "FLD-10",
                f"Scan the product barcode: at least {policy.installation_min_barcodes} "
                "different scan(s)",
                field="barcodes",
            )
        conditions = [c for c in substandard_conditions if c.strip()]
        if conditions:
            if conditions_signature_ref is None:
                raise RuleViolation(
                    "FLD-10",
                    "A substandard condition is recorded with the customer's signature",
                    field="conditions_signature_ref",
                )
            self._require_refs(
                [conditions_signature_ref], EvidenceKind.SIGNATURE, "conditions_signature_ref"
            )
            self._require_fresh_signature(conditions_signature_ref, "conditions_signature_ref")
        installed_on = self._installation_day(
            installed_on, today=today, arrived_on=arrived_on, purchased_on=purchased_on
        )
        self._check("complete_installation", at)
        self.installation = Installation(
            installed_on=installed_on,
            photo_refs=list(photo_refs),
            barcodes=codes,
            substandard_conditions=conditions,
            conditions_signature_ref=conditions_signature_ref,
        )
        self.ended_at = at
        self.events.append(
            InstallationCompleted(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                installed_on=installed_on,
                photo_refs=list(photo_refs),
                barcodes=codes,
                substandard_conditions=conditions,
                conditions_signed_by_customer=bool(conditions),
                on_site_minutes=self.on_site_seconds // 60,
            )
        )
        self._end(S.COMPLETED, VisitOutcome.COMPLETED, at)

    @staticmethod
    def _installation_day(
        installed_on: date | None,
        *,
        today: date,
        arrived_on: date | None,
        purchased_on: date | None,
    ) -> date:
        """The installation date of an installation completed on this visit (FLD-10, BIL-5)."""
        day = installed_on or today
        if day > today:
            raise RuleViolation(
                "FLD-10",
                f"The installation date {day.isoformat()} is after the day of completion "
                f"({today.isoformat()})",
                field="installed_on",
                latest=today.isoformat(),
            )
        if arrived_on is not None and day < arrived_on:
            raise RuleViolation(
                "FLD-10",
                f"The installation date {day.isoformat()} is before the visit's arrival "
                f"({arrived_on.isoformat()}): the product is installed on this visit",
                field="installed_on",
                earliest=arrived_on.isoformat(),
            )
        if purchased_on is not None and day < purchased_on:
            raise RuleViolation(
                "FLD-10",
                f"The installation date {day.isoformat()} is before the purchase date "
                f"({purchased_on.isoformat()})",
                field="installed_on",
                earliest=purchased_on.isoformat(),
            )
        return day

    def fail(
        self,
        *,
        at: datetime,
        reason: RepairFailureReason,
        detail: str | None = None,
        next_visit_agreed: bool = False,
    ) -> None:
        """The repair cannot be finished on this visit (FLD-7, FLD-9, SCH-10)."""
        self._check("fail")
        if reason is RepairFailureReason.UNKNOWN_FAULT and not self.escalations:
            raise RuleViolation(
                "FLD-7", "Report an unknown fault to the technical desk (escalate) first"
            )
        self._check("fail", at)
        self.failure = reason
        self.failure_detail = detail
        self.events.append(
            RepairFailed(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                reason=reason,
                detail=detail,
                next_visit_agreed=next_visit_agreed,
            )
        )
        self._end(S.FAILED, VisitOutcome.UNFINISHED, at)

    def request_centre_decision(
        self,
        *,
        at: datetime,
        kind: CentreDecisionKind,
        reason: str,
        amount_claimed: Decimal | None = None,
        meets_return_conditions: bool | None = None,
    ) -> CentreRequest:
        """Record a return, exchange or compensation demand and send it to the centre; nothing
        is promised on site (FLD-8)."""
        self._check("request_centre_decision", at)
        request = CentreRequest(
            request_id=str(uuid.uuid4()),
            kind=kind,
            reason=reason,
            amount_claimed=amount_claimed,
            meets_return_conditions=meets_return_conditions,
            at=at,
        )
        self.centre_requests.append(request)
        self.events.append(
            CentreDecisionRequested(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                request_id=request.request_id,
                kind=kind,
                reason=reason,
                amount_claimed=amount_claimed,
                meets_return_conditions=meets_return_conditions,
            )
        )
        return request

    def report_damage(
        self,
        *,
        at: datetime,
        description: str,
        estimated_cost: Decimal | None = None,
        photo_refs: Sequence[str] = (),
    ) -> None:
        """Damage to the customer's property, for compensation at cost (FLD-13)."""
        self._check("report_damage")
        self._require_refs(photo_refs, EvidenceKind.PHOTO, "photo_refs")
        self._check("report_damage", at)
        self.incidents.append(
            Incident(kind="damage", description=description, at=at, estimated_cost=estimated_cost)
        )
        self.events.append(
            DamageReported(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                description=description,
                estimated_cost=estimated_cost,
                photo_refs=list(photo_refs),
            )
        )

    def safety_incident(
        self,
        *,
        at: datetime,
        kind: SafetyIncidentKind,
        description: str,
        technician_safe: bool = True,
        leave_site: bool = True,
    ) -> None:
        """Detained, abused or in danger: no argument, the centre takes over (FLD-14). After the
        visit ended (at sign-off) it is recorded and the visit keeps its outcome."""
        self._check("safety_incident", at)
        self.incidents.append(Incident(kind=f"safety:{kind.value}", description=description, at=at))
        self.events.append(
            SafetyIncident(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                kind=kind,
                description=description,
                technician_safe=technician_safe,
            )
        )
        if leave_site and not self.ended:
            self._end(S.ABORTED, VisitOutcome.ABORTED, at)

    def sign_off(
        self,
        *,
        at: datetime,
        signed: bool,
        signature_ref: str | None = None,
        repair_quality: Rating | None = None,
        service_attitude: Rating | None = None,
        amount_acknowledged: Decimal | None = None,
        comments: str | None = None,
    ) -> None:
        """Ratings and signature, or "refused to sign"; never required to complete (FLD-12)."""
        self._check("sign_off")
        if self.signed_off is not None:
            raise RuleViolation("FLD-12", "The customer has already signed off this visit")
        charged = self.amount_charged
        if signed:
            if signature_ref is None:
                raise RuleViolation("FLD-12", "A signed sign-off needs the signature image")
            self._require_refs([signature_ref], EvidenceKind.SIGNATURE, "signature_ref")
            self._require_fresh_signature(signature_ref, "signature_ref")
            # rule BIL-9: the customer signs for the amount actually charged; a visit with no
            # accepted quote (nothing quoted, declined, never answered) charges nothing, as
            # billing counts it, so no other amount is signed for.
            due = Decimal("0.00") if charged is None else charged
            if amount_acknowledged is None:
                amount_acknowledged = charged
            elif amount_acknowledged != due:
                raise RuleViolation(
                    "BIL-9",
                    f"The customer signs for the amount charged, {due:.2f}, "
                    f"not {amount_acknowledged:.2f}",
                    field="amount_acknowledged",
                    amount_charged=f"{due:.2f}",
                )
        elif amount_acknowledged is not None:
            raise RuleViolation(
                "BIL-9",
                "A customer who refuses to sign acknowledges no amount",
                field="amount_acknowledged",
            )
        self._check("sign_off", at)
        self.signed_off = SignOffRecord(
            repair_quality=repair_quality,
            service_attitude=service_attitude,
            sign_off=SignOff.SIGNED if signed else SignOff.REFUSED,
            signature_ref=signature_ref if signed else None,
            amount_acknowledged=amount_acknowledged,
            comments=comments,
            at=at,
        )
        self.events.append(
            CustomerSignedOff(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.tech,
                repair_quality=repair_quality,
                service_attitude=service_attitude,
                sign_off=self.signed_off.sign_off,
                signature_ref=self.signed_off.signature_ref,
                amount_acknowledged=amount_acknowledged,
                comments=comments,
            )
        )

    def complete_report(
        self, *, at: datetime, cause: str | None = None, remedy: str | None = None
    ) -> None:
        """Cause and remedy completed back at the office (FLD-12)."""
        self._check("complete_report", at)
        self.cause = cause or self.cause
        self.remedy = remedy or self.remedy

    def add_evidence(
        self, *, at: datetime, ref: str, kind: EvidenceKind, content_type: str, size: int
    ) -> Evidence:
        """An upload stored for this visit (photos, barcodes, signatures, notes). None on a
        visit called off, but one the order's cancellation called off before its technician was
        known at the door: the offline app uploads what they did before it ahead of the actions
        naming the uploads (SCH-12)."""
        self.refuse_if_erased("upload")
        if self.state is S.CANCELLED and self.order_cancelled_at is None:
            raise IllegalTransition("upload", self.state.value, self.allowed_actions())
        item = Evidence(ref=ref, kind=kind, content_type=content_type, size=size, at=at)
        self.evidence.append(item)
        return item

    def erase_personal_data(self, *, at: datetime) -> list[str]:
        """Erase the customer's personal data (BIL-11) and return the refs of the uploads to
        delete: signature images, photos of the home and of the note left at the door. Barcode
        scans, ids, times, amounts, ratings, outcomes and the technical record (diagnosis,
        work, cause, remedy, escalations) stay. Erasing again changes nothing."""
        personal = [e.ref for e in self.evidence if e.kind is not EvidenceKind.BARCODE]
        barcodes = self.evidence_of(EvidenceKind.BARCODE)
        named: list[str | None] = [self.not_home_note_ref]
        for quote in (self.quote, self.consented_quote, *self.declined_supplements):
            if quote is not None:
                named.append(quote.signature_ref)
                quote.signature_ref = None
                quote.decline_reason = erase_text(quote.decline_reason)
        if self.take_back is not None:
            named.extend(self.take_back.photo_refs)
            self.take_back.photo_refs = []
        if self.installation is not None:
            named.extend(
                [*self.installation.photo_refs, self.installation.conditions_signature_ref]
            )
            self.installation.photo_refs = []
            self.installation.conditions_signature_ref = None
        if self.signed_off is not None:
            named.append(self.signed_off.signature_ref)
            self.signed_off.signature_ref = None
            self.signed_off.comments = erase_text(self.signed_off.comments)
        refs = list(dict.fromkeys([*personal, *(r for r in named if r and r not in barcodes)]))
        self.evidence = [e for e in self.evidence if e.kind is EvidenceKind.BARCODE]
        self.position = None
        self.not_home_note = erase_text(self.not_home_note)
        self.not_home_note_ref = None
        for attempt in self.attempts:
            attempt.detail = erase_text(attempt.detail)
        for door in self.door:
            door.detail = erase_text(door.detail)
        self.failure_detail = erase_text(self.failure_detail)
        for incident in self.incidents:
            incident.description = ERASED
        for request in self.centre_requests:
            request.reason = ERASED
        for trip in self.trips_called_off:
            trip.reason = ERASED
        for handover in self.handovers:
            handover.reason = erase_text(handover.reason) or ""
        self.anonymised_at = self.anonymised_at or at
        return refs

    def cancel(self, *, at: datetime, order_cancelled: bool = False) -> bool:
        """The order was cancelled (SCH-12), or resolved by phone before the visit (INT-4): a
        visit not yet at the customer's is called off. One on site ends *aborted*, its on-site
        time counted up to then and VisitClosed published, so the others close their side too
        (FLD-11, FBK-3). False when the visit was over.

        With ``order_cancelled`` (the order's cancellation, at ``at``) a visit called off keeps
        that time, so that what its technician logged offline before it still applies when
        synced (:meth:`reopen_before_cancellation`)."""
        if self.ended:
            return False
        if self.order_cancelled_at is not None:
            # The same cancellation heard again later does not move its time.
            at = min(at, self.order_cancelled_at)
        if self.state in ON_SITE:
            # The cancellation may reach the visit after actions the technician took before
            # hearing of it: they were on site until the last of them at least.
            self._end(S.ABORTED, VisitOutcome.ABORTED, max(at, self.last_action_at or at))
            return True
        self.state = S.CANCELLED
        self.ended_at = at if self.departed_at is not None else None
        if order_cancelled:
            self.order_cancelled_at = at
        return True

    def reopen_before_cancellation(self, *, at: datetime) -> bool:
        """An action its technician logged offline at ``at``, before the order's cancellation
        called the visit off as not started, and synced after it (SCH-12): the visit goes back
        to where it was then (scheduled, or on the way), so the actions before the cancellation
        apply as they happened (on site wins, as for a handover). Those after it are refused
        (:meth:`stopped_by_cancellation`), and :meth:`end_at_cancellation` ends the visit as the
        cancellation would have ended it. Returns whether the visit reopened.

        Only a visit called off with nothing published (a visit known on site ended *aborted*,
        its VisitClosed sent, and stays so)."""
        cancelled_at = self.order_cancelled_at
        if self.state is not S.CANCELLED or cancelled_at is None or at >= cancelled_at:
            return False
        self.state = S.DEPARTED if self.departed_at is not None else S.SCHEDULED
        self.ended_at = None
        return True

    def stopped_by_cancellation(self, at: datetime) -> bool:
        """Whether the order's cancellation stops an action of ``at`` (SCH-12): any on a visit
        still open. On a visit it called off as not started, only one from the cancellation on,
        then also once the visit is over aborted or called off (the technician hears why); a
        visit that ended otherwise keeps the records its state allows (a sign-off after a repair
        completed before the cancellation)."""
        cancelled_at = self.order_cancelled_at
        if cancelled_at is None:
            return not self.ended
        if at < cancelled_at:
            return False
        return not self.ended or self.state in (S.ABORTED, S.CANCELLED)

    def end_at_cancellation(self) -> bool:
        """Once the actions logged offline before the order's cancellation are applied to the
        visit reopened for them (SCH-12): still on site, it ends *aborted* at the cancellation,
        VisitClosed published (FLD-11, FBK-3); not at the door, it is called off again. A visit
        that ended before the cancellation (completed, say) keeps its end. Returns whether the
        visit changed."""
        if self.ended or self.order_cancelled_at is None:
            return False
        return self.cancel(at=self.order_cancelled_at, order_cancelled=True)

    def reschedule(self, window: TimeWindow) -> bool:
        """The appointment moved (SCH-3, SCH-6): the visit's window follows it until the
        technician is at the door (a late technician agrees a new time on the way); False after.
        """
        if self.state not in (S.SCHEDULED, S.DEPARTED):
            return False
        self.window = window
        return True

    def reassign(
        self,
        technician_id: str | None,
        *,
        at: datetime,
        network_id: str | None = None,
        reason: str = "reassigned",
    ) -> bool:
        """Another technician or network holds the visit, or nobody does: back to the centre
        (SCH-8, SCH-12). Returns whether the visit changed.

        Before departure it just changes hands. On the way (departed, not arrived) the trip is
        called off (SCH-6, SCH-10): recorded in ``trips_called_off``, the visit is scheduled again
        for the new holder, who departs with their own kit. Once the technician is at the door
        the visit stays with them until it ends here (on site wins), and a move to the
        technician already holding the visit changes nothing."""
        called_off = False
        if technician_id is not None and technician_id == self.technician_id:
            if self.state is not S.SCHEDULED or network_id == self.network_id:
                return False
        elif self.state is S.DEPARTED:
            self._call_off_trip(at=at, reason=reason, handed_to=technician_id)
            called_off = True
        if self.state is not S.SCHEDULED:
            return False
        if technician_id != self.technician_id:
            self.handovers.append(
                Handover(
                    technician_id=self.technician_id,
                    network_id=self.network_id,
                    at=at,
                    handed_to=technician_id,
                    handed_to_network=network_id,
                    trip_called_off=called_off,
                    reason=reason,
                )
            )
        self.technician_id = technician_id
        self.network_id = network_id
        return True

    def reclaim_for_arrival(
        self,
        technician_id: str,
        *,
        arrived_at: datetime,
        now: datetime,
        departed_at: datetime | None = None,
    ) -> bool:
        """A former holder's arrival, logged offline before the visit left them and synced
        after, gives the visit back to them: they were at the door when the centre moved it
        (on site wins, SCH-6, SCH-8; scheduling gives the order back when it hears of the
        arrival). Only while the visit's new holder has not left for it; a trip called off on
        the way goes on where it was. ``departed_at`` is their departure logged with the
        arrival (the earliest, if any): without a trip to go on, an arrival not preceded by one
        cannot be applied, so it takes nothing back. Returns whether the visit went back to
        them."""
        if self.state is not S.SCHEDULED or technician_id == self.technician_id:
            return False
        if self.anonymised_at is not None:
            return False  # BIL-11: the batch refuses its actions, so it has nothing to apply
        handover = next(
            (h for h in reversed(self.handovers) if h.technician_id == technician_id), None
        )
        if handover is None or arrived_at >= handover.at:
            return False
        trip = self.trips_called_off[-1] if self.trips_called_off else None
        trip_goes_on = (
            handover.trip_called_off and trip is not None and trip.technician_id == technician_id
        )
        if not trip_goes_on and (departed_at is None or departed_at > arrived_at):
            # SCH-8: they never left for it (or only after the arrival they logged): the batch
            # refuses that arrival, and the visit stays with the holder the centre chose.
            return False
        self.handovers.append(
            Handover(
                technician_id=self.technician_id,
                network_id=self.network_id,
                at=now,
                handed_to=technician_id,
                handed_to_network=handover.network_id,
                reason=f"arrival logged offline at {arrived_at.isoformat()}, before the change "
                f"of {handover.at.isoformat()}",
            )
        )
        self.technician_id = technician_id
        self.network_id = handover.network_id
        if trip_goes_on and trip is not None:
            # The trip was not over: the departure stands (the loaner went back to the stock
            # when it was called off; the technician records it again if they still carry it).
            self.state = S.DEPARTED
            self.departed_at = trip.departed_at
            self.eta = trip.eta
        return True

    def _call_off_trip(self, *, at: datetime, reason: str, handed_to: str | None) -> None:
        """Record the trip under way and make the visit ready to depart again."""
        self.trips_called_off.append(
            CalledOffTrip(
                technician_id=self.technician_id,
                network_id=self.network_id,
                departed_at=self.departed_at,
                eta=self.eta,
                called_off_at=at,
                reason=reason,
                handed_to=handed_to,
                loaner_serial=self.loaner_serial,
            )
        )
        self.state = S.SCHEDULED
        self.departed_at = None
        self.eta = None
        self.kit_checked = []
        self.loaner_serial = None
