"""Intake's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

INTAKE_REGISTRY = registry()


class IntakeTable(SQLModel, registry=INTAKE_REGISTRY):
    """Base of intake's tables."""


class OrderRow(IntakeTable, table=True):
    """An order; the value objects are stored as JSON, the searchable fields as columns."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_primary_phone", "primary_phone"),
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
