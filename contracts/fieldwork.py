"""Events published by the fieldwork service (topic ``fsm.fieldwork.events``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from contracts.base import EventData
from contracts.common import GeoPoint, Money, PartLine, WarrantyStatus, WorkItem


class _FieldworkEvent(EventData):
    producer: ClassVar[str] = "fieldwork"


class TechnicianDeparted(_FieldworkEvent):
    """The technician left for the customer, timed to arrive 5-10 minutes early (SCH-4), with the
    kit checked (FLD-1) and a loaner on board when the order asked for one (INT-6).
    """

    event_type: ClassVar[str] = "TechnicianDeparted"

    order_id: str
    visit_id: str
    technician_id: str
    eta: AwareDatetime
    position: GeoPoint | None = None
    loaner_on_board: bool = False
    kit_checked: bool = True
    """Whether the kit list for the job type was checked before leaving (FLD-1)."""


class TechnicianArrived(_FieldworkEvent):
    """The technician arrived at the customer; time and place are recorded (FLD-2). Service time
    runs from here (FLD-11).
    """

    event_type: ClassVar[str] = "TechnicianArrived"

    order_id: str
    visit_id: str
    technician_id: str
    arrived_at: AwareDatetime
    position: GeoPoint | None = None


class CustomerNotHome(_FieldworkEvent):
    """Nobody let the technician in: after knocking and phoning, the technician left a note and
    the order goes back for rebooking (FLD-2, FLD-3, SCH-5).
    """

    event_type: ClassVar[str] = "CustomerNotHome"

    order_id: str
    visit_id: str
    technician_id: str
    arrived_at: AwareDatetime
    waited_minutes: int = Field(default=0, ge=0)
    phoned: bool = False
    neighbours_asked: bool = False
    note_left: bool = False
    someone_else_home: bool = False
    """Someone other than the customer was home but could not confirm for them (FLD-3)."""


class DiagnosisRecorded(_FieldworkEvent):
    """The technician diagnosed the cause and the parts needed (FLD-4, FLD-7).

    Out of warranty the customer must be shown the fee schedule and consent before any work.
    """

    event_type: ClassVar[str] = "DiagnosisRecorded"

    order_id: str
    visit_id: str
    technician_id: str
    cause: str
    fault_code: str | None = None
    parts: list[PartLine] = Field(default_factory=list)
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    chargeable: bool = False
    """Whether the customer will be charged (out of warranty, or work the warranty excludes)."""
    unknown_fault: bool = False
    """A new fault reported to the technical desk (FLD-7)."""
    take_back_needed: bool = False
    """The unit cannot be fixed on site (FLD-6)."""


class QuoteRequested(_FieldworkEvent):
    """The technician listed the work to be done and asks billing to price it; billing answers
    with QuoteIssued (FLD-4, BIL-1..BIL-6). Fieldwork never computes prices.
    """

    event_type: ClassVar[str] = "QuoteRequested"

    order_id: str
    visit_id: str
    request_id: str
    """Echoed by QuoteIssued."""
    technician_id: str | None = None
    warranty_status: WarrantyStatus = WarrantyStatus.UNKNOWN
    items: list[WorkItem]
    warranty_card_amount: Money | None = None
    """The price on the customer's warranty card, if any; the lower price is charged (BIL-2)."""
    installed_on: date | None = None
    """Installation date, for set-up and adjustment work after installation (BIL-5)."""
    product_line: str | None = None
    """The product line whose fee schedule applies; billing falls back to the order's (BIL-1)."""


class QuoteAccepted(_FieldworkEvent):
    """The customer saw the quote and the fee schedule and consented before any work (FLD-4, BIL-1,
    BIL-9).
    """

    event_type: ClassVar[str] = "QuoteAccepted"

    order_id: str
    visit_id: str
    quote_id: str
    signature_ref: str | None = None
    """Reference of the stored signature image."""


