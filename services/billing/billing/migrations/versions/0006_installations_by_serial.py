"""Keep the installations the platform completed by the unit's serial: a later order of the same
unit prices its set-up by that date (BIL-5).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _serial_key(serial: str) -> str:
    # As billing.domain.installations.serial_key (INT-8); a migration does not import the app.
    return "".join(serial.split()).casefold()


def upgrade() -> None:
    op.create_table(
        "billing_installation",
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("product_line", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("serial", sa.String(), nullable=False),
        sa.Column("serial_key", sa.String(), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("billing_installation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_installation_unit", ["product_line", "serial_key"], unique=False
        )
    # Installations heard before this migration, as far as the order files' event summaries
    # tell the unit's line and serial (OrderCreated / OrderVerified) and the date
    # (InstallationCompleted).
    bind = op.get_bind()
    event = sa.table(
        "billing_order_event",
        sa.column("order_id", sa.String),
        sa.column("type", sa.String),
        sa.column("time", sa.DateTime(timezone=True)),
        sa.column("summary", sa.JSON),
    )
    installation = sa.table(
        "billing_installation",
        sa.column("order_id", sa.String),
        sa.column("product_line", sa.String),
        sa.column("serial", sa.String),
        sa.column("serial_key", sa.String),
        sa.column("installed_on", sa.Date),
    )
    units: dict[str, dict[str, Any]] = {}
    rows = bind.execute(
        sa.select(event.c.order_id, event.c.type, event.c.summary)
        .where(event.c.type.in_(["OrderCreated", "OrderVerified", "InstallationCompleted"]))
        .order_by(event.c.time)
    )
    for order_id, kind, summary in rows:
        unit = units.setdefault(order_id, {})
        summary = summary or {}
        if kind == "InstallationCompleted":
            unit["installed_on"] = summary.get("installed_on") or unit.get("installed_on")
            continue
        for field in ("line", "serial"):
            if summary.get(f"product.{field}"):
                unit[field] = summary[f"product.{field}"]
    account = sa.table(
        "billing_account", sa.column("order_id", sa.String), sa.column("state", sa.JSON)
    )
    for order_id, unit in units.items():
        serial, line, day = unit.get("serial"), unit.get("line"), unit.get("installed_on")
        if not (isinstance(serial, str) and _serial_key(serial)):
            continue
        # The account keeps its unit's serial now: an open order's set-up is dated by it.
        state = bind.execute(
            sa.select(account.c.state).where(account.c.order_id == order_id)
        ).scalar_one_or_none()
        if state is not None and not state.get("product_serial"):
            known = {"product_serial": serial}
            if day:
                known["installation_completed_on"] = str(day)
            bind.execute(
                account.update()
                .where(account.c.order_id == order_id)
                .values(state={**state, **known})
            )
        if not (line and day):
            continue
        bind.execute(
            installation.insert().values(
                order_id=order_id,
                product_line=line,
                serial=serial,
                serial_key=_serial_key(serial),
                installed_on=date.fromisoformat(str(day)),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_installation", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_installation_unit")
    op.drop_table("billing_installation")
