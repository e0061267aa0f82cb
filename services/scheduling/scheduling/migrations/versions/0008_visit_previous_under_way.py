"""A visit booked while someone was on the way to the visit it replaced says so
(``previous_under_way`` in ``dispatch_order.visits``, SCH-10): an arrival that crossed a chain of
postponements brings an earlier visit back only while nobody had left for any visit after it.

Back-fill for visits booked before: a postponement of a visit someone had left for called that
trip off, audited as ``trip_called_off`` at the very instant it booked the next visit (one
command, one clock reading). Visits booked unended by other means while someone was on the way
(an order reopened at intake meanwhile) left no such trace and stay unmarked.

``supersedes_unended`` and ``previous_appointment`` of visits booked before those keys existed
are not back-filled: the appointment a superseded visit had is stored nowhere once the next
visit replaced it (the order row keeps the current appointment only, the audit records no
windows, and the events that carried it leave the outbox after publication).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back naive; every one is stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade() -> None:
    bind = op.get_bind()
    order = sa.table("dispatch_order", sa.column("order_id", sa.String), sa.column("visits", sa.JSON))
    audit = sa.table(
        "dispatch_audit",
        sa.column("order_id", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String),
    )
    called_off: dict[str, set[datetime]] = {}
    for order_id, at in bind.execute(
        sa.select(audit.c.order_id, audit.c.at).where(audit.c.action == "trip_called_off")
    ):
        called_off.setdefault(order_id, set()).add(_utc(at))
    for order_id, moments in called_off.items():
        visits = bind.execute(
            sa.select(order.c.visits).where(order.c.order_id == order_id)
        ).scalar_one_or_none()
        marked = [
            {**visit, "previous_under_way": True}
            if visit.get("supersedes_unended")
            and _utc(datetime.fromisoformat(visit["created_at"])) in moments
            else visit
            for visit in visits or []
        ]
        if marked != visits:
            bind.execute(
                order.update().where(order.c.order_id == order_id).values(visits=marked)
            )


def downgrade() -> None:
    # The key is left in place: earlier revisions' code ignores it and drops it on its next save.
    pass
