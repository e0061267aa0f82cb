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
        "FSM_INTAKE_DATABASE_URL",
        "FSM_INTAKE_DATABASE_POOL_SIZE",
        "FSM_INTAKE_PORT",
        "FSM_INTAKE_ENVIRONMENT",
        "FSM_LOG_LEVEL",
        "FSM_KAFKA_TRANSIENT_RETRY_SECONDS",
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


def test_production_requires_an_explicit_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from intake.settings import IntakeSettings

    # e.g. the variable misspelt: in production that must not mean a local SQLite file
    monkeypatch.delenv("FSM_INTAKE_DATABASE_URL", raising=False)
    monkeypatch.setenv("FSM_INTAKE_DATABASE_ULR", "postgresql+asyncpg://fsm@db:5432/intake")

    with pytest.raises(ValidationError, match="FSM_INTAKE_DATABASE_URL must be set"):
        IntakeSettings(environment="production")
    url = "postgresql+asyncpg://fsm@db:5432/intake"
    assert IntakeSettings(environment="production", database_url=url).resolved_database_url == url
    assert IntakeSettings(environment="dev").resolved_database_url.startswith("sqlite")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("garbage://x", "unknown database driver 'garbage'"),
        ("sqlite:///var/intake.db", "synchronous driver"),
        ("not a url", "not a SQLAlchemy URL"),
    ],
)
def test_a_database_url_no_async_driver_can_open_is_refused(url: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ServiceSettings(service_name="intake", port=8001, database_url=url)


def test_an_unknown_log_level_is_refused_and_a_known_one_in_any_case_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FSM_LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match="must be one of DEBUG, INFO"):
        ServiceSettings(service_name="intake", port=8001)
    monkeypatch.setenv("FSM_LOG_LEVEL", "warning")
    assert ServiceSettings(service_name="intake", port=8001).log_level == "WARNING"


def test_each_settings_problem_is_one_line_naming_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake.settings import IntakeSettings
    from servicekit.settings import settings_problems

    monkeypatch.setenv("FSM_INTAKE_DATABASE_POOL_SIZE", "-1")
    monkeypatch.setenv("FSM_INTAKE_PORT", "abc")
    monkeypatch.setenv("FSM_BOOTSTRAP_API_KEY", "short-secret")
    with pytest.raises(ValidationError) as service:
        IntakeSettings()
    for name in ("FSM_INTAKE_DATABASE_POOL_SIZE", "FSM_INTAKE_PORT", "FSM_BOOTSTRAP_API_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("FSM_KAFKA_TRANSIENT_RETRY_SECONDS", "200")
    with pytest.raises(ValidationError) as kafka:
        IntakeSettings()

    assert settings_problems(service.value, IntakeSettings) == [
        "FSM_INTAKE_PORT: Input should be a valid integer, unable to parse string as an integer "
        "(got 'abc')",
        "FSM_INTAKE_DATABASE_POOL_SIZE: Input should be greater than or equal to 1 (got '-1')",
        "FSM_BOOTSTRAP_API_KEY: must be at least 16 characters",  # the secret is not repeated
    ]
    assert settings_problems(kafka.value, IntakeSettings) == [
        "FSM_KAFKA_TRANSIENT_RETRY_SECONDS: must be under half of FSM_KAFKA_MAX_POLL_INTERVAL_MS "
        "(in seconds), or the group drops the consumer while it waits for the database "
        "(got '200')"
    ]
