"""Scheduling settings (``FSM_SCHEDULING_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class SchedulingSettings(ServiceSettings):
    """Settings of the scheduling service."""

    model_config = SettingsConfigDict(env_prefix="FSM_SCHEDULING_", extra="ignore")

    service_name: str = "scheduling"
    port: int = Field(default=8002, ge=1, le=65535)
    osrm_url: str | None = None
    """Base URL of an OSRM server for road travel times; great-circle estimates when unset."""


@lru_cache
def get_settings() -> SchedulingSettings:
    """Settings read once from the environment."""
    return SchedulingSettings()
