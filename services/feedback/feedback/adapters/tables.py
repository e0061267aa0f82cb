"""Feedback's tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Date, DateTime, Index, Numeric, UniqueConstraint
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


class CaseRow(FeedbackTable, table=True):
    """What feedback knows of an order (its visits are rows of ``feedback_visit``)."""

    __tablename__ = "feedback_case"

    order_id: str = Field(primary_key=True, max_length=200)
    network_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class VisitRow(FeedbackTable, table=True):
    """One visit of an order, with what sampling and the sheet check did with it."""

    __tablename__ = "feedback_visit"
    __table_args__ = (
        Index("ix_feedback_visit_closed", "closed_at"),
        Index("ix_feedback_visit_arrived", "arrived_at"),
        Index("ix_feedback_visit_completed", "completed_at"),
    )

    order_id: str = Field(primary_key=True, max_length=200)
    visit_id: str = Field(primary_key=True, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    outcome: str | None = Field(default=None, max_length=30)
    sign_off: str | None = Field(default=None, max_length=20)
    arrived_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """When the visit's work was done (``Visit.work_done_at``): its end when it ended completed,
    the return of the unit it took back to the workshop; null while not done."""
    sampled_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    """The run day of the draw that considered this visit (FBK-4)."""
    sample_selected: bool | None = None
    sheet_flagged: bool = False
    """A missing sign-off sheet was already flagged (FBK-8)."""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DeskWorkRow(FeedbackTable, table=True):
    """Business done at a service-hall desk, with what sampling did with it (FBK-4)."""

    __tablename__ = "feedback_desk_work"
    __table_args__ = (Index("ix_feedback_desk_work_done", "done_at"),)

    work_id: str = Field(primary_key=True, max_length=220)
    order_id: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=20)
    clerk: str | None = Field(default=None, max_length=200)
    done_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sampled_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    """The run day of the draw that considered this work (FBK-4)."""
    sample_selected: bool | None = None


class CallBackRow(FeedbackTable, table=True):
    """A call-back task."""

    __tablename__ = "feedback_call_back"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_feedback_call_back_dedupe"),
        Index("ix_feedback_call_back_queue", "status", "not_before"),
        Index("ix_feedback_call_back_order", "order_id"),
    )

    task_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200)
    reason_rule: str = Field(max_length=10)
    status: str = Field(max_length=20)
    dedupe_key: str = Field(max_length=300)
    visit_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    sample_rate: int | None = None
    """The sampling rate that picked it (FBK-4 tasks only)."""
    stratum: str | None = Field(default=None, max_length=200)
    """The front-line worker (technician or desk clerk) the draw balanced it on (FBK-4 only)."""
    claimed_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    not_before: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ComplaintRow(FeedbackTable, table=True):
    """A complaint and its way round the loop."""

    __tablename__ = "feedback_complaint"
    __table_args__ = (
        Index("ix_feedback_complaint_filed", "filed_at"),
        Index("ix_feedback_complaint_overdue_check", "overdue_check_at"),
        Index("ix_feedback_complaint_due", "due_at", "complaint_id"),
    )

    complaint_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200)
    stage: str = Field(max_length=20)
    level: int
    staff_fault_class: str | None = Field(default=None, max_length=1)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    filed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    overdue_check_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """When the current state's SLA runs out, until that is reported (FBK-10): the sweep's index."""
    due_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    """When the current state's SLA runs out, reported or not; None once closed (FBK-10): the
    list of open complaints most overdue first."""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ConductFindingRow(FeedbackTable, table=True):
    """A fair/poor answer on punctuality or dress, followed up (FBK-6)."""

    __tablename__ = "feedback_conduct_finding"
    # GET /v1/conduct-findings: oldest first, of every status or of one, page by page.
    __table_args__ = (
        Index("ix_feedback_conduct_finding_raised", "raised_at", "finding_id"),
        Index("ix_feedback_conduct_finding_status_raised", "status", "raised_at", "finding_id"),
    )

    finding_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200)
    task_id: str = Field(max_length=36)
    aspect: str = Field(max_length=20)
    grade: str = Field(max_length=10)
    status: str = Field(max_length=20)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    raised_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    note: str | None = Field(default=None, max_length=2000)


class FraudRow(FeedbackTable, table=True):
    """A fraud suspicion flagged to a network (FBK-8)."""

    __tablename__ = "feedback_fraud"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_feedback_fraud_dedupe"),
        Index("ix_feedback_fraud_network_time", "network_id", "flagged_at"),
        # GET /v1/fraud-suspicions: newest first, page by page.
        Index("ix_feedback_fraud_flagged", "flagged_at", "fraud_id"),
    )

    fraud_id: str = Field(primary_key=True, max_length=36)
    dedupe_key: str = Field(max_length=300)
    order_id: str = Field(max_length=200)
    network_id: str = Field(max_length=64)
    signal: str = Field(max_length=40)
    visit_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=2000)
    reported_amount: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(14, 2), nullable=True)
    )
    billed_amount: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(14, 2), nullable=True)
    )
    flagged_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class IssueRow(FeedbackTable, table=True):
    """An issue left open after a visit (FBK-12)."""

    __tablename__ = "feedback_issue"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_feedback_issue_dedupe"),
        # GET /v1/issues: the soonest to go to the company first, page by page.
        Index("ix_feedback_issue_company_due", "company_due_at", "issue_id"),
    )

    issue_id: str = Field(primary_key=True, max_length=36)
    dedupe_key: str = Field(max_length=300)
    order_id: str = Field(max_length=200)
    visit_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    network_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500)
    level: str | None = Field(default=None, max_length=20)
    opened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    department_due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    company_due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    department_escalated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    company_escalated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    resolved_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    resolution: str | None = Field(default=None, max_length=2000)


class SamplingRunRow(FeedbackTable, table=True):
    """One day's sampling draw (FBK-4): run once per day."""

    __tablename__ = "feedback_sampling_run"

    run_day: date = Field(sa_column=Column(Date, primary_key=True))
    ran_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
