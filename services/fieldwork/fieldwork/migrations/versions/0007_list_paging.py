"""Visits carry when fieldwork heard of them (``created_at``, from the stored aggregate), indexed
with the technician and with the network, and coordination tickets are indexed by their next
check: the visit and ticket lists are read page by page in that order (keyset paging).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_visit = sa.table(
    "fieldwork_visit",
    sa.column("visit_id", sa.String),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("doc", sa.JSON),
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _created_at(doc: object, updated_at: datetime) -> datetime:
    """The visit's creation time in its document (always there: a required field of the
    aggregate); its last update for a document without one."""
    found = doc.get("created_at") if isinstance(doc, dict) else None
    return _utc(datetime.fromisoformat(str(found)) if found else updated_at)


def upgrade() -> None:
    with op.batch_alter_table("fieldwork_visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    visits = connection.execute(
        sa.select(_visit.c.visit_id, _visit.c.doc, _visit.c.updated_at)
    ).all()
    for visit_id, doc, updated_at in visits:
        connection.execute(
            _visit.update()
            .where(_visit.c.visit_id == visit_id)
            .values(created_at=_created_at(doc, updated_at))
        )
    with op.batch_alter_table("fieldwork_visit", schema=None) as batch_op:
        batch_op.alter_column(
            "created_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            "ix_fieldwork_visit_technician_created",
            ["technician_id", "created_at", "visit_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_fieldwork_visit_network_created",
            ["network_id", "created_at", "visit_id"],
            unique=False,
        )
    with op.batch_alter_table("fieldwork_ticket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fieldwork_ticket_check_due", ["next_check_due", "ticket_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fieldwork_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_fieldwork_ticket_check_due")
    with op.batch_alter_table("fieldwork_visit", schema=None) as batch_op:
        batch_op.drop_index("ix_fieldwork_visit_network_created")
        batch_op.drop_index("ix_fieldwork_visit_technician_created")
        batch_op.drop_column("created_at")
