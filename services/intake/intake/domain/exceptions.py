"""Intake's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class IntakeError(Exception):
    """Base of intake's domain errors."""


@dataclass(frozen=True)
class FieldProblem:
    """Why the value of one request field is refused (``field`` is its dotted path)."""

    field: str
    message: str
    type: str


class OrderNotFound(IntakeError):
    """No order has this id."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} does not exist.")
        self.order_id = order_id


class InvalidTransition(IntakeError):
    """The order's status does not allow this action (409, naming the statuses that would)."""

    def __init__(self, order_id: str, action: str, status: str, allowed: list[str]) -> None:
        super().__init__(
            f"Order {order_id} is '{status}': '{action}' is allowed only when it is one of "
            f"{', '.join(allowed)}."
        )
        self.order_id = order_id
        self.action = action
        self.status = status
        self.allowed = allowed
        self.extensions = {"current_status": status, "allowed_statuses": allowed}


class TechnicianOnSite(IntakeError):
    """A technician is at the customer's: the order is neither cancelled nor resolved by phone
    while the work goes on (409), whatever its status says (a repair that failed on site leaves
    the technician there until the visit closes, even once the next visit is booked)."""

    def __init__(self, order_id: str, action: str, status: str) -> None:
        super().__init__(
            f"Order {order_id} has a technician on site: '{action}' waits until the visit is "
            "closed (the visit's outcome decides what comes next: the technician may still "
            "repair, take the unit back or agree the next visit)."
        )
        self.order_id = order_id
        self.action = action
        self.extensions = {"current_status": status}


class PersonalDataErased(IntakeError):
    """The order's retention is over and its customer's personal data was erased (BIL-11): no
    command acts on it any more, whatever its status (409). Nothing could be verified, reopened
    or cancelled without the customer's details, and they must not be taken again on it."""

    def __init__(self, order_id: str, action: str, anonymised_at: datetime) -> None:
        super().__init__(
            f"Order {order_id} is past its retention and its customer's personal data was "
            f"erased at {anonymised_at.isoformat()} (BIL-11): '{action}' is no longer possible. "
            "If the customer calls again, take a new order."
        )
        self.order_id = order_id
        self.action = action
        self.anonymised_at = anonymised_at
        self.extensions = {"anonymised_at": anonymised_at.isoformat()}


class NothingToVerify(IntakeError):
    """The order has no detail to verify and the request changes nothing (409)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"Order {order_id} has nothing left to verify and the request corrects nothing."
        )
        self.order_id = order_id


class DetailsStillMissing(IntakeError):
    """Verification leaves details missing; only a dispatcher may release the order (422)."""

    def __init__(self, order_id: str, missing: list[str]) -> None:
        super().__init__(
            f"Order {order_id} still misses: {', '.join(missing)}. Correct or confirm them, or "
            "have a dispatcher release the order with dispatch_override."
        )
        self.order_id = order_id
        self.missing = missing
        self.extensions = {
            "errors": [
                {"field": m, "message": "still missing or doubtful", "type": "missing"}
                for m in missing
            ]
        }


class InvalidDetails(IntakeError):
    """Details that cannot be true or cannot be served as given (422, naming each field): a
    purchase or installation date in the future (INT-2: malformed input is refused), a preferred
    window that is over, starts beyond the booking horizon or is longer than any visit could
    use. Nothing is stored."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("Refused: " + "; ".join(f"{p.field}: {p.message}" for p in problems) + ".")
        self.problems = problems
        self.extensions = {
            "errors": [{"field": p.field, "message": p.message, "type": p.type} for p in problems]
        }


class WarrantyPeriodNotFound(IntakeError):
    """No admin-set warranty period for this product line."""

    def __init__(self, product_line: str) -> None:
        super().__init__(f"No warranty period was set for product line '{product_line}'.")
        self.product_line = product_line
