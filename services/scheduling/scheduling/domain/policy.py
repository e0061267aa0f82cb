"""Scheduling's policy: every number of the SCH rules, a default overridable in policy.yaml."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.common import ServiceType


class AssignmentMode(StrEnum):
    """Whether verified orders of an area are assigned automatically or by a dispatcher (SCH-1)."""

    AUTO = "auto"
    MANUAL = "manual"


class PartnerWebhooks(BaseModel):
    """Delivery of partner webhooks: the fields and defaults of the webhook kit's WebhookPolicy
    (``servicekit.webhooks.WebhookPolicy``), mirrored here because the domain imports no kit;
    the bootstrap validates them into a WebhookPolicy, so a bad value still stops start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_schedule_seconds: tuple[float, ...] = (0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
    """Delay before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""
    jitter_ratio: float = 0.1
    """Each retry delay is spread by +/- this fraction."""
    timeout_seconds: float = 15
    """One attempt's HTTP timeout; only 2xx counts as delivered."""
    max_retry_after_seconds: int = 86_400
    """A receiver's Retry-After is honoured up to this long."""
    disable_after_failing_seconds: int = 5 * 86_400
    """An endpoint whose every attempt failed this long is disabled (and ops told)."""
    failure_streak_max_gap_seconds: int = 2 * 86_400
    """A pause this long without attempts to an endpoint restarts its failure count."""
    secret_bytes: int = 32
    """Random bytes of a `whsec_` signing secret (24-64)."""
    secret_rotation_overlap_seconds: int = 86_400
    """After a rotation the previous secret also signs for this long."""
    response_excerpt_bytes: int = 1_024
    """How much of a receiver's answer the delivery log keeps."""
    allow_private_addresses: bool = False
    """SSRF guard: ops switch for tests and local development only."""
    require_https: bool = True
    """Refuse plain http:// endpoints (tests and local development turn it off)."""
    batch_size: int = 100
    max_concurrency: int = 20
    max_in_flight_per_endpoint: int = 4
    """Attempts in flight to one endpoint (all workers): a hung one cannot hold up the others."""
    max_in_flight_per_failing_endpoint: int = 1
    """The same while the endpoint is failing: one probe at a time (circuit breaker)."""
    claim_lease_seconds: float = 120
    poll_interval_seconds: float = 1.0
    max_batches_per_run: int = 20
    user_agent: str = "fsm-webhooks/1.0"
    message_retention_days: int = 90
    """Finished messages older than this are deleted with their delivery log (no more replay)."""


class SchedulingPolicy(BaseModel):
    """The scheduling section of the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key_ttl_hours: int = Field(
        default=24, ge=1, description="Idempotency-Key records are kept this long."
    )

    default_assignment_mode: AssignmentMode = AssignmentMode.AUTO
    """SCH-1: assignment mode of areas not listed in `assignment_mode_by_area`."""
    assignment_mode_by_area: dict[str, AssignmentMode] = Field(default_factory=dict)
    """SCH-1: per-area override (area = district, else city, of the order's address)."""
    contact_due_minutes: int = Field(default=120, gt=0)
    """SCH-2: the technician confirms the appointment with the customer within this time of
    receiving the dispatch, counted on their shift (one given off shift is received when the
    next shift starts)."""
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
    position_clock_skew_seconds: int = Field(default=120, ge=0)
    """SCH-6: a position ping may be dated at most this far ahead of the server's clock (a
    phone's clock running fast); one dated later is refused."""
    position_max_age_hours: int = Field(default=24, gt=0)
    """SCH-6: a position ping dated longer ago than this is refused: it says nothing about
    today's arrivals (an absurd date is a client fault, not a position)."""
    position_stale_after_minutes: int = Field(default=120, gt=0)
    """SCH-3 / INT-7: a technician's last position ping stands for where they are for this
    long; after it, travel times are worked out from their home base."""
    eta_horizon_hours: int = Field(default=24, gt=0)
    """SCH-6: a technician's own ETA may be at most this far after the ping it comes with; one
    before the ping, or later than this, is refused rather than told to a customer (SCH-7)."""
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
    booking_horizon_days: int = Field(default=60, gt=0)
    """SCH-3: an appointment is booked, moved or agreed on a call at most this many days ahead;
    a customer's preferred window further out is left for the contact call (SCH-2). The
    automatic placement looks this far ahead for the first day a technician can take an
    order (SCH-1)."""
    min_window_minutes: int = Field(default=15, gt=0)
    """SCH-3: the shortest arrival window booked, moved or agreed on a call."""
    max_window_minutes: int = Field(default=240, gt=0)
    """SCH-3 / SCH-7: the longest arrival window booked, moved or agreed on a call: lateness is
    measured from its end, so a longer one would promise no time at all; a customer's longer
    preferred window is left for the contact call (SCH-2)."""
    default_job_minutes: int = Field(default=60, gt=0)
    """Repair duration of a product line not in `job_minutes_by_line`."""
    job_minutes_by_line: dict[str, int] = Field(default_factory=dict)
    """On-site minutes of a repair by product line."""
    default_installation_minutes: int = Field(default=120, gt=0)
    """Installation duration of a product line not in `installation_minutes_by_line`."""
    installation_minutes_by_line: dict[str, int] = Field(default_factory=dict)
    """On-site minutes of an installation by product line (mounting, connecting, commissioning
    and showing the customer, FLD-10)."""
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
    workload_balance_metres: int = Field(default=10_000, ge=0)
    """SCH-1: technicians who can keep a customer's window adding at most this many metres
    more driving than the least detour count as equally placed, and the least loaded that day
    takes the job (then the least detour, then the id)."""
    plan_move_penalty_metres: int = Field(default=10_000, ge=0)
    """SCH-1/SCH-2: a day plan moves a job off the technician holding it (who may have called
    the customer, and whose placement balanced the workload) only when the move saves more than
    this many metres of driving."""
    network_accept_minutes: int = Field(default=30, gt=0)
    """SCH-1: a network accepts or rejects an order given to it within this many minutes of
    working time on the business calendar (given at 23:00, by 09:30 the next working day), of
    wall-clock time for an emergency (INT-7); silence returns the order to the centre."""
    auto_placement_retry_seconds: int = Field(default=300, gt=0)
    """SCH-1: orders the automatic placement could not place (nobody with the skill and area
    able to take them on any day within `booking_horizon_days`, no network serving them) are
    tried again this often."""
    auto_placement_batch: int = Field(default=100, gt=0)
    """SCH-1: at most this many of them are tried per run, the longest untried first."""
    list_page_default: int = Field(default=50, gt=0)
    """Rows on a page of a list (orders, technicians) when the caller names no ``limit``."""
    list_page_max: int = Field(default=200, gt=0)
    """The most rows on a page of a list; a larger ``limit`` is cut to it (``next_cursor`` says
    more remain)."""
    webhooks: PartnerWebhooks = Field(default_factory=PartnerWebhooks)
    """Signed, retried webhooks to partner networks (Standard Webhooks)."""

    @model_validator(mode="after")
    def _early_band_is_ordered(self) -> SchedulingPolicy:
        if self.arrive_early_min_minutes > self.arrive_early_max_minutes:
            raise ValueError("arrive_early_min_minutes must not exceed arrive_early_max_minutes")
        if self.min_window_minutes > self.max_window_minutes:
            raise ValueError("min_window_minutes must not exceed max_window_minutes")
        return self

    def job_minutes(self, product_line: str, service_type: ServiceType = ServiceType.REPAIR) -> int:
        """On-site minutes planned for a job of this product line and service type."""
        if service_type is ServiceType.INSTALLATION:
            return self.installation_minutes_by_line.get(
                product_line, self.default_installation_minutes
            )
        return self.job_minutes_by_line.get(product_line, self.default_job_minutes)

    def mode_for(self, area: str | None) -> AssignmentMode:
        """Assignment mode of an area (SCH-1)."""
        if area is not None and area in self.assignment_mode_by_area:
            return self.assignment_mode_by_area[area]
        return self.default_assignment_mode


POLICY_MODEL = SchedulingPolicy
