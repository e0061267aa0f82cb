"""Feedback's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class FeedbackError(Exception):
    """Base of feedback's domain errors."""


class OrderNotFound(FeedbackError):
    """Feedback has seen no event of interest for this order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Nothing is known about order {order_id}.")
        self.order_id = order_id


class NotFound(FeedbackError):
    """A call-back, complaint, finding or issue that does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"No {kind} {ident}.")
        self.kind = kind
        self.ident = ident


class IllegalTransition(FeedbackError):
    """The thing is not in a state that allows the action (409, with the allowed ones)."""

    def __init__(
        self, subject: str, state: str, *, allowed: Sequence[str], action: str = "move"
    ) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"Cannot {action} {subject} from state '{state}'; allowed next: {allowed_text}."
        )
        self.state = state
        self.allowed = list(allowed)
        self.extensions = {"state": state, "allowed": list(allowed)}


class TaskClaimedByOther(FeedbackError):
    """Another agent holds the call-back (409)."""

    def __init__(self, task_id: str, holder: str) -> None:
        super().__init__(f"Call-back {task_id} is claimed by {holder}.")
        self.task_id = task_id
        self.holder = holder


class CallBackNotDue(FeedbackError):
    """A call-back timed by FBK-1 or FBK-2 claimed or recorded before its first call may be made
    (its ``not_before``): the call would ask too early whether the problem is gone (409). A retry
    after an unanswered call, and a call-back of any other rule, is never refused as early."""

    def __init__(self, task_id: str, not_before: datetime) -> None:
        super().__init__(
            f"Call-back {task_id} is not due before {not_before.isoformat()}: the call asks "
            "whether the problem is gone, which it cannot tell earlier. Nothing was recorded."
        )
        self.task_id = task_id
        self.not_before = not_before
        self.extensions = {"not_before": not_before.isoformat()}


class IncompleteClosure(FeedbackError):
    """A complaint cannot close without a cause, an owner and a preventive action (FBK-10)."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(
            "A complaint closes only with a cause, an owner and a preventive action; missing: "
            + ", ".join(missing)
            + "."
        )
        self.missing = list(missing)
        self.extensions = {
            "errors": [
                {"field": name, "message": "required to close", "type": "missing"}
                for name in missing
            ]
        }


class ComplaintNotConfirmed(FeedbackError):
    """The customer has not confirmed what was recorded yet (INT-9): it cannot be dispatched."""

    def __init__(self, complaint_id: str) -> None:
        super().__init__(
            f"Complaint {complaint_id} must be read back to the customer and confirmed before it "
            "is dispatched (INT-9)."
        )
        self.complaint_id = complaint_id


class SamplingAlreadyRun(FeedbackError):
    """The sampling draw of that day already ran (it is run once per day)."""

    def __init__(self, day: str) -> None:
        super().__init__(f"The sampling draw of {day} already ran.")
        self.day = day


class SamplingDayNotDue(FeedbackError):
    """A sampling draw for a day whose window of work is not over yet, or lies before the
    calendar begins (FBK-4)."""

    def __init__(self, day: str, reason: str, *, latest: str) -> None:
        super().__init__(f"The sampling draw of {day} cannot run: {reason}")
        self.day = day
        self.extensions = {
            "latest_day": latest,
            "errors": [{"field": "day", "message": reason, "type": "sampling_day_not_due"}],
        }


class OrderNotKnownYet(FeedbackError):
    """A complaint names an order feedback has heard nothing of (INT-9): a mistyped number, or
    an order created a moment ago whose first event has not arrived yet (worth a retry)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"Order {order_id} is not known to feedback yet. Check the order number; an order "
            "created a moment ago is known as soon as its first event reaches feedback (usually "
            "within seconds): retry the request shortly. Nothing was recorded."
        )
        self.order_id = order_id
        self.extensions = {
            "order_id": order_id,
            "retryable": True,
            "errors": [
                {"field": "order_id", "message": "order not known yet", "type": "order_not_known"}
            ],
        }


class PersonalDataErased(FeedbackError):
    """The order's retention is over and its customer's personal data was erased (BIL-11):
    nothing more that may name the customer is recorded about it, so no command acts on it any
    more, whatever the state of what it names: a complaint naming it is refused (it is filed
    without the order), and so is every command on a complaint about it (FBK-10: the loop needs
    the customer), every call-back action on it (the customer's phone is erased) and resolving
    its issues. Deciding a conduct finding is not refused: it is about the technician (FBK-6).
    409 with ``anonymised_at``, the problem intake, scheduling and fieldwork answer. Reads still
    answer it, erased; events heard of it later are still recorded (erased)."""

    title = "Personal data erased"

    def __init__(
        self, order_id: str, action: str, anonymised_at: datetime, *, hint: str = ""
    ) -> None:
        super().__init__(
            f"Order {order_id} is past its retention and its customer's personal data was "
            f"erased at {anonymised_at.isoformat()} (BIL-11): '{action}' is no longer possible. "
            f"{hint + ' ' if hint else ''}Nothing was recorded."
        )
        self.order_id = order_id
        self.action = action
        self.anonymised_at = anonymised_at
        self.extensions = {"anonymised_at": anonymised_at.isoformat()}


class NotOnOrder(FeedbackError):
    """A complaint names a technician or network who had no visit of its order (or names one
    with no order to check): it would count against someone who never worked on it (FBK-9,
    FBK-11)."""

    def __init__(self, field: str, value: str, order_id: str | None) -> None:
        who = "technician" if field == "technician_id" else "network"
        if order_id is None:
            message = f"a complaint against a {who} names the order they worked on (order_id)"
        else:
            message = f"{who} {value} is on no visit of order {order_id}"
        super().__init__(
            f"The complaint cannot count against {who} {value}: {message}. Nothing was recorded."
        )
        self.extensions = {"errors": [{"field": field, "message": message, "type": "not_on_order"}]}


class FaultClassRequired(FeedbackError):
    """A complaint closed with staff at fault needs the class of that fault (FBK-9)."""

    def __init__(self, complaint_id: str) -> None:
        super().__init__(
            f"Complaint {complaint_id} closes at fault only with the class of the staff fault "
            "(A: bribes, overcharging, violence or insults; B: not following the process; C: "
            "passing the buck, poor attitude, work errors): none was given nor alleged when it "
            "was filed."
        )
        self.complaint_id = complaint_id
        self.extensions = {
            "errors": [
                {
                    "field": "staff_fault_class",
                    "message": "required when at_fault is true",
                    "type": "missing",
                }
            ]
        }
