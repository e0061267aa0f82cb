"""Timeline entries of an arrival or an end of visit keep their visit: a technician is on site
visit by visit, and a visit whose end was seen is over whatever order its events sort in
(INT-7, SCH-12).

Entries seen before this revision did not keep it: null reads as before, an arrival ended by
any end of visit after it.

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
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visit_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.drop_column("visit_id")
