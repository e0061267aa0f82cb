"""Scheduling's tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Integer
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

SCHEDULING_REGISTRY = registry()


class SchedulingTable(SQLModel, registry=SCHEDULING_REGISTRY):
    """Base of scheduling's tables."""


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class DispatchOrderRow(SchedulingTable, table=True):
    """An order as dispatch knows it."""

    __tablename__ = "dispatch_order"
    __table_args__ = (
        Index("ix_dispatch_order_queue", "status", "emergency", "received_at"),
        Index("ix_dispatch_order_technician", "technician_id", "status"),
        Index("ix_dispatch_order_network", "network_id", "status"),
        Index("ix_dispatch_order_appointment", "appointment_start"),
        Index("ix_dispatch_order_acceptance_due", "acceptance_due_at"),
    )

    order_id: str = Field(primary_key=True, max_length=36)
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    product_line: str = Field(max_length=100)
    emergency: bool = False
    needs_verification: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    loaner_required: bool = False
    service_type: str = Field(default="repair", max_length=20)
    status: str = Field(max_length=40)
    lat: float | None = None
    lon: float | None = None
    area: str | None = Field(default=None, max_length=100)
    preferred_windows: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    visits: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    assignee_kind: str | None = Field(default=None, max_length=20)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    assigned_at: datetime | None = _ts()
    network_accepted_at: datetime | None = _ts()
    acceptance_due_at: datetime | None = _ts()
    """By when the network given the order must accept or reject it (SCH-1): working time on
    the business calendar, an emergency's wall-clock time (INT-7); null when no network awaits
    an answer."""
    appointment_start: datetime | None = _ts()
    appointment_end: datetime | None = _ts()
    kept_on: date | None = None
    """The day of the shift keeping the appointment, recorded only when it was kept on a later
    shift than the first it fits inside alone (SCH-1, SCH-3); null: that first one's, worked
    out afresh from the holder's shifts as they stand (``held_day``)."""
    pinned: bool = False
    confirmed_at: datetime | None = _ts()
    contact_overdue_at: datetime | None = _ts()
    contact_attempts: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    planned_departure: datetime | None = _ts()
    predicted_arrival: datetime | None = _ts()
    late_action_sent: str | None = Field(default=None, max_length=40)
    arrived_at: datetime | None = _ts()
    anonymised_at: datetime | None = _ts()
    """When the customer's personal data was erased, the order's retention being over (BIL-11)."""
    auto_placement_tried_at: datetime | None = _ts()
    """When the automatic placement last tried and failed to place the order (SCH-1); null when
    it is not the automatic placement's to place."""


class DispatchAuditRow(SchedulingTable, table=True):
    """Who changed an order's dispatch, when and why (SCH-8, SCH-12)."""

    __tablename__ = "dispatch_audit"
    __table_args__ = (Index("ix_dispatch_audit_order", "order_id", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=36)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(max_length=200)
    action: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=1000)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TechnicianRow(SchedulingTable, table=True):
    """A technician as a dispatch target."""

    __tablename__ = "technician"

    technician_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    skills: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    areas: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    home_lat: float
    home_lon: float
    shift_start: str = Field(max_length=5)
    shift_end: str = Field(max_length=5)
    working_days: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    days_off: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    daily_capacity: int = 8
    network_id: str | None = Field(default=None, max_length=64)
    active: bool = True
    position_lat: float | None = None
    position_lon: float | None = None
    position_at: datetime | None = _ts()
    revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    """Set on every write to the table's highest revision + 1 (rows written before migration
    0016 keep 0): what a replica's roster cache knows a change by
    (:class:`scheduling.adapters.repository.RosterCache`)."""


class NetworkRow(SchedulingTable, table=True):
    """A partner network as a dispatch target."""

    __tablename__ = "partner_network"

    network_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    skills: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    areas: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    # SCH-1: the network's own office hours, all four null for a network keeping the business
    # calendar's (every network registered before migration 0015)
    office_opens: str | None = Field(default=None, max_length=5)
    office_closes: str | None = Field(default=None, max_length=5)
    office_weekdays: list[Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    office_open_on_public_holidays: bool | None = None


class DayPlanRow(SchedulingTable, table=True):
    """The applied plan of a day: each visit's technician, order, departure and arrival."""

    __tablename__ = "day_plan"

    plan_date: str = Field(primary_key=True, max_length=10)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    visits: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unassigned: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unassigned_reasons: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    """Per job left out, why (``code``, ``text``), as the optimisation found it."""
    dirty: bool = False
    """An urgent insertion changed it: re-optimise in the background (SCH-9)."""
