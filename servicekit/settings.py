"""Settings shared by every service (pydantic-settings, validated at start-up).

Environment variables: ``FSM_KAFKA_*`` for the broker, ``FSM_*`` for what all services share, and
``FSM_<SERVICE>_*`` for one service (see each service's ``settings.py``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """How to reach the Kafka-compatible broker (``FSM_KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="FSM_KAFKA_", extra="ignore")

    bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated bootstrap servers.",
    )
    enable_idempotence: bool = Field(
        default=False,
        description="Idempotent producer: on for Apache Kafka, off for the embedded Tansu broker.",
    )
    fetch_max_wait_ms: int = Field(
        default=25,
        ge=1,
        le=5000,
        description="Long-poll wait of a fetch. Tansu does not end fetches early, so this is the "
        "latency a hop can add; each idle consumer also fetches this often (10 ms cost the "
        "embedded platform about half a core idle, 25 ms about 30 % of one).",
    )
    acks: Literal["all", "1", "0"] = "all"
    request_timeout_ms: int = Field(default=10_000, ge=1000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    session_timeout_ms: int = Field(default=10_000, ge=3000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a new consumer group starts: earliest, so no event published before "
        "a service's first start is skipped.",
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of each topic created at start-up (1 with the embedded broker).",
    )
    topic_replication_factor: int = Field(default=1, ge=1)
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Tries of a failing handler before the message goes to the DLT.",
    )
    retry_backoff_ms: int = Field(default=200, ge=0)
    transient_retry_seconds: float = Field(
        default=60,
        gt=0,
        description="How long a handler failing because the database is unreachable or busy is "
        "retried in place; after that the consumer restarts (with backoff) and reads the "
        "message again. Such a message never goes to the DLT. Keep it well under "
        "max_poll_interval_ms.",
    )

    outage_reminder_seconds: float = Field(
        default=60,
        ge=0,
        description="While the broker stays unreachable, how often the one warning about it is "
        "repeated (with how long it has been down); 0: never.",
    )
    outage_probe_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="While the broker is unreachable, how often it is checked for being back "
        "(also the longest a check waits for an answer).",
    )

    @model_validator(mode="after")
    def _transient_retries_fit_the_poll_interval(self) -> KafkaSettings:
        if self.transient_retry_seconds * 1000 >= self.max_poll_interval_ms / 2:
            raise ValueError(
                "FSM_KAFKA_TRANSIENT_RETRY_SECONDS must be under half of "
                "FSM_KAFKA_MAX_POLL_INTERVAL_MS (in seconds), or the group drops the consumer "
                "while it waits for the database"
            )
        return self


