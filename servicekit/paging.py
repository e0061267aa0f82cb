"""Opaque cursors for keyset paging of a list (``next_cursor`` of one page, ``cursor`` of the
next): the position after the last row, bound to the list and sort order it came from."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import Query

from servicekit.problems import ProblemError

#: The ``limit`` query parameter of every paged list.
PageLimit = Annotated[
    int | None,
    Query(
        ge=1,
        description="Page size: the policy's `list_page_default` when not given, at most its "
        "`list_page_max` (a larger one is cut to it; `next_cursor` says more remain).",
    ),
]
#: The ``cursor`` query parameter of every paged list.
PageCursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]


class PagingPolicy(Protocol):
    """The page sizes every service's policy carries."""

    @property
    def list_page_default(self) -> int: ...

    @property
    def list_page_max(self) -> int: ...


def page_size(limit: int | None, policy: PagingPolicy) -> int:
    """The rows of one page: ``limit`` when given, the policy's default when not, never more than
    its maximum (a larger ``limit`` is cut, not refused)."""
    return min(limit or policy.list_page_default, policy.list_page_max)


def encode_cursor(scope: str, at: datetime, row_id: str, **extra: Any) -> str:
    """The cursor after the row at ``at`` with ``row_id`` in the list ``scope`` (a list and its
    sort order); ``extra`` keys (JSON values) ride along for lists sorted on more."""
    raw = json.dumps({"s": scope, "a": at.isoformat(), "i": row_id, **extra})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(scope: str, cursor: str) -> tuple[datetime, str, dict[str, Any]]:
    """The (moment in UTC, row id, extra keys) of a cursor of ``scope``; 422 problem naming
    ``cursor`` for one that is garbled, out of range or of another list or sort order."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, dict) or raw.get("s") != scope:
            raise ValueError("the cursor belongs to another list or sort order")
        at, row_id = datetime.fromisoformat(raw["a"]), raw["i"]
        if at.tzinfo is None or not isinstance(row_id, str) or not row_id.isprintable():
            raise ValueError("malformed cursor")
        extra = {k: v for k, v in raw.items() if k not in ("s", "a", "i")}
        return at.astimezone(UTC), row_id, extra
    except (
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
        binascii.Error,
        UnicodeDecodeError,
    ) as exc:
        raise ProblemError(
            422,
            "The request has invalid or missing fields: cursor.",
            title="Invalid request",
            errors=[
                {
                    "field": "cursor",
                    "message": f"not a cursor of this list ({exc})",
                    "type": "value_error",
                }
            ],
        ) from exc
