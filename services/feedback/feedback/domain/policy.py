"""Feedback's policy: every number of the FBK rules, a default overridable in policy.yaml."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BusinessType(StrEnum):
    """What kind of work was completed, for call-back sampling (FBK-4)."""

    GAS_LEAK_REPAIR = "gas_leak_repair"
    PAID_REPAIR = "paid_repair"
    OWN_BRAND_REPAIR = "own_brand_repair"
    OWN_BRAND_INSTALLATION = "own_brand_installation"
    OTHER_INSTALLATION = "other_installation"
    """Scattered installations, ignition and commissioning of products of other brands."""
    OTHER_REPAIR = "other_repair"
    """Free repairs of other brands, safety inspections and other work."""
    DESK_BUSINESS = "desk_business"
    """Business done at a service-hall desk: requests taken from walk-in customers and
    payments taken at the desk (the rule's "a share")."""


class ComplaintStage(StrEnum):
    """The states of the complaint loop (FBK-10), in order."""

    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    HANDLED = "handled"
    FED_BACK = "fed_back"
    REPLIED = "replied"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"


def _default_rates() -> dict[BusinessType, int]:
    return {
        BusinessType.GAS_LEAK_REPAIR: 100,
        BusinessType.PAID_REPAIR: 100,
        BusinessType.OWN_BRAND_REPAIR: 100,
        BusinessType.OWN_BRAND_INSTALLATION: 100,
        BusinessType.OTHER_INSTALLATION: 10,
        BusinessType.OTHER_REPAIR: 10,
        BusinessType.DESK_BUSINESS: 10,
    }


def _default_complaint_sla() -> dict[ComplaintStage, int]:
    return {
        ComplaintStage.ACCEPTED: 1,
        ComplaintStage.DISPATCHED: 4,
        ComplaintStage.HANDLED: 9,
        ComplaintStage.FED_BACK: 4,
        ComplaintStage.REPLIED: 18,
        ComplaintStage.FOLLOWED_UP: 9,
    }


class FeedbackPolicy(BaseModel):
    """The feedback section of the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    remote_call_back_minutes: int = Field(default=120, gt=0)
    """FBK-1: call back this long (working time) after phone-only guidance."""
    untested_call_back_minutes: int = Field(default=120, gt=0)
    """FBK-2: call back this long (working time) after a repair that was not tested."""
    unsure_call_back_minutes: int = Field(default=180, gt=0)
    """FBK-2: call back this long (working time) after a repair the technician is not sure of."""
    visit_call_back_hours: int = Field(default=24, gt=0)
    """FBK-3: call back within this many hours of the technician's return, counted from the next
    working moment when the return is outside working time."""
    call_back_min_working_minutes: int = Field(default=60, gt=0)
    """FBK-3: the least working time a call-back after a visit leaves to make the call: when the
    hours above hold less (a return late on the eve of a weekend or holiday), it is due this much
    working time after the return, on the next working day(s). One hour is the queue's own pace
    (``retry_after_minutes``): less is no deadline anyone can meet, more would push calls that
    fit in the 24 h past them. FBK-1, FBK-2: the working time to make a call-back timed from
    the guidance or the repair, from when it may be made. FBK-12: the least working time the
    department gets for an issue ("the same day" seconds before the close runs on into the
    next working day)."""
    retry_after_minutes: int = Field(default=60, gt=0)
    """A customer not reached is called again this long (working time) later."""
    max_call_attempts: int = Field(default=3, gt=0)
    """After this many unanswered calls the task ends as unreachable."""
    claim_expires_minutes: int = Field(default=30, gt=0)
    """A claimed task nobody completed returns to the queue after this long."""

    sampling_window_days: tuple[int, int] = (3, 5)
    """FBK-4: work completed this many days earlier (nearest, farthest) is sampled."""
    sampling_rates_percent: dict[BusinessType, int] = Field(default_factory=_default_rates)
    """FBK-4: share of each business type's completed work that gets a call-back."""
    own_brands: list[str] = Field(default_factory=list)
    """FBK-4: brands counted as our own; a product with no brand recorded is our own."""
    gas_product_lines: list[str] = Field(
        default_factory=lambda: ["gas_pipe", "gas_meter", "gas_stove", "gas_water_heater"]
    )
    """FBK-4: product lines whose emergency repairs are gas-leak repairs."""
    gas_leak_fault_codes: list[str] = Field(default_factory=lambda: ["gas_leak"])
    """FBK-4: intake's fault codes (INT-7) that make a repair a gas-leak repair, whatever the
    product line or the words of the description."""
    gas_leak_keywords: list[str] = Field(
        default_factory=lambda: ["gas leak", "燃气泄漏", "漏气", "煤气泄漏"]
    )
    """FBK-4: words in an emergency's fault description that make it a gas-leak repair."""
    sampling_seed: int = 20260101
    """FBK-4: base seed of the sampling draw; with the run day it makes each draw reproducible."""
    sample_due_working_hours: int = Field(default=9, gt=0)
    """FBK-4: a sampled call-back is due this many working hours after the draw."""
    sampling_balance_days: int = Field(default=30, gt=0)
    """FBK-4: call-backs each technician got over this many days even out the next draws."""
    sampling_hour_local: int = Field(default=8, ge=0, le=23)
    """FBK-4: the daily draw runs from this hour (business time zone)."""

    satisfied_min_score: int = Field(default=8, ge=1, le=10)
    """FBK-7: with no explicit answer, a customer scoring both items at least this is satisfied."""

    sign_off_grace_hours: int = Field(default=24, gt=0)
    """FBK-8: a completed visit with no sign-off sheet after this long is flagged."""
    fee_tolerance: Decimal = Field(default=Decimal("0.00"), ge=0, decimal_places=2)
    """FBK-8: a fee the customer reports may differ from billing's by at most this (CNY)."""

    repeat_window_days: int = Field(default=30, gt=0)
    """FBK-11: a revisit within this many days of completed work counts against it (first-time
    fix, repeat visits, repair pass rate)."""
    min_call_back_coverage_percent: int = Field(default=8, ge=0, le=100)
    """FBK-11: alarm when fewer repair records than this have a feedback survey."""

    company_escalation_days: int = Field(default=2, gt=0)
    """FBK-12: an issue still open this many working days after the visit goes to the company."""

    complaint_sla_working_hours: dict[ComplaintStage, int] = Field(
        default_factory=_default_complaint_sla
    )
    """FBK-10: working hours allowed in each state of the complaint loop."""
    level_two_sla_factor_percent: int = Field(default=50, gt=0, le=100)
    """FBK-10: a level-2 complaint gets this share of each state's time."""

    sweep_every_seconds: int = Field(default=300, gt=0)
    """How often the sweeps (sampling, sign-offs, escalations) run."""
    idempotency_key_ttl_hours: int = Field(default=24, gt=0)
    """Idempotency-Key records of the write routes are kept this long."""
    list_page_default: int = Field(default=50, gt=0)
    """Rows on a page of a list (complaints, call-backs, conduct findings, fraud suspicions,
    issues) when the caller names no ``limit``."""
    list_page_max: int = Field(default=200, gt=0)
    """The most rows on a page of a list; a larger ``limit`` is cut to it (``next_cursor`` says
    more remain)."""

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackPolicy:
        near, far = self.sampling_window_days
        if not 0 < near <= far:
            raise ValueError(
                "sampling_window_days must be (nearest, farthest) with 0 < near <= far"
            )
        missing = set(BusinessType) - set(self.sampling_rates_percent)
        if missing:
            raise ValueError(
                f"sampling_rates_percent lacks {', '.join(sorted(missing))}: every business "
                "type needs a rate"
            )
        if any(not 0 <= r <= 100 for r in self.sampling_rates_percent.values()):
            raise ValueError("sampling rates are percentages from 0 to 100")
        stages = set(ComplaintStage) - {ComplaintStage.CLOSED}
        if set(self.complaint_sla_working_hours) != stages:
            raise ValueError(f"complaint_sla_working_hours needs exactly {sorted(stages)}")
        if any(h <= 0 for h in self.complaint_sla_working_hours.values()):
            raise ValueError("complaint SLA hours must be positive")
        if self.list_page_default > self.list_page_max:
            raise ValueError("list_page_default must not exceed list_page_max")
        return self


POLICY_MODEL = FeedbackPolicy
