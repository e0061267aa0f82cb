"""Feedback settings (``FSM_FEEDBACK_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    """Settings of the feedback service."""

    model_config = SettingsConfigDict(env_prefix="FSM_FEEDBACK_", extra="ignore")

    service_name: str = "feedback"
    port: int = Field(default=8005, ge=1, le=65535)


@lru_cache
def get_settings() -> FeedbackSettings:
    """Settings read once from the environment."""
    return FeedbackSettings()
