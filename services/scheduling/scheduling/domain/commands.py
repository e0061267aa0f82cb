"""Commands to scheduling (imperative; one handler each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts.common import GeoPoint, TimeWindow
from contracts.scheduling import RescheduleInitiator, ReturnReason
from scheduling.domain.model import ContactOutcome, Network, Technician


@dataclass(frozen=True)
class Actor:
    """Who gives a command: the API key's name, role and binding."""

    name: str
    role: str
    technician_id: str | None = None
    network_id: str | None = None

    @property
    def is_dispatcher(self) -> bool:
        """Centre dispatchers (and admins) may assign, reassign and cancel (SCH-12)."""
        return self.role in {"dispatcher", "admin"}


@dataclass(frozen=True)
class SaveTechnician:
    """Register a technician or replace their record."""

    technician: Technician
    create: bool


@dataclass(frozen=True)
class SaveNetwork:
    """Register a partner network or replace its record."""

    network: Network
    create: bool


@dataclass(frozen=True)
class AssignOrder:
    """Give an order's visit to a technician or a network, or move it (SCH-8, SCH-12)."""

    order_id: str
    actor: Actor
    reason: str
    technician_id: str | None = None
    network_id: str | None = None
    pinned: bool = False


@dataclass(frozen=True)
class CancelAssignment:
    """A dispatcher takes the visit away from its assignee; the order returns to the queue."""

    order_id: str
    actor: Actor
    reason: str


@dataclass(frozen=True)
class ReturnOrder:
    """The assignee hands the order back to the centre (SCH-1 cannot staff, SCH-3, SCH-6)."""

    order_id: str
    actor: Actor
    reason: ReturnReason
    detail: str | None = None


@dataclass(frozen=True)
class BookAppointment:
    """Book an arrival window after the feasibility check (SCH-3)."""

    order_id: str
    actor: Actor
    window: TimeWindow
    technician_id: str | None = None


@dataclass(frozen=True)
class RecordContact:
    """A call to the customer and its outcome (SCH-2, SCH-5)."""

    order_id: str
    actor: Actor
    outcome: ContactOutcome
    window: TimeWindow | None = None
    corrected: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Reschedule:
    """Move an appointment, with the customer's consent recorded (SCH-3, SCH-6)."""

    order_id: str
    actor: Actor
    window: TimeWindow
    reason: str
    customer_consent: bool
    requested_by: RescheduleInitiator = RescheduleInitiator.CENTRE


@dataclass(frozen=True)
class ReportPosition:
    """A technician's position (and optional ETA) ping: re-predict their next arrival (SCH-6)."""

    technician_id: str
    actor: Actor
    position: GeoPoint
    at: datetime | None = None
    eta: datetime | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class RefuseApology:
    """The customer did not accept the lateness apology: the manager visits (SCH-7)."""

    order_id: str
    actor: Actor


@dataclass(frozen=True)
class Postpone:
    """The customer postponed: new visit, order back to the centre with the reason (SCH-10)."""

    order_id: str
    actor: Actor
    reason: str


@dataclass(frozen=True)
class Relocate:
    """The product is elsewhere (SCH-11): go there now with consent, or rebook."""

    order_id: str
    actor: Actor
    location: GeoPoint
    go_now: bool
    customer_consent: bool
    note: str | None = None


@dataclass(frozen=True)
class OptimiseDay:
    """Optimise a day's plan with the solver, check it and apply it (SCH-4)."""

    day: date
    actor: Actor
    time_limit: float | None = None
    only_if_dirty: bool = False
    """Leave the plan as it is unless it is still dirty (the background re-plan, SCH-9)."""


@dataclass(frozen=True)
class AcceptOrder:
    """The network given an order accepts it (SCH-1)."""

    order_id: str
    actor: Actor


@dataclass(frozen=True)
class RejectOrder:
    """The network given an order cannot staff it: back to the centre at once (SCH-1)."""

    order_id: str
    actor: Actor
    reason: str
