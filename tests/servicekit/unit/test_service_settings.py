"""Service settings are validated at start-up: a weak bootstrap key stops the service."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from servicekit.settings import KafkaSettings, ServiceSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FSM_BOOTSTRAP_API_KEY",
        "FSM_KAFKA_BOOTSTRAP",
        "FSM_KAFKA_MAX_ATTEMPTS",
        "FSM_DATA_DIR",
        "FSM_INTAKE_DATA_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


def test_bootstrap_api_key_shorter_than_16_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FSM_BOOTSTRAP_API_KEY", "x" * 15)

    with pytest.raises(ValidationError, match="at least 16 characters"):
        ServiceSettings(service_name="intake", port=8001)


def test_bootstrap_api_key_of_16_characters_is_accepted_and_kept_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FSM_BOOTSTRAP_API_KEY", "k" * 16)

    settings = ServiceSettings(service_name="intake", port=8001)

    assert settings.bootstrap_api_key is not None
    assert settings.bootstrap_api_key.get_secret_value() == "k" * 16
    assert "k" * 16 not in repr(settings)


def test_without_bootstrap_api_key_there_is_none() -> None:
    assert ServiceSettings(service_name="intake", port=8001).bootstrap_api_key is None


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="port"):
        ServiceSettings(service_name="intake", port=70000)


def test_database_defaults_to_sqlite_under_the_data_directory() -> None:
    settings = ServiceSettings(service_name="intake", port=8001, data_dir="var/data")

    assert settings.resolved_database_url == "sqlite+aiosqlite:///var/data/intake.db"


def test_fsm_data_dir_holds_every_service_file_unless_one_service_has_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake.settings import IntakeSettings

    monkeypatch.setenv("FSM_DATA_DIR", "/srv/fsm")
    shared = IntakeSettings()
    monkeypatch.setenv("FSM_INTAKE_DATA_DIR", "/srv/intake")
    own = IntakeSettings()

    assert shared.resolved_database_url == "sqlite+aiosqlite:////srv/fsm/intake.db"
    assert own.resolved_database_url == "sqlite+aiosqlite:////srv/intake/intake.db"


def test_kafka_settings_come_from_fsm_kafka_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSM_KAFKA_BOOTSTRAP", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("FSM_KAFKA_MAX_ATTEMPTS", "0")

    with pytest.raises(ValidationError, match="max_attempts"):
        KafkaSettings()
    monkeypatch.setenv("FSM_KAFKA_MAX_ATTEMPTS", "7")
    settings = KafkaSettings()

    assert settings.bootstrap == "broker-1:9092,broker-2:9092"
    assert settings.max_attempts == 7
    assert settings.enable_idempotence is False


def test_production_refuses_the_example_bootstrap_key() -> None:
    from pydantic import ValidationError

    from intake.settings import IntakeSettings

    with pytest.raises(ValidationError, match="example value"):
        IntakeSettings(
            environment="production", bootstrap_api_key="example-admin-key-change-me-please"
        )
    assert IntakeSettings(environment="dev", bootstrap_api_key="example-admin-key-change-me-please")
