"""Fieldwork's domain errors as problem+json statuses (the one place they are mapped)."""

from __future__ import annotations

from fieldwork.domain.exceptions import (
    EvidenceNotFound,
    IllegalTransition,
    InvalidInput,
    LoanerNotFound,
    LoanerUnavailable,
    OrderNotFound,
    PersonalDataErased,
    ReportUnavailable,
    RuleViolation,
    TakeBackNotFound,
    TicketNotFound,
    UploadRefused,
    UploadTooLarge,
    VisitNotFound,
)

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    VisitNotFound: (404, "Visit not found"),
    TakeBackNotFound: (404, "Take-back not found"),
    TicketNotFound: (404, "Coordination ticket not found"),
    LoanerNotFound: (404, "Loaner not found"),
    EvidenceNotFound: (404, "Evidence not found"),
    IllegalTransition: (409, "Illegal transition"),
    RuleViolation: (409, "Rule not satisfied"),
    # A subclass of RuleViolation (it names the rule too): handlers are looked up by the
    # exception's own class first.
    InvalidInput: (422, "Invalid input"),
    LoanerUnavailable: (409, "Loaner unavailable"),
    # 409, not 410, as in intake and scheduling: the order and its visits are still there (GET
    # answers them, erased); only acting on them is over (BIL-11).
    PersonalDataErased: (409, PersonalDataErased.title),
    UploadRefused: (415, "Unsupported upload"),
    UploadTooLarge: (413, "Upload too large"),
    ReportUnavailable: (503, "Report unavailable"),
}
