"""Give every waiver approved before waivers had ids its `waiver_id` (BIL-8): the charge lists it
and `GET /v1/orders/{order_id}/waivers/{waiver_id}` reads it, as for waivers approved since.

Waivers live in the account's JSON state (`billing_account.state["waivers"]`), one entry per
*portion*: an approval takes what it waives off the latest accepted quote and what exceeds
that quote's charge off the quotes accepted before, latest first, appending one portion per
quote, all with the same `approved_by`, `reason` and `at` (the approval's instant, read once and
stored to the microsecond). Carrying a waiver to the quote accepted in its quote's place rewrites
that portion where it stands (`quote_id`, `amount`, `new_total`, `carried_from`,
`approved_amount`): it keeps its place in the list, and the approval it came from is the quote
it names in `carried_from`.

Portions without an id are grouped into one approval only where the stored data proves it:
they stand next to each other in the list, with the same `at`, `approved_by` and `reason`; each
is on another quote than the others (the quote it was approved on: `carried_from`, else
`quote_id`), since an approval takes one portion off each quote; and each but the last took its
quote to zero (`new_total` 0), since an approval goes on to an earlier quote only for what the
later one could not take. A portion carried since has had its `new_total` rewritten, so that
test is not asked of it. Two approvals on one order are two requests committed one after the
other, whose instants differ; so portions failing any test are separate approvals, each with an
id of its own (splitting one approval leaves each part readable; merging two would show one
approval nobody made). Waivers approved since waivers had ids keep theirs, and are never
grouped with those without.

The ids are UUIDs derived from the order and the place of the approval's first portion in the
list, so that upgrading a copy of the same data again gives the same ids. Waivers that have an
id (a non-empty string) are left as they are: running this again changes nothing. A row
changed is written with its `version` bumped, and only if no one changed it meanwhile (else it
is read again), so that a replica of the previous release still serving cannot write back a
state it read before: its save fails and is retried on the state with ids.

Downgrade keeps the ids: the previous release reads `waiver_id`.

Revision ID: 0008
Revises: 0007
"""

import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 500
NAMESPACE = uuid.UUID("5b0d1c0e-8f1e-5c8a-9a7e-0008a1e1d5a0")
"""Of the ids given here (uuid5 of `<order_id>/<place of the approval's first portion>`)."""


def _lacks_id(waiver: dict[str, Any]) -> bool:
    value = waiver.get("waiver_id")
    return not (isinstance(value, str) and value.strip())


def _approved_on(waiver: dict[str, Any]) -> Any:
    return waiver.get("carried_from") or waiver.get("quote_id")


def _took_its_quote_to_zero(waiver: dict[str, Any]) -> bool:
    try:
        return Decimal(str(waiver.get("new_total"))) == 0
    except (InvalidOperation, ValueError):
        return False


def _same_approval(portions: list[dict[str, Any]], waiver: dict[str, Any]) -> bool:
    """Whether ``waiver``, stored right after ``portions``, was approved with them."""
    last = portions[-1]
    return (
        all(
            waiver.get(key) is not None and waiver.get(key) == last.get(key)
            for key in ("at", "approved_by", "reason")
        )
        and _approved_on(waiver) not in {_approved_on(p) for p in portions}
        and (last.get("carried_from") is not None or _took_its_quote_to_zero(last))
    )


def with_ids(order_id: str, waivers: list[Any]) -> list[Any] | None:
    """``waivers`` with an id on each portion that lacked one, one id per approval; None when
    none lacked one."""
    approvals: list[list[int]] = []
    current: list[int] = []
    for n, waiver in enumerate(waivers):
        if not isinstance(waiver, dict) or not _lacks_id(waiver):
            current = []
            continue
        if current and _same_approval([waivers[i] for i in current], waiver):
            current.append(n)
        else:
            current = [n]
            approvals.append(current)
    if not approvals:
        return None
    result = [dict(w) if isinstance(w, dict) else w for w in waivers]
    for portions in approvals:
        waiver_id = str(uuid.uuid5(NAMESPACE, f"{order_id}/{portions[0]}"))
        for n in portions:
            result[n]["waiver_id"] = waiver_id
    return result


def upgrade() -> None:
    bind = op.get_bind()
    account = sa.table(
        "billing_account",
        sa.column("order_id", sa.String),
        sa.column("version", sa.Integer),
        sa.column("state", sa.JSON),
    )
    after: str | None = None
    while True:
        query = sa.select(account.c.order_id).order_by(account.c.order_id).limit(PAGE)
        if after is not None:
            query = query.where(account.c.order_id > after)
        order_ids = list(bind.execute(query).scalars())
        if not order_ids:
            return
        after = order_ids[-1]
        for order_id in order_ids:
            _give_ids(bind, account, order_id)


def _give_ids(bind: sa.Connection, account: Any, order_id: str) -> None:
    while True:
        row = bind.execute(
            sa.select(account.c.version, account.c.state).where(account.c.order_id == order_id)
        ).one()
        state = row.state
        waivers = state.get("waivers") if isinstance(state, dict) else None
        if not isinstance(waivers, list):
            return
        new = with_ids(order_id, waivers)
        if new is None:
            return
        written = bind.execute(
            account.update()
            .where(account.c.order_id == order_id, account.c.version == row.version)
            .values(version=row.version + 1, state={**state, "waivers": new})
        )
        if written.rowcount == 1:
            return


def downgrade() -> None:
    pass
