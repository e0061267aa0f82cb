"""Fieldwork's tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

FIELDWORK_REGISTRY = registry()


class FieldworkTable(SQLModel, registry=FIELDWORK_REGISTRY):
    """Base of fieldwork's tables."""


class OrderEventRow(FieldworkTable, table=True):
    """An event of interest recorded on an order's file."""

    __tablename__ = "fieldwork_order_event"
    __table_args__ = (Index("ix_fieldwork_order_event_order_time", "order_id", "time"),)

    event_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    version: int
    time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=100)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OrderContextRow(FieldworkTable, table=True):
    """What fieldwork knows of an order (from intake's events)."""

    __tablename__ = "fieldwork_order"

    order_id: str = Field(primary_key=True, max_length=200)
    doc: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class VisitRow(FieldworkTable, table=True):
    """A visit: its state and technician as columns, the rest of the aggregate as a document."""

    __tablename__ = "fieldwork_visit"
    __table_args__ = (
        Index("ix_fieldwork_visit_order", "order_id"),
        Index("ix_fieldwork_visit_technician_state", "technician_id", "state"),
        Index("ix_fieldwork_visit_network", "network_id"),
        # GET /v1/visits: a technician's or a network's visits, oldest first, page by page.
        Index("ix_fieldwork_visit_technician_created", "technician_id", "created_at", "visit_id"),
        Index("ix_fieldwork_visit_network_created", "network_id", "created_at", "visit_id"),
    )

    visit_id: str = Field(primary_key=True, max_length=200)
    order_id: str = Field(max_length=200)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=30)
    arrived_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    """When fieldwork heard of the visit (the aggregate's ``created_at``): the list's order."""
    doc: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LoanerRow(FieldworkTable, table=True):
    """A loaner unit of the inventory (FLD-6)."""

    __tablename__ = "fieldwork_loaner"

    serial: str = Field(primary_key=True, max_length=100)
    product_line: str = Field(max_length=100)
    state: str = Field(max_length=20)
    condition: str = Field(max_length=200)
    order_id: str | None = Field(default=None, max_length=200)
    visit_id: str | None = Field(default=None, max_length=200)
    receipt_number: str | None = Field(default=None, max_length=100)
    due_back: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    updated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class TakeBackRow(FieldworkTable, table=True):
    """A unit at the workshop (FLD-6)."""

    __tablename__ = "fieldwork_take_back"
    __table_args__ = (Index("ix_fieldwork_take_back_open", "returned_at", "promised_return_date"),)

    receipt_number: str = Field(primary_key=True, max_length=100)
    order_id: str = Field(max_length=200, index=True)
    promised_return_date: date = Field(sa_column=Column(Date, nullable=False))
    returned_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    loaner_overdue_reported_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """When the loaner kept at the unit's return was reported not collected in time (FLD-6): a
    column, so the sweep passes over the take-backs already reported."""
    doc: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TicketRow(FieldworkTable, table=True):
    """A coordination ticket (FLD-15)."""

    __tablename__ = "fieldwork_ticket"
    # GET /v1/coordination-tickets: the next check due first, page by page.
    __table_args__ = (Index("ix_fieldwork_ticket_check_due", "next_check_due", "ticket_id"),)

    ticket_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200, unique=True)
    owner: str = Field(max_length=100)
    next_check_due: date = Field(sa_column=Column(Date, nullable=False))
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    doc: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ClientActionRow(FieldworkTable, table=True):
    """An action of the offline app, by its client id: replays get the stored result."""

    __tablename__ = "fieldwork_client_action"

    scope: str = Field(primary_key=True, max_length=100)
    """Who sent it (the key's technician, or the key id)."""
    client_id: str = Field(primary_key=True, max_length=100)
    visit_id: str = Field(max_length=200)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(max_length=20)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
