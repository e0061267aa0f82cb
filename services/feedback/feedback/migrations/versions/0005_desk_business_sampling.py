"""Desk business for call-back sampling (FBK-4): the desk work table, and the stratum of each
sampled call-back (a technician or a desk clerk) so later draws balance clerks too.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_desk_work",
        sa.Column("work_id", sa.String(length=220), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("clerk", sa.String(length=200), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sampled_on", sa.Date(), nullable=True),
        sa.Column("sample_selected", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("work_id"),
    )
    with op.batch_alter_table("feedback_desk_work", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_desk_work_done", ["done_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_feedback_desk_work_order_id"), ["order_id"], unique=False
        )
    with op.batch_alter_table("feedback_call_back", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stratum", sa.String(length=200), nullable=True))
    # Every call-back sampled so far was a visit's, balanced on its technician.
    op.execute(
        "UPDATE feedback_call_back SET stratum = COALESCE(technician_id, 'unassigned') "
        "WHERE reason_rule = 'FBK-4'"
    )


def downgrade() -> None:
    with op.batch_alter_table("feedback_call_back", schema=None) as batch_op:
        batch_op.drop_column("stratum")
    with op.batch_alter_table("feedback_desk_work", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_desk_work_order_id"))
        batch_op.drop_index("ix_feedback_desk_work_done")
    op.drop_table("feedback_desk_work")
