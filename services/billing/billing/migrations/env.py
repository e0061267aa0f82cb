"""Alembic environment of the billing service (run via ``fsm migrate``)."""

from billing.adapters.tables import BILLING_REGISTRY
from servicekit.migrations import run_env

run_env(BILLING_REGISTRY.metadata)
