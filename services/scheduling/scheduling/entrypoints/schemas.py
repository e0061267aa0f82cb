"""Request and response bodies of scheduling's REST API."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.common import AssigneeKind, GeoPoint, ServiceType, TimeWindow
from contracts.scheduling import RescheduleInitiator, ReturnReason
from scheduling.domain.dispatching import Slot
from scheduling.domain.model import (
    MIDNIGHT,
    AuditEntry,
    ContactOutcome,
    DispatchOrder,
    DispatchStatus,
    Network,
    OfficeHours,
    Technician,
)
from servicekit.dates import IsoDate, IsoDatetime, IsoTime


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowIn(_In):
    """An arrival window; both ends aware, start before end."""

    start: IsoDatetime
    end: IsoDatetime

    @model_validator(mode="after")
    def _ordered(self) -> WindowIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def to_value(self) -> TimeWindow:
        """The contract value."""
        return TimeWindow(start=self.start, end=self.end)


class TechnicianIn(_In):
    """A technician as a dispatch target."""

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    skills: list[str] = Field(min_length=1, description="Product lines; `*` for all.")
    areas: list[str] = Field(min_length=1, description="Districts/cities served; `*` for all.")
    home: GeoPoint
    shift_start: IsoTime = Field(
        default=time(9, 0), description="Local wall-clock, whole minutes (`HH:MM`)."
    )
    shift_end: IsoTime = Field(
        default=time(18, 0),
        description="Local wall-clock, whole minutes (`HH:MM`); `00:00` is midnight at the end "
        "of the day (a shift to 24:00; `00:00`-`00:00` is round the clock). An end earlier than "
        "the start runs overnight into the next day (`22:00`-`06:00`): the shift belongs to the "
        "day it starts on, which `working_days` and `days_off` name.",
    )
    working_days: list[int] = Field(
        default=[0, 1, 2, 3, 4, 5],
        description="0 = Monday. The days a shift starts on (a night shift runs on into the next).",
    )
    days_off: list[IsoDate] = Field(
        default_factory=list,
        description="Days no shift starts on (the night shift of the day before still runs).",
    )
    daily_capacity: int = Field(default=8, ge=1, le=50)
    network_id: str | None = Field(default=None, max_length=64)
    active: bool = True

    @field_validator("shift_start", "shift_end")
    @classmethod
    def _local_wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("shift times are local wall-clock times, without a UTC offset")
        if value.second or value.microsecond:
            # stored as HH:MM: seconds would be dropped, and 10:00:10-10:00:50 read back empty
            raise ValueError("shift times are whole minutes (HH:MM), without seconds")
        return value

    @model_validator(mode="after")
    def _valid(self) -> TechnicianIn:
        if self.shift_end == self.shift_start and self.shift_end != MIDNIGHT:
            # SCH-3: no shift or a 24-hour one from and to that time? Round the clock is
            # 00:00-00:00; an end earlier than the start is a night shift
            raise ValueError(
                f"a shift ending when it starts ({self.shift_start:%H:%M}-{self.shift_end:%H:%M}) "
                "is ambiguous: use 00:00-00:00 for round the clock, or an end earlier than the "
                "start for a shift running overnight into the next day (e.g. 22:00-06:00)"
            )
        if any(d < 0 or d > 6 for d in self.working_days):
            raise ValueError("working_days are 0 (Monday) to 6 (Sunday)")
        return self

    def to_domain(self, technician_id: str) -> Technician:
        """The aggregate."""
        return Technician(
            technician_id=technician_id,
            name=self.name,
            phone=self.phone,
            skills=self.skills,
            areas=self.areas,
            home=self.home,
            shift_start=self.shift_start,
            shift_end=self.shift_end,
            working_days=sorted(set(self.working_days)),
            days_off=self.days_off,
            daily_capacity=self.daily_capacity,
            network_id=self.network_id,
            active=self.active,
        )


class TechnicianCreate(TechnicianIn):
    """A new technician with the id the organisation uses for them."""

    technician_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class TechnicianOut(BaseModel):
    """A technician."""

    technician_id: str
    name: str
    phone: str | None
    skills: list[str]
    areas: list[str]
    home: GeoPoint
    shift_start: time
    shift_end: time
    working_days: list[int]
    days_off: list[date]
    daily_capacity: int
    network_id: str | None
    active: bool
    position: GeoPoint | None
    position_at: datetime | None

    @classmethod
    def from_domain(cls, t: Technician) -> TechnicianOut:
        """Read model."""
        return cls(**{name: getattr(t, name) for name in cls.model_fields})


class OfficeHoursIn(_In):
    """A partner network's own office hours (SCH-1): the time it has to answer an order it is
    given counts working minutes within them."""

    opens: IsoTime = Field(description="Local wall-clock, whole minutes (`HH:MM`).")
    closes: IsoTime = Field(
        description="Local wall-clock, whole minutes (`HH:MM`); `00:00` is midnight at the end "
        "of the day (`00:00`-`00:00`: round the clock). Before `opens`, the hours run overnight "
        "into the next day (`20:00`-`02:00`), and belong to the day they open on (`weekdays`, "
        "public holidays)."
    )
    weekdays: list[int] = Field(
        default=[0, 1, 2, 3, 4, 5, 6],
        min_length=1,
        description="The days it opens, 0 = Monday to 6 = Sunday (default: every day). A "
        "make-up workday (调休) does not open it on a day it keeps closed.",
    )
    open_on_public_holidays: bool = Field(
        default=False,
        description="Whether it also opens on public holiday breaks (their weekend days "
        "included, e.g. 1-7 October); if not, it is closed on them whatever `weekdays` says.",
    )

    @field_validator("opens", "closes")
    @classmethod
    def _local_wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("office hours are local wall-clock times, without a UTC offset")
        if value.second or value.microsecond:
            raise ValueError("office hours are whole minutes (HH:MM), without seconds")
        return value

    @model_validator(mode="after")
    def _valid(self) -> OfficeHoursIn:
        self.to_domain()  # InvalidOfficeHours is a ValueError: a 422 naming the field
        return self

    def to_domain(self) -> OfficeHours:
        """The domain value."""
        return OfficeHours(
            opens=self.opens,
            closes=self.closes,
            weekdays=tuple(self.weekdays),
            open_on_public_holidays=self.open_on_public_holidays,
        )


class OfficeHoursOut(BaseModel):
    """A partner network's own office hours (SCH-1)."""

    opens: time
    closes: time
    """`00:00`: midnight at the end of the day."""
    weekdays: list[int]
    open_on_public_holidays: bool


