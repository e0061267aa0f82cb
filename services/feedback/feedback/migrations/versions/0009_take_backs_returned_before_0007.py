"""Visits whose taken-back unit came back before revision 0007 count their work done at its
return, as UnitReturned heard now makes them (``Case._unit_returned``, ``Visit.work_done_at``):
0007 counted only visits that ended completed, and the releases before it did not apply
UnitReturned at all, so such a visit kept ``completed_at`` null and was never sampled for a
call-back (FBK-4) nor checked for its sign-off sheet (FBK-8).

The order file kept every UnitTakenBack and UnitReturned heard (``feedback_order_event``): each
visit learns the receipt of the unit it took back (so a unit still in the workshop is matched
by its receipt when it comes back) and, for a unit returned, when and whether repaired, in the
order the events happened; ``completed_at`` is then the return of a unit back repaired. Visits
that heard a return already (the live handler) are left as they are.
A migration does not import the app: the few lines of the handler it follows are repeated here.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_event = sa.table(
    "feedback_order_event",
    sa.column("event_id", sa.String),
    sa.column("order_id", sa.String),
    sa.column("type", sa.String),
    sa.column("time", sa.DateTime(timezone=True)),
    sa.column("summary", sa.JSON),
)
_visit = sa.table(
    "feedback_visit",
    sa.column("order_id", sa.String),
    sa.column("visit_id", sa.String),
    sa.column("outcome", sa.String),
    sa.column("closed_at", sa.DateTime(timezone=True)),
    sa.column("completed_at", sa.DateTime(timezone=True)),
    sa.column("data", sa.JSON),
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(moment: datetime | str) -> datetime:
    """An aware UTC datetime of a stored time (a naive one is UTC)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _json_time(moment: datetime) -> str:
    """A time as the case's pydantic models write it."""
    return moment.isoformat().replace("+00:00", "Z")


class _Visit:
    """One visit row and the state the take-back events give it."""

    def __init__(self, row: Any) -> None:
        self.visit_id: str = row.visit_id
        self.outcome: str | None = row.outcome
        self.closed_at: datetime | None = None if row.closed_at is None else _utc(row.closed_at)
        self.completed_at: datetime | None = row.completed_at
        self.data: dict[str, Any] = dict(row.data)
        self.heard_return = self.data.get("unit_returned_at") is not None
        self.changed = False

    def set(self, field: str, value: object) -> None:
        if self.data.get(field) != value:
            self.data[field] = value
            self.changed = True


def _take_back_visit(visits: list[_Visit], receipt: str | None) -> _Visit | None:
    """The visit that took back the unit of this receipt, else the latest that took one
    (``Case._take_back_visit``)."""
    found = next(
        (v for v in visits if receipt and v.data.get("take_back_receipt") == receipt), None
    )
    if found is not None:
        return found
    taken = [v for v in visits if v.outcome == "taken_back"]
    return max(taken, key=lambda v: (v.closed_at or _EPOCH, v.visit_id), default=None)


def _apply(visits: list[_Visit], kind: str, summary: dict[str, Any]) -> None:
    receipt = summary.get("receipt_number")
    if kind == "UnitTakenBack":
        visit = next((v for v in visits if v.visit_id == summary.get("visit_id")), None)
        if visit is not None and receipt and not visit.data.get("take_back_receipt"):
            visit.set("take_back_receipt", receipt)
        return
    visit = _take_back_visit(visits, receipt)
    if visit is None or visit.heard_return or not summary.get("returned_at"):
        return
    visit.set("unit_returned_at", _json_time(_utc(summary["returned_at"])))
    visit.set("unit_repaired", summary.get("repaired", True) is not False)
    visit.set("unit_returned_on_visit", summary.get("visit_id"))


def _work_done_at(visit: _Visit) -> datetime | None:
    """``Visit.work_done_at`` for a visit that took its unit back."""
    if visit.data.get("unit_repaired") and visit.data.get("unit_returned_at"):
        return _utc(visit.data["unit_returned_at"])
    return None


def upgrade() -> None:
    connection = op.get_bind()
    events = connection.execute(
        sa.select(_event.c.order_id, _event.c.type, _event.c.summary)
        .where(_event.c.type.in_(["UnitTakenBack", "UnitReturned"]))
        .order_by(_event.c.order_id, _event.c.time, _event.c.event_id)
    ).all()
    by_order: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for order_id, kind, summary in events:
        by_order.setdefault(order_id, []).append((kind, dict(summary or {})))
    for order_id, heard in by_order.items():
        rows = connection.execute(
            sa.select(_visit).where(_visit.c.order_id == order_id).order_by(_visit.c.visit_id)
        ).all()
        visits = [_Visit(row) for row in rows]
        for kind, summary in heard:
            _apply(visits, kind, summary)
        for visit in visits:
            if not visit.changed:
                continue
            values: dict[str, Any] = {"data": visit.data}
            if visit.outcome == "taken_back" and visit.completed_at is None:
                values["completed_at"] = _work_done_at(visit)
            connection.execute(
                _visit.update()
                .where(_visit.c.order_id == order_id, _visit.c.visit_id == visit.visit_id)
                .values(**values)
            )


def downgrade() -> None:
    """Nothing to undo: the visits hold what UnitReturned heard now would have given them."""
