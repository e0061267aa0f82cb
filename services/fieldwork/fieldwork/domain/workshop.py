"""Loaners and take-backs (FLD-6): the loaner inventory, and units at the workshop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from contracts.base import EventData
from contracts.fieldwork import UnitReturned, UnitReturnOverdue, WorkshopProgressRecorded
from fieldwork.domain.exceptions import LoanerUnavailable, RuleViolation


class LoanerState(StrEnum):
    """Where a loaner unit is."""

    AVAILABLE = "available"
    ON_BOARD = "on_board"
    """In a technician's kit for a visit (FLD-1)."""
    LENT = "lent"
    """At a customer's while their unit is at the workshop (FLD-6)."""
    RETIRED = "retired"


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

    def board(self, *, order_id: str, visit_id: str, at: datetime) -> None:
        """Into the kit of a departing technician (FLD-1, INT-6)."""
        if self.state is not LoanerState.AVAILABLE:
            raise LoanerUnavailable(
                f"Loaner {self.serial} is {self.state.value}, not available.",
                serial=self.serial,
                loaner_state=self.state.value,
            )
        self.state = LoanerState.ON_BOARD
        self.order_id, self.visit_id, self.updated_at = order_id, visit_id, at

    def lend(self, *, order_id: str, receipt_number: str, due_back: date, at: datetime) -> None:
        """Left with the customer whose unit went to the workshop (FLD-6)."""
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
        self.state = LoanerState.LENT
        self.order_id, self.receipt_number, self.due_back = order_id, receipt_number, due_back
        self.updated_at = at

    def reclaim(self, *, at: datetime, condition: str | None = None) -> None:
        """Back from the customer (or unused from a kit), available again."""
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
    overdue_reported_at: datetime | None = None
    events: list[EventData] = field(default_factory=list)

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
        visit_id: str | None = None,
        loaner_recovered: bool = True,
    ) -> None:
        """The unit is back with the customer; the loaner is collected (FLD-6)."""
        if self.returned_at is not None:
            raise RuleViolation("FLD-6", "The unit is already back with the customer")
        self.returned_at, self.repaired, self.returned_visit_id = at, repaired, visit_id
        self.events.append(
            UnitReturned(
                order_id=self.order_id,
                visit_id=visit_id,
                receipt_number=self.receipt_number,
                returned_at=at,
                repaired=repaired,
                loaner_recovered=loaner_recovered if self.loaner_serial else False,
                on_time=today <= self.promised_return_date,
            )
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
