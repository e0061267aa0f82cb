"""Partner networks may declare their own office hours (SCH-1): opening and closing time (local
HH:MM; closing 00:00 is midnight ending the day), the weekdays they open (0 = Monday) and whether
they open on public holidays. A network's time to answer an order it is given counts working
minutes within them. Networks registered before keep null in all four: the business calendar's
working periods and days, as before.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partner_network", schema=None) as batch_op:
        batch_op.add_column(sa.Column("office_opens", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("office_closes", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("office_weekdays", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("office_open_on_public_holidays", sa.Boolean(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_network", schema=None) as batch_op:
        batch_op.drop_column("office_open_on_public_holidays")
        batch_op.drop_column("office_weekdays")
        batch_op.drop_column("office_closes")
        batch_op.drop_column("office_opens")
