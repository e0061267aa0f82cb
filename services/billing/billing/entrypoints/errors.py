"""Billing's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from billing.domain.exceptions import OrderNotFound

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
}
