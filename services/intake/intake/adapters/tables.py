"""Intake's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from intake.domain.rules import MAX_EXTENSION_DIGITS

INTAKE_REGISTRY = registry()


class IntakeTable(SQLModel, registry=INTAKE_REGISTRY):
    """Base of intake's tables."""


class OrderRow(IntakeTable, table=True):
    """An order; the value objects are stored as JSON, the searchable fields as columns.

    ``customer`` is the contract's customer plus ``phone_extensions`` (E.164 number ->
    extension), the shape the REST API returns."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_primary_phone", "primary_phone"),
        Index("ix_orders_emergency_created", "emergency", "created_at"),
        Index("ix_orders_network", "network_id"),
        Index("ix_orders_technician", "technician_id"),
        Index("ix_orders_closable_since", "closable_since"),
    )

    id: str = Field(primary_key=True, max_length=36)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(max_length=40)
    channel: str = Field(max_length=20)
    emergency: bool = False
    primary_phone: str = Field(max_length=32)
    customer: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    product: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    fault: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    requests: str | None = None
    preferred_windows: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    needs_verification: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    warranty_status: str = Field(max_length=20)
    version: int = 1
    loaner_required: bool = False
    service_type: str = Field(default="repair", max_length=20)
    awaiting_verification: bool = False
    dispatch_override: bool = False
    confirmed_details: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    linked_reports: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    network_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    assignment_seen_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    closable_since: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """Followed up satisfied with no complaint open, quiet since then; null while it is not
    closable (``Order.closable_since``). The periodic close looks for old ones."""
    anonymised_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """When the customer's personal data was erased, the order's retention being over (BIL-11):
    ``customer``, ``requests``, ``fault`` and ``linked_reports`` hold it erased since, and the
    order has no phone rows."""


class TimelineRow(IntakeTable, table=True):
    """An event seen on the bus for an order."""

    __tablename__ = "order_timeline"
    __table_args__ = (Index("ix_timeline_order_time", "order_id", "time"),)

    event_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=36)
    type: str = Field(max_length=100)
    version: int
    time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=100)
    succeeded: bool | None = None
    """The event's outcome where the status depends on it (``TimelineEntry.succeeded``)."""
    heard_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """When intake heard of the event (``TimelineEntry.heard_at``); null before migration 0011."""
    visit_id: str | None = Field(default=None, max_length=64)
    """The visit of an arrival, an end of visit or a move of a visit by scheduling
    (``TimelineEntry.visit_id``); null for other events, before migration 0012 (and, for
    scheduling's moves, before they were kept)."""


class OrderPhoneRow(IntakeTable, table=True):
    """Every phone of an order's customer, for the phone filter and duplicate detection (INT-8):
    the E.164 number, and the extension behind a switchboard (null: none)."""

    __tablename__ = "order_phone"
    __table_args__ = (Index("ix_order_phone_phone", "phone"),)

    order_id: str = Field(primary_key=True, max_length=36)
    phone: str = Field(primary_key=True, max_length=32)
    extension: str | None = Field(default=None, max_length=MAX_EXTENSION_DIGITS)


class SlaClockRow(IntakeTable, table=True):
    """One SLA clock of an order (INT-3, INT-7); the periodic check looks for due ones."""

    __tablename__ = "sla_clock"
    __table_args__ = (Index("ix_sla_clock_due", "settled", "due_at"),)

    order_id: str = Field(primary_key=True, max_length=36)
    clock: str = Field(primary_key=True, max_length=40)
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    stopped_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    breached_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    settled: bool = False
    """Met in time or reported: the periodic check no longer looks at it."""


class WarrantyPeriodRow(IntakeTable, table=True):
    """A warranty period an admin set for a product line (INT-5); overrides the policy's."""

    __tablename__ = "warranty_period"

    product_line: str = Field(primary_key=True, max_length=100)
    months: int
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_by: str = Field(max_length=200)
