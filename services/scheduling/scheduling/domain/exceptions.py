"""Scheduling's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


class SchedulingError(Exception):
    """Base of scheduling's domain errors."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.extensions: dict[str, Any] = {}


class DispatchOrderNotFound(SchedulingError):
    """Scheduling knows no order with this id."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Scheduling knows no order {order_id}.")
        self.order_id = order_id


class TechnicianNotFound(SchedulingError):
    """No technician with this id."""

    def __init__(self, technician_id: str) -> None:
        super().__init__(f"No technician {technician_id}.")


class NetworkNotFound(SchedulingError):
    """No partner network with this id."""

    def __init__(self, network_id: str) -> None:
        super().__init__(f"No partner network {network_id}.")


class AlreadyExists(SchedulingError):
    """A technician or network with this id exists already."""


class IllegalTransition(SchedulingError):
    """The order is not in a state that allows this action; lists the allowed actions."""

    def __init__(self, action: str, status: str, allowed: list[str]) -> None:
        super().__init__(f"Cannot {action} an order that is {status}.")
        self.extensions = {"current_status": status, "allowed": allowed}


class VisitUnderWay(IllegalTransition):
    """The technician has left for the customer or is there: the visit is fieldwork's until it
    ends there, so dispatch may not move, cancel or postpone it meanwhile (SCH-8, SCH-10,
    SCH-12). `remedy` says how the visit ends instead."""

    def __init__(
        self,
        action: str,
        status: str,
        *,
        technician_id: str | None,
        allowed: list[str],
        remedy: str,
    ) -> None:
        where = "on site" if status == "on_site" else "already on the way to the customer"
        who = f"technician {technician_id}" if technician_id else "the technician"
        SchedulingError.__init__(self, f"Cannot {action}: {who} is {where} ({status}). {remedy}")
        self.extensions = {
            "current_status": status,
            "allowed": allowed,
            "technician_id": technician_id,
        }


class PersonalDataErased(SchedulingError):
    """The order's retention is over and its customer's personal data was erased (BIL-11): no
    command acts on it any more, whatever its state (409, as in intake). Reads still answer it,
    erased; events heard of it later are still applied (and stored erased)."""

    def __init__(self, order_id: str, action: str, anonymised_at: datetime) -> None:
        super().__init__(
            f"Order {order_id} is past its retention and its customer's personal data was "
            f"erased at {anonymised_at.isoformat()} (BIL-11): '{action}' is no longer possible. "
            "If the customer calls again, intake takes a new order."
        )
        self.order_id = order_id
        self.action = action
        self.anonymised_at = anonymised_at
        self.extensions = {"anonymised_at": anonymised_at.isoformat()}


class NotYourOrder(SchedulingError):
    """A technician or network acted on an order that is not theirs (SCH-8, SCH-12)."""


class CannotTake(SchedulingError):
    """The chosen technician or network cannot take this order (skill, area, day off, capacity)."""

    def __init__(self, detail: str, reasons: list[str]) -> None:
        super().__init__(detail)
        self.extensions = {"reasons": reasons}


class SlotUnavailable(SchedulingError):
    """The requested window cannot be kept (SCH-3); `alternatives` lists feasible ones and
    `reasons`, when given, why this one cannot be kept."""

    def __init__(
        self, detail: str, alternatives: list[dict[str, Any]], reasons: list[str] | None = None
    ) -> None:
        super().__init__(detail)
        self.extensions = {"alternatives": alternatives}
        if reasons:
            self.extensions["reasons"] = reasons


class ImplausibleReport(SchedulingError):
    """A report that cannot be true when received, e.g. a position dated in the future (SCH-6)."""


class DayOver(SchedulingError):
    """A day plan asked for a day that has ended: its plan is history, not re-optimised."""

    def __init__(self, day: date) -> None:
        super().__init__(f"{day.isoformat()} is over: a day that has ended is not re-optimised.")
        self.extensions = {"day": day.isoformat()}


class PlanInfeasible(SchedulingError):
    """The independent checker refused a plan; nothing was applied."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__("The plan failed the feasibility check and was not applied.")
        self.extensions = {"violations": violations[:50]}


class InvalidOfficeHours(SchedulingError, ValueError):
    """A network's office hours that cannot be counted in (SCH-1): closing before opening, no
    open day, a weekday outside 0-6. A ValueError too, so a request schema building them answers
    422 like any other invalid field."""
