"""Feedback's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from feedback.domain.exceptions import (
    ComplaintNotConfirmed,
    IllegalTransition,
    IncompleteClosure,
    NotFound,
    OrderNotFound,
    SamplingAlreadyRun,
    TaskClaimedByOther,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    NotFound: (404, "Not found"),
    IllegalTransition: (409, "Illegal state transition"),
    TaskClaimedByOther: (409, "Call-back claimed by another agent"),
    ComplaintNotConfirmed: (409, "Complaint not confirmed by the customer"),
    SamplingAlreadyRun: (409, "Sampling already ran"),
    IncompleteClosure: (422, "Incomplete complaint closure"),
}
