"""Secrets, signatures and the retry policy (no I/O)."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from servicekit.webhooks import WebhookPolicy, generate_secret
from servicekit.webhooks.delivery import next_delay, parse_retry_after
from servicekit.webhooks.signing import webhook_headers
from servicekit.webhooks.subscriptions import matches


@pytest.mark.parametrize("n_bytes", [24, 32, 64])
def test_secret_is_whsec_and_base64_of_24_to_64_random_bytes(n_bytes: int) -> None:
    secret = generate_secret(n_bytes)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == n_bytes
    assert generate_secret(n_bytes) != secret


@pytest.mark.parametrize("n_bytes", [23, 65])
def test_secret_length_outside_24_to_64_bytes_is_refused(n_bytes: int) -> None:
    with pytest.raises(ValueError):
        generate_secret(n_bytes)


def test_signature_header_carries_one_v1_signature_per_active_secret() -> None:
    old, new = generate_secret(), generate_secret()
    now = datetime.now(UTC)
    headers = webhook_headers(
        message_id="msg_1", timestamp=now, body='{"a":1}', secrets_=[new, old]
    )
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    for secret in (old, new):
        assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify('{"a":1}', headers)


def test_default_retry_schedule_is_immediately_5s_5min_30min_2h_5h_10h_10h() -> None:
    policy = WebhookPolicy()
    assert policy.retry_schedule_seconds == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert policy.timeout_seconds == 15
    assert policy.disable_after_failing_seconds == 5 * 86_400
    assert policy.allow_private_addresses is False


def test_retry_delays_follow_the_schedule_within_the_jitter() -> None:
    policy = WebhookPolicy(jitter_ratio=0.1)
    rng = random.Random(7)
    for made, base in enumerate(policy.retry_schedule_seconds):
        delays = [next_delay(attempts_made=made, policy=policy, rng=rng) for _ in range(50)]
        assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
        if base:
            assert len({round(d or 0, 6) for d in delays}) > 1  # jitter actually spreads
    assert next_delay(attempts_made=policy.max_attempts, policy=policy, rng=rng) is None


def test_retry_after_is_never_undercut_and_is_capped() -> None:
    policy = WebhookPolicy(jitter_ratio=0, max_retry_after_seconds=7200)
    rng = random.Random(1)
    assert next_delay(attempts_made=1, policy=policy, rng=rng, retry_after=600) == 600
    assert next_delay(attempts_made=1, policy=policy, rng=rng, retry_after=10**6) == 7200
    assert next_delay(attempts_made=3, policy=policy, rng=rng, retry_after=1) == 1800


def test_retry_after_header_accepts_seconds_and_http_dates() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    later = now + timedelta(minutes=10)
    assert parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == 600
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("²", now) is None  # a digit to str.isdigit, not a number
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"retry_schedule_seconds": ()},
        {"retry_schedule_seconds": (0, -5)},
        {"secret_bytes": 16},
        {"claim_lease_seconds": 10, "timeout_seconds": 15},
        # 100 deliveries, 20 at a time, 15 s each at worst: 75 s, longer than the lease
        {"claim_lease_seconds": 60, "batch_size": 100, "max_concurrency": 20},
        {"unknown": 1},
    ],
)
def test_invalid_policy_values_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WebhookPolicy(**changes)  # type: ignore[arg-type]


def test_event_type_filter_matches_exact_names_prefixes_and_empty_means_all() -> None:
    assert matches([], "order.assigned")
    assert matches(["order.assigned"], "order.assigned")
    assert not matches(["order.assigned"], "order.completed")
    assert matches(["order.*"], "order.completed")
    assert not matches(["visit.*"], "order.completed")


def test_a_retry_after_cap_longer_than_the_failure_streak_gap_is_refused() -> None:
    # A receiver answering Retry-After: 3 days would pause its own failure streak past the
    # 2-day gap on every attempt and never be disabled.
    with pytest.raises(ValidationError, match="max_retry_after_seconds"):
        WebhookPolicy(max_retry_after_seconds=3 * 86_400, failure_streak_max_gap_seconds=2 * 86_400)
    assert WebhookPolicy(
        max_retry_after_seconds=2 * 86_400, failure_streak_max_gap_seconds=2 * 86_400
    )