class NetworkIn(_In):
    """A partner network as a dispatch target (SCH-1)."""

    name: str = Field(min_length=1, max_length=200)
    skills: list[str] = Field(min_length=1)
    areas: list[str] = Field(min_length=1)
    active: bool = True
    office_hours: OfficeHoursIn | None = Field(
        default=None,
        description="Its own office hours (SCH-1): the `network_accept_minutes` (30) it has to "
        "accept or reject an order given to it count working minutes within them. Null: the "
        "business calendar's working periods and days (09:00-18:00, working days of the CN "
        "calendar). An emergency's minutes run on the wall clock either way (INT-7).",
    )


class NetworkCreate(NetworkIn):
    """A new partner network."""

    network_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class NetworkOut(BaseModel):
    """A partner network."""

    network_id: str
    name: str
    skills: list[str]
    areas: list[str]
    active: bool
    office_hours: OfficeHoursOut | None
    """Null: the network keeps the business calendar's working periods and days."""

    @classmethod
    def from_domain(cls, n: Network) -> NetworkOut:
        """Read model."""
        hours = n.office_hours
        return cls(
            network_id=n.network_id,
            name=n.name,
            skills=n.skills,
            areas=n.areas,
            active=n.active,
            office_hours=None
            if hours is None
            else OfficeHoursOut(
                opens=hours.opens,
                closes=hours.closes,
                weekdays=list(hours.weekdays),
                open_on_public_holidays=hours.open_on_public_holidays,
            ),
        )


class AssignmentIn(_In):
    """Assign or reassign: exactly one of technician_id / network_id, and why (SCH-12)."""

    technician_id: str | None = None
    network_id: str | None = None
    reason: str = Field(min_length=1, max_length=1000)
    pinned: bool = Field(default=False, description="Keep it with this technician in day plans.")

    @model_validator(mode="after")
    def _one(self) -> AssignmentIn:
        if (self.technician_id is None) == (self.network_id is None):
            raise ValueError("give exactly one of technician_id and network_id")
        return self


