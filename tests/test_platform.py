"""The platform runner's settings for the services it starts (no process is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsm.processes import Platform


def test_embedded_broker_topics_get_one_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FSM_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("FSM_KAFKA_TOPIC_PARTITIONS", raising=False)

    assert Platform(tmp_path).env["FSM_KAFKA_TOPIC_PARTITIONS"] == "1"


def test_a_partition_count_set_by_the_operator_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FSM_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("FSM_KAFKA_TOPIC_PARTITIONS", "4")

    assert Platform(tmp_path).env["FSM_KAFKA_TOPIC_PARTITIONS"] == "4"


def test_an_external_broker_keeps_the_settings_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FSM_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.delenv("FSM_KAFKA_TOPIC_PARTITIONS", raising=False)

    assert "FSM_KAFKA_TOPIC_PARTITIONS" not in Platform(tmp_path).env