class QuoteDeclined(_FieldworkEvent):
    """The customer did not consent to chargeable work: no work is done and the visit ends
    *declined* (FLD-4, BIL-8).
    """

    event_type: ClassVar[str] = "QuoteDeclined"

    order_id: str
    visit_id: str
    quote_id: str
    reason: str | None = None
    discount_requested: bool = False
    """The customer asked for a reduction; only the centre may approve one (BIL-8)."""


class RepairCompleted(_FieldworkEvent):
    """The repair is done (FLD-9, FLD-11).

    Untested, or not sure it is fully fixed, triggers a call-back after 2 or 3 hours (FBK-2).
    `on_site_minutes` is this visit's arrival-to-completion time, unrounded (FLD-11).
    """

    event_type: ClassVar[str] = "RepairCompleted"

    order_id: str
    visit_id: str
    technician_id: str
    tested: bool
    sure_fixed: bool
    parts: list[PartLine] = Field(default_factory=list)
    """Parts fitted (BIL-9)."""
    latent_faults_fixed: list[str] = Field(default_factory=list)
    """Other faults found and fixed during the test run (FLD-9)."""
    on_site_minutes: int = Field(ge=0)
    cause: str | None = None
    """May be left blank on site and completed at the office (FLD-12)."""
    remedy: str | None = None
    on_site_seconds: int | None = Field(default=None, ge=0)
    """This visit's arrival-to-completion time in seconds, as it happened (FLD-11)."""


class RepairFailureReason(StrEnum):
    """Why a repair could not be finished on this visit."""

    MISSING_PART = "missing_part"
    """Wrong or missing part and no time to fetch it (FLD-5)."""
    NEEDS_SECOND_VISIT = "needs_second_visit"
    """Work not finished today (SCH-10)."""
    UNKNOWN_FAULT = "unknown_fault"
    """A new fault the technical desk could not solve on site (FLD-7)."""
    NOT_FIXED_AFTER_TEST = "not_fixed_after_test"
    """The test run failed (FLD-9)."""
    TAKE_BACK_REFUSED = "take_back_refused"
    """The customer refused take-back of a unit that cannot be fixed on site (FLD-6)."""
    OTHER = "other"


class RepairFailed(_FieldworkEvent):
    """The repair could not be finished on this visit; scheduling books the next step
    (FLD-5, FLD-7, FLD-9, SCH-10).
    """

    event_type: ClassVar[str] = "RepairFailed"

    order_id: str
    visit_id: str
    technician_id: str
    reason: RepairFailureReason
    detail: str | None = None
    parts_needed: list[PartLine] = Field(default_factory=list)
    next_visit_agreed: bool = False
    """Whether a next visit time was agreed with the customer on site (SCH-10)."""


class UnitTakenBack(_FieldworkEvent):
    """The unit could not be fixed on site and went to the workshop (FLD-6): its appearance was
    recorded, the customer got a signed receipt and a loaner, and a return date was agreed.
    """

    event_type: ClassVar[str] = "UnitTakenBack"

    order_id: str
    visit_id: str
    technician_id: str
    receipt_number: str
    unit_serial: str | None = None
    appearance: str | None = None
    """Recorded condition of the unit's outside."""
    loaner_serial: str | None = None
    promised_return_date: date


class WorkshopProgressRecorded(_FieldworkEvent):
    """A step of the workshop repair of a taken-back unit (FLD-6): received, diagnosed,
    waiting for a part, repaired, shipped... so the centre can tell the customer where their unit
    is without calling the workshop."""

    event_type: ClassVar[str] = "WorkshopProgressRecorded"

    order_id: str
    receipt_number: str
    stage: str
    note: str | None = None
    at: AwareDatetime
    promised_return_date: date


class UnitReturned(_FieldworkEvent):
    """A taken-back unit was brought back to the customer (FLD-6), and the loaner collected."""

    event_type: ClassVar[str] = "UnitReturned"

    order_id: str
    visit_id: str | None = None
    receipt_number: str
    returned_at: AwareDatetime
    repaired: bool = True
    loaner_recovered: bool = True
    on_time: bool | None = None
    """Whether it came back by the promised date."""


