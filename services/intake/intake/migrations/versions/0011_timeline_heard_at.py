"""Timeline entries keep when intake heard of them: a fact the technician's app logged offline
is dated when it happened and heard when the app synced, so it is placed after the dispatch steps
heard before it and stops a clock started before it was heard (FLD-2, INT-3, INT-7).

Entries seen before this revision did not keep it: null reads as "heard at its time", so they
stay where they were.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heard_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.drop_column("heard_at")
