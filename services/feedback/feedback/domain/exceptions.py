"""Feedback's domain errors (mapped to problem+json in ``entrypoints/errors.py``)."""

from __future__ import annotations

from collections.abc import Sequence


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
