"""Feedback test helpers: a settable clock, ready-made events of the other services, and a
harness around a runtime on a real database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from contracts.base import EventData
from contracts.billing import PaymentCollected, PaymentMethod, ReceiptIssued
from contracts.common import AssigneeKind, Channel, Customer, Fault, Product
from contracts.envelope import EventEnvelope
from contracts.fieldwork import (
    CustomerSignedOff,
    InstallationCompleted,
    Rating,
    RepairCompleted,
    SignOff,
    TechnicianArrived,
    UnitReturned,
    UnitTakenBack,
    VisitClosed,
    VisitOutcome,
)
from contracts.identity import Role
from contracts.intake import OrderCancelled, OrderCreated, OrderResolvedRemotely
from contracts.registry import parse_data
from contracts.scheduling import (
    ArrivalLate,
    LatenessAction,
    LatenessKind,
    OrderAssigned,
    RevisitBooked,
    RevisitReason,
)
from feedback.domain.case import Case, Reaction
from feedback.domain.policy import FeedbackPolicy
from feedback.domain.ports import WorkingCalendar
from servicekit.auth import generate_key, issued_event
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment in Shanghai, as UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


#: Monday 2 March 2026 (an ordinary working week in China).
MONDAY = date(2026, 3, 2)
FRIDAY = date(2026, 3, 6)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self.now = moment


# -- events of other services -------------------------------------------------------------------


def created(
    order_id: str,
    *,
    brand: str | None = None,
    line: str = "water_heater",
    emergency: bool = False,
    fault: str = "热水器打不着火",
    channel: Channel = Channel.HOTLINE,
    taken_by: str | None = None,
) -> OrderCreated:
    """An order as intake took it (a walk-in's at the service hall, by ``taken_by``)."""
    return OrderCreated(
        order_id=order_id,
        customer=Customer.model_validate(
            {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
        ),
        product=Product(line=line, brand=brand),
        fault=Fault(description=fault),
        channel=channel,
        emergency=emergency,
        taken_by=taken_by,
    )


def assigned(
    order_id: str, visit_id: str, technician_id: str, network_id: str | None = None
) -> OrderAssigned:
    """The visit assigned to a technician (of a network, when given)."""
    if network_id is not None:
        return OrderAssigned(
            order_id=order_id,
            visit_id=visit_id,
            assignee_kind=AssigneeKind.NETWORK,
            network_id=network_id,
            technician_id=technician_id,
            assigned_by="dispatcher-1",
        )
    return OrderAssigned(
        order_id=order_id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician_id,
        assigned_by="dispatcher-1",
    )


def arrived(order_id: str, visit_id: str, technician_id: str, at: datetime) -> TechnicianArrived:
    """The technician arrived."""
    return TechnicianArrived(
        order_id=order_id, visit_id=visit_id, technician_id=technician_id, arrived_at=at
    )


def late(order_id: str, visit_id: str, technician_id: str, minutes: int) -> ArrivalLate:
    """A measured late arrival."""
    return ArrivalLate(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        kind=LatenessKind.ACTUAL,
        minutes_late=minutes,
        action=LatenessAction.APOLOGY,
    )


def repaired(
    order_id: str, visit_id: str, technician_id: str, *, tested: bool = True, sure: bool = True
) -> RepairCompleted:
    """A repair done."""
    return RepairCompleted(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        tested=tested,
        sure_fixed=sure,
        on_site_minutes=40,
    )


def installed(order_id: str, visit_id: str, technician_id: str) -> InstallationCompleted:
    """An installation done."""
    return InstallationCompleted(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        installed_on=MONDAY,
    )


def signed(
    order_id: str, visit_id: str, technician_id: str, *, rating: Rating = Rating.SATISFIED
) -> CustomerSignedOff:
    """The customer signed the sheet with ``rating`` on both items."""
    return CustomerSignedOff(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        repair_quality=rating,
        service_attitude=rating,
        sign_off=SignOff.SIGNED,
    )


def closed(
    order_id: str,
    visit_id: str,
    technician_id: str,
    at: datetime,
    *,
    outcome: VisitOutcome = VisitOutcome.COMPLETED,
    paid: bool = False,
) -> VisitClosed:
    """The technician finished the visit and left."""
    return VisitClosed(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        outcome=outcome,
        closed_at=at,
        paid_work=paid,
    )


def revisit_booked(
    order_id: str,
    visit_id: str,
    previous_visit_id: str,
    technician_id: str,
    reason: RevisitReason = RevisitReason.CUSTOMER_DISSATISFIED,
) -> RevisitBooked:
    """Scheduling booked another visit."""
    return RevisitBooked(
        order_id=order_id,
        visit_id=visit_id,
        previous_visit_id=previous_visit_id,
        reason=reason,
        technician_id=technician_id,
    )


def resolved_remotely(order_id: str, *, at: datetime | None = None) -> OrderResolvedRemotely:
    """Phone guidance was enough; resolved ``at``, it carries the call-back time intake computes
    (``at`` + 120 wall-clock minutes), as intake publishes it."""
    return OrderResolvedRemotely(
        order_id=order_id,
        guidance="reset the breaker",
        call_back_due_at=None if at is None else at + timedelta(minutes=120),
    )


def taken_back(order_id: str, visit_id: str, technician_id: str) -> UnitTakenBack:
    """The unit went to the workshop (receipt ``TB-<order>``)."""
    return UnitTakenBack(
        order_id=order_id,
        visit_id=visit_id,
        technician_id=technician_id,
        receipt_number=f"TB-{order_id}",
        promised_return_date=MONDAY + timedelta(days=7),
    )


def returned(
    order_id: str, at: datetime, *, visit_id: str | None = None, repaired: bool = True
) -> UnitReturned:
    """The taken-back unit of ``order_id`` was brought back ``at``, repaired unless told."""
    return UnitReturned(
        order_id=order_id,
        visit_id=visit_id,
        receipt_number=f"TB-{order_id}",
        returned_at=at,
        repaired=repaired,
    )


def cancelled(order_id: str) -> OrderCancelled:
    """Intake cancelled the order."""
    return OrderCancelled(order_id=order_id, reason="客户不修了", cancelled_by="dispatcher-1")


def receipt(order_id: str, amount: str) -> ReceiptIssued:
    """Billing's receipt."""
    return ReceiptIssued(order_id=order_id, receipt_number=f"R-{order_id}", amount=Decimal(amount))


def paid(order_id: str, amount: str, *, by: str, at_desk: bool) -> PaymentCollected:
    """Billing's payment, taken by a technician on site or at a service-hall desk."""
    return PaymentCollected(
        order_id=order_id,
        method=PaymentMethod.CASH,
        amount=Decimal(amount),
        collected_by=by,
        receipt_number=f"R-{order_id}",
        at_desk=at_desk,
    )


def scores(
    attitude: int = 9,
    ability: int = 9,
    *,
    punctuality: str = "good",
    dress: str = "good",
    fee_charged: bool | None = None,
    fee_amount: str | None = None,
) -> dict[str, Any]:
    """A survey body's scores."""
    body: dict[str, Any] = {
        "service_attitude": attitude,
        "professional_ability": ability,
        "punctuality": punctuality,
        "dress": dress,
    }
    if fee_charged is not None:
        body["fee_charged"] = fee_charged
    if fee_amount is not None:
        body["fee_amount"] = fee_amount
    return body


# -- the harness ---------------------------------------------------------------------------------


@dataclass
class Harness:
    """A runtime on a real database, its clock and an admin client."""

    runtime: ServiceRuntime
    clock: Clock
    client: httpx.AsyncClient

    async def emit(self, payload: EventData, at: datetime | None = None) -> EventEnvelope:
        """Deliver an event of another service to feedback's consumer handler."""
        envelope = EventEnvelope.wrap(payload, time=at or self.clock())
        await self.runtime.handle_event(envelope)
        return envelope

    async def staged(self, event_type: str | None = None) -> list[Any]:
        """Payloads feedback staged in its outbox, oldest first."""
        async with self.runtime.session_factory() as session:
            rows = (
                await session.execute(select(OutboxMessage).order_by(OutboxMessage.seq))  # type: ignore[arg-type]
            ).scalars()
            payloads = [parse_data(EventEnvelope.model_validate_json(r.payload)) for r in rows]
        return [p for p in payloads if event_type is None or p.event_type == event_type]

    async def key(
        self, role: Role, *, network_id: str | None = None, name: str | None = None
    ) -> dict[str, str]:
        """Authorization headers of a new key of ``role``."""
        raw = generate_key()
        await self.runtime.handle_event(
            EventEnvelope.wrap(
                issued_event(
                    key_id=str(uuid.uuid4()),
                    raw_key=raw,
                    role=role,
                    name=name or f"a {role}",
                    network_id=network_id,
                    technician_id=None,
                    expires_at=None,
                )
            )
        )
        return {"Authorization": f"Bearer {raw}"}

    async def due(self, **params: Any) -> list[dict[str, Any]]:
        """The call-backs due now."""
        response = await self.client.get("/v1/call-backs/due", params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def tasks(self, order_id: str) -> list[dict[str, Any]]:
        """Every call-back of the order."""
        response = await self.client.get("/v1/call-backs", params={"order_id": order_id})
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def answer(self, task_id: str, **body: Any) -> dict[str, Any]:
        """Claim the call-back and record the outcome."""
        claim = await self.client.post(f"/v1/call-backs/{task_id}/claim")
        assert claim.status_code == 200, claim.text
        response = await self.client.post(f"/v1/call-backs/{task_id}/outcome", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def completed_visit(
        self,
        order_id: str,
        visit_id: str,
        technician_id: str,
        *,
        at: datetime,
        network_id: str | None = None,
        sign: bool = True,
    ) -> None:
        """A tested repair: assigned, arrived, repaired, signed and closed at ``at``."""
        await self.emit(
            assigned(order_id, visit_id, technician_id, network_id), at - timedelta(hours=3)
        )
        await self.emit(arrived(order_id, visit_id, technician_id, at - timedelta(hours=1)), at)
        await self.emit(repaired(order_id, visit_id, technician_id), at)
        if sign:
            await self.emit(signed(order_id, visit_id, technician_id), at)
        await self.emit(closed(order_id, visit_id, technician_id, at), at)


class AlwaysWorkingCalendar(WorkingCalendar):
    """A fake calendar for domain tests: every moment is working time, in UTC."""

    @property
    def tz(self) -> tzinfo:
        return UTC

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))

    def add_working_days(self, start: datetime, days: int) -> datetime:
        return start + timedelta(days=days)

    def is_working_day(self, day: date) -> bool:
        return True


CALENDAR = AlwaysWorkingCalendar()


def apply(
    case: Case, event: EventData, at: datetime, policy: FeedbackPolicy | None = None
) -> list[Reaction]:
    """Apply ``event`` to the case at ``at`` (an event id from its type and the time), on the fake
    calendar."""
    return case.apply(
        event,
        at=at,
        event_id=f"e-{event.event_type}-{at.isoformat()}",
        policy=policy or FeedbackPolicy(),
        calendar=CALENDAR,
    )
