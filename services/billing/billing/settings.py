"""Billing settings (``FSM_BILLING_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    """Settings of the billing service."""

    model_config = SettingsConfigDict(env_prefix="FSM_BILLING_", extra="ignore")

    service_name: str = "billing"
    port: int = Field(default=8004, ge=1, le=65535)


@lru_cache
def get_settings() -> BillingSettings:
    """Settings read once from the environment."""
    return BillingSettings()
