"""Each network's fees waiting for the order's product line, listed by network (BIL-12).

`billing_pending_network_fee`: one row per order and network whose fees wait, with when that
network's earliest such work was done, indexed by network, for
`GET /v1/pending-network-fees?network_id=` (and a partner's list): the network's orders are
selected by the index, dated by its own work, without reading other networks' accounts.
Accounts stored before it get their rows from their state (`pending_network_fees`) here.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 500
TABLE = "billing_pending_network_fee"
BY_NETWORK = "ix_billing_pending_network_fee_network"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def pending_by_network(state: Any) -> dict[str, datetime]:
    """For each network of ``state``'s pending network fees, when its earliest work was done."""
    fees = state.get("pending_network_fees") if isinstance(state, dict) else None
    since: dict[str, datetime] = {}
    for fee in fees or []:
        if not isinstance(fee, dict):
            continue
        network, moment = fee.get("network_id"), _moment(fee.get("occurred_at"))
        if not isinstance(network, str) or moment is None:
            continue
        if network not in since or moment < since[network]:
            since[network] = moment
    return since


def upgrade() -> None:
    bind = op.get_bind()
    # Applied again over its own table (an upgrade re-run), it only fills the table again.
    if TABLE not in sa.inspect(bind).get_table_names():
        op.create_table(
            TABLE,
            sa.Column("order_id", sa.String(length=200), nullable=False),
            sa.Column("network_id", sa.String(length=64), nullable=False),
            sa.Column("pending_since", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("order_id", "network_id"),
        )
        op.create_index(
            BY_NETWORK, TABLE, ["network_id", "pending_since", "order_id"], unique=False
        )
    pending = sa.table(
        TABLE,
        sa.column("order_id", sa.String),
        sa.column("network_id", sa.String),
        sa.column("pending_since", sa.DateTime(timezone=True)),
    )
    account = sa.table(
        "billing_account",
        sa.column("order_id", sa.String),
        sa.column("state", sa.JSON),
        sa.column("network_fees_pending_since", sa.DateTime(timezone=True)),
    )
    bind.execute(pending.delete())
    after: str | None = None
    while True:
        # only accounts holding waiting fees, which 0011 dated
        query = (
            sa.select(account.c.order_id, account.c.state)
            .where(account.c.network_fees_pending_since.is_not(None))
            .order_by(account.c.order_id)
            .limit(PAGE)
        )
        if after is not None:
            query = query.where(account.c.order_id > after)
        rows = list(bind.execute(query))
        if not rows:
            return
        after = rows[-1].order_id
        values = [
            {"order_id": order_id, "network_id": network, "pending_since": since}
            for order_id, state in rows
            for network, since in sorted(pending_by_network(state).items())
        ]
        if values:
            bind.execute(pending.insert(), values)


def downgrade() -> None:
    op.drop_index(BY_NETWORK, table_name=TABLE)
    op.drop_table(TABLE)
