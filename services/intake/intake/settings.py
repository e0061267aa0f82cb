"""Intake settings (``FSM_INTAKE_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(env_prefix="FSM_INTAKE_", extra="ignore")

    service_name: str = "intake"
    port: int = Field(default=8001, ge=1, le=65535)
    warranty_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long admins' warranty periods are reused between orders; a change "
        "made through another replica applies after at most this long (0: read per order).",
    )


@lru_cache
def get_settings() -> IntakeSettings:
    """Settings read once from the environment."""
    return IntakeSettings()