class ReasonIn(_In):
    """Why."""

    reason: str = Field(min_length=1, max_length=1000)


class ReturnIn(_In):
    """Hand the order back to the centre (SCH-1, SCH-3)."""

    reason: ReturnReason
    detail: str | None = Field(default=None, max_length=1000)


class AppointmentIn(WindowIn):
    """Book this arrival window (SCH-3), optionally with a given technician."""

    technician_id: str | None = None


class ContactIn(_In):
    """A call to the customer (SCH-2, SCH-5)."""

    outcome: ContactOutcome
    window: WindowIn | None = None
    corrected: list[str] = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _later_time_has_window(self) -> ContactIn:
        if self.outcome is ContactOutcome.LATER_TIME and self.window is None:
            raise ValueError("a later time needs the agreed window")
        return self


class RescheduleIn(WindowIn):
    """Move the appointment (SCH-3, SCH-6)."""

    reason: str = Field(min_length=1, max_length=1000)
    customer_consent: bool
    requested_by: RescheduleInitiator = RescheduleInitiator.CENTRE


class PositionIn(_In):
    """A technician's position ping, optionally with their own ETA for the next job (SCH-6)."""

    position: GeoPoint
    at: IsoDatetime | None = None
    eta: IsoDatetime | None = None
    # the bound of the order ids scheduling stores (adapters/tables.py) and intake issues
    order_id: str | None = Field(default=None, min_length=1, max_length=36)


class RelocationIn(_In):
    """The product is at another address (SCH-11)."""

    location: GeoPoint
    go_now: bool
    customer_consent: bool
    note: str | None = Field(default=None, max_length=1000)


ERASED_TEXT = (
    "Once the order's personal data is erased (BIL-11, `anonymised_at` set) free text reads "
    '"[erased]"; the code it starts with stays (e.g. "customer_dissatisfied: [erased]").'
)


class VisitOut(BaseModel):
    """One visit of an order."""

    visit_id: str
    number: int
    created_at: datetime
    reason: str | None = Field(
        description="Why the visit was booked: a revisit reason code, with the words given. "
        + ERASED_TEXT
    )
    previous_visit_id: str | None


