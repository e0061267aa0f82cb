"""Every phone of an order's customer is in order_phone (INT-8, the phone filter).

Revision 0003 entered only the main phone of the orders taken before it. The repository now reads
an order's phone rows only when a command changes its phones, so the rows must be complete.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    orders = sa.table("orders", sa.column("id", sa.String), sa.column("customer", sa.JSON))
    order_phone = sa.table(
        "order_phone", sa.column("order_id", sa.String), sa.column("phone", sa.String)
    )
    after = ""
    while True:
        batch = bind.execute(
            sa.select(orders.c.id, orders.c.customer)
            .where(orders.c.id > after)
            .order_by(orders.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        ids = [order_id for order_id, _ in batch]
        have = {
            (order_id, phone)
            for order_id, phone in bind.execute(
                sa.select(order_phone.c.order_id, order_phone.c.phone).where(
                    order_phone.c.order_id.in_(ids)
                )
            )
        }
        missing = [
            {"order_id": order_id, "phone": phone}
            for order_id, customer in batch
            for phone in dict.fromkeys((customer or {}).get("phones") or [])
            if (order_id, phone) not in have
        ]
        if missing:
            bind.execute(order_phone.insert(), missing)
        after = ids[-1]


def downgrade() -> None:
    # The extra rows are correct at 0005 too (it wrote every phone of the orders it saved).
    pass
