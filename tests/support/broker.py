"""The test broker handle and the fast client settings the tests use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servicekit.embedded import EmbeddedBroker
from servicekit.settings import KafkaSettings

# Short waits, quick retries, quick group sessions; idempotence off for Tansu.
TEST_KAFKA_DEFAULTS: dict[str, Any] = {
    "fetch_max_wait_ms": 10,
    "retry_backoff_ms": 10,
    "max_attempts": 3,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
    "enable_idempotence": False,
}


@dataclass(frozen=True)
class Broker:
    """The broker of the test session: an address and, when embedded, its process."""

    bootstrap: str
    embedded: EmbeddedBroker | None = None

    def settings(self, **overrides: Any) -> KafkaSettings:
        """``KafkaSettings`` for this broker with the test defaults, then ``overrides``."""
        return KafkaSettings(**{"bootstrap": self.bootstrap, **TEST_KAFKA_DEFAULTS, **overrides})
