"""Coordination tickets (FLD-15): work not finished the same day gets an owner, a dated log of
every contact and twice-monthly checks by the team lead."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from contracts.base import EventData
from contracts.fieldwork import CoordinationCheckDue, CoordinationTicketOpened
from fieldwork.domain.exceptions import InvalidInput, RuleViolation
from fieldwork.domain.policy import FieldworkPolicy
from fieldwork.domain.visit import Visit, VisitState


@dataclass(frozen=True)
class Contact:
    """One contact with the customer (or anyone else) about the ticket, dated."""

    at: datetime
    by: str
    channel: str
    note: str


@dataclass(frozen=True)
class Check:
    """A team lead's check of the ticket."""

    at: datetime
    by: str
    note: str | None = None


@dataclass
class CoordinationTicket:
    """An order not finished the same day (aggregate)."""

    ticket_id: str
    order_id: str
    owner: str
    reason: str
    opened_at: datetime
    next_check_due: date
    contacts: list[Contact] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    check_due_reported_on: date | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    events: list[EventData] = field(default_factory=list)

    @classmethod
    def open(
        cls, *, order_id: str, reason: str, now: datetime, today: date, policy: FieldworkPolicy
    ) -> CoordinationTicket:
        """Open the ticket (FLD-15) with the default owner and the first check date."""
        ticket = cls(
            ticket_id=str(uuid.uuid4()),
            order_id=order_id,
            owner=policy.coordination_default_owner,
            reason=reason,
            opened_at=now,
            next_check_due=today + timedelta(days=policy.coordination_check_interval_days),
        )
        ticket.events.append(
            CoordinationTicketOpened(
                order_id=order_id,
                ticket_id=ticket.ticket_id,
                owner=ticket.owner,
                reason=reason,
                opened_at=now,
                next_check_due=ticket.next_check_due,
            )
        )
        return ticket

    def _open_only(self) -> None:
        if self.closed_at is not None:
            raise RuleViolation("FLD-15", "The coordination ticket is closed")

    def log_contact(
        self,
        *,
        at: datetime,
        by: str,
        channel: str,
        note: str,
        latest: datetime | None = None,
        earliest: datetime | None = None,
    ) -> Contact:
        """Add a dated contact to the log: one that happened, so not dated after ``latest``
        (now, give or take the caller's clock drift), about the order's work, so not dated
        before ``earliest`` (when the order's first visit was assigned, give or take the lead
        an assignment entered late may have)."""
        self._open_only()
        if earliest is not None and at < earliest:
            # rule FLD-15: the log dates the contacts about the unfinished work; one dated
            # before the order had any visit would head the log as if it were the first.
            raise InvalidInput(
                "FLD-15",
                f"The contact is dated {at.isoformat()}, before the order had any visit: log "
                "the contacts about its work",
                field="at",
                earliest=earliest.isoformat(),
            )
        if latest is not None and at > latest:
            # rule FLD-15: the log dates the contacts made; a future date would sit at the end
            # of it for good, after the contacts really made later.
            raise InvalidInput(
                "FLD-15",
                f"The contact is dated {at.isoformat()}, in the future: log a contact once it "
                "was made",
                field="at",
                latest=latest.isoformat(),
            )
        contact = Contact(at=at, by=by, channel=channel, note=note)
        self.contacts.append(contact)
        self.contacts.sort(key=lambda c: c.at)
        return contact

    def assign(self, owner: str) -> None:
        """Name another owner."""
        self._open_only()
        self.owner = owner

    def check(
        self,
        *,
        at: datetime,
        today: date,
        by: str,
        policy: FieldworkPolicy,
        note: str | None = None,
    ) -> None:
        """The team lead checked the ticket; the next check is due half a month later."""
        self._open_only()
        self.checks.append(Check(at=at, by=by, note=note))
        self.next_check_due = today + timedelta(days=policy.coordination_check_interval_days)

    def close(self, *, at: datetime, resolution: str) -> None:
        """The work is finished; the ticket is kept (BIL-11: permanently)."""
        self._open_only()
        self.closed_at, self.resolution = at, resolution

    def check_due(self, *, today: date) -> bool:
        """Raise CoordinationCheckDue once per due date."""
        if self.closed_at is not None or today < self.next_check_due:
            return False
        if self.check_due_reported_on == self.next_check_due:
            return False
        self.check_due_reported_on = self.next_check_due
        self.events.append(
            CoordinationCheckDue(
                order_id=self.order_id,
                ticket_id=self.ticket_id,
                owner=self.owner,
                due_on=self.next_check_due,
                last_checked_at=self.checks[-1].at if self.checks else None,
            )
        )
        return True


#: FLD-15: the visit outcomes that finish the order's work (no coordination ticket).
_FINISHED = frozenset({VisitState.COMPLETED, VisitState.DECLINED})


def _open_work(visits: Sequence[Visit]) -> list[Visit]:
    """The visits of the work still open (FLD-15): those after the last visit that finished the
    order, all of them when none did.

    A visit comes after a finished one when it was booked after that one ended, or follows it by
    ``previous_visit_id``: a revisit (a dissatisfied call-back, FBK-7) reopens work a completed
    visit had finished."""
    finished = [v for v in visits if v.state in _FINISHED and v.ended_at is not None]
    if not finished:
        return list(visits)
    last = max(finished, key=lambda v: v.ended_at or v.created_at)
    ended_at = last.ended_at or last.created_at
    by_id = {v.visit_id: v for v in visits}

    def follows(visit: Visit) -> bool:
        seen: set[str] = set()
        current: Visit | None = visit
        while current is not None and current.visit_id not in seen:
            if current.previous_visit_id == last.visit_id:
                return True
            seen.add(current.visit_id)
            current = by_id.get(current.previous_visit_id or "")
        return visit.created_at > ended_at

    return [v for v in visits if v is not last and v.state not in _FINISHED and follows(v)]


def unfinished_reason(
    visits: Sequence[Visit],
    *,
    today: date,
    day_of: dict[str, date],
    policy: FieldworkPolicy,
    public_area: bool = False,
) -> str | None:
    """Why the order needs a coordination ticket today (FLD-15), or None.

    ``day_of`` maps visit ids to the local date of their arrival. The order needs one when its
    open work started (a visit arrived after the last visit that finished it: completed, or
    declined, the customer refused the chargeable work, FLD-4), is not finished, and the allowed
    days after the first arrival of that open work have passed. A revisit after a completed
    visit (FBK-7) is open work again; its clock starts at its own first arrival.
    """
    open_work = _open_work(visits)
    arrived = [v for v in open_work if v.visit_id in day_of]
    if not arrived or all(v.state is VisitState.CANCELLED for v in open_work):
        return None
    first = min(day_of[v.visit_id] for v in arrived)
    allowed = policy.unfinished_public_area_days if public_area else policy.unfinished_in_home_days
    if (today - first).days <= allowed:
        return None
    last = max(arrived, key=lambda v: day_of[v.visit_id])
    return (
        f"not finished since {first.isoformat()} (last visit {last.visit_id}: {last.state.value})"
    )
