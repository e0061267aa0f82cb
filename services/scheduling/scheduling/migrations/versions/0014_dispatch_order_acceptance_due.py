"""Dispatch orders record by when the network given them must accept or reject them (SCH-1):
working time on the business calendar (given at 23:00, 09:30 the next working day), an
emergency's wall-clock time (INT-7). The acceptance sweep selects due orders by it (indexed).
Orders a network holds unanswered now were given 30 wall-clock minutes (the policy's
`network_accept_minutes` when the revision was written): back-filled with `assigned_at` plus
that, as they were told; the others: null.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NETWORK_ACCEPT_MINUTES = 30
"""The shipped `network_accept_minutes` (a migration does not read the policy file); it only
matters for the few orders awaiting an answer while the service upgrades."""


def upgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("acceptance_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_dispatch_order_acceptance_due", ["acceptance_due_at"], unique=False
        )
    orders = sa.table(
        "dispatch_order",
        sa.column("order_id", sa.String),
        sa.column("status", sa.String),
        sa.column("assignee_kind", sa.String),
        sa.column("assigned_at", sa.DateTime(timezone=True)),
        sa.column("network_accepted_at", sa.DateTime(timezone=True)),
        sa.column("acceptance_due_at", sa.DateTime(timezone=True)),
    )
    awaiting = sa.select(orders.c.order_id, orders.c.assigned_at).where(
        orders.c.status == "assigned",
        orders.c.assignee_kind == "network",
        orders.c.network_accepted_at.is_(None),
        orders.c.assigned_at.is_not(None),
    )
    connection = op.get_bind()
    for order_id, assigned_at in connection.execute(awaiting).all():
        # computed here, not in SQL: interval arithmetic differs between SQLite and PostgreSQL
        connection.execute(
            orders.update()
            .where(orders.c.order_id == order_id)
            .values(acceptance_due_at=assigned_at + timedelta(minutes=NETWORK_ACCEPT_MINUTES))
        )


def downgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.drop_index("ix_dispatch_order_acceptance_due")
        batch_op.drop_column("acceptance_due_at")
