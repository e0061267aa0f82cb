"""Dispatch orders know their service type: an installation is planned with its own on-site
minutes. Orders taken before are repairs, as OrderCreated's default says.

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
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "service_type", sa.String(length=20), nullable=False, server_default="repair"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("dispatch_order", schema=None) as batch_op:
        batch_op.drop_column("service_type")
