"""Every technician row carries a revision, set on each write to the table's highest + 1: each
replica keeps the roster it read until the table's (count, sum of revisions) changes, instead of
reading every technician for every order it places. Rows written before keep 0.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("technician", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("technician", schema=None) as batch_op:
        batch_op.drop_column("revision")
