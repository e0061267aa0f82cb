"""Loaners and take-backs (FLD-6): the loaner inventory, and units at the workshop."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from contracts.base import EventData
from contracts.fieldwork import (
    LoanerCollected,
    LoanerCollectionOverdue,
    UnitReturned,
    UnitReturnOverdue,
    WorkshopProgressRecorded,
)
from contracts.privacy import erase_text
from fieldwork.domain.exceptions import InvalidInput, LoanerUnavailable, RuleViolation
from fieldwork.domain.policy import FieldworkPolicy
from fieldwork.domain.visit import Visit, VisitState

#: Visits that never reached the customer: none of them brought a unit back (FLD-6).
_NEVER_AT_THE_CUSTOMERS = frozenset(
    {VisitState.SCHEDULED, VisitState.CANCELLED, VisitState.NOT_HOME}
)


class LoanerState(StrEnum):
    """Where a loaner unit is."""

    AVAILABLE = "available"
    ON_BOARD = "on_board"
    """In a technician's kit for a visit (FLD-1)."""
    LENT = "lent"
    """At a customer's while their unit is at the workshop (FLD-6)."""
    RETIRED = "retired"


def loaner_serial(serial: str) -> str:
    """``serial`` trimmed, as every loaner is known: "L1 " is loaner "L1" (FLD-6). A blank one
    names no loaner: InvalidInput (422)."""
    trimmed = serial.strip()
    if not trimmed:
        raise InvalidInput("FLD-6", "A loaner serial cannot be blank", serial=serial)
    return trimmed


@dataclass
class Loaner:
    """A unit lent to customers while theirs is repaired (aggregate)."""

    serial: str
    product_line: str
    state: LoanerState = LoanerState.AVAILABLE
    condition: str = "good"
    order_id: str | None = None
    visit_id: str | None = None
    receipt_number: str | None = None
    due_back: date | None = None
    updated_at: datetime | None = None
    events: list[EventData] = field(default_factory=list)

    def _check_line(self, product_line: str | None, rule: str) -> None:
        """A loaner stands in for the customer's unit: it is of the order's product line
        (``product_line``; None when the order's is not known)."""
        if product_line is not None and product_line != self.product_line:
            raise RuleViolation(
                rule,
                f"Loaner {self.serial} is a {self.product_line} unit; the order's product is a "
                f"{product_line}: lend one of its line",
                serial=self.serial,
                loaner_product_line=self.product_line,
                order_product_line=product_line,
            )

    def board(
        self, *, order_id: str, visit_id: str, at: datetime, product_line: str | None = None
    ) -> None:
        """Into the kit of a departing technician (FLD-1, INT-6), for an order of
        ``product_line`` (the loaner's own line)."""
        if self.state is not LoanerState.AVAILABLE:
            raise LoanerUnavailable(
                f"Loaner {self.serial} is {self.state.value}, not available.",
                serial=self.serial,
                loaner_state=self.state.value,
            )
        self._check_line(product_line, "FLD-1")
        self.state = LoanerState.ON_BOARD
        self.order_id, self.visit_id, self.updated_at = order_id, visit_id, at

    def lend(
        self,
        *,
        order_id: str,
        receipt_number: str,
        due_back: date,
        at: datetime,
        product_line: str | None = None,
    ) -> None:
        """Left with the customer whose unit, of ``product_line``, went to the workshop (FLD-6)."""
        if self.state is LoanerState.LENT or self.state is LoanerState.RETIRED:
            raise LoanerUnavailable(
                f"Loaner {self.serial} is {self.state.value}.",
                serial=self.serial,
                loaner_state=self.state.value,
            )
        if self.state is LoanerState.ON_BOARD and self.order_id != order_id:
            raise LoanerUnavailable(
                f"Loaner {self.serial} is on board for another order.", serial=self.serial
            )
        self._check_line(product_line, "FLD-6")
        self.state = LoanerState.LENT
        self.order_id, self.receipt_number, self.due_back = order_id, receipt_number, due_back
        self.updated_at = at

    def lent_to(self, order_id: str) -> bool:
        """Whether the loaner is at the customer's of ``order_id``."""
        return self.state is LoanerState.LENT and self.order_id == order_id

    def collect(self, *, order_id: str, at: datetime, condition: str | None = None) -> None:
        """Collected from the customer of ``order_id`` it was lent to, back in stock (FLD-6):
        the only way a lent loaner becomes available again."""
        if not self.lent_to(order_id):
            raise LoanerUnavailable(
                f"Loaner {self.serial} is not lent to order {order_id} "
                f"(it is {self.state.value}"
                + (f", for order {self.order_id})." if self.order_id else ")."),
                serial=self.serial,
                loaner_state=self.state.value,
            )
        self.reclaim(at=at, condition=condition)

    def reclaim(self, *, at: datetime, condition: str | None = None) -> None:
        """Back in stock, available again (unused from a kit, or collected)."""
        self.state = LoanerState.AVAILABLE
        self.condition = condition or self.condition
        self.order_id = self.visit_id = self.receipt_number = None
        self.due_back = None
        self.updated_at = at


