"""Alembic environment of the scheduling service (run via ``fsm migrate``)."""

from scheduling.adapters.tables import SCHEDULING_REGISTRY
from servicekit.migrations import run_env
from servicekit.webhooks import WEBHOOK_REGISTRY

run_env(SCHEDULING_REGISTRY.metadata, WEBHOOK_REGISTRY.metadata)
