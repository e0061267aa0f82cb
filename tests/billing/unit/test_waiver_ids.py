"""A waiver always has its id (BIL-8): the approval it is part of, read by
`GET /v1/orders/{id}/waivers/{waiver_id}`. One stored without it (a database not migrated to
billing's 0008) is refused when loaded, never read as a waiver without an id."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from billing.domain.account import AccountState

from .test_account import NOW

STORED = {
    "quote_id": "q-1",
    "amount": "10.00",
    "new_total": "160.00",
    "approved_by": "disp-1",
    "reason": "goodwill",
    "at": NOW.isoformat(),
}


@pytest.mark.parametrize(
    "stored",
    [STORED, {**STORED, "waiver_id": None}, {**STORED, "waiver_id": ""}],
    ids=["no-id", "null", "empty"],
)
def test_bil_8_a_waiver_stored_without_its_id_is_refused_when_loaded(stored: Any) -> None:
    with pytest.raises(ValidationError, match="migration 0008"):
        AccountState.model_validate({"waivers": [stored]})


def test_bil_8_a_waiver_stored_with_its_id_loads_with_it() -> None:
    state = AccountState.model_validate({"waivers": [{**STORED, "waiver_id": "w-1"}]})

    assert [w.waiver_id for w in state.waivers] == ["w-1"]
