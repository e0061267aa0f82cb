"""Dispatch's aggregates: technicians and partner networks (dispatch targets) and the order as
dispatch sees it, with its current visit, assignee, appointment, contact and lateness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Protocol
from zoneinfo import ZoneInfo

from contracts.base import EventData
from contracts.billing import RetentionClass
from contracts.common import AssigneeKind, GeoPoint, ServiceType, TimeWindow
from contracts.ids import new_id
from contracts.scheduling import (
    AnswerDueChange,
    AppointmentConfirmed,
    AppointmentRescheduled,
    ArrivalLate,
    ContactOverdue,
    LatenessAction,
    LatenessKind,
    NetworkAnswerDueChanged,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    RescheduleInitiator,
    ReturnReason,
    RevisitBooked,
    RevisitReason,
)
from scheduling.domain.exceptions import (
    IllegalTransition,
    InvalidOfficeHours,
    PersonalDataErased,
    SlotUnavailable,
    VisitUnderWay,
)
from scheduling.domain.policy import SchedulingPolicy
from scheduling.domain.privacy import EVENT_CODES, erase_event, erase_text

AUTO = "scheduling:auto"
MIDNIGHT = time(0, 0)
"""A shift ending at 00:00 ends at midnight closing its day (24:00)."""
"""The actor recorded for automatic decisions (SCH-1 policy)."""


class WorkingTime(Protocol):
    """The business calendar as dispatch needs it: working time added to a moment, outside
    working periods, weekends and public holidays not counting (servicekit's calendar)."""

    tz: ZoneInfo
    """The calendar's time zone: a network's office hours are its wall-clock times."""

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        ...

    def is_public_holiday(self, day: date) -> bool:
        """Whether ``day`` falls in a public holiday break (its weekend days included)."""
        ...


@dataclass
class Technician:
    """A technician as a dispatch target: skills, areas, home base, shift, days off, capacity."""

    technician_id: str
    name: str
    phone: str | None
    skills: list[str]
    areas: list[str]
    home: GeoPoint
    shift_start: time = time(9, 0)
    shift_end: time = time(18, 0)
    """00:00 is midnight at the end of the day: a shift may run to the day's very end (SCH-3);
    00:00-00:00 is round the clock. An end earlier than the start runs overnight: ``22:00`` to
    ``06:00`` on Monday is Monday 22:00 to Tuesday 06:00, the shift of Monday (:attr:`overnight`).
    An end equal to any other start is ambiguous and refused where shifts are entered."""
    working_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    """ISO weekdays - 1 (0 = Monday): the days a shift *starts* on (a night shift runs on into
    the next day whatever that day is)."""
    days_off: list[date] = field(default_factory=list)
    """Days no shift starts on (Monday's night shift still runs into a Tuesday off)."""
    daily_capacity: int = 8
    network_id: str | None = None
    active: bool = True
    position: GeoPoint | None = None
    position_at: datetime | None = None

    @property
    def overnight(self) -> bool:
        """Whether the shift runs past midnight into the next day (``22:00-06:00``); a shift
        ending at 00:00 ends at midnight closing its day, it does not run past it."""
        return self.shift_end != MIDNIGHT and self.shift_end < self.shift_start

    def works_on(self, day: date) -> bool:
        """Whether a shift of the technician starts on ``day`` (an overnight one runs on into
        the next day: see :meth:`shift_day`)."""
        return self.active and day.weekday() in self.working_days and day not in self.days_off

    def shift(self, day: date, tz: ZoneInfo) -> TimeWindow:
        """The shift starting on ``day`` as an aware window: one ending at 00:00 ends at
        midnight closing the day, one ending before it starts (overnight) ends on the next
        day (SCH-3)."""
        end_day = day + timedelta(days=1) if self.shift_end <= self.shift_start else day
        return TimeWindow(
            start=datetime.combine(day, self.shift_start, tzinfo=tz),
            end=datetime.combine(end_day, self.shift_end, tzinfo=tz),
        )

    def shift_day(self, moment: datetime, tz: ZoneInfo) -> date:
        """The day whose shift ``moment`` belongs to: its local day, except up to the end of
        an overnight shift (``00:00``-``06:00`` of a ``22:00-06:00`` technician), which belongs
        to the night shift of the day before (SCH-3: a shift is its start day's; the jobs it
        holds after midnight are that day's). The shift's end is not in it: at 06:00 (at 09:00
        for a 10:00-09:00 shift) the moment is the new day's."""
        local = moment.astimezone(tz)
        if self.overnight and local.time() < self.shift_end:
            return local.date() - timedelta(days=1)
        return local.date()

    @property
    def shift_hours(self) -> str:
        """The shift as people write it: ``09:00-18:00``, ``16:00-24:00``, ``22:00-06:00``."""
        end = "24:00" if self.shift_end == MIDNIGHT else f"{self.shift_end:%H:%M}"
        return f"{self.shift_start:%H:%M}-{end}"

    def why_off_shift(
        self, window: TimeWindow, *, tz: ZoneInfo, policy: SchedulingPolicy
    ) -> list[str]:
        """Why the technician cannot arrive within ``window`` while on shift (empty when they
        can) (SCH-3). Arrival counts as in the plans: from `arrive_early_max_minutes` before the
        window opens to `arrive_early_min_minutes` before it closes (SCH-4), on the shift of any
        day that span touches, the night shift of the day before it included: a shift runs, or
        not, by its start day's working days and days off."""
        if not self.active:
            return [f"technician {self.technician_id} is inactive"]
        first = window.start - timedelta(minutes=policy.arrive_early_max_minutes)
        last = max(first, window.end - timedelta(minutes=policy.arrive_early_min_minutes))
        span = f"{window.start.astimezone(tz):%H:%M}-{window.end.astimezone(tz):%H:%M}"
        reasons: list[str] = []
        day = first.astimezone(tz).date()
        if self.overnight:
            # the night shift started the day before runs into the span: the only reasons it
            # gives are those that stop it from running
            before = day - timedelta(days=1)
            shift = self.shift(before, tz)
            if first <= shift.end and shift.start <= last:
                if before in self.days_off:
                    reasons.append(
                        f"{before} is a day off for technician {self.technician_id} (no "
                        f"{self.shift_hours} shift starts that day)"
                    )
                elif before.weekday() not in self.working_days:
                    reasons.append(
                        f"technician {self.technician_id} does not work on {before:%A}s "
                        f"({before}): no {self.shift_hours} shift starts that day"
                    )
                else:
                    return []
        while day <= last.astimezone(tz).date():
            shift = self.shift(day, tz)
            if day in self.days_off:
                reasons.append(f"{day} is a day off for technician {self.technician_id}")
            elif day.weekday() not in self.working_days:
                reasons.append(
                    f"technician {self.technician_id} does not work on {day:%A}s ({day})"
                )
            elif first <= shift.end and shift.start <= last:
                return []
            else:
                reasons.append(
                    f"the window {span} is outside technician {self.technician_id}'s shift on "
                    f"{day} ({self.shift_hours})"
                )
            day += timedelta(days=1)
        return reasons

    def why_not(self, *, product_line: str, area: str | None) -> list[str]:
        """Reasons the technician cannot take such an order (empty when they can) (SCH-1)."""
        reasons = []
        if not self.active:
            reasons.append("inactive")
        if product_line not in self.skills and "*" not in self.skills:
            reasons.append(f"no skill for {product_line}")
        if area is not None and area not in self.areas and "*" not in self.areas:
            reasons.append(f"does not serve area {area}")
        return reasons

    def why_not_planned(
        self, *, product_line: str, area: str | None, network_id: str | None
    ) -> list[str]:
        """Reasons the day planner may not give the technician such an order (empty when it
        may): those of a manual assignment (SCH-1), and the network boundary, which only a
        dispatcher crosses (SCH-12): a centre order stays with the centre's technicians, a
        network's order with that network's technicians."""
        reasons = self.why_not(product_line=product_line, area=area)
        if self.network_id != network_id:
            side = f"network {self.network_id}" if self.network_id else "the centre"
            held = f"network {network_id}" if network_id else "the centre"
            reasons.append(f"works for {side}, the order is {held}'s")
        return reasons

    def after_working(
        self, since: datetime, minutes: int, *, tz: ZoneInfo, days: int
    ) -> datetime | None:
        """The moment the technician has been on shift for ``minutes`` counted from ``since``
        (time off shift does not count; a night shift counts on past midnight), looking at most
        ``days`` days ahead; None when they are not on shift that long within them (inactive,
        days off)."""
        left = timedelta(minutes=minutes)
        # from the day before: its night shift may still be running at ``since`` (SCH-2)
        day = since.astimezone(tz).date() - timedelta(days=1)
        for _ in range(days + 2):
            if self.works_on(day):
                shift = self.shift(day, tz)
                start = max(shift.start, since)
                if start < shift.end:
                    if start + left <= shift.end:
                        return start + left
                    left -= shift.end - start
            day += timedelta(days=1)
        return None

    def where(self, now: datetime, *, stale_after: timedelta) -> GeoPoint:
        """Last known position if no older than ``stale_after`` (the policy's
        `position_stale_after_minutes`, SCH-3 / INT-7), else the home base."""
        recent = self.position_at is not None and now - self.position_at <= stale_after
        if self.position is not None and recent:
            return self.position
        return self.home


@dataclass(frozen=True)
class OfficeHours:
    """A partner network's own office hours (SCH-1): open from ``opens`` to ``closes`` (local
    wall-clock; ``closes`` 00:00 is midnight closing the day, so 00:00-00:00 is round the clock;
    ``closes`` before ``opens`` runs overnight into the next day, 20:00-02:00) on its
    ``weekdays`` (0 = Monday). Hours belong to the day they open on: its weekdays, holidays and
    make-up days decide whether they open, whatever the day they close on. Its open weekdays
    are its own: a make-up workday (调休) does not open it on a day it keeps closed. On public
    holiday breaks (:meth:`WorkingTime.is_public_holiday`, the break's weekend days included) it
    is closed unless ``open_on_public_holidays``."""

    opens: time
    closes: time
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    open_on_public_holidays: bool = False

    def __post_init__(self) -> None:
        for moment in (self.opens, self.closes):
            if moment.tzinfo is not None:
                raise InvalidOfficeHours("office hours are local wall-clock times, without offset")
        if self.closes == self.opens and self.closes != MIDNIGHT:
            raise InvalidOfficeHours(
                f"office hours {self.opens:%H:%M}-{self.closes:%H:%M} close when they open: "
                "00:00-00:00 is round the clock, and a closing before the opening runs "
                "overnight into the next day (e.g. 20:00-02:00)"
            )
        if not self.weekdays:
            raise InvalidOfficeHours("a network is open on at least one weekday")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise InvalidOfficeHours("weekdays are 0 (Monday) to 6 (Sunday)")
        object.__setattr__(self, "weekdays", tuple(sorted(set(self.weekdays))))

    def is_open_on(self, day: date, *, calendar: WorkingTime) -> bool:
        """Whether the network opens at all on ``day``."""
        if day.weekday() not in self.weekdays:
            return False
        return self.open_on_public_holidays or not calendar.is_public_holiday(day)

    def add_open_time(
        self, start: datetime, duration: timedelta, *, calendar: WorkingTime
    ) -> datetime:
        """The moment ``duration`` of the network's open time after ``start``: time outside
        its hours, on days it keeps closed, does not count (given after closing, the clock
        starts when it next opens). The business calendar's periods cannot express a network's
        own weekdays nor a day open to 24:00, and the domain imports no kit: its holidays (and
        time zone) come through the :class:`WorkingTime` port, the hours are counted here."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        tz = calendar.tz
        left = duration
        # from the day before: hours it opened overnight may still be open at ``start``
        day = start.astimezone(tz).date() - timedelta(days=1)
        for _ in range(3661):  # ten years of days: a bound, never reached by a sane duration
            if self.is_open_on(day, calendar=calendar):
                # closing at or before opening: 24:00 (00:00), or overnight on the next day
                end_day = day + timedelta(days=1) if self.closes <= self.opens else day
                opened = max(start, datetime.combine(day, self.opens, tzinfo=tz))
                closed = datetime.combine(end_day, self.closes, tzinfo=tz)
                if opened < closed:
                    if left <= closed - opened:
                        return opened + left
                    left -= closed - opened
            day += timedelta(days=1)
        raise ValueError(f"{duration} of open time does not fit in ten years")


@dataclass
class Network:
    """A partner service network that takes orders the centre hands it (SCH-1)."""

    network_id: str
    name: str
    skills: list[str]
    areas: list[str]
    active: bool = True
    office_hours: OfficeHours | None = None
    """Its own office hours, in which it answers the orders it is given (SCH-1); None: the
    business calendar's working periods and days (:meth:`DispatchOrder.network_answer_due`)."""

    def serves(self, product_line: str) -> bool:
        """Whether the network declares this product line among those it serves (SCH-1)."""
        return product_line in self.skills or "*" in self.skills

    def can_take(self, *, product_line: str, area: str | None) -> bool:
        """Whether the network serves this product line in this area."""
        where = area is None or area in self.areas or "*" in self.areas
        return self.active and self.serves(product_line) and where


class DispatchStatus(StrEnum):
    """Where an order stands for dispatch."""

    AWAITING_VERIFICATION = "awaiting_verification"
    AWAITING_ASSIGNMENT = "awaiting_assignment"
    ASSIGNED = "assigned"
    CONFIRMED = "confirmed"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    VISIT_DONE = "visit_done"
    CANCELLED = "cancelled"
    CLOSED_REMOTELY = "closed_remotely"


HELD = {
    DispatchStatus.ASSIGNED,
    DispatchStatus.CONFIRMED,
    DispatchStatus.EN_ROUTE,
    DispatchStatus.ON_SITE,
}
"""Statuses in which an assignee holds the visit."""

UNDER_WAY = {DispatchStatus.EN_ROUTE, DispatchStatus.ON_SITE}
"""Statuses in which the technician has left for the customer or is there."""

NOT_DEPARTED = {DispatchStatus.ASSIGNED, DispatchStatus.CONFIRMED}
"""Statuses in which an assignee holds the visit and nobody has left for it yet."""

CLOSED = {DispatchStatus.CANCELLED, DispatchStatus.CLOSED_REMOTELY}

BOOKABLE = {DispatchStatus.AWAITING_ASSIGNMENT, *HELD}
"""Statuses in which an appointment may be booked for the current visit (SCH-3)."""


class ContactOutcome(StrEnum):
    """Outcome of a call to the customer (SCH-2, SCH-5)."""

    CONFIRMED = "confirmed"
    """Reached; address, model, purchase date and fault checked; window agreed."""
    DETAILS_CORRECTED = "details_corrected"
    """Reached; some details differed and were corrected; window agreed."""
    LATER_TIME = "later_time"
    """Reached; the customer is far away or busy: a later window was agreed."""
    NO_ANSWER = "no_answer"
    """Not reached; try again, then go at the agreed time and tell the centre."""
    UNREACHABLE = "unreachable"
    """Unreachable throughout: go at the agreed time, leave a note if nobody is home."""


#: Outcomes of a call that reached the customer (SCH-2).
REACHED_OUTCOMES = frozenset(
    {ContactOutcome.CONFIRMED, ContactOutcome.DETAILS_CORRECTED, ContactOutcome.LATER_TIME}
)

#: Codes the reasons and notes of dispatch may hold; erasing their free text keeps them (BIL-11).
DISPATCH_CODES = EVENT_CODES | frozenset(outcome.value for outcome in ContactOutcome)


@dataclass(frozen=True)
class AuditEntry:
    """Who changed an order's dispatch, when and why (SCH-8, SCH-12)."""

    at: datetime
    actor: str
    action: str
    reason: str | None = None
    detail: dict[str, str | None] = field(default_factory=dict)

    def erased(self) -> AuditEntry:
        """The entry without what people wrote in it (BIL-11): who acted, when and what stay,
        as do the ids in ``detail`` (technicians, networks, visits) and the codes a reason or
        detail is made of; any other text reads "[erased]"."""
        return replace(
            self,
            reason=erase_text(self.reason, codes=DISPATCH_CODES),
            detail={
                key: value
                if key.endswith(("_id", "_ids"))
                else erase_text(value, codes=DISPATCH_CODES)
                for key, value in self.detail.items()
            },
        )


@dataclass(frozen=True)
class ContactAttempt:
    """One call to the customer and what came of it (SCH-2, SCH-5)."""

    at: datetime
    by: str
    outcome: ContactOutcome
    note: str | None = None


@dataclass(frozen=True)
class Visit:
    """One trip to the customer; revisits follow the previous visit with a reason."""

    visit_id: str
    number: int
    created_at: datetime
    reason: str | None = None
    previous_visit_id: str | None = None
    manager_visit_at: datetime | None = None
    """When the after-sales manager was sent to apologise for this visit's lateness (SCH-7)."""
    late_minutes_told: int | None = None
    """The predicted lateness the customer was last told of, in minutes (SCH-6, SCH-7)."""
    late_arrival_told: datetime | None = None
    """The arrival forecast that lateness was told with."""
    supersedes_unended: bool = False
    """Booked while the previous visit had not ended (a postponement, or a rebooking made without
    fieldwork ending that visit): its technician may have reached the customer before fieldwork
    heard of it, and then keeps it (SCH-10, :meth:`DispatchOrder.arrived`)."""
    previous_appointment: TimeWindow | None = None
    """The appointment of the previous visit it superseded unended, restored with that visit
    (SCH-7: its lateness is measured on it)."""
    previous_under_way: bool = False
    """Someone had left for the previous visit (or was there) when this one superseded it: that
    trip was called off, so an arrival at a visit before the previous one no longer brings that
    earlier visit back (SCH-10, :meth:`DispatchOrder.arrived`)."""


@dataclass(frozen=True)
class ArrivedTechnician:
    """The technician fieldwork reports at the customer's, as dispatch knows them."""

    technician_id: str
    network_id: str | None = None
    name: str | None = None
    phone: str | None = None


def _minutes_late(late: timedelta) -> int:
    """Lateness as reported, in whole minutes (SCH-7): a minute begun is not counted, so the
    figure agrees with the action (14 min 30 s is 14, an apology); at least 1 when late at all."""
    if late <= timedelta(0):
        return 0
    return max(1, int(late.total_seconds() // 60))


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
    service_type: ServiceType = ServiceType.REPAIR
    status: DispatchStatus = DispatchStatus.AWAITING_ASSIGNMENT
    location: GeoPoint | None = None
    area: str | None = None
    preferred_windows: list[TimeWindow] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    assignee_kind: AssigneeKind | None = None
    technician_id: str | None = None
    network_id: str | None = None
    assigned_at: datetime | None = None
    network_accepted_at: datetime | None = None
    """When the network holding the order accepted it (SCH-1); None while it must still answer."""
    acceptance_due_at: datetime | None = None
    """By when the network given the order must accept or reject it (SCH-1), fixed when it was
    given (:meth:`network_answer_due`); None when no network awaits an answer, or for an order
    given before the time was recorded (then 30 wall-clock minutes from `assigned_at`)."""
    appointment: TimeWindow | None = None
    kept_on: date | None = None
    """The day of the holder's shift keeping the appointment, recorded only when it was kept on
    a later shift than the first it fits inside alone, travel, their other jobs or a day at
    capacity ruling that one out (SCH-1, SCH-3): the job counts on that day. Checked again
    when the holder's shifts or the job's address change. None: that first shift's, worked
    out afresh from the holder's shifts as they stand (``held_day``)."""
    pinned: bool = False
    confirmed_at: datetime | None = None
    contact_overdue_at: datetime | None = None
    contact_attempts: list[ContactAttempt] = field(default_factory=list)
    planned_departure: datetime | None = None
    predicted_arrival: datetime | None = None
    late_action_sent: LatenessAction | None = None
    arrived_at: datetime | None = None
    anonymised_at: datetime | None = None
    """When the customer's personal data was erased for good, the order's retention being over
    (BIL-11); None while it is kept."""
    auto_placement_tried_at: datetime | None = None
    """When the automatic placement last tried and failed to place the order (SCH-1): it is
    tried again periodically, the longest untried first. None when the order is not the
    automatic placement's to place (placed, handed back to the centre, a manual area)."""
    audit: list[AuditEntry] = field(default_factory=list)
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
        location: GeoPoint | None = None,
        area: str | None = None,
        preferred_windows: list[TimeWindow] | None = None,
        service_type: ServiceType = ServiceType.REPAIR,
    ) -> DispatchOrder:
        """A new order from intake: ready for assignment unless details must be verified first."""
        order = cls(
            order_id=order_id,
            received_at=received_at,
            product_line=product_line,
            emergency=emergency,
            needs_verification=list(needs_verification),
            loaner_required=loaner_required,
            service_type=service_type,
            location=location,
            area=area,
            preferred_windows=list(preferred_windows or []),
            status=(
                DispatchStatus.AWAITING_VERIFICATION
                if needs_verification and not emergency
                else DispatchStatus.AWAITING_ASSIGNMENT
            ),
        )
        order.visits.append(Visit(visit_id=str(new_id()), number=1, created_at=received_at))
        return order

    # -- reading -------------------------------------------------------------------------------

    @property
    def visit(self) -> Visit:
        """The current visit."""
        return self.visits[-1]

    @property
    def visit_id(self) -> str:
        """Id of the current visit."""
        return self.visit.visit_id

    @property
    def is_revisit(self) -> bool:
        """Whether the current visit follows an earlier one (plans serve revisits first)."""
        return self.visit.number > 1

    @property
    def dispatchable(self) -> bool:
        """Whether the order may be assigned now."""
        return self.status is DispatchStatus.AWAITING_ASSIGNMENT

    @property
    def held(self) -> bool:
        """Whether an assignee holds the current visit."""
        return self.status in HELD

    @property
    def under_way(self) -> bool:
        """Whether the technician has left for the customer or is there."""
        return self.status in UNDER_WAY

    def refuse_if_under_way(self, action: str, *, remedy: str | None = None) -> None:
        """Refuse ``action`` once the technician has departed (VisitUnderWay): for what only the
        technician's own visit can settle (a rebooking for another address, SCH-11)."""
        if self.under_way:
            self._refuse_under_way(action, remedy=remedy)

    def refuse_if_on_site(self, action: str, *, remedy: str | None = None) -> None:
        """SCH-8 / SCH-12: once the technician is at the customer's, fieldwork keeps the visit
        with them; dispatch moving, cancelling or postponing it would leave the two services
        disagreeing about who is where, so the visit ends in fieldwork first. On the way it may
        still be called off (SCH-6, SCH-10): fieldwork then records the trip and hands the visit
        on (or back to the centre)."""
        if self.status is DispatchStatus.ON_SITE:
            self._refuse_under_way(action, remedy=remedy)

    def _refuse_under_way(self, action: str, *, remedy: str | None) -> None:
        raise VisitUnderWay(
            action,
            self.status.value,
            technician_id=self.technician_id,
            allowed=self._allowed_actions(),
            remedy=remedy
            or (
                "The visit must end in fieldwork first: at the door the technician records the "
                "outcome (customer not home, or rebook), on site fails or rebooks the visit "
                "(SCH-10); the next visit is then placed as usual."
            ),
        )

    @property
    def awaiting_network_acceptance(self) -> bool:
        """Whether a network was given the order and has not yet accepted it (SCH-1)."""
        return (
            self.status is DispatchStatus.ASSIGNED
            and self.assignee_kind is AssigneeKind.NETWORK
            and self.network_accepted_at is None
        )

    def require_bookable(self) -> None:
        """SCH-3: windows are offered and booked only for a visit still to be made: awaiting
        assignment or held; otherwise IllegalTransition (a visit done is followed by a revisit,
        a cancelled order by nothing)."""
        self._require("book an appointment for", BOOKABLE, self._allowed_actions())

    def _require(self, action: str, allowed: set[DispatchStatus], actions: list[str]) -> None:
        if self.status not in allowed:
            raise IllegalTransition(action, self.status.value, actions)

    def _allowed_actions(self) -> list[str]:
        if self.status is DispatchStatus.AWAITING_ASSIGNMENT:
            return ["assign", "book_appointment"]
        if self.awaiting_network_acceptance:
            return ["accept", "reject", "reassign", "cancel_assignment", "return"]
        if self.status is DispatchStatus.ON_SITE:
            return []
        if self.status in HELD:
            return ["reassign", "cancel_assignment", "reschedule", "record_contact", "return"]
        if self.status is DispatchStatus.VISIT_DONE:
            return ["book_revisit"]
        return []

    # -- intake events ------------------------------------------------------------------------

    def verified(self, *, override: bool) -> None:
        """Details were verified (or a dispatcher overrode the check): assignable now."""
        del override  # both lead to the same queue; the event records which it was
        if self.status is DispatchStatus.AWAITING_VERIFICATION:
            self.needs_verification = []
            self.status = DispatchStatus.AWAITING_ASSIGNMENT

    def emergency_found_after_the_visit(self, *, by: str, now: datetime) -> None:
        """The fault the visit saw to was an emergency, found out after it ended (INT-7): the
        order counts as one, as it does for intake and feedback, but nobody is sent out again
        (no revisit, unlike :meth:`escalate_to_emergency`)."""
        if self.emergency:
            return
        self.emergency = True
        self.audit.append(
            AuditEntry(
                at=now,
                actor=by,
                action="escalate",
                reason="emergency verified after the visit ended; no revisit (INT-7)",
            )
        )

    def held_without_the_skill(
        self,
        *,
        technician: Technician | None,
        network: Network | None,
        by: str,
        now: datetime,
    ) -> dict[str, str]:
        """SCH-1 / SCH-12: after its product line was corrected at verification, whether the
        order is held by a technician without the line's skill or a network that does not serve
        it (``technician`` and ``network``: its holders, None when it has none). The assignment
        stands, whatever its stage, since only a dispatcher reassigns: the mismatch is audited
        on the order for a dispatcher to act on. Returns the ids of the holders lacking it
        (``technician_id``, ``network_id``); empty when none does."""
        lacking: dict[str, str] = {}
        if not self.held:
            return lacking
        if (
            technician is not None
            and technician.technician_id == self.technician_id
            and self.product_line not in technician.skills
            and "*" not in technician.skills
        ):
            lacking["technician_id"] = technician.technician_id
        if (
            network is not None
            and network.network_id == self.network_id
            and not network.serves(self.product_line)
        ):
            lacking["network_id"] = network.network_id
        if lacking:
            self.audit.append(
                AuditEntry(
                    at=now,
                    actor=by,
                    action="held_without_the_skill",
                    reason=f"product line corrected at verification to {self.product_line}, "
                    "outside the holder's skills: a dispatcher decides whether to reassign "
                    "(SCH-1, SCH-12)",
                    detail=dict(lacking),
                )
            )
        return lacking

    def escalate_to_emergency(
        self, *, by: str, now: datetime, emergency_minutes: int, network_accept_minutes: int
    ) -> bool:
        """A later report of this order is an emergency (INT-7, INT-8): the order jumps the queue
        without waiting for verification, a visit held for later than the emergency time goes
        back to the centre, and after a visit that ended (quote declined, unit taken back, ...)
        an emergency revisit is booked, since nobody is on the way. A technician already on the
        way or on site keeps the visit; a network still to answer for a visit it keeps has
        ``network_accept_minutes`` of wall-clock time from now at most (SCH-1: nobody waits for
        the morning), and is told when that is sooner than it had (NetworkAnswerDueChanged).
        Returns whether the order is to be placed (again) now, by the emergency path: the
        nearest technician, no appointment negotiated."""
        if self.emergency or self.status in CLOSED:
            return False
        self.emergency = True
        self.audit.append(
            AuditEntry(at=now, actor=by, action="escalate", reason="emergency reported (INT-7)")
        )
        if self.status is DispatchStatus.AWAITING_VERIFICATION:
            self.status = DispatchStatus.AWAITING_ASSIGNMENT
        if self.status is DispatchStatus.VISIT_DONE:
            self.book_revisit(
                reason=RevisitReason.OTHER,
                by=by,
                now=now,
                detail="emergency reported: someone on site within "
                f"{emergency_minutes} minutes (INT-7)",
                keep_technician=False,
            )
        due = now + timedelta(minutes=emergency_minutes)
        if self.status in {DispatchStatus.ASSIGNED, DispatchStatus.CONFIRMED} and (
            self.appointment is None or self.appointment.start > due
        ):
            self.return_to_centre(
                reason=ReturnReason.OTHER,
                by=by,
                now=now,
                detail="emergency reported: placed again to be on site within "
                f"{emergency_minutes} minutes (INT-7)",
            )
        if self.awaiting_network_acceptance:
            self._answer_sooner(
                now + timedelta(minutes=network_accept_minutes),
                network_accept_minutes=network_accept_minutes,
                why=AnswerDueChange.EMERGENCY,
            )
        return self.dispatchable

    def cancelled(self) -> None:
        """The order was cancelled at intake: no visit goes ahead."""
        self.status = DispatchStatus.CANCELLED

    def resolved_remotely(self) -> None:
        """Phone guidance solved it (INT-4): nothing to dispatch."""
        if self.status is not DispatchStatus.CANCELLED:
            self.status = DispatchStatus.CLOSED_REMOTELY

    def guidance_failed(self) -> None:
        """Phone guidance did not solve it after all (INT-4): the order is open for a visit
        again (book it with :meth:`book_revisit`)."""
        if self.status is DispatchStatus.CLOSED_REMOTELY:
            self.status = DispatchStatus.VISIT_DONE

    # -- assignment (SCH-1, SCH-8, SCH-12) ----------------------------------------------------

    def assign(
        self,
        *,
        technician: Technician | None = None,
        network: Network | None = None,
        by: str,
        reason: str,
        now: datetime,
        appointment: TimeWindow | None = None,
        pinned: bool = False,
        acceptance_due_at: datetime | None = None,
        kept_on: date | None = None,
    ) -> None:
        """Give the current visit to a technician or a network, or move it to another one.
        ``kept_on``: the day of the technician's shift keeping the appointment when a later one
        than the first it fits inside alone (:attr:`kept_on`); None: that first one's.

        A first assignment publishes OrderAssigned, a change OrderReassigned (SCH-8: only with a
        dispatcher's approval, which the caller has checked). Both are audited. A technician on
        the way has their trip called off (SCH-6: running late, the centre sends someone else);
        once they are on site the visit is no longer moved: VisitUnderWay. A network is given
        the order with ``acceptance_due_at``, by when it must answer (SCH-1,
        :meth:`network_answer_due`).
        """
        self.refuse_if_on_site("reassign the visit")
        allowed = {DispatchStatus.AWAITING_ASSIGNMENT, *HELD}
        self._require("assign", allowed, self._allowed_actions())
        if (technician is None) == (network is None):
            raise ValueError("assign to exactly one technician or network")
        if network is not None and acceptance_due_at is None:
            raise ValueError("a network is given an order with the time it must answer by (SCH-1)")
        self._call_off_trip(by=by, now=now, reason=reason)
        kind = AssigneeKind.TECHNICIAN if technician is not None else AssigneeKind.NETWORK
        was_held = self.held
        previous = (self.assignee_kind, self.technician_id, self.network_id)
        self.assignee_kind = kind
        self.technician_id = technician.technician_id if technician else None
        self.network_id = (
            network.network_id if network else (technician.network_id if technician else None)
        )
        if appointment is not None:
            self.appointment = appointment
        # SCH-3: the day recorded is the new holder's keeping the (new) window
        self.kept_on = kept_on
        self.assigned_at = now
        # SCH-1: a network must accept what it is given; its own dispatcher placing the order with
        # one of its technicians is that acceptance (or keeps an earlier one).
        within_network = (
            was_held
            and previous[0] is AssigneeKind.NETWORK
            and technician is not None
            and technician.network_id is not None
            and technician.network_id == previous[2]
        )
        self.network_accepted_at = (self.network_accepted_at or now) if within_network else None
        self.acceptance_due_at = acceptance_due_at if network is not None else None
        self.pinned = pinned
        self.auto_placement_tried_at = None
        self.confirmed_at = None
        self.contact_overdue_at = None
        self.contact_attempts = []
        self.late_action_sent = None
        self.predicted_arrival = None
        self.planned_departure = None
        self.status = DispatchStatus.ASSIGNED
        common = {
            "order_id": self.order_id,
            "visit_id": self.visit_id,
            "assignee_kind": kind,
            "technician_id": self.technician_id,
            "network_id": self.network_id,
            "technician_name": technician.name if technician else None,
            "technician_phone": technician.phone if technician else None,
            "appointment": self.appointment,
            "reason": reason,
            "acceptance_due_at": self.acceptance_due_at,
        }
        if was_held:
            self.events.append(
                OrderReassigned(
                    **common,
                    previous_assignee_kind=previous[0] or AssigneeKind.TECHNICIAN,
                    previous_technician_id=previous[1],
                    previous_network_id=previous[2],
                    reassigned_by=by,
                )
            )
        else:
            self.events.append(OrderAssigned(**common, assigned_by=by))
        self.audit.append(
            AuditEntry(
                at=now,
                actor=by,
                action="reassign" if was_held else "assign",
                reason=reason,
                detail={
                    "technician_id": self.technician_id,
                    "network_id": self.network_id,
                    "previous_technician_id": previous[1] if was_held else None,
                },
            )
        )

    def return_to_centre(
        self,
        *,
        reason: ReturnReason,
        by: str,
        now: datetime,
        detail: str | None = None,
        visit_over: bool = False,
    ) -> None:
        """The assignee (or a dispatcher cancelling the assignment) hands the order back to the
        centre's queue (SCH-1, SCH-3, SCH-10, SCH-12).

        A technician on the way has their trip called off; not once they are on site
        (VisitUnderWay), unless ``visit_over``: fieldwork reported the visit ended (customer not
        home), so nobody is there any more."""
        self._require("return", set(HELD), self._allowed_actions())
        if not visit_over:
            self.refuse_if_on_site("return the order to the centre")
            self._call_off_trip(by=by, now=now, reason=detail or reason.value)
        self.events.append(
            OrderReturnedToCentre(
                order_id=self.order_id,
                visit_id=self.visit_id,
                reason=reason,
                detail=detail,
                returned_by=by,
                technician_id=self.technician_id,
                network_id=self.network_id,
            )
        )
        self.audit.append(
            AuditEntry(
                at=now,
                actor=by,
                action="return_to_centre",
                reason=detail or reason.value,
                detail={"technician_id": self.technician_id, "network_id": self.network_id},
            )
        )
        self._unassign()

    def _call_off_trip(self, *, by: str, now: datetime, reason: str) -> None:
        """The technician on the way is not to go on (SCH-6, SCH-10): audited here; fieldwork
        records the trip and takes the visit from them when it hears of the change."""
        if self.status is not DispatchStatus.EN_ROUTE:
            return
        self.audit.append(
            AuditEntry(
                at=now,
                actor=by,
                action="trip_called_off",
                reason=reason,
                detail={"technician_id": self.technician_id, "network_id": self.network_id},
            )
        )
        self.predicted_arrival = None

    def _unassign(self) -> None:
        self.status = DispatchStatus.AWAITING_ASSIGNMENT
        self.assignee_kind = None
        self.technician_id = None
        self.network_id = None
        self.assigned_at = None
        self.network_accepted_at = None
        self.acceptance_due_at = None
        self.pinned = False
        # SCH-1 / SCH-12: handed back, the order is the dispatcher's to place, not the timer's
        self.auto_placement_tried_at = None
        self.confirmed_at = None
        self.planned_departure = None
        self.predicted_arrival = None
        self.late_action_sent = None
        # SCH-3: the day recorded was the holder's shift keeping the appointment
        self.kept_on = None

    # -- partner networks (SCH-1) --------------------------------------------------------------

    def accept_by_network(self, *, by: str, now: datetime) -> None:
        """The network given the order accepts it (SCH-1); accepting twice changes nothing."""
        if self.assignee_kind is not AssigneeKind.NETWORK or not self.held:
            raise IllegalTransition("accept", self.status.value, self._allowed_actions())
        if self.network_accepted_at is not None:
            return
        self.network_accepted_at = now
        self.acceptance_due_at = None
        self.audit.append(
            AuditEntry(
                at=now, actor=by, action="network_accept", detail={"network_id": self.network_id}
            )
        )

    def reject_by_network(self, *, by: str, now: datetime, detail: str | None) -> None:
        """The network cannot staff the order: back to the centre at once (SCH-1)."""
        self.return_to_centre(reason=ReturnReason.CANNOT_STAFF, by=by, now=now, detail=detail)

    def network_answer_due(
        self,
        *,
        network: Network,
        given_at: datetime,
        policy: SchedulingPolicy,
        calendar: WorkingTime,
    ) -> datetime:
        """SCH-1 / INT-7: by when ``network``, given the order at ``given_at``, must accept or
        reject it: `network_accept_minutes` of working time, counted in the network's own
        office hours when it has declared them (open 08:00-20:00 every day, given at 19:50:
        08:20 the next morning), else on the business calendar (given at 23:00, 09:30 the next
        working day: nobody at the network answers while it is closed); but wall-clock minutes
        for an emergency (someone must go now)."""
        allowed = timedelta(minutes=policy.network_accept_minutes)
        if self.emergency:
            return given_at + allowed
        if network.office_hours is not None:
            return network.office_hours.add_open_time(given_at, allowed, calendar=calendar)
        return calendar.add_working_time(given_at, allowed)

    def _answer_due(self, *, network_accept_minutes: int) -> datetime | None:
        """By when the network awaited must answer: `acceptance_due_at`, or for an order given
        before it was recorded ``network_accept_minutes`` wall-clock minutes from `assigned_at`
        (as that network was told); None when no network awaits an answer."""
        if not self.awaiting_network_acceptance or self.assigned_at is None:
            return None
        return self.acceptance_due_at or self.assigned_at + timedelta(
            minutes=network_accept_minutes
        )

    def _answer_sooner(
        self, answer_by: datetime, *, network_accept_minutes: int, why: AnswerDueChange
    ) -> None:
        """SCH-1 / INT-7: the network awaited has until ``answer_by`` at most. Only a time that
        moves earlier is kept, and the network is told (NetworkAnswerDueChanged): the order's
        read is not where it learns that it has less time."""
        previous = self._answer_due(network_accept_minutes=network_accept_minutes)
        if previous is None or self.network_id is None or answer_by >= previous:
            return
        self.acceptance_due_at = answer_by
        self.events.append(
            NetworkAnswerDueChanged(
                order_id=self.order_id,
                visit_id=self.visit_id,
                network_id=self.network_id,
                acceptance_due_at=answer_by,
                previous_acceptance_due_at=previous,
                why=why,
            )
        )

    def acceptance_overdue(self, *, now: datetime, policy: SchedulingPolicy) -> bool:
        """SCH-1: a network silent until `acceptance_due_at` loses the order;
        OrderReturnedToCentre says why and the centre places it again. An order given before the
        due time was recorded has `network_accept_minutes` wall-clock minutes, as it was told.
        Never an order whose personal data was erased (BIL-11): the centre could not place it
        again (it takes no command), so it stays, unanswered, with the network holding it."""
        if self.anonymised_at is not None:
            return False
        minutes = policy.network_accept_minutes
        due = self._answer_due(network_accept_minutes=minutes)
        if due is None or now < due:
            return False
        if self.emergency:
            what = f"the emergency (INT-7) within {minutes} minutes"
        elif self.acceptance_due_at is None:
            what = f"the order within {minutes} minutes"
        else:
            what = f"the order within {minutes} working minutes"
        self.return_to_centre(
            reason=ReturnReason.OTHER,
            by=AUTO,
            now=now,
            detail=f"network {self.network_id} neither accepted nor rejected {what} (SCH-1)",
        )
        return True

    # -- appointments and contact (SCH-2, SCH-3, SCH-5) ----------------------------------------

    def reschedule(
        self,
        *,
        window: TimeWindow,
        reason: str,
        by: str,
        now: datetime,
        requested_by: RescheduleInitiator,
        customer_consent: bool,
        kept_on: date | None = None,
    ) -> bool:
        """Move the appointment (with the customer's consent recorded) (SCH-3, SCH-6), kept on
        the holder's shift of ``kept_on`` (:attr:`kept_on`): the one
        way a held visit's window changes, so every change is published. The window already
        agreed (the same instants, in whatever offset) changes nothing: nothing is published
        and the lateness warnings already sent stand. Returns whether the appointment moved."""
        self._require("reschedule", set(HELD), self._allowed_actions())
        if window == self.appointment:
            return False
        _refuse_if_over(window, now)
        old = self.appointment
        self._move_window(window)
        self.kept_on = kept_on
        self.events.append(
            AppointmentRescheduled(
                order_id=self.order_id,
                visit_id=self.visit_id,
                old_window=old,
                new_window=window,
                reason=reason,
                requested_by=requested_by,
                customer_consent=customer_consent,
            )
        )
        self.audit.append(AuditEntry(at=now, actor=by, action="reschedule", reason=reason))
        return True

    def _move_window(self, window: TimeWindow) -> None:
        """A new appointment: forecasts, warnings and the planned departure were for the old."""
        self.appointment = window
        self.kept_on = None
        self.late_action_sent = None
        self.predicted_arrival = None
        self.planned_departure = None

    def record_contact(
        self,
        *,
        outcome: ContactOutcome,
        by: str,
        now: datetime,
        technician: Technician | None,
        policy: SchedulingPolicy,
        tz: ZoneInfo,
        window: TimeWindow | None = None,
        corrected: list[str] | None = None,
        note: str | None = None,
        unkept: Sequence[str] = (),
    ) -> None:
        """Record a call to the customer and act on its outcome (SCH-2, SCH-5).

        Reached → AppointmentConfirmed (with corrected details, or after a later window was
        agreed: AppointmentRescheduled first). Not reached `no_answer_attempts_before_going` times
        (or unreachable) → the agreed time stands: AppointmentConfirmed with customer_reached
        false, which tells the centre. A time promised on the call (:meth:`promised_on_call`)
        must still be ahead and within the technician's shift, a new window also within the
        policy's bounds (:func:`window_problems`), and the technician must be able to keep it
        with the jobs they hold: ``unkept`` says why not, as the caller's feasibility check
        (held jobs, travel, job length) found (SCH-3). SlotUnavailable otherwise, and nothing
        is recorded. The window already agreed, given again, moves nothing.
        """
        self._require("record contact for", set(HELD), self._allowed_actions())
        if self.assignee_kind is AssigneeKind.NETWORK and self.technician_id is None:
            # SCH-2: the technician who will go confirms the visit, so the network names one first
            raise IllegalTransition(
                "record contact (the network assigns its technician first) for",
                self.status.value,
                ["assign", "return"],
            )
        if outcome is ContactOutcome.LATER_TIME and window is None:
            raise ValueError("a later time needs the agreed window")
        reached = outcome in REACHED_OUTCOMES
        promised = self.promised_on_call(outcome, window)
        if promised is not None:
            _refuse_if_over(promised, now)
            if window is not None and window != self.appointment:
                _refuse_out_of_bounds(window, now=now, policy=policy)
            reasons = technician.why_off_shift(promised, tz=tz, policy=policy) if technician else []
            reasons = reasons or list(unkept)
            if reasons:
                raise SlotUnavailable(
                    f"Technician {self.technician_id} cannot keep this window (SCH-3): "
                    f"{'; '.join(reasons)}. Agree a time within their shift, or return the "
                    "order to the centre.",
                    [],
                    reasons,
                )
        self.contact_attempts.append(ContactAttempt(at=now, by=by, outcome=outcome, note=note))
        moved = False
        if outcome is ContactOutcome.LATER_TIME and window is not None:
            moved = self.reschedule(
                window=window,
                reason=note or "customer asked for a later time",
                by=by,
                now=now,
                requested_by=RescheduleInitiator.CUSTOMER,
                customer_consent=True,
            )
        elif window is not None and window != self.appointment:
            if reached and self.confirmed_at is None:
                # SCH-2: the window agreed on the first confirming call goes out with the
                # AppointmentConfirmed below
                self._move_window(window)
            else:
                # SCH-3 / SCH-6: a confirmed visit moved on a later call is a reschedule
                self.reschedule(
                    window=window,
                    reason=note or f"window set on the call ({outcome.value})",
                    by=by,
                    now=now,
                    requested_by=RescheduleInitiator.CUSTOMER
                    if reached
                    else RescheduleInitiator.TECHNICIAN,
                    customer_consent=reached,
                )
        unanswered = sum(
            1
            for a in self.contact_attempts
            if a.outcome in {ContactOutcome.NO_ANSWER, ContactOutcome.UNREACHABLE}
        )
        gives_up = not reached and (
            outcome is ContactOutcome.UNREACHABLE
            or unanswered >= policy.no_answer_attempts_before_going
        )
        confirmed_unreached = (
            self.confirmed_at is not None
            and reached
            and not (outcome is ContactOutcome.LATER_TIME and moved)  # went out as a reschedule
            and not any(
                a.outcome in REACHED_OUTCOMES and a.at >= self.confirmed_at
                for a in self.contact_attempts[:-1]
            )
        )
        first = (reached or gives_up) and self.confirmed_at is None
        # SCH-2/SCH-5: a time that stood without the customer is confirmed again once a call
        # reaches them, so the centre hears they know it (their reply, INT-3)
        if (first or confirmed_unreached) and self.appointment is not None:
            self.confirmed_at = now
            if first:
                self.status = DispatchStatus.CONFIRMED
            self.events.append(
                AppointmentConfirmed(
                    order_id=self.order_id,
                    visit_id=self.visit_id,
                    window=self.appointment,
                    technician_id=self.technician_id
                    or (technician.technician_id if technician else ""),
                    technician_name=technician.name if technician else None,
                    technician_phone=technician.phone if technician else None,
                    details_corrected=list(corrected or []),
                    customer_reached=reached,
                )
            )
        self.audit.append(AuditEntry(at=now, actor=by, action="contact", reason=outcome.value))

    def promised_on_call(
        self, outcome: ContactOutcome, window: TimeWindow | None
    ) -> TimeWindow | None:
        """The time a call with this outcome and window promises (SCH-3): a new window agreed or
        set on it, else the appointment a reached customer hears for the first time since it
        was last confirmed (also when they agree the same window again); None when the call
        promises nothing new."""
        if window is not None and window != self.appointment:
            return window
        if outcome not in REACHED_OUTCOMES or self.appointment is None:
            return None
        heard = self.confirmed_at is not None and any(
            a.outcome in REACHED_OUTCOMES and a.at >= self.confirmed_at
            for a in self.contact_attempts
        )
        return None if heard else self.appointment

    def contact_due(
        self,
        *,
        policy: SchedulingPolicy,
        technician: Technician | None = None,
        tz: ZoneInfo | None = None,
    ) -> datetime | None:
        """SCH-2: when the customer must have been contacted: `contact_due_minutes` after the
        technician received the dispatch, counted in their time on shift. A technician receives
        a dispatch when they are at work: one given while they are on shift has the time from
        then (what is left of it at the end of the shift runs on at the start of the next);
        one given off shift (an order taken on Saturday evening or at 23:50 and placed for
        their next working day, or before their shift starts) is received when their next
        shift starts. The job's own day does not matter: a job for next week placed during
        the shift is still confirmed within 2 hours, as the customer expects a reply. Without
        the technician (an order a network holds) or their shift within the booking horizon,
        the time runs from the assignment. None when the order is not assigned."""
        if self.assigned_at is None:
            return None
        minutes = policy.contact_due_minutes
        if technician is not None and tz is not None:
            due = technician.after_working(
                self.assigned_at, minutes, tz=tz, days=policy.booking_horizon_days
            )
            if due is not None:
                return due
        return self.assigned_at + timedelta(minutes=minutes)

    def contact_overdue(
        self,
        *,
        now: datetime,
        policy: SchedulingPolicy,
        technician: Technician | None = None,
        tz: ZoneInfo | None = None,
    ) -> bool:
        """Raise ContactOverdue once when no confirmation came by :meth:`contact_due` (SCH-2)
        (``technician``: the one holding the order, whose shifts count). Never for an order whose
        personal data was erased (BIL-11): there is no customer left to call (SCH-5), nor can the
        call be recorded (the order takes no command)."""
        if self.status is not DispatchStatus.ASSIGNED or self.assigned_at is None:
            return False
        if self.anonymised_at is not None:
            return False
        if self.contact_overdue_at is not None:
            return False
        if technician is not None and technician.technician_id != self.technician_id:
            technician = None
        due = self.contact_due(policy=policy, technician=technician, tz=tz)
        if due is None or now < due:
            return False
        self.contact_overdue_at = now
        self.events.append(
            ContactOverdue(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.technician_id,
                network_id=self.network_id,
                assigned_at=self.assigned_at,
                due_at=due,
            )
        )
        return True

    # -- lateness (SCH-6, SCH-7) ---------------------------------------------------------------

    def predict_arrival(
        self, *, arrival: datetime, now: datetime, policy: SchedulingPolicy, cause: str | None
    ) -> ArrivalLate | None:
        """A new arrival forecast; ArrivalLate *before* the appointment when it misses the window.

        Published again only when the forecast calls for a stronger action (apology → gift).
        Never for an order whose personal data was erased (BIL-11): there is no customer left to
        apologise to or give a gift (SCH-7); the forecast itself is kept, it is the technician's.
        """
        if self.appointment is None or self.arrived_at is not None or not self.held:
            return None
        self.predicted_arrival = arrival
        if self.anonymised_at is not None:
            return None
        lateness = arrival - self.appointment.end
        late = _minutes_late(lateness)
        if late <= 0 or now >= self.appointment.end:
            return None
        action = lateness_action(lateness, policy)
        if self.late_action_sent is not None and _rank(action) <= _rank(self.late_action_sent):
            return None
        self.late_action_sent = action
        self.visits[-1] = replace(self.visit, late_minutes_told=late, late_arrival_told=arrival)
        event = ArrivalLate(
            order_id=self.order_id,
            visit_id=self.visit_id,
            technician_id=self.technician_id,
            kind=LatenessKind.PREDICTED,
            minutes_late=late,
            action=action,
            appointment=self.appointment,
            expected_arrival=arrival,
            # SCH-6: told in time only while a call before the appointment is still possible
            customer_notified=now
            <= self.appointment.start - timedelta(minutes=policy.call_ahead_minutes),
            cause=cause,
        )
        self.events.append(event)
        return event

    def departed(
        self,
        *,
        now: datetime,
        technician_id: str | None = None,
    ) -> bool:
        """The technician left for the customer; False when fieldwork reports a technician who
        no longer holds the visit.

        Such a departure crossed a reassignment or a return to the centre made before dispatch
        heard of it: fieldwork calls that trip off when it hears of the change (SCH-6, SCH-10),
        so the order stays where dispatch put it (audited). Should the technician reach the
        customer first, their arrival gives the visit back to them (:meth:`arrived`). A network
        holding the order without naming its technician keeps it: its own technician reports in.
        """
        if (
            technician_id is not None
            and technician_id != self.technician_id
            and (self.technician_id is not None or not self.held)
        ):
            self.audit.append(
                AuditEntry(
                    at=now,
                    actor=technician_id,
                    action="departure_after_change",
                    reason=f"fieldwork reports technician {technician_id} departed on this visit "
                    "after it was "
                    + (
                        f"moved to {self._holder()}"
                        if self.held
                        else "handed back to the centre"
                        if self.status is DispatchStatus.AWAITING_ASSIGNMENT
                        else f"{self.status.value.replace('_', ' ')}"
                    )
                    + "; fieldwork calls the trip off when it hears of the change",
                    detail={"technician_id": technician_id, "holder_id": self.technician_id},
                )
            )
            return False
        if self.status in NOT_DEPARTED:
            self.status = DispatchStatus.EN_ROUTE
        return True

    def arrived(
        self,
        *,
        at: datetime,
        policy: SchedulingPolicy,
        technician: ArrivedTechnician | None = None,
        visit_id: str | None = None,
        now: datetime | None = None,
    ) -> ArrivalLate | None:
        """Actual arrival; every late arrival is recorded with its minutes (SCH-7).

        ``visit_id`` is the visit fieldwork reports (the current one when None); ``now`` when
        dispatch hears of it (the arrival time when None). An arrival at the visit a
        postponement (or a chain of them) superseded before fieldwork heard of it brings that
        visit back while none of the visits that replaced it has started
        (:meth:`_resume_superseded`); an earlier visit's arrival otherwise changes nothing. An
        arrival by a technician who no longer holds the visit is kept by them when nobody else
        has left for it (:meth:`_kept_by`); otherwise it is only audited. The same arrival heard
        again changes nothing."""
        decided = now or at
        if (
            visit_id is not None
            and visit_id != self.visit_id
            and not self._resume_superseded(visit_id, technician, now=decided)
        ):
            return None
        if self._arrival_recorded(technician):
            return None
        if (
            technician is not None
            and technician.technician_id != self.technician_id
            and not self._kept_by(technician, now=decided)
        ):
            return None
        self.arrived_at = at
        if self.status in HELD:
            self.status = DispatchStatus.ON_SITE
        if self.appointment is None:
            return None
        lateness = at - self.appointment.end
        late = _minutes_late(lateness)
        if late <= 0:
            return None
        event = ArrivalLate(
            order_id=self.order_id,
            visit_id=self.visit_id,
            technician_id=self.technician_id,
            kind=LatenessKind.ACTUAL,
            minutes_late=late,
            action=lateness_action(lateness, policy),
            appointment=self.appointment,
            expected_arrival=at,
            customer_notified=self.late_action_sent is not None,
        )
        self.events.append(event)
        return event

    def _holder(self) -> str:
        if self.technician_id is not None:
            return f"technician {self.technician_id}"
        return f"network {self.network_id}"

    def _arrival_recorded(self, technician: ArrivedTechnician | None) -> bool:
        """Whether this arrival is already recorded: the visit is on site with this technician
        (or with the network's, when it holds the order without naming one)."""
        return (
            self.status is DispatchStatus.ON_SITE
            and self.arrived_at is not None
            and (
                technician is None
                or self.technician_id is None
                or technician.technician_id == self.technician_id
            )
        )

    def _resume_superseded(
        self, visit_id: str, technician: ArrivedTechnician | None, *, now: datetime
    ) -> bool:
        """SCH-10: fieldwork reports ``technician`` at the customer's on visit ``visit_id``,
        which the visits after it superseded one after another, each before the one it replaced
        ended (a postponement, or a return or rebooking that never reached the technician; a
        chain when the visit booked instead was postponed in turn): fieldwork heard of it after
        the arrival, and keeps a visit on site with the technician there. While nobody has left
        for any of the visits that replaced it, dispatch drops them all (the current one back
        from its holder: OrderReturnedToCentre), makes ``visit_id`` current again with its
        appointment, and gives it to the technician on site (:meth:`_kept_by`); its end then
        ends the order as for any visit. False (nothing moved) for any other earlier visit, or
        when someone has already left for one of the visits that replaced it (only audited
        then)."""
        replacements = self._unended_replacements(visit_id)
        if technician is None or not replacements:
            return False
        who = technician.technician_id
        superseding, current = replacements[0], replacements[-1]
        chain = ", then ".join(f"visit {v.visit_id}" for v in replacements)
        # an earlier replacement's trip was called off when the next one superseded it: it
        # counts as started as the current visit does while someone is on the way to it
        left_for = [
            replaced.visit_id
            for replaced, replacing in pairwise(replacements)
            if replacing.previous_under_way
        ]
        current_started = self.status not in {DispatchStatus.AWAITING_ASSIGNMENT, *NOT_DEPARTED}
        if current_started or left_for:
            self.audit.append(
                AuditEntry(
                    at=now,
                    actor=who,
                    action="arrival_ignored",
                    reason=f"fieldwork reports technician {who} arrived on visit {visit_id}, "
                    f"superseded by {chain}, "
                    + (
                        "which is "
                        + (
                            f"{self.status.value.replace('_', ' ')} with {self._holder()}"
                            if self.held
                            else self.status.value.replace("_", " ")
                        )
                        if current_started
                        else f"after someone had left for visit {left_for[-1]}"
                    ),
                    detail={
                        "technician_id": who,
                        "visit_id": visit_id,
                        "current_visit_id": current.visit_id,
                        **({"under_way_visit_id": left_for[-1]} if left_for else {}),
                    },
                )
            )
            return False
        crossed = (
            f"technician {who} arrived at the customer's on visit {visit_id} before fieldwork "
            f"heard it was superseded by "
            + ", then ".join(f"visit {v.visit_id} ({v.reason})" for v in replacements)
            + f": the {'postponements' if len(replacements) > 1 else 'postponement'} crossed "
            "the arrival, so the visit stays with the technician on site until it ends in "
            "fieldwork (SCH-10)"
        )
        if self.held:
            self.return_to_centre(
                reason=ReturnReason.OTHER,
                by=AUTO,
                now=now,
                detail=f"{chain} dropped: technician {who} is on site on visit {visit_id}, "
                f"which {'they were' if len(replacements) > 1 else 'it was'} to replace "
                "(SCH-10)",
            )
        del self.visits[-len(replacements) :]
        # the dropped visits' calls and warnings were about them, not about the visit on site
        self.appointment = superseding.previous_appointment
        self.kept_on = None
        self.contact_attempts = []
        self.contact_overdue_at = None
        return self._kept_by(
            technician,
            now=now,
            why=crossed,
            detail={
                "superseded_visit_id": superseding.visit_id,
                "dropped_visit_ids": ", ".join(v.visit_id for v in replacements),
            },
        )

    def _unended_replacements(self, visit_id: str) -> list[Visit]:
        """The visits that replaced visit ``visit_id`` one after another up to the current one,
        oldest first, each booked while the one before it had not ended; empty when
        ``visit_id`` is the current visit or is not superseded so."""
        replacements: list[Visit] = []
        for index in range(len(self.visits) - 1, 0, -1):
            replacing, replaced = self.visits[index], self.visits[index - 1]
            if not replacing.supersedes_unended or replacing.previous_visit_id != replaced.visit_id:
                return []
            replacements.insert(0, replacing)
            if replaced.visit_id == visit_id:
                return replacements
        return []

    def _kept_by(
        self,
        technician: ArrivedTechnician,
        *,
        now: datetime,
        why: str | None = None,
        detail: dict[str, str | None] | None = None,
    ) -> bool:
        """Fieldwork reports a technician at the customer's on the current visit that dispatch
        had meanwhile moved to someone else or handed back to the centre: the change reached
        fieldwork after the arrival, and fieldwork keeps a visit on site with the technician
        there. While nobody else has left for it, dispatch gives the visit back to them and
        publishes it (OrderReassigned, or OrderAssigned when it was with the centre), so every
        service agrees who is on site and the visit's end closes the order (SCH-8, SCH-12).
        False when another technician is already on the way or there: only audited then. A
        network holding the order without naming its technician keeps it (its own technician
        reports in): True, nothing changed. ``why`` and ``detail`` replace and extend what the
        audit and the event say (:meth:`_resume_superseded`)."""
        unheld = self.status is DispatchStatus.AWAITING_ASSIGNMENT
        if self.under_way and self.technician_id is not None:
            self.audit.append(
                AuditEntry(
                    at=now,
                    actor=technician.technician_id,
                    action="arrival_ignored",
                    reason=f"fieldwork reports technician {technician.technician_id} arrived "
                    f"while {self._holder()} is {self.status.value.replace('_', ' ')}",
                    detail={"technician_id": technician.technician_id},
                )
            )
            return False
        moved = (
            self.status in NOT_DEPARTED
            and self.assignee_kind is AssigneeKind.TECHNICIAN
            and self.technician_id is not None
        )
        if not (unheld or moved):
            return True
        previous = (self.assignee_kind, self.technician_id, self.network_id)
        why = why or (
            f"technician {technician.technician_id} arrived at the customer's before fieldwork "
            + (
                "heard the order was handed back to the centre"
                if unheld
                else f"heard the visit was moved to {self._holder()}"
            )
            + "; the visit stays with the technician on site until it ends in fieldwork"
        )
        self.audit.append(
            AuditEntry(
                at=now,
                actor=AUTO,
                action="kept_by_arrived_technician",
                reason=why,
                detail={
                    "technician_id": technician.technician_id,
                    "previous_technician_id": previous[1],
                    "previous_network_id": previous[2],
                    **(detail or {}),
                },
            )
        )
        self.assignee_kind = AssigneeKind.TECHNICIAN
        self.technician_id = technician.technician_id
        self.network_id = technician.network_id
        # SCH-3: the day of the shift keeping it is the technician on site's (the caller's)
        self.kept_on = None
        self.assigned_at = now
        self.network_accepted_at = now if technician.network_id is not None else None
        self.acceptance_due_at = None
        self.status = DispatchStatus.ASSIGNED
        common = {
            "order_id": self.order_id,
            "visit_id": self.visit_id,
            "assignee_kind": AssigneeKind.TECHNICIAN,
            "technician_id": technician.technician_id,
            "network_id": technician.network_id,
            "technician_name": technician.name,
            "technician_phone": technician.phone,
            "appointment": self.appointment,
            "reason": why,
        }
        if unheld:
            self.events.append(OrderAssigned(**common, assigned_by=AUTO))
        else:
            self.events.append(
                OrderReassigned(
                    **common,
                    previous_assignee_kind=previous[0] or AssigneeKind.TECHNICIAN,
                    previous_technician_id=previous[1],
                    previous_network_id=previous[2],
                    reassigned_by=AUTO,
                )
            )
        return True

    def apology_refused(self, *, by: str, now: datetime) -> None:
        """The customer did not accept the apology for a lateness of this visit: the after-sales
        manager visits, once per visit (SCH-7)."""
        if self.appointment is None:
            raise IllegalTransition("escalate lateness of", self.status.value, [])
        if self.visit.manager_visit_at is not None:
            return  # already sent for this visit: a repeated refusal sends nobody else
        arrived_late = self.arrived_at is not None and self.arrived_at > self.appointment.end
        if self.late_action_sent is None and not arrived_late:
            # SCH-7: only an apology for a recorded lateness can be refused
            raise IllegalTransition(
                "escalate lateness (none was recorded for this visit) of", self.status.value, []
            )
        self.visits[-1] = replace(self.visit, manager_visit_at=now)
        # The lateness apologised for: the actual one when the technician came late, else the
        # one the customer was told of in advance (they may have arrived in time after all).
        told = self.visit.late_minutes_told
        if arrived_late or told is None:
            expected = self.arrived_at or self.predicted_arrival
            minutes = _minutes_late((expected or now) - self.appointment.end)
        else:
            expected, minutes = self.visit.late_arrival_told, told
        self.events.append(
            ArrivalLate(
                order_id=self.order_id,
                visit_id=self.visit_id,
                technician_id=self.technician_id,
                kind=LatenessKind.ACTUAL if arrived_late else LatenessKind.PREDICTED,
                minutes_late=minutes,
                action=LatenessAction.MANAGER_VISIT,
                appointment=self.appointment,
                expected_arrival=expected,
                customer_notified=True,
                cause="customer did not accept the apology",
            )
        )
        self.audit.append(AuditEntry(at=now, actor=by, action="manager_visit"))

    # -- visits (SCH-10, SCH-11) ---------------------------------------------------------------

    def visit_ended(self) -> None:
        """The visit is over (repair completed or failed).

        Also when the order is no longer held: an assignment cancelled (or the order handed
        back) while fieldwork already had the technician on the way must not leave the order
        waiting for an assignment of a visit that is over (SCH-12)."""
        if self.status in HELD or self.status is DispatchStatus.AWAITING_ASSIGNMENT:
            self.status = DispatchStatus.VISIT_DONE

    def book_revisit(
        self,
        *,
        reason: RevisitReason,
        by: str,
        now: datetime,
        detail: str | None = None,
        keep_technician: bool = True,
        window: TimeWindow | None = None,
        kept_on: date | None = None,
    ) -> None:
        """A new visit follows the current one, with its reason (SCH-10, SCH-11, FBK-7).
        ``kept_on``: with ``window`` kept by the same technician, the day of their shift keeping
        it (:attr:`kept_on`, the caller's keeping check); else none is recorded.

        The same technician keeps it when asked (work unfinished: agree the next visit and keep
        it), else it waits in the centre's queue. Booked before the current visit ended, it
        remembers that visit's appointment: should fieldwork report that visit's technician at
        the customer's after all, the visit comes back (:meth:`arrived`, SCH-10).
        """
        if self.status in CLOSED:
            raise IllegalTransition("book a revisit for", self.status.value, [])
        previous = self.visit
        unended = self.status is not DispatchStatus.VISIT_DONE
        self.visits.append(
            Visit(
                visit_id=str(new_id()),
                number=previous.number + 1,
                created_at=now,
                reason=reason.value if detail is None else f"{reason.value}: {detail}",
                previous_visit_id=previous.visit_id,
                supersedes_unended=unended,
                previous_appointment=self.appointment if unended else None,
                previous_under_way=self.under_way,
            )
        )
        technician_id = self.technician_id if keep_technician else None
        self.appointment = window
        self.kept_on = kept_on if window is not None and technician_id is not None else None
        self.arrived_at = None
        self.confirmed_at = None
        self.contact_overdue_at = None
        self.contact_attempts = []
        self.late_action_sent = None
        self.predicted_arrival = None
        self.planned_departure = None
        if technician_id is None:
            self._unassign()
        else:
            self.status = DispatchStatus.ASSIGNED
            self.assigned_at = now
        self.events.append(
            RevisitBooked(
                order_id=self.order_id,
                visit_id=self.visit_id,
                previous_visit_id=previous.visit_id,
                reason=reason,
                window=window,
                technician_id=technician_id,
                booked_by=by,
            )
        )
        self.audit.append(AuditEntry(at=now, actor=by, action="revisit", reason=self.visit.reason))

    def revisit_requested(
        self, *, about_visit_id: str | None, by: str, now: datetime, reason: str
    ) -> bool:
        """A call-back found the problem not solved (FBK-7), or the phone guidance failed
        (INT-4): a revisit is booked for the centre to place. Returns whether one was booked.

        Not when a visit after the one the request is about is already booked and not over,
        nor while a technician is on the way or on site: that visit answers the request, which
        is attached to it (audited) instead of abandoning it for yet another trip. A cancelled
        order gets nothing."""
        if self.status is DispatchStatus.CANCELLED:
            return False
        self.guidance_failed()
        numbers = {v.visit_id: v.number for v in self.visits}
        about = numbers.get(about_visit_id) if about_visit_id is not None else None
        later_visit_open = (
            about is not None
            and about < self.visit.number
            and self.status is not DispatchStatus.VISIT_DONE
        )
        if later_visit_open or self.under_way:
            self.audit.append(
                AuditEntry(
                    at=now,
                    actor=by,
                    action="revisit_request_attached",
                    reason=f"{RevisitReason.CUSTOMER_DISSATISFIED.value}: {reason}",
                    detail={"about_visit_id": about_visit_id, "visit_id": self.visit_id},
                )
            )
            return False
        if self.held:
            self.visit_ended()
        self.book_revisit(
            reason=RevisitReason.CUSTOMER_DISSATISFIED,
            by=by,
            now=now,
            detail=reason,
            keep_technician=False,
        )
        return True

    def postpone(self, *, by: str, now: datetime, reason: str) -> None:
        """The customer postponed: a new visit is due and the order goes back to the centre's
        dispatchers with the reason (SCH-10).

        A technician on the way has their trip called off (OrderReturnedToCentre); on site the
        visit ends in fieldwork (VisitUnderWay), which books the next one. Should fieldwork
        report them on site after all (they arrived before it heard), the postponed visit comes
        back to them while the new one has not started (:meth:`arrived`)."""
        self.refuse_if_on_site(
            "postpone the visit",
            remedy="A postponement now goes through fieldwork: on site the technician fails the "
            "visit as unfinished (rebook) with the next visit agreed or not (SCH-10); at the door "
            "the outcome is recorded there (not home, or rebook). Scheduling then books the next "
            "visit.",
        )
        under_way = self.under_way
        if self.held:
            self.return_to_centre(
                reason=ReturnReason.CUSTOMER_POSTPONED, by=by, now=now, detail=reason
            )
        self.book_revisit(
            reason=RevisitReason.WORK_UNFINISHED
            if self.arrived_at is not None
            else RevisitReason.OTHER,
            by=by,
            now=now,
            detail=f"postponed by the customer: {reason}",
            keep_technician=False,
        )
        if under_way:
            # the order was handed back before the next visit was booked, so the booking saw no
            # trip: it was this visit's, called off, and an arrival at an earlier visit must not
            # bring that one back over it (SCH-10)
            self.visits[-1] = replace(self.visit, previous_under_way=True)

    def relocated(self, *, location: GeoPoint, by: str, now: datetime, note: str | None) -> None:
        """The product is elsewhere; with the customer's consent the visit goes there (SCH-11)."""
        self.location = location
        self.predicted_arrival = None
        self.audit.append(AuditEntry(at=now, actor=by, action="relocate", reason=note))

    # -- retention (BIL-11) --------------------------------------------------------------------

    def anonymise(self, *, by: str, now: datetime, retention_class: RetentionClass) -> bool:
        """The order's retention is over (BIL-11): the customer's personal data is erased
        (:meth:`erase_personal_data`) and the order remembers when, so that whatever is heard of
        it later is stored erased too. Audited once; heard again, nothing changes (False).
        Nobody is sent out to it any more: the automatic placement stops trying it."""
        if self.anonymised_at is not None:
            return False
        self.anonymised_at = now
        self.auto_placement_tried_at = None
        self.audit.append(
            AuditEntry(
                at=now, actor=by, action="personal_data_erased", reason=retention_class.value
            )
        )
        self.erase_personal_data()
        return True

    def refuse_if_erased(self, action: str) -> None:
        """BIL-11: an order whose personal data was erased takes no command any more (a
        dispatcher's, a technician's or a network's): nothing could be agreed with a customer
        it no longer names. Events heard of it later are still applied (:meth:`anonymise`)."""
        if self.anonymised_at is not None:
            raise PersonalDataErased(self.order_id, action, self.anonymised_at)

    def erase_personal_data(self) -> None:
        """Erase what the order holds of the customer (BIL-11): the home's location becomes
        None; the free text of visit reasons, call notes, audit entries not yet stored and
        events not yet published reads "[erased]", the codes it starts with kept
        (:meth:`AuditEntry.erased`). Ids, times, statuses, outcomes, the assignee, the
        appointment and preferred windows stay, and so does the area (a district or city: no
        address), for figures and the audit. Erasing twice changes nothing."""
        self.location = None
        self.visits = [
            replace(visit, reason=erase_text(visit.reason, codes=DISPATCH_CODES))
            for visit in self.visits
        ]
        self.contact_attempts = [
            replace(attempt, note=erase_text(attempt.note, codes=DISPATCH_CODES))
            for attempt in self.contact_attempts
        ]
        self.audit = [entry.erased() for entry in self.audit]
        self.events = [erase_event(event) for event in self.events]


def _refuse_if_over(window: TimeWindow, now: datetime) -> None:
    """SCH-3: nobody can arrive within a window already over."""
    if window.end <= now:
        raise SlotUnavailable("The window has already ended; agree one still ahead.", [])


def _refuse_out_of_bounds(window: TimeWindow, *, now: datetime, policy: SchedulingPolicy) -> None:
    reasons = window_problems(window, now=now, policy=policy)
    if reasons:
        raise SlotUnavailable(
            f"This window cannot be promised (SCH-3): {'; '.join(reasons)}.", [], reasons
        )


def window_problems(window: TimeWindow, *, now: datetime, policy: SchedulingPolicy) -> list[str]:
    """Why nobody should be promised ``window``, whoever would keep it (SCH-3): it ends before
    it starts or is over, is shorter than `min_window_minutes` or longer than
    `max_window_minutes` (SCH-7 measures lateness from its end), or starts beyond
    `booking_horizon_days`; empty when none. Only differences of instants are taken, so a
    window at the ends of the calendar (year 1, year 9999) is judged without overflowing."""
    length = window.end - window.start
    if length <= timedelta(0):
        return ["the window ends before it starts"]
    reasons: list[str] = []
    if window.end <= now:
        reasons.append("the window has already ended")
    if length < timedelta(minutes=policy.min_window_minutes):
        reasons.append(f"the window is shorter than {policy.min_window_minutes} minutes")
    if length > timedelta(minutes=policy.max_window_minutes):
        reasons.append(
            f"the window is longer than {policy.max_window_minutes} minutes: no arrival time "
            "is promised by it"
        )
    if window.start - now > timedelta(days=policy.booking_horizon_days):
        reasons.append(
            f"the window starts more than {policy.booking_horizon_days} days ahead (the "
            "booking horizon)"
        )
    return reasons


def lateness_action(late: timedelta, policy: SchedulingPolicy) -> LatenessAction:
    """SCH-7: late under the gift threshold an apology; at or over it an apology and a gift.
    The exact lateness is compared, not minutes rounded up: 14 min 30 s is an apology."""
    if late >= timedelta(minutes=policy.gift_threshold_minutes):
        return LatenessAction.APOLOGY_AND_GIFT
    return LatenessAction.APOLOGY


def _rank(action: LatenessAction) -> int:
    return [
        LatenessAction.APOLOGY,
        LatenessAction.APOLOGY_AND_GIFT,
        LatenessAction.MANAGER_VISIT,
    ].index(action)
