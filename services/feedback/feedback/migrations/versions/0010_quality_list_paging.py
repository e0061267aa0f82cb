"""Indexes for the quality lists read page by page (keyset paging): conduct findings oldest
first (of every status, or of one), fraud suspicions newest first, issues left open by when they
go to the company (FBK-6, FBK-8, FBK-12).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_conduct_finding", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_conduct_finding_raised", ["raised_at", "finding_id"], unique=False
        )
        batch_op.create_index(
            "ix_feedback_conduct_finding_status_raised",
            ["status", "raised_at", "finding_id"],
            unique=False,
        )
    with op.batch_alter_table("feedback_fraud", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_fraud_flagged", ["flagged_at", "fraud_id"], unique=False)
    with op.batch_alter_table("feedback_issue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_issue_company_due", ["company_due_at", "issue_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback_issue", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_issue_company_due")
    with op.batch_alter_table("feedback_fraud", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_fraud_flagged")
    with op.batch_alter_table("feedback_conduct_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_conduct_finding_status_raised")
        batch_op.drop_index("ix_feedback_conduct_finding_raised")
