"""A policy file written before a key was added is refused naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from feedback.domain.policy import BusinessType, FeedbackPolicy
from servicekit.policy import PolicyError, load_section


def test_fbk_4_a_policy_file_without_the_desk_business_rate_is_refused_naming_the_file_and_key(
    tmp_path: Path,
) -> None:
    # The previous release's file lists every business type's rate but desk business, added since.
    rates = {kind.value: rate for kind, rate in FeedbackPolicy().sampling_rates_percent.items()}
    del rates[BusinessType.DESK_BUSINESS.value]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"feedback": {"sampling_rates_percent": rates}}))

    with pytest.raises(PolicyError) as refused:
        load_section(FeedbackPolicy, section="feedback", path=path)

    assert str(refused.value) == (
        f"policy file {path}: feedback.sampling_rates_percent: lacks desk_business: every "
        "business type needs a rate"
    )
