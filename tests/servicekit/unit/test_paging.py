"""Cursors of keyset paging: the position after a row, bound to its list and sort order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from servicekit.paging import decode_cursor, encode_cursor
from servicekit.problems import ProblemError

SHANGHAI_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=timezone(timedelta(hours=8)))


def test_a_cursor_gives_back_its_row_in_utc_with_the_extra_keys() -> None:
    cursor = encode_cursor("orders:-created_at", SHANGHAI_NOON, "o-1", e=True)

    at, row_id, extra = decode_cursor("orders:-created_at", cursor)

    assert at == datetime(2026, 11, 24, 4, 0, tzinfo=UTC) and at.tzinfo is UTC
    assert (row_id, extra) == ("o-1", {"e": True})


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("orders:created_at", SHANGHAI_NOON, "o-1"),  # another sort order
        "not-a-cursor",
        "eyJzIjoib3JkZXJzOi1jcmVhdGVkX2F0In0",  # {"s": ...} without a position
        encode_cursor("orders:-created_at", SHANGHAI_NOON.replace(tzinfo=None), "o-1"),
        encode_cursor("orders:-created_at", SHANGHAI_NOON, "o-1\n2"),
    ],
)
def test_a_cursor_of_another_list_or_a_garbled_one_is_a_422_naming_the_cursor(
    cursor: str,
) -> None:
    with pytest.raises(ProblemError) as refused:
        decode_cursor("orders:-created_at", cursor)

    assert refused.value.status == 422
    assert refused.value.extensions["errors"][0]["field"] == "cursor"
