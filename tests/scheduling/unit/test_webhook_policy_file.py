"""The policy file's ``scheduling.webhooks`` is validated as the webhook kit's WebhookPolicy; a
bad value is a PolicyError naming the file and the key, like any other of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduling.bootstrap import bootstrap, webhook_policy
from scheduling.domain.policy import SchedulingPolicy
from scheduling.settings import SchedulingSettings
from servicekit.policy import PolicyError, load_section


def _policy_file(tmp_path: Path, webhooks: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"scheduling:\n  webhooks:\n{webhooks}", encoding="utf-8")
    return path


def test_the_previous_releases_webhook_claim_lease_is_refused_naming_the_file_and_key(
    tmp_path: Path,
) -> None:
    # The previous release shipped 60 s; a batch of 100 at 20 at a time, each timing out after
    # 15 s, takes 75 s, so a 60 s lease lets a second worker send the same deliveries again.
    path = _policy_file(tmp_path, "    claim_lease_seconds: 60.0\n")
    policy = load_section(SchedulingPolicy, section="scheduling", path=path)

    with pytest.raises(PolicyError) as refused:
        webhook_policy(policy, path=path)

    assert str(refused.value).splitlines() == [
        f"policy file {path}: scheduling.webhooks.claim_lease_seconds: must exceed the slowest "
        "batch, 75 s (batch_size / max_concurrency rounds of timeout_seconds): a lease running "
        "out mid-batch lets another worker send the same deliveries again (got 60.0)"
    ]


def test_a_webhook_claim_lease_shorter_than_the_slowest_batch_stops_the_bootstrap(
    tmp_path: Path,
) -> None:
    path = _policy_file(tmp_path, "    claim_lease_seconds: 60.0\n")

    with pytest.raises(PolicyError, match=r"scheduling\.webhooks\.claim_lease_seconds") as refused:
        bootstrap(SchedulingSettings(policy_file=path, database_url="sqlite+aiosqlite:///:memory:"))

    assert refused.value.path == path
