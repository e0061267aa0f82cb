"""Network fees re-priced and listed while they wait (BIL-12).

- `billing_settlement_item` indexed by order: a corrected product line re-prices the order's
  network fees, and those recorded before billing kept them on the order are found among every
  network's items without reading the whole table.
- `billing_account.network_fees_pending_since`, indexed with the order id for
  `GET /v1/pending-network-fees`: when the earliest work whose network fee waits for the
  order's product line was done (`pending_network_fees` in the account's JSON state); null when
  none waits. Accounts stored before it get it from their state here.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 500
BY_ORDER = "ix_billing_settlement_order"
PENDING = "ix_billing_account_network_fees_pending"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def network_fees_pending_since(state: Any) -> datetime | None:
    """When the earliest work of ``state``'s pending network fees was done."""
    fees = state.get("pending_network_fees") if isinstance(state, dict) else None
    moments = [
        moment
        for fee in fees or []
        if isinstance(fee, dict) and (moment := _moment(fee.get("occurred_at")))
    ]
    return min(moments, default=None)


def upgrade() -> None:
    bind = op.get_bind()
    # Applied again over its own column and indexes (an upgrade re-run from an earlier
    # revision), it only fills the column again.
    inspector = sa.inspect(bind)
    if BY_ORDER not in {i["name"] for i in inspector.get_indexes("billing_settlement_item")}:
        with op.batch_alter_table("billing_settlement_item", schema=None) as batch_op:
            batch_op.create_index(BY_ORDER, ["order_id"], unique=False)
    columns = {c["name"] for c in inspector.get_columns("billing_account")}
    indexes = {i["name"] for i in inspector.get_indexes("billing_account")}
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        if "network_fees_pending_since" not in columns:
            batch_op.add_column(
                sa.Column("network_fees_pending_since", sa.DateTime(timezone=True), nullable=True)
            )
        if PENDING not in indexes:
            batch_op.create_index(
                PENDING, ["network_fees_pending_since", "order_id"], unique=False
            )
    account = sa.table(
        "billing_account",
        sa.column("order_id", sa.String),
        sa.column("state", sa.JSON),
        sa.column("network_fees_pending_since", sa.DateTime(timezone=True)),
    )
    after: str | None = None
    while True:
        query = (
            sa.select(account.c.order_id, account.c.state).order_by(account.c.order_id).limit(PAGE)
        )
        if after is not None:
            query = query.where(account.c.order_id > after)
        rows = list(bind.execute(query))
        if not rows:
            return
        after = rows[-1].order_id
        for order_id, state in rows:
            since = network_fees_pending_since(state)
            if since is not None:
                bind.execute(
                    account.update()
                    .where(account.c.order_id == order_id)
                    .values(network_fees_pending_since=since)
                )


def downgrade() -> None:
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        batch_op.drop_index(PENDING)
        batch_op.drop_column("network_fees_pending_since")
    with op.batch_alter_table("billing_settlement_item", schema=None) as batch_op:
        batch_op.drop_index(BY_ORDER)
