"""Billing settings (``FSM_BILLING_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    """Settings of the billing service."""

    model_config = SettingsConfigDict(env_prefix="FSM_BILLING_", extra="ignore")

    service_name: str = "billing"
    port: int = 8004


@lru_cache
def get_settings() -> BillingSettings:
    """Settings read once from the environment."""
    return BillingSettings()
