"""Intake's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from intake.domain.exceptions import (
    DetailsStillMissing,
    InvalidTransition,
    NothingToVerify,
    OrderNotFound,
    WarrantyPeriodNotFound,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    WarrantyPeriodNotFound: (404, "Warranty period not found"),
    InvalidTransition: (409, "Not allowed in this status"),
    NothingToVerify: (409, "Nothing to verify"),
    DetailsStillMissing: (422, "Details still missing"),
}
