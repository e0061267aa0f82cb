"""Keep the partner networks' rate cards (BIL-12): `billing_rate_card`, one row per published
version of a network's card, each in force from its `effective_from`. A completed repair or
installation is owed to its network at the rate of the version in force when it was done; a
network without a card is paid the policy's flat fee, as before. Nothing to fill: no card
existed before.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Applied again over its own table (an upgrade re-run from an earlier revision), it keeps
    # the table and the cards in it.
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("billing_rate_card"):
        op.create_table(
            "billing_rate_card",
            sa.Column("network_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
            sa.Column("rates", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("network_id", "version"),
        )
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("billing_rate_card")}
    if "ix_billing_rate_card_network_effective" not in indexes:
        with op.batch_alter_table("billing_rate_card", schema=None) as batch_op:
            batch_op.create_index(
                "ix_billing_rate_card_network_effective",
                ["network_id", "effective_from"],
                unique=False,
            )


def downgrade() -> None:
    with op.batch_alter_table("billing_rate_card", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_rate_card_network_effective")
    op.drop_table("billing_rate_card")
