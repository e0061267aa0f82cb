"""Complaints carry when their current state's SLA runs out (FBK-10), reported or not, and none
once closed, indexed: the follow-up team lists open complaints most overdue first, page by page.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_complaint = sa.table(
    "feedback_complaint",
    sa.column("complaint_id", sa.String),
    sa.column("stage", sa.String),
    sa.column("due_at", sa.DateTime(timezone=True)),
    sa.column("data", sa.JSON),
)


def _due_at(data: dict[str, object]) -> datetime | None:
    """The SLA end of the complaint's current state, if it has one."""
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages or not stages[-1].get("due_at"):
        return None
    due_at = datetime.fromisoformat(str(stages[-1]["due_at"]))
    return due_at.astimezone(UTC) if due_at.tzinfo is not None else due_at.replace(tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("feedback_complaint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_feedback_complaint_due", ["due_at", "complaint_id"], unique=False
        )
    connection = op.get_bind()
    open_complaints = connection.execute(
        sa.select(_complaint.c.complaint_id, _complaint.c.data).where(
            _complaint.c.stage != "closed"
        )
    ).all()
    for complaint_id, data in open_complaints:
        due_at = _due_at(data)
        if due_at is not None:
            connection.execute(
                _complaint.update()
                .where(_complaint.c.complaint_id == complaint_id)
                .values(due_at=due_at)
            )


def downgrade() -> None:
    with op.batch_alter_table("feedback_complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_complaint_due")
        batch_op.drop_column("due_at")
