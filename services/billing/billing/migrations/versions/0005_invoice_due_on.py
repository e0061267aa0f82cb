"""Track undelivered invoices by their promised date: the BIL-7 sweep reports overdue ones.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_due_on", sa.Date(), nullable=True))
        batch_op.create_index("ix_billing_account_invoice_due_on", ["invoice_due_on"], unique=False)
    # Accounts with invoices issued before this migration: the earliest promised date of an
    # invoice not yet delivered, read from the account's JSON state.
    bind = op.get_bind()
    account = sa.table(
        "billing_account",
        sa.column("order_id", sa.String),
        sa.column("state", sa.JSON),
        sa.column("invoice_due_on", sa.Date),
    )
    for order_id, state in bind.execute(sa.select(account.c.order_id, account.c.state)):
        promised = [
            invoice["promised_by"]
            for invoice in (state or {}).get("invoices", [])
            if invoice.get("status") != "delivered" and invoice.get("promised_by")
        ]
        if promised:
            bind.execute(
                account.update()
                .where(account.c.order_id == order_id)
                .values(invoice_due_on=date.fromisoformat(min(promised)))
            )


def downgrade() -> None:
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_account_invoice_due_on")
        batch_op.drop_column("invoice_due_on")