class ServiceSettings(BaseSettings):
    """Base of each service's settings. Subclasses set ``env_prefix`` to ``FSM_<SERVICE>_``."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL (sqlite+aiosqlite:///... or postgresql+asyncpg://...). "
        "Empty means SQLite under the data directory.",
    )
    database_pool_size: int = Field(
        default=15,
        ge=1,
        description="PostgreSQL connections kept open (five services share one server's "
        "max_connections, 100 by default).",
    )
    database_pool_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra connections opened under load and closed again when returned: "
        "each costs a connect, so keep the pool big enough instead.",
    )
    database_pool_pre_ping: bool = Field(
        default=False,
        description="Test each pooled PostgreSQL connection before use (one more round trip per "
        "transaction). Off: a connection the server dropped fails one request with 503.",
    )
    http_max_concurrency: int = Field(
        default=0,
        ge=0,
        description="HTTP requests at work at once (probes excepted); the rest wait their turn in "
        "arrival order. 0: two fewer than database_pool_size, leaving connections for the "
        "consumer and the relay.",
    )
    http_queue_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a request may wait for its turn before it is refused with 503 "
        "and Retry-After.",
    )
    http_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1_024,
        description="Largest request body accepted (413 problem+json beyond it), so a huge "
        "body is refused before it is read into memory.",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("FSM_DATA_DIR", "var")),
        description="Folder of the SQLite files when no database URL is set: "
        "FSM_<SERVICE>_DATA_DIR, else FSM_DATA_DIR (shared with fsm run's broker log), else var.",
    )
    environment: Literal["dev", "test", "production"] = "dev"
    bootstrap_api_key: SecretStr | None = Field(
        default=None,
        validation_alias="FSM_BOOTSTRAP_API_KEY",
        description="When set, an admin key for a first start.",
    )
    log_level: str = Field(
        default="INFO",
        validation_alias="FSM_LOG_LEVEL",
        description="DEBUG, INFO, WARNING, ERROR or CRITICAL (any case). DEBUG also prints the "
        "traceback of a start the fsm command refuses.",
    )
    log_json: bool = Field(default=True, validation_alias="FSM_LOG_JSON")
    policy_file: Path | None = Field(default=None, validation_alias="FSM_POLICY_FILE")
    outbox_poll_interval_ms: int = Field(default=200, ge=5)
    outbox_batch_size: int = Field(default=200, ge=1)
    outbox_max_backoff_ms: int = Field(default=5_000, ge=10)
    opentelemetry: bool = Field(
        default=False,
        validation_alias="FSM_OPENTELEMETRY",
        description="FastAPI's native OpenTelemetry spans, metrics and logs (configure an "
        "OpenTelemetry SDK and exporter for them to go anywhere).",
    )
    outbox_keep_published_hours: int = Field(
        default=168,
        ge=1,
        description="Published outbox rows are deleted after this long (they carry personal "
        "data and are on the broker already).",
    )
    inbox_keep_days: int = Field(
        default=14,
        ge=1,
        description="Ids of applied events are forgotten after this long; keep it above the "
        "broker's retention so a redelivered event is still recognised.",
    )
    run_consumer: bool = True
    run_relay: bool = True
    run_periodic_jobs: bool = True
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @field_validator("bootstrap_api_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("FSM_BOOTSTRAP_API_KEY must be at least 16 characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        return check_log_level(value)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        if value:
            check_database_url(value)
        return value

    @model_validator(mode="after")
    def _no_example_secrets_in_production(self) -> ServiceSettings:
        # Like the full-stack FastAPI template: an example secret is fine on a laptop, never live.
        key = self.bootstrap_api_key.get_secret_value() if self.bootstrap_api_key else ""
        if self.environment == "production" and "change-me" in key:
            raise ValueError(
                "FSM_BOOTSTRAP_API_KEY still holds an example value; set a secret of your own"
            )
        # .env.example's POSTGRES_PASSWORD is an example too (it also says "change-me").
        if self.environment == "production" and "change-me" in _url_password(self.database_url):
            raise ValueError(
                f"{self.env_name('database_url')} holds the example database password "
                "(POSTGRES_PASSWORD of .env.example); set a password of your own"
            )
        return self

    @model_validator(mode="after")
    def _explicit_database_in_production(self) -> ServiceSettings:
        # A missing or misspelt URL variable must not leave a production service on a local
        # SQLite file nobody backs up.
        if self.environment == "production" and not self.database_url:
            raise ValueError(
                f"{self.env_name('database_url')} must be set when "
                f"{self.env_name('environment')} is production (no SQLite fallback there)"
            )
        return self

    def env_name(self, field: str) -> str:
        """The environment variable of ``field`` of these settings (``FSM_INTAKE_PORT``)."""
        return env_var(type(self), field, service_name=self.service_name)

    @property
    def resolved_http_max_concurrency(self) -> int:
        """``http_max_concurrency``, or two fewer than the pool when it is 0 (at least one)."""
        return self.http_max_concurrency or max(1, self.database_pool_size - 2)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/<service>.db`` (SQLite; outside
        production only)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').as_posix()}"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_log_level(value: str) -> str:
    """``value`` upper-cased when it is one of :data:`LOG_LEVELS`, else ValueError."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _url_password(url: str) -> str:
    """The password in database URL ``url`` ('' when none or not a URL)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not url:
        return ""
    try:
        return make_url(url).password or ""
    except ArgumentError:
        return ""


def check_database_url(url: str) -> None:
    """Raise ValueError unless ``url`` is a SQLAlchemy URL of an installed async driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect(_is_async=True)
    except NoSuchModuleError:  # an ArgumentError too: first
        raise ValueError(f"names an unknown database driver {url.split(':', 1)[0]!r}") from None
    except ArgumentError:
        raise ValueError(
            "is not a SQLAlchemy URL (e.g. postgresql+asyncpg://user:password@host:5432/name)"
        ) from None
    if not dialect.is_async:
        raise ValueError(
            f"names a synchronous driver ({url.split(':', 1)[0]}): use postgresql+asyncpg:// "
            "or sqlite+aiosqlite://"
        )


def env_var(settings_class: type[BaseSettings], field: str, *, service_name: str = "") -> str:
    """The environment variable that sets ``field`` of ``settings_class``: its alias when it has
    one (``FSM_LOG_LEVEL``), else the class's prefix and the field's name."""
    info = settings_class.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    prefix = str(settings_class.model_config.get("env_prefix") or "")
    if not prefix and service_name:
        prefix = f"FSM_{service_name.upper()}_"
    return f"{prefix}{field}".upper()


def settings_problems(exc: ValidationError, settings_class: type[BaseSettings]) -> list[str]:
    """One line per error of ``exc`` (raised building ``settings_class`` or settings nested in
    it, such as :class:`KafkaSettings`), each naming the environment variable to fix. Values of
    secrets and URLs (which may hold a password) are not repeated."""
    classes = {settings_class.__name__: settings_class}
    for info in settings_class.model_fields.values():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            classes[nested.__name__] = nested
    owner = classes.get(exc.title, settings_class)
    names = {field: env_var(owner, field) for field in owner.model_fields}
    by_env = {name: field for field, name in names.items()}
    lines = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        field = by_env.get(str(error["loc"][0]), str(error["loc"][0])) if error["loc"] else None
        if field is None:
            # A check across fields (model validator): its message names the variable first.
            mentioned = sorted(
                (message.find(name), field)
                for field, name in names.items()
                if re.search(rf"\b{re.escape(name)}\b", message)
            )
            if mentioned:
                field = mentioned[0][1]
                value = (
                    value.get(names[field], value.get(field)) if isinstance(value, dict) else None
                )
        name = names.get(field, field.upper()) if field else owner.__name__
        message = message.removeprefix(name).lstrip(":, ")
        field_info = owner.model_fields.get(field) if field else None
        secret = field_info is not None and (
            "Secret" in str(field_info.annotation) or str(field).endswith("_url")
        )
        shown = (
            f" (got {value!r})"
            if not secret and error["type"] != "missing" and isinstance(value, str | int | float)
            else ""
        )
        lines.append(f"{name}: {message}{shown}")
    return lines