class DispatchOrderOut(BaseModel):
    """An order as dispatch sees it."""

    order_id: str
    received_at: datetime
    product_line: str
    service_type: ServiceType
    """A repair or an installation: each is planned with its own on-site minutes."""
    emergency: bool
    needs_verification: list[str]
    loaner_required: bool
    status: DispatchStatus
    dispatchable: bool
    area: str | None = Field(
        default=None,
        description="The district (or city) served; no address, so kept when the personal data "
        "is erased (BIL-11).",
    )
    location: GeoPoint | None = Field(
        default=None,
        description="Where the visit goes (the customer's home); null once the order's personal "
        "data is erased (BIL-11).",
    )
    visit_id: str | None = None
    visits: list[VisitOut] = Field(default_factory=list)
    assignee_kind: AssigneeKind | None = None
    technician_id: str | None = None
    network_id: str | None = None
    assigned_at: datetime | None = None
    network_accepted_at: datetime | None = None
    """When the network given the order accepted it (SCH-1); null while it must still answer."""
    acceptance_due_at: datetime | None = Field(
        default=None,
        description="By when the network given the order must accept (`POST "
        "/v1/orders/{id}/acceptance`) or reject it (SCH-1): `network_accept_minutes` (30) of "
        "working time within the network's own `office_hours` when it has them (open "
        "08:00-20:00 every day, given at 19:50: 08:20 the next morning), else on the business "
        "calendar (given at 23:00, 09:30 the next working day; weekends and public holidays do "
        "not count), of wall-clock time for an emergency "
        "(INT-7). Past it, a silent network loses the order to the centre. Null when no network "
        "awaits an answer.",
    )
    appointment: TimeWindow | None = None
    pinned: bool = False
    confirmed_at: datetime | None = None
    contact_overdue_at: datetime | None = None
    planned_departure: datetime | None = None
    predicted_arrival: datetime | None = None
    arrived_at: datetime | None = None
    anonymised_at: datetime | None = Field(
        default=None,
        description="When the customer's personal data was erased, the order's retention being "
        "over (BIL-11): `location` is null from then on and free text (visit reasons, audit "
        'reasons) reads "[erased]"; ids, times, statuses, outcomes, the assignee, the '
        "appointment and the area stay. From then on the order takes no command (409 "
        '"Personal data erased") and nobody is sent out to it: a revisit requested, a reopening '
        "or an emergency reported later books no visit and places it with nobody, a failed "
        "visit books no next one, and neither the placement retries nor day plans take it. "
        "Nor do the sweeps act on it: it is never reported contact-overdue (SCH-2), and a "
        "network that holds it unanswered keeps it (SCH-1). A position report warns nobody of "
        "its lateness (no ArrivalLate, SCH-7) and, unless the technician has left for it, "
        "leaves it out of their day. Null while the data is kept.",
    )

    @classmethod
    def from_domain(cls, order: DispatchOrder) -> DispatchOrderOut:
        """Read model of the aggregate."""
        return cls(
            order_id=order.order_id,
            received_at=order.received_at,
            product_line=order.product_line,
            service_type=order.service_type,
            emergency=order.emergency,
            needs_verification=order.needs_verification,
            loaner_required=order.loaner_required,
            status=order.status,
            dispatchable=order.dispatchable,
            area=order.area,
            location=order.location,
            visit_id=order.visit_id if order.visits else None,
            visits=[VisitOut(**v.__dict__) for v in order.visits],
            assignee_kind=order.assignee_kind,
            technician_id=order.technician_id,
            network_id=order.network_id,
            assigned_at=order.assigned_at,
            network_accepted_at=order.network_accepted_at,
            acceptance_due_at=order.acceptance_due_at,
            appointment=order.appointment,
            pinned=order.pinned,
            confirmed_at=order.confirmed_at,
            contact_overdue_at=order.contact_overdue_at,
            planned_departure=order.planned_departure,
            predicted_arrival=order.predicted_arrival,
            arrived_at=order.arrived_at,
            anonymised_at=order.anonymised_at,
        )


class DispatchOrderPage(BaseModel):
    """A page of the order list; pass `next_cursor` as `cursor` for the next one."""

    items: list[DispatchOrderOut]
    next_cursor: str | None = Field(description="Null on the last page.")


class AuditOut(BaseModel):
    """One audited change (SCH-8, SCH-12)."""

    at: datetime
    actor: str
    action: str
    reason: str | None = Field(description="Why, as given or decided. " + ERASED_TEXT)
    detail: dict[str, Any] = Field(
        description="The ids concerned (technicians, networks, visits); once the order's "
        'personal data is erased (BIL-11) any other value reads "[erased]" unless it is a code.'
    )

    @classmethod
    def from_domain(cls, e: AuditEntry) -> AuditOut:
        """Read model."""
        return cls(at=e.at, actor=e.actor, action=e.action, reason=e.reason, detail=dict(e.detail))


class SlotOut(BaseModel):
    """A feasible arrival window (SCH-3)."""

    start: datetime
    end: datetime
    technician_id: str

    @classmethod
    def from_domain(cls, s: Slot) -> SlotOut:
        """Read model."""
        return cls(start=s.window.start, end=s.window.end, technician_id=s.technician_id)


class UnassignedReasonOut(BaseModel):
    """Why the plan left a job out: a stable code and a sentence for the dispatcher."""

    code: str = Field(
        description="no_technician, no_qualified_technician, shift_over, window_unreachable, "
        "outside_shift, over_capacity or day_full"
    )
    text: str


class PlanOut(BaseModel):
    """An applied day plan: per visit the technician, order in the route, departure, arrival."""

    day: str
    visits: list[dict[str, Any]]
    unassigned: list[str]
    unassigned_reasons: dict[str, UnassignedReasonOut] = Field(
        default_factory=dict,
        description="Per job in `unassigned`, why the plan left it out, as the optimisation "
        "that made the plan found it (plans stored before this field have none).",
    )
    distance_m: int | None = None
    dirty: bool = False
