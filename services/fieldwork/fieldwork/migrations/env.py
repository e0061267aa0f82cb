"""Alembic environment of the fieldwork service (run via ``fsm migrate``)."""

from fieldwork.adapters.tables import FIELDWORK_REGISTRY
from servicekit.migrations import run_env

run_env(FIELDWORK_REGISTRY.metadata)
