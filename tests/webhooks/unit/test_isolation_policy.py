"""The policy numbers of endpoint isolation and of the disable rule hold together."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from servicekit.webhooks import WebhookPolicy


def test_the_defaults_limit_each_endpoint_and_allow_pauses_of_two_days() -> None:
    policy = WebhookPolicy()
    assert policy.max_in_flight_per_endpoint == 4
    assert policy.max_in_flight_per_failing_endpoint == 1
    assert policy.failure_streak_max_gap_seconds == 2 * 86_400


def test_a_pause_limit_shorter_than_the_longest_retry_is_refused() -> None:
    # an endpoint's own retries (10 h + jitter) would restart its failure count
    with pytest.raises(ValidationError, match="longest retry delay"):
        WebhookPolicy(failure_streak_max_gap_seconds=36_000)


def test_a_pause_limit_as_long_as_the_disable_period_is_refused() -> None:
    with pytest.raises(ValidationError, match="shorter than disable_after_failing_seconds"):
        WebhookPolicy(failure_streak_max_gap_seconds=5 * 86_400)


def test_a_failing_endpoint_cannot_get_more_attempts_in_flight_than_a_healthy_one() -> None:
    with pytest.raises(ValidationError, match="must not exceed max_in_flight_per_endpoint"):
        WebhookPolicy(max_in_flight_per_endpoint=2, max_in_flight_per_failing_endpoint=3)
