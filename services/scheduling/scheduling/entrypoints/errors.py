"""Scheduling's domain errors as problem+json statuses."""

from __future__ import annotations

from scheduling.domain.exceptions import (
    AlreadyExists,
    CannotTake,
    DayOver,
    DispatchOrderNotFound,
    IllegalTransition,
    ImplausibleReport,
    InvalidOfficeHours,
    NetworkNotFound,
    NotYourOrder,
    PersonalDataErased,
    PlanInfeasible,
    SlotUnavailable,
    TechnicianNotFound,
    VisitUnderWay,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    DispatchOrderNotFound: (404, "Order not found"),
    TechnicianNotFound: (404, "Technician not found"),
    NetworkNotFound: (404, "Network not found"),
    AlreadyExists: (409, "Already exists"),
    IllegalTransition: (409, "Not allowed in this state"),
    VisitUnderWay: (409, "Technician already on the way or on site"),
    NotYourOrder: (403, "Forbidden"),
    CannotTake: (409, "Cannot take this order"),
    SlotUnavailable: (409, "Window not available"),
    PlanInfeasible: (409, "Plan infeasible"),
    DayOver: (409, "Day is over"),
    # 409, not 410, as in intake: the order is still there (GET answers it, erased); only
    # acting on it is over.
    PersonalDataErased: (409, "Personal data erased"),
    ImplausibleReport: (422, "Implausible report"),
    InvalidOfficeHours: (422, "Invalid office hours"),
}
