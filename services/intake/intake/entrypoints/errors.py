"""Intake's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from intake.domain.exceptions import (
    DetailsStillMissing,
    InvalidDetails,
    InvalidTransition,
    NothingToVerify,
    OrderNotFound,
    PersonalDataErased,
    TechnicianOnSite,
    WarrantyPeriodNotFound,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    WarrantyPeriodNotFound: (404, "Warranty period not found"),
    InvalidTransition: (409, "Not allowed in this status"),
    NothingToVerify: (409, "Nothing to verify"),
    TechnicianOnSite: (409, "Technician on site"),
    # 409, not 410: the order is still there (GET answers it, erased); only acting on it is over.
    PersonalDataErased: (409, "Personal data erased"),
    DetailsStillMissing: (422, "Details still missing"),
    InvalidDetails: (422, "Invalid details"),
}
