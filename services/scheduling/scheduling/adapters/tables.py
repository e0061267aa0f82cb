"""Scheduling's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

SCHEDULING_REGISTRY = registry()


class SchedulingTable(SQLModel, registry=SCHEDULING_REGISTRY):
    """Base of scheduling's tables."""


class DispatchOrderRow(SchedulingTable, table=True):
    """An order as dispatch knows it."""

    __tablename__ = "dispatch_order"
    __table_args__ = (Index("ix_dispatch_order_queue", "status", "emergency", "received_at"),)

    order_id: str = Field(primary_key=True, max_length=36)
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    product_line: str = Field(max_length=100)
    emergency: bool = False
    needs_verification: list[Any] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    loaner_required: bool = False
    status: str = Field(max_length=40)
