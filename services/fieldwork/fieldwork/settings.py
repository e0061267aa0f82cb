"""Fieldwork settings (``FSM_FIELDWORK_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class FieldworkSettings(ServiceSettings):
    """Settings of the fieldwork service."""

    model_config = SettingsConfigDict(env_prefix="FSM_FIELDWORK_", extra="ignore")

    service_name: str = "fieldwork"
    port: int = 8003


@lru_cache
def get_settings() -> FieldworkSettings:
    """Settings read once from the environment."""
    return FieldworkSettings()
