"""Dispatch orders remember when the automatic placement last tried and failed to place them
(SCH-1), so that a periodic job tries them again (an order taken on a day nobody serving its area
works no longer waits for the next event about it). Orders awaiting assignment now that were
never assigned nor handed back are the automatic placement's: back-filled with when they were
received; the others are the dispatcher's: null.

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
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_placement_tried_at", sa.DateTime(timezone=True), nullable=True)
        )
    orders = sa.table(
        "dispatch_order",
        sa.column("order_id", sa.String),
        sa.column("status", sa.String),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("auto_placement_tried_at", sa.DateTime(timezone=True)),
    )
    audit = sa.table("dispatch_audit", sa.column("order_id", sa.String), sa.column("action", sa.String))
    ever_placed = (
        sa.select(audit.c.order_id)
        .where(
            audit.c.order_id == orders.c.order_id,
            audit.c.action.in_(["assign", "reassign", "return_to_centre"]),
        )
        .exists()
    )
    op.execute(
        orders.update()
        .where(orders.c.status == "awaiting_assignment", ~ever_placed)
        .values(auto_placement_tried_at=orders.c.received_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.drop_column("auto_placement_tried_at")
