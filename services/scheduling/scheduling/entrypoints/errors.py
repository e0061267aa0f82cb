"""Scheduling's domain errors as problem+json statuses."""

from __future__ import annotations

from scheduling.domain.exceptions import DispatchOrderNotFound

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    DispatchOrderNotFound: (404, "Order not found"),
}
