"""Visits carry when their work was done (``completed_at``), indexed: the end of a visit that ended
completed, or the return of a unit the visit took back to the workshop. Call-back sampling (FBK-4)
and the missing-sheet check (FBK-8) select on it, so a take-back repair counts once its unit is
back.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_feedback_visit_completed", ["completed_at"], unique=False)
    # Until now only visits that ended completed counted, at their end; no return was applied.
    op.execute("UPDATE feedback_visit SET completed_at = closed_at WHERE outcome = 'completed'")


def downgrade() -> None:
    with op.batch_alter_table("feedback_visit", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_visit_completed")
        batch_op.drop_column("completed_at")
