"""Complaints filed about no order were stored with no network; a complaint's network is its
order's network or the centre (FBK-11), as the quality figures counted them, so they are the
centre's: the network's reconciliation (FBK-8) and the complaint list read them there too.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``feedback.domain.case.CENTRE``, as it was when this migration was written.
_CENTRE = "centre"

_complaint = sa.table(
    "feedback_complaint",
    sa.column("complaint_id", sa.String),
    sa.column("network_id", sa.String),
)


def upgrade() -> None:
    op.get_bind().execute(
        _complaint.update().where(_complaint.c.network_id.is_(None)).values(network_id=_CENTRE)
    )


def downgrade() -> None:
    # Complaints naming the centre cannot be told from those made so here: they stay.
    pass