@dataclass(frozen=True)
class Progress:
    """A step of the workshop repair."""

    at: datetime
    stage: str
    note: str | None = None


@dataclass
class TakeBack:
    """A customer's unit at the workshop, due back by a promised date (FLD-6) (aggregate)."""

    receipt_number: str
    order_id: str
    visit_id: str
    promised_return_date: date
    taken_at: datetime
    unit_serial: str | None = None
    appearance: str | None = None
    loaner_serial: str | None = None
    progress: list[Progress] = field(default_factory=list)
    returned_at: datetime | None = None
    returned_visit_id: str | None = None
    repaired: bool | None = None
    loaner_collected_at: datetime | None = None
    """When the loaner lent with the unit was collected from the customer; None while they
    still have it (or none was lent)."""
    overdue_reported_at: datetime | None = None
    loaner_overdue_reported_at: datetime | None = None
    """When LoanerCollectionOverdue was raised for the loaner kept at the unit's return (once)."""
    events: list[EventData] = field(default_factory=list)

    @property
    def loaner_out(self) -> str | None:
        """The loaner lent with the unit and not collected yet (FLD-6), if any."""
        if self.loaner_serial is None or self.loaner_collected_at is not None:
            return None
        return self.loaner_serial

    def loaner_collected(self, *, at: datetime) -> bool:
        """The loaner lent with the unit is back (FLD-6); False when none is out."""
        if self.loaner_out is None:
            return False
        self.loaner_collected_at = at
        return True

    def loaner_collect_by(self, *, policy: FieldworkPolicy, tz: tzinfo) -> date | None:
        """The last day a loaner still with the customer after the unit came back is to be
        collected on (FLD-6): ``loaner_collect_within_days`` calendar days after the day of the
        return in the business time zone ``tz``. None while the unit is at the workshop, or when
        no loaner was lent with it."""
        if self.returned_at is None or self.loaner_serial is None:
            return None
        return self.returned_at.astimezone(tz).date() + timedelta(
            days=policy.loaner_collect_within_days
        )

    def collect_loaner(self, *, at: datetime, policy: FieldworkPolicy, tz: tzinfo) -> bool:
        """The loaner lent with the unit is collected from the customer on its own (FLD-6);
        False when none is out. One the customer kept when the unit came back raises
        LoanerCollected, late when collected after its collect-by day; one brought in while the
        unit was still at the workshop is told by UnitReturned (``loaner_recovered``)."""
        serial = self.loaner_out
        if serial is None or not self.loaner_collected(at=at):
            return False
        collect_by = self.loaner_collect_by(policy=policy, tz=tz)
        if self.returned_at is not None and collect_by is not None:
            self.events.append(
                LoanerCollected(
                    order_id=self.order_id,
                    receipt_number=self.receipt_number,
                    loaner_serial=serial,
                    collected_at=at,
                    late=at.astimezone(tz).date() > collect_by,
                )
            )
        return True

    def check_loaner_overdue(
        self, *, now: datetime, today: date, policy: FieldworkPolicy, tz: tzinfo
    ) -> bool:
        """Raise LoanerCollectionOverdue once when the loaner the customer kept at the unit's
        return is still with them after its collect-by day (FLD-6)."""
        serial = self.loaner_out
        collect_by = self.loaner_collect_by(policy=policy, tz=tz)
        if (
            serial is None
            or collect_by is None
            or self.returned_at is None
            or self.loaner_overdue_reported_at is not None
            or today <= collect_by
        ):
            return False
        self.loaner_overdue_reported_at = now
        self.events.append(
            LoanerCollectionOverdue(
                order_id=self.order_id,
                receipt_number=self.receipt_number,
                loaner_serial=serial,
                unit_returned_at=self.returned_at,
                collect_by=collect_by,
                detected_at=now,
            )
        )
        return True

    def erase_personal_data(self) -> None:
        """The workshop's notes may name the customer: they read "[erased]" (BIL-11). The
        receipt, the unit's serial and appearance, the stages and dates stay."""
        self.progress = [replace(step, note=erase_text(step.note)) for step in self.progress]

    def record_progress(self, *, at: datetime, stage: str, note: str | None = None) -> None:
        """Workshop progress (received, diagnosed, repaired, shipped...)."""
        if self.returned_at is not None:
            raise RuleViolation("FLD-6", "The unit is already back with the customer")
        self.progress.append(Progress(at=at, stage=stage, note=note))
        self.events.append(
            WorkshopProgressRecorded(
                order_id=self.order_id,
                receipt_number=self.receipt_number,
                stage=stage,
                note=note,
                at=at,
                promised_return_date=self.promised_return_date,
            )
        )

    def return_unit(
        self,
        *,
        at: datetime,
        today: date,
        repaired: bool = True,
        visit: Visit | None = None,
        loaner_recovered: bool | None = None,
    ) -> bool:
        """The unit is back with the customer (FLD-6), brought on ``visit`` (one of the order's
        that went to the customer after the unit was taken), when named.

        The loaner still at the customer's is back in stock only when someone says it was
        collected: ``loaner_recovered`` is then required. Not collected, it stays lent to the
        order (collected later). With no loaner lent, none can be recovered. Returns whether the
        loaner was collected now."""
        if self.returned_at is not None:
            raise RuleViolation("FLD-6", "The unit is already back with the customer")
        if visit is not None:
            self._check_returning_visit(visit)
        if loaner_recovered and self.loaner_serial is None:
            # The event would say none was recovered: refused rather than contradicted.
            raise InvalidInput(
                "FLD-6",
                f"No loaner was lent with the unit of receipt {self.receipt_number}: there is "
                "none to recover (loaner_recovered)",
                field="loaner_recovered",
            )
        out = self.loaner_out
        if out is not None and loaner_recovered is None:
            raise InvalidInput(
                "FLD-6",
                f"Loaner {out} was lent with this unit: say whether it was collected from the "
                "customer (loaner_recovered); it goes back in stock only when it was",
                field="loaner_recovered",
                loaner_serial=out,
            )
        collected = bool(loaner_recovered) and self.loaner_collected(at=at)
        self.returned_at, self.repaired = at, repaired
        self.returned_visit_id = visit.visit_id if visit is not None else None
        self.events.append(
            UnitReturned(
                order_id=self.order_id,
                visit_id=self.returned_visit_id,
                receipt_number=self.receipt_number,
                returned_at=at,
                repaired=repaired,
                loaner_recovered=self.loaner_serial is not None and self.loaner_out is None,
                on_time=today <= self.promised_return_date,
            )
        )
        return collected

    def _check_returning_visit(self, visit: Visit) -> None:
        """The unit comes back on a later visit of its order that went to the customer."""
        problem: str | None = None
        if visit.order_id != self.order_id:
            problem = f"is not a visit of order {self.order_id}"
        elif visit.visit_id == self.visit_id:
            problem = "is the visit the unit was taken back on"
        elif visit.state in _NEVER_AT_THE_CUSTOMERS:
            problem = f"never reached the customer (it is {visit.state.value})"
        elif visit.ended_at is not None and visit.ended_at < self.taken_at:
            problem = f"ended before the unit was taken back ({self.taken_at.isoformat()})"
        if problem is not None:
            raise InvalidInput(
                "FLD-6",
                f"Visit {visit.visit_id} {problem}: the unit of receipt {self.receipt_number} "
                "comes back on a later visit of its order",
                field="visit_id",
                visit_id=visit.visit_id,
                order_id=self.order_id,
            )

    def check_overdue(self, *, now: datetime, today: date) -> bool:
        """Raise UnitReturnOverdue once when the promised date has passed (FLD-6)."""
        if self.returned_at is not None or self.overdue_reported_at is not None:
            return False
        if today <= self.promised_return_date:
            return False
        self.overdue_reported_at = now
        self.events.append(
            UnitReturnOverdue(
                order_id=self.order_id,
                receipt_number=self.receipt_number,
                promised_return_date=self.promised_return_date,
                loaner_serial=self.loaner_serial,
                detected_at=now,
            )
        )
        return True
