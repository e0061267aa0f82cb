"""Alembic environment of the feedback service (run via ``fsm migrate``)."""

from feedback.adapters.tables import FEEDBACK_REGISTRY
from servicekit.migrations import run_env

run_env(FEEDBACK_REGISTRY.metadata)