class InstallationCompleted(_FieldworkEvent):
    """An installation was finished and confirmed by the technician (FLD-10): photos and barcode
    scans uploaded, substandard conditions recorded with the customer's signature.
    """

    event_type: ClassVar[str] = "InstallationCompleted"

    order_id: str
    visit_id: str
    technician_id: str
    installed_on: date
    photo_refs: list[str] = Field(default_factory=list)
    barcodes: list[str] = Field(default_factory=list)
    substandard_conditions: list[str] = Field(default_factory=list)
    """E.g. low water pressure (FLD-10)."""
    conditions_signed_by_customer: bool = False
    on_site_minutes: int | None = Field(default=None, ge=0)


class Rating(StrEnum):
    """A customer's on-site rating of one aspect (FLD-12)."""

    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    FAIR = "fair"
    DISSATISFIED = "dissatisfied"


class SignOff(StrEnum):
    """Whether the customer signed the service sheet (FLD-12: never forced)."""

    SIGNED = "signed"
    REFUSED = "refused"


class CustomerSignedOff(_FieldworkEvent):
    """The customer rated repair quality and service attitude and signed, or refused to sign,
    the service sheet (FLD-12, BIL-9). A dissatisfied customer is followed up (FBK-7).
    """

    event_type: ClassVar[str] = "CustomerSignedOff"

    order_id: str
    visit_id: str
    technician_id: str | None = None
    repair_quality: Rating | None = None
    service_attitude: Rating | None = None
    sign_off: SignOff
    signature_ref: str | None = None
    amount_acknowledged: Money | None = None
    """The amount charged, as signed for by the customer (BIL-9)."""
    comments: str | None = None


class DamageReported(_FieldworkEvent):
    """The technician damaged the customer's property; it is recorded and compensated at cost
    (FLD-13, BIL-12).
    """

    event_type: ClassVar[str] = "DamageReported"

    order_id: str
    visit_id: str
    technician_id: str
    description: str
    estimated_cost: Money | None = None
    photo_refs: list[str] = Field(default_factory=list)


class SafetyIncidentKind(StrEnum):
    """What threatened the technician (FLD-14)."""

    DETAINED = "detained"
    ABUSE = "abuse"
    THREAT = "threat"
    HAZARD = "hazard"
    """A danger at the site (gas, electricity, water)."""
    OTHER = "other"


class SafetyIncident(_FieldworkEvent):
    """A customer detained or abused the technician, or the site was dangerous; the technician
    does not argue and the centre takes over (FLD-14).
    """

    event_type: ClassVar[str] = "SafetyIncident"

    order_id: str
    visit_id: str
    technician_id: str
    kind: SafetyIncidentKind
    description: str
    technician_safe: bool = True


class VisitOutcome(StrEnum):
    """How a visit ended."""

    COMPLETED = "completed"
    DECLINED = "declined"
    """The customer did not consent to chargeable work (FLD-4)."""
    CUSTOMER_NOT_HOME = "customer_not_home"
    TAKEN_BACK = "taken_back"
    UNFINISHED = "unfinished"
    """Another visit is needed (SCH-10, FLD-5)."""
    ABORTED = "aborted"
    """Ended by a safety incident or cancellation (FLD-14)."""


class VisitClosed(_FieldworkEvent):
    """The technician finished with a visit and left (FLD-11, FLD-15). Feedback calls back within
    24 hours of the technician's return (FBK-3).

    `service_minutes_total` adds up every visit of the order so far (FLD-11); an in-home order not
    finished the same day becomes a coordination ticket (FLD-15).
    """

    event_type: ClassVar[str] = "VisitClosed"

    order_id: str
    visit_id: str
    technician_id: str
    outcome: VisitOutcome
    closed_at: AwareDatetime
    on_site_minutes: int = Field(default=0, ge=0)
    service_minutes_total: int | None = Field(default=None, ge=0)
    coordination_ticket: bool = False
    paid_work: bool = False
    """Whether anything was charged; drives call-back sampling (FBK-4) and retention (BIL-11)."""
    on_site_seconds: int | None = Field(default=None, ge=0)
    """This visit's arrival-to-end time in seconds, as it happened (FLD-11)."""
    service_seconds_total: int | None = Field(default=None, ge=0)
    """Every visit of the order so far, in seconds (FLD-11)."""


