"""Dispatch orders record the day of the shift keeping their appointment when it was kept on a
later shift than the first it fits inside alone, the first being ruled out by travel or the
technician's other jobs (SCH-1, SCH-3): the job counts on that day. Null, and for existing
orders: the first shift's day, worked out afresh from the holder's shifts (as they were kept).

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kept_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.drop_column("kept_on")
