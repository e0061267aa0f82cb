"""Every number of webhook delivery, as one frozen settings object.

A service nests :class:`WebhookPolicy` in its own policy model (e.g. ``webhooks: WebhookPolicy``)
so the values live in the policy file and a bad one stops start-up.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY = 86_400


class WebhookPolicy(BaseModel):
    """Retry schedule, limits and the SSRF switches of webhook delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_schedule_seconds: tuple[float, ...] = Field(
        default=(0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000),
        min_length=1,
        description="Delay before each attempt, from the previous one (the first: from enqueue).",
    )
    jitter_ratio: float = Field(
        default=0.1, ge=0, le=0.5, description="Each retry delay is spread by +/- this fraction."
    )
    timeout_seconds: float = Field(default=15, gt=0, le=120)
    max_retry_after_seconds: int = Field(
        default=DAY,
        ge=0,
        description="A receiver's Retry-After is honoured up to this long (at most "
        "failure_streak_max_gap_seconds).",
    )
    disable_after_failing_seconds: int = Field(
        default=5 * DAY,
        gt=0,
        description="An endpoint whose every attempt failed for this long, with attempts spread "
        "over the period (no pause longer than failure_streak_max_gap_seconds), is disabled.",
    )
    failure_streak_max_gap_seconds: int = Field(
        default=2 * DAY,
        gt=0,
        description="A pause this long without any attempt to an endpoint (nothing to send, or "
        "no worker running) restarts its failure count: nothing is known of it meanwhile.",
    )
    secret_bytes: int = Field(default=32, ge=24, le=64)
    secret_rotation_overlap_seconds: int = Field(
        default=DAY, ge=0, description="How long the previous secret still signs after a rotation."
    )
    response_excerpt_bytes: int = Field(default=1_024, ge=0, le=65_536)
    allow_private_addresses: bool = Field(
        default=False,
        description="Ops switch for tests and local development: allow private/loopback targets.",
    )
    require_https: bool = Field(default=True, description="Refuse plain http:// endpoint URLs.")
    batch_size: int = Field(
        default=100,
        ge=1,
        le=1_000,
        description="Deliveries one claim takes at most (the worker takes no more than it has "
        "free slots); shared fairly between the endpoints with something due.",
    )
    max_concurrency: int = Field(
        default=20, ge=1, le=500, description="Attempts one worker has in flight at a time."
    )
    max_in_flight_per_endpoint: int = Field(
        default=4,
        ge=1,
        description="Attempts in flight to one endpoint, over all workers: a slow or hung "
        "endpoint holds at most this many of a worker's max_concurrency slots.",
    )
    max_in_flight_per_failing_endpoint: int = Field(
        default=1,
        ge=1,
        description="The same while the endpoint is failing (its last attempt failed): one probe "
        "at a time until an attempt succeeds (a circuit breaker).",
    )
    claim_lease_seconds: float = Field(
        default=120,
        gt=0,
        description="A claimed delivery is retried by another worker after this; it must outlast "
        "the slowest batch (every attempt of it timing out, max_concurrency at a time).",
    )
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    max_batches_per_run: int = Field(
        default=20,
        ge=1,
        description="Deliveries one worker run claims, in batches' worth (`batch_size` each); "
        "attempts still in flight when it ends go on and are recorded when they end (the next "
        "run counts them).",
    )
    user_agent: str = Field(default="fsm-webhooks/1.0", min_length=1, max_length=200)
    message_retention_days: int = Field(
        default=90,
        ge=1,
        description="Messages older than this whose deliveries all finished are deleted with "
        "their delivery log (they can no longer be replayed); one still being retried stays.",
    )

    @model_validator(mode="after")
    def _lease_outlasts_timeout(self) -> WebhookPolicy:
        if any(delay < 0 for delay in self.retry_schedule_seconds):
            raise ValueError("retry_schedule_seconds must not be negative")
        if self.max_in_flight_per_failing_endpoint > self.max_in_flight_per_endpoint:
            raise ValueError(
                "max_in_flight_per_failing_endpoint must not exceed max_in_flight_per_endpoint"
            )
        longest_retry = max(self.retry_schedule_seconds) * (1 + self.jitter_ratio)
        if not longest_retry <= self.failure_streak_max_gap_seconds:
            raise ValueError(
                f"failure_streak_max_gap_seconds must be at least the longest retry delay,"
                f" {longest_retry:g} s with jitter: an endpoint's own retries would restart its"
                " failure count"
            )
        if self.max_retry_after_seconds > self.failure_streak_max_gap_seconds:
            raise ValueError(
                f"max_retry_after_seconds ({self.max_retry_after_seconds} s) must not exceed"
                f" failure_streak_max_gap_seconds ({self.failure_streak_max_gap_seconds} s): a"
                " receiver answering a longer Retry-After would restart its own failure count"
                " on every attempt and never be disabled"
            )
        if self.failure_streak_max_gap_seconds >= self.disable_after_failing_seconds:
            raise ValueError(
                "failure_streak_max_gap_seconds must be shorter than disable_after_failing_seconds"
            )
        if self.claim_lease_seconds <= self.slowest_batch_seconds:
            raise ValueError(
                f"claim_lease_seconds must exceed the slowest batch, {self.slowest_batch_seconds:g}"
                " s (batch_size / max_concurrency rounds of timeout_seconds): a lease running out"
                " mid-batch lets another worker send the same deliveries again"
            )
        return self

    @property
    def slowest_batch_seconds(self) -> float:
        """How long a batch takes when every attempt times out (name resolution included)."""
        return -(-self.batch_size // self.max_concurrency) * self.timeout_seconds

    @property
    def max_attempts(self) -> int:
        """Attempts per delivery round (one per schedule step)."""
        return len(self.retry_schedule_seconds)