class FaultEscalated(_FieldworkEvent):
    """A new or unknown fault was reported to the centre's or head office's technical desk
    (FLD-7); if it cannot be solved on site the unit is taken back (FLD-6).
    """

    event_type: ClassVar[str] = "FaultEscalated"

    order_id: str
    visit_id: str
    technician_id: str
    description: str
    fault_code: str | None = None
    desk: str = "technical_desk"
    """Who it went to: the centre's technical desk or head office."""


class CentreDecisionKind(StrEnum):
    """What a customer asked for that only the centre may decide (FLD-8)."""

    RETURN = "return"
    EXCHANGE = "exchange"
    COMPENSATION = "compensation"


class CentreDecisionRequested(_FieldworkEvent):
    """The customer demanded a return, an exchange or compensation; the request is recorded and
    sent to the centre, which decides. Nothing is promised on site (FLD-8).
    """

    event_type: ClassVar[str] = "CentreDecisionRequested"

    order_id: str
    visit_id: str
    technician_id: str
    request_id: str
    kind: CentreDecisionKind
    reason: str
    amount_claimed: Money | None = None
    """For compensation: what the customer claims, if they named an amount."""
    meets_return_conditions: bool | None = None
    """The technician's view of the "three guarantees" conditions; the centre decides."""


class UnitReturnOverdue(_FieldworkEvent):
    """A taken-back unit was not returned to the customer by its promised date (FLD-6)."""

    event_type: ClassVar[str] = "UnitReturnOverdue"

    order_id: str
    receipt_number: str
    promised_return_date: date
    loaner_serial: str | None = None
    detected_at: AwareDatetime


class LoanerCollectionOverdue(_FieldworkEvent):
    """A loaner the customer kept when their taken-back unit came back is still with them after
    the day it was to be collected by (FLD-6): the centre chases it. Raised once per take-back.
    """

    event_type: ClassVar[str] = "LoanerCollectionOverdue"

    order_id: str
    receipt_number: str
    loaner_serial: str
    unit_returned_at: AwareDatetime
    collect_by: date
    """The last day (business calendar) to collect the loaner on: the policy's
    ``loaner_collect_within_days`` after the day the unit came back."""
    detected_at: AwareDatetime


class LoanerCollected(_FieldworkEvent):
    """A loaner the customer kept when their taken-back unit came back was collected from them
    later, back in stock (FLD-6). One collected with the unit is told by UnitReturned
    (``loaner_recovered``) instead.
    """

    event_type: ClassVar[str] = "LoanerCollected"

    order_id: str
    receipt_number: str
    loaner_serial: str
    collected_at: AwareDatetime
    late: bool
    """Whether it was collected after its collect-by day (see LoanerCollectionOverdue)."""


class CoordinationTicketOpened(_FieldworkEvent):
    """An in-home order was not finished the same day (public areas: within 3 days) and became a
    coordination ticket with an owner, a dated contact log and twice-monthly checks (FLD-15).
    """

    event_type: ClassVar[str] = "CoordinationTicketOpened"

    order_id: str
    ticket_id: str
    owner: str
    reason: str
    opened_at: AwareDatetime
    next_check_due: date


class CoordinationCheckDue(_FieldworkEvent):
    """A coordination ticket's periodic check by the team lead is due (FLD-15)."""

    event_type: ClassVar[str] = "CoordinationCheckDue"

    order_id: str
    ticket_id: str
    owner: str
    due_on: date
    last_checked_at: AwareDatetime | None = None
