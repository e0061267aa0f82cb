"""List the orders holding a reduction the centre has not approved (BIL-8):
`billing_account.held_unapproved_since`, indexed with the order id for `GET /v1/held-reductions`.

A quote issued with a waiver deducted that, as a late report showed, stays on an earlier quote
holds that part at issue (`held_at_issue` in the account's JSON state): not charged, waiting for
the centre's approval. The column is when the oldest accepted quote holding something was
accepted (`answered_at`, else `issued_at`); null when none does. Accounts stored before it get
it from their state here; a release before this one saving an account afterwards leaves the
column as it was, and the list leaves out an account that holds nothing any more.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 500


def _holds(quote: Any) -> bool:
    if not isinstance(quote, dict) or quote.get("status") != "accepted":
        return False
    try:
        return Decimal(str(quote.get("held_at_issue") or "0")) > 0
    except (InvalidOperation, ValueError):
        return False


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def held_unapproved_since(state: Any) -> datetime | None:
    """When the oldest accepted quote of ``state`` holding a reduction was accepted."""
    quotes = state.get("quotes") if isinstance(state, dict) else None
    moments = [
        moment
        for quote in quotes or []
        if _holds(quote)
        and (moment := _moment(quote.get("answered_at")) or _moment(quote.get("issued_at")))
    ]
    return min(moments, default=None)


def upgrade() -> None:
    bind = op.get_bind()
    # Applied again over its own column (an upgrade re-run from an earlier revision), it only
    # fills the column again.
    inspector = sa.inspect(bind)
    columns = {c["name"] for c in inspector.get_columns("billing_account")}
    indexes = {i["name"] for i in inspector.get_indexes("billing_account")}
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        if "held_unapproved_since" not in columns:
            batch_op.add_column(
                sa.Column("held_unapproved_since", sa.DateTime(timezone=True), nullable=True)
            )
        if "ix_billing_account_held_unapproved" not in indexes:
            batch_op.create_index(
                "ix_billing_account_held_unapproved",
                ["held_unapproved_since", "order_id"],
                unique=False,
            )
    account = sa.table(
        "billing_account",
        sa.column("order_id", sa.String),
        sa.column("state", sa.JSON),
        sa.column("held_unapproved_since", sa.DateTime(timezone=True)),
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
            since = held_unapproved_since(state)
            if since is not None:
                bind.execute(
                    account.update()
                    .where(account.c.order_id == order_id)
                    .values(held_unapproved_since=since)
                )


def downgrade() -> None:
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_account_held_unapproved")
        batch_op.drop_column("held_unapproved_since")
