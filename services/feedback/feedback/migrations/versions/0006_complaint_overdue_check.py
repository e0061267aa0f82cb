"""Complaints carry when their current state runs past its SLA, until that is reported (FBK-10),
indexed: the overdue sweep finds them by index instead of reading every open complaint.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_complaint = sa.table(
    "feedback_complaint",
    sa.column("complaint_id", sa.String),
    sa.column("stage", sa.String),
    sa.column("overdue_check_at", sa.DateTime(timezone=True)),
    sa.column("data", sa.JSON),
)


def _check_at(data: dict[str, object]) -> datetime | None:
    """What the complaint's ``overdue_check_at`` is: its current state's SLA end, unless the
    state was left or its overdue was reported already."""
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        return None
    current = stages[-1]
    if current.get("left_at") or current.get("overdue_reported_at") or not current.get("due_at"):
        return None
    due_at = datetime.fromisoformat(str(current["due_at"]))
    return due_at.astimezone(UTC) if due_at.tzinfo is not None else due_at.replace(tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("feedback_complaint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overdue_check_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_feedback_complaint_overdue_check", ["overdue_check_at"], unique=False
        )
    connection = op.get_bind()
    open_complaints = connection.execute(
        sa.select(_complaint.c.complaint_id, _complaint.c.data).where(
            _complaint.c.stage != "closed"
        )
    ).all()
    for complaint_id, data in open_complaints:
        check_at = _check_at(data)
        if check_at is not None:
            connection.execute(
                _complaint.update()
                .where(_complaint.c.complaint_id == complaint_id)
                .values(overdue_check_at=check_at)
            )


def downgrade() -> None:
    with op.batch_alter_table("feedback_complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_complaint_overdue_check")
        batch_op.drop_column("overdue_check_at")
