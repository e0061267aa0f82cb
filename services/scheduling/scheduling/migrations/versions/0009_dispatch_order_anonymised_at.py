"""Dispatch orders remember when the customer's personal data was erased, their retention being
over (BIL-11): whatever is heard of such an order later is stored erased too. Orders kept until
now have had nothing erased: null.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.drop_column("anonymised_at")
