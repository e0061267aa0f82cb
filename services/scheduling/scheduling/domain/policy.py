"""Scheduling's policy: every number of the SCH rules, a default overridable in policy.yaml."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AssignmentMode(StrEnum):
    """Whether verified orders of an area are assigned automatically or by a dispatcher (SCH-1)."""

    AUTO = "auto"
    MANUAL = "manual"


class SchedulingPolicy(BaseModel):
    """The scheduling section of the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_assignment_mode: AssignmentMode = AssignmentMode.AUTO
    """SCH-1: assignment mode of areas not listed in `assignment_mode_by_area`."""
    assignment_mode_by_area: dict[str, AssignmentMode] = Field(default_factory=dict)
    """SCH-1: per-area override (area = district, else city, of the order's address)."""
    contact_due_minutes: int = Field(default=120, gt=0)
    """SCH-2: the technician confirms the appointment with the customer within this time."""
    no_answer_attempts_before_going: int = Field(default=2, ge=1)
    """SCH-5: unanswered calls after which the technician goes at the agreed time."""
    arrive_early_min_minutes: int = Field(default=5, ge=0)
    """SCH-4: the plan has technicians arrive at least this early..."""
    arrive_early_max_minutes: int = Field(default=10, ge=0)
    """SCH-4: ...and at most this early."""
    departure_decision_minutes: int = Field(default=60, ge=0)
    """SCH-4: departures are fixed this long ahead."""
    call_ahead_minutes: int = Field(default=2, ge=0)
    """SCH-6: a late technician calls at the latest this long before the appointment."""
    gift_threshold_minutes: int = Field(default=15, gt=0)
    """SCH-7: late by this much or more: apology and a small gift; under it: apology."""
    emergency_response_minutes: int = Field(default=15, gt=0)
    """INT-7: someone on site within this time."""
    slot_length_minutes: int = Field(default=120, gt=0)
    """SCH-3: length of an offered arrival window."""
    slot_days_ahead: int = Field(default=3, gt=0)
    """SCH-3: offered windows cover this many days from tomorrow (today too, if time is left)."""
    slot_lead_minutes: int = Field(default=60, ge=0)
    """SCH-3: an offered window starts at least this long from now."""
    default_job_minutes: int = Field(default=60, gt=0)
    """Job duration of a product line not in `job_minutes_by_line`."""
    job_minutes_by_line: dict[str, int] = Field(default_factory=dict)
    """On-site minutes by product line (job type)."""
    road_factor: float = Field(default=1.3, ge=1.0)
    """Travel times: road distance = great-circle distance × this factor."""
    speed_kmh: float = Field(default=30.0, gt=0)
    """Travel times: average urban speed by road."""
    replan_every_seconds: int = Field(default=300, gt=0)
    """SCH-9: background re-optimisation of plans changed by urgent insertions."""
    plan_time_limit_seconds: float = Field(default=5.0, gt=0)
    """Solver time for a day plan."""
    emergency_prize: int = Field(default=100_000_000, gt=0)
    """Day plans: weight of serving an emergency (plans serve them first)."""
    revisit_prize: int = Field(default=10_000_000, gt=0)
    """Day plans: weight of serving a revisit (second in line)."""
    job_prize: int = Field(default=1_000_000, gt=0)
    """Day plans: weight of serving an ordinary job, in metres of detour."""

    @model_validator(mode="after")
    def _early_band_is_ordered(self) -> SchedulingPolicy:
        if self.arrive_early_min_minutes > self.arrive_early_max_minutes:
            raise ValueError("arrive_early_min_minutes must not exceed arrive_early_max_minutes")
        return self

    def job_minutes(self, product_line: str) -> int:
        """On-site minutes planned for a job of this product line."""
        return self.job_minutes_by_line.get(product_line, self.default_job_minutes)

    def mode_for(self, area: str | None) -> AssignmentMode:
        """Assignment mode of an area (SCH-1)."""
        if area is not None and area in self.assignment_mode_by_area:
            return self.assignment_mode_by_area[area]
        return self.default_assignment_mode


POLICY_MODEL = SchedulingPolicy
