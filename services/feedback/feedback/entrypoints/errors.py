"""Feedback's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from feedback.domain.exceptions import (
    CallBackNotDue,
    ComplaintNotConfirmed,
    FaultClassRequired,
    IllegalTransition,
    IncompleteClosure,
    NotFound,
    NotOnOrder,
    OrderNotFound,
    OrderNotKnownYet,
    PersonalDataErased,
    SamplingAlreadyRun,
    SamplingDayNotDue,
    TaskClaimedByOther,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    NotFound: (404, "Not found"),
    IllegalTransition: (409, "Illegal state transition"),
    TaskClaimedByOther: (409, "Call-back claimed by another agent"),
    CallBackNotDue: (409, "Call-back not due yet"),
    ComplaintNotConfirmed: (409, "Complaint not confirmed by the customer"),
    SamplingAlreadyRun: (409, "Sampling already ran"),
    # 409, not 410 nor 422, as in intake, scheduling and fieldwork: the order is still there
    # (GET answers it, erased); only acting on it is over (BIL-11).
    PersonalDataErased: (409, PersonalDataErased.title),
    IncompleteClosure: (422, "Incomplete complaint closure"),
    FaultClassRequired: (422, "Staff-fault class required"),
    SamplingDayNotDue: (422, "Invalid sampling day"),
    # 422, not 404: feedback cannot tell a mistyped order from one whose first event is still on
    # its way; the problem says it is worth a retry (INT-9: no complaint is lost to the race).
    OrderNotKnownYet: (422, "Order not known yet"),
    NotOnOrder: (422, "Not on the order"),
}
