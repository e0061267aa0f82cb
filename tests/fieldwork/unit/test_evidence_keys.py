"""Evidence keys for any visit id (FLD-10): a plain id is its own folder, any other is hashed."""

from __future__ import annotations

import pytest

from fieldwork.adapters.storage import evidence_key


def test_fld_10_a_plain_visit_id_keeps_its_folder() -> None:
    assert evidence_key("v-1.a_B", "e1", "png") == "v-1.a_B/e1.png"


@pytest.mark.parametrize("visit_id", ["..", ".", "a/../b", "v 1", "访问", "x" * 201, "\ud800"])
def test_fld_10_any_other_visit_id_gets_a_hashed_folder(visit_id: str) -> None:
    folder, name = evidence_key(visit_id, "e1", "png").split("/")

    assert folder.startswith("h-") and len(folder) == 66
    assert name == "e1.png"
    assert evidence_key(visit_id, "e2", "png").startswith(f"{folder}/")
