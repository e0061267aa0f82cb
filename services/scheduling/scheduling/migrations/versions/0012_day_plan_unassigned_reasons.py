"""Day plans keep why each job left out could not be planned, so that reading a plan later
(``GET /v1/plans/{day}``) says it as the optimisation did. Plans stored before have no reasons.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("day_plan", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unassigned_reasons", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("day_plan", schema=None) as batch_op:
        batch_op.drop_column("unassigned_reasons")
