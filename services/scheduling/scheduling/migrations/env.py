"""Alembic environment of the scheduling service (run via ``fsm migrate``)."""

from scheduling.adapters.tables import SCHEDULING_REGISTRY
from servicekit.migrations import run_env

run_env(SCHEDULING_REGISTRY.metadata)
