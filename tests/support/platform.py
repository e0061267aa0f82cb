"""Re-export of :mod:`fsm.processes` for the tests."""

from fsm.processes import ADMIN_KEY, SERVICES, Platform, wait_for

__all__ = ["ADMIN_KEY", "SERVICES", "Platform", "wait_for"]
