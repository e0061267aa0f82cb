"""An order as dispatch sees it: what is needed to assign it, and where it stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from contracts.base import EventData


class DispatchStatus(StrEnum):
    """Where an order stands for dispatch."""

    AWAITING_VERIFICATION = "awaiting_verification"
    AWAITING_ASSIGNMENT = "awaiting_assignment"
    CANCELLED = "cancelled"
    CLOSED_REMOTELY = "closed_remotely"


@dataclass
class DispatchOrder:
    """An order waiting for (or holding) an assignment.

    An order with details still to verify is not dispatched (INT-2) until it is verified or a
    dispatcher overrides it; emergencies (INT-7) jump the queue.
    """

    order_id: str
    received_at: datetime
    product_line: str
    emergency: bool
    needs_verification: list[str]
    loaner_required: bool = False
    status: DispatchStatus = DispatchStatus.AWAITING_ASSIGNMENT
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_intake(
        cls,
        *,
        order_id: str,
        received_at: datetime,
        product_line: str,
        emergency: bool,
        needs_verification: list[str],
        loaner_required: bool,
    ) -> DispatchOrder:
        """A new order from intake: ready for assignment unless details must be verified first."""
        return cls(
            order_id=order_id,
            received_at=received_at,
            product_line=product_line,
            emergency=emergency,
            needs_verification=list(needs_verification),
            loaner_required=loaner_required,
            status=(
                DispatchStatus.AWAITING_VERIFICATION
                if needs_verification
                else DispatchStatus.AWAITING_ASSIGNMENT
            ),
        )

    def verified(self, *, override: bool) -> None:
        """Details were verified (or a dispatcher overrode the check): assignable now."""
        del override  # both lead to the same queue; the event records which it was
        if self.status is DispatchStatus.AWAITING_VERIFICATION:
            self.needs_verification = []
            self.status = DispatchStatus.AWAITING_ASSIGNMENT

    def cancelled(self) -> None:
        """The order was cancelled at intake: no visit goes ahead."""
        self.status = DispatchStatus.CANCELLED

    def resolved_remotely(self) -> None:
        """Phone guidance solved it (INT-4): nothing to dispatch."""
        if self.status is not DispatchStatus.CANCELLED:
            self.status = DispatchStatus.CLOSED_REMOTELY

    @property
    def dispatchable(self) -> bool:
        """Whether the order may be assigned now."""
        return self.status is DispatchStatus.AWAITING_ASSIGNMENT
