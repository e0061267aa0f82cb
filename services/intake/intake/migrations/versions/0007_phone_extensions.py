"""Phones keep their extension: order_phone says which one (null: none).

Orders taken before this revision had their extensions dropped at intake, so null is right for
every existing row; the orders' customer JSON gains ``phone_extensions`` as orders are saved
(read as empty when absent).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_phone", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extension", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_phone", schema=None) as batch_op:
        batch_op.drop_column("extension")
