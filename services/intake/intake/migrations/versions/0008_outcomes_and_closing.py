"""Timeline entries keep the outcome the status depends on (a unit returned unrepaired, a
call-back that found the customer dissatisfied), and orders say since when they are closable.

Entries seen before this revision did not keep it: null reads as "not said", so a unit returned
before it stays completed, and an order followed up before it is not closed by the sweep until a
later call-back says the customer is satisfied.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("succeeded", sa.Boolean(), nullable=True))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("closable_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_orders_closable_since", ["closable_since"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_closable_since")
        batch_op.drop_column("closable_since")
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.drop_column("succeeded")
