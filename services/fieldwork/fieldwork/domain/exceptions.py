"""Fieldwork's domain errors (mapped to problem+json in ``entrypoints/errors.py``).

Each error carries ``extensions``: extra members of the problem document (the allowed actions,
the rule broken, what is missing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class FieldworkError(Exception):
    """Base of fieldwork's domain errors."""

    extensions: dict[str, Any]

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


class OrderNotFound(FieldworkError):
    """Fieldwork has seen no event of interest for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Nothing is known about order {order_id}.")
        self.order_id = order_id


class VisitNotFound(FieldworkError):
    """No such visit, or not one of the calling technician's."""

    def __init__(self, visit_id: str) -> None:
        super().__init__(f"Visit {visit_id} was not found.")


class IllegalTransition(FieldworkError):
    """The action is not possible in the visit's current state; lists the ones that are."""

    def __init__(self, action: str, state: str, allowed: list[str]) -> None:
        super().__init__(
            f"'{action}' is not possible while the visit is {state}; "
            f"possible now: {', '.join(allowed) or 'nothing'}.",
            action=action,
            state=state,
            allowed=allowed,
        )


class RuleViolation(FieldworkError):
    """The action breaks a rule of RULES.md (named in ``rule``)."""

    def __init__(self, rule: str, message: str, **extensions: Any) -> None:
        super().__init__(f"{message} ({rule})", rule=rule, **extensions)
        self.rule = rule


class PersonalDataErased(FieldworkError):
    """The order's retention is over and its customer's personal data was erased (BIL-11): no
    command acts on it any more, on its visits, uploads or take-backs, whatever their state
    (409, as in intake and scheduling); a loaner lent for it, the centre's property, can still
    be collected, and the customer's unit taken back returned to them (FLD-6). Reads still
    answer it, erased; events heard of it later are still applied (and stored erased)."""

    title = "Personal data erased"
    #: The problem type, as the REST answer's (derived from the title); an offline batch's
    #: refused item names it too.
    problem_type = "https://fsm.example/problems/personal-data-erased"

    def __init__(self, order_id: str, action: str, anonymised_at: datetime) -> None:
        super().__init__(
            f"Order {order_id} is past its retention and its customer's personal data was "
            f"erased at {anonymised_at.isoformat()} (BIL-11): '{action}' is no longer possible. "
            "If the customer calls again, intake takes a new order.",
            anonymised_at=anonymised_at.isoformat(),
        )
        self.order_id = order_id
        self.action = action
        self.anonymised_at = anonymised_at


class InvalidInput(RuleViolation):
    """The request cannot be taken as it is (422): a detail the case needs is missing, a time
    lies outside what can be true (an ETA before the departure or years after it), or it names
    something that does not belong (a visit of another order)."""


class LoanerUnavailable(FieldworkError):
    """The loaner is unknown or not in a state that allows the action."""


class LoanerNotFound(FieldworkError):
    """No loaner with this serial (or not one the caller may act on)."""

    def __init__(self, serial: str) -> None:
        super().__init__(f"No loaner with serial {serial}.", serial=serial)


class TakeBackNotFound(FieldworkError):
    """No take-back with this receipt number."""

    def __init__(self, receipt_number: str) -> None:
        super().__init__(f"No take-back with receipt number {receipt_number}.")


class TicketNotFound(FieldworkError):
    """No such coordination ticket."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"Coordination ticket {ticket_id} was not found.")


class EvidenceNotFound(FieldworkError):
    """No upload with this id on the visit (or it was erased with the personal data, BIL-11)."""

    def __init__(self, visit_id: str, evidence_id: str) -> None:
        super().__init__(f"Visit {visit_id} has no evidence {evidence_id}.")


class UploadRefused(FieldworkError):
    """An evidence upload of a type not accepted (FLD-10)."""


class UploadTooLarge(FieldworkError):
    """An evidence upload over the size limit (FLD-10)."""


class ReportUnavailable(FieldworkError):
    """The service report cannot be rendered here (no CJK font installed)."""
