"""Feedback's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

FEEDBACK_REGISTRY = registry()


class FeedbackTable(SQLModel, registry=FEEDBACK_REGISTRY):
    """Base of feedback's tables."""


class OrderEventRow(FeedbackTable, table=True):
    """An event of interest recorded on an order's file."""

    __tablename__ = "feedback_order_event"
    __table_args__ = (Index("ix_feedback_order_event_order_time", "order_id", "time"),)

    event_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    version: int
    time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=100)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
