"""Alembic environment of the intake service (run via ``fsm migrate``)."""

from intake.adapters.tables import INTAKE_REGISTRY
from servicekit.migrations import run_env

run_env(INTAKE_REGISTRY.metadata)
