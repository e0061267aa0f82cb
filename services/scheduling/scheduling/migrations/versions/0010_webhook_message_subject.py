"""Webhook messages name what they are about (``subject``: the order's id), indexed, so that an
order's messages are found without reading every stored body, e.g. to erase its personal data
when its retention is over (BIL-11). Messages stored until now are back-filled from their body's
envelope ``subject``.

Revision ID: 0010
Revises: 0009
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("webhook_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_webhook_message_subject", ["subject"], unique=False)
    messages = sa.table(
        "webhook_message",
        sa.column("id", sa.String),
        sa.column("payload", sa.Text),
        sa.column("subject", sa.String),
    )
    bind = op.get_bind()
    last = ""
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.payload)
            .where(messages.c.id > last)
            .order_by(messages.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            subject = _subject(row.payload)
            if subject is not None:
                bind.execute(
                    messages.update().where(messages.c.id == row.id).values(subject=subject)
                )
        last = rows[-1].id


def _subject(payload: str) -> str | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    subject = body.get("subject") if isinstance(body, dict) else None
    return subject if isinstance(subject, str) and len(subject) <= 200 else None


def downgrade() -> None:
    with op.batch_alter_table("webhook_message", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_message_subject")
        batch_op.drop_column("subject")
