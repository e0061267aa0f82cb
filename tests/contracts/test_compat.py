"""The committed schemas stay compatible with the models, and the checker finds breaking changes."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from contracts.compat import breaking_changes, is_compatible
from contracts.export import (
    ENVELOPE_SCHEMA_NAME,
    SCHEMA_DIR_NAME,
    BreakingChangeError,
    envelope_schema,
    event_schema,
    write,
)
from contracts.registry import REGISTRY

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / SCHEMA_DIR_NAME
COMMITTED_EVENT_SCHEMAS = sorted(
    p for p in SCHEMA_DIR.glob("*.v*.json") if not p.name.startswith("EventEnvelope")
)


def test_there_are_committed_schemas_to_compare_with() -> None:
    assert COMMITTED_EVENT_SCHEMAS, f"no schemas in {SCHEMA_DIR}; run python -m contracts.export"


@pytest.mark.parametrize("path", COMMITTED_EVENT_SCHEMAS, ids=lambda p: p.stem)
def test_committed_schema_is_compatible_with_the_current_model(path: Path) -> None:
    name, version = path.stem.rsplit(".v", 1)
    model = REGISTRY.get(f"fsm.{name}.v{version}")
    assert model is not None, f"{path.stem} was published but its model is gone"

    problems = breaking_changes(json.loads(path.read_text()), event_schema(model))

    assert problems == [], (
        f"{path.stem} changed incompatibly; publish a new version instead:\n" + "\n".join(problems)
    )


def test_committed_envelope_schema_is_compatible_with_the_envelope() -> None:
    committed = json.loads((SCHEMA_DIR / f"{ENVELOPE_SCHEMA_NAME}.json").read_text())
    assert breaking_changes(committed, envelope_schema()) == []


class Kind(StrEnum):
    A = "a"
    B = "b"


class Address(BaseModel):
    city: str
    street: str | None = None


class Old(BaseModel):
    order_id: str
    amount: int
    note: str | None = None
    kind: Kind
    address: Address
    tags: list[str] = Field(default_factory=list)


OLD = Old.model_json_schema()


def _problems_for(new: type[BaseModel]) -> list[str]:
    return breaking_changes(OLD, new.model_json_schema())


def test_an_identical_schema_is_compatible() -> None:
    assert breaking_changes(OLD, Old.model_json_schema()) == []


def test_removing_a_field_is_breaking() -> None:
    class New(BaseModel):
        order_id: str
        amount: int
        kind: Kind
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`note`: field removed"]


def test_renaming_a_field_is_breaking() -> None:
    class New(BaseModel):
        order_id: str
        amount_fen: int
        note: str | None = None
        kind: Kind
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`amount`: field renamed to `amount_fen`"]


def test_changing_a_type_is_breaking() -> None:
    class New(BaseModel):
        order_id: str
        amount: str
        note: str | None = None
        kind: Kind
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`amount`: type changed from integer to string"]


def test_making_a_required_field_nullable_is_a_type_change() -> None:
    class New(BaseModel):
        order_id: str
        amount: int | None
        note: str | None = None
        kind: Kind
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`amount`: type changed from integer to integer | null"]


def test_changing_a_list_item_type_is_breaking() -> None:
    class New(BaseModel):
        order_id: str
        amount: int
        note: str | None = None
        kind: Kind
        address: Address
        tags: list[int] = Field(default_factory=list)

    assert _problems_for(New) == ["`tags[]`: type changed from string to integer"]


def test_making_an_optional_field_required_is_breaking() -> None:
    class New(BaseModel):
        order_id: str
        amount: int
        note: str | None
        kind: Kind
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`note`: optional field made required"]


def test_adding_a_required_field_is_breaking() -> None:
    class New(Old):
        technician_id: str

    assert _problems_for(New) == ["`technician_id`: new required field added"]


def test_adding_an_optional_field_is_compatible() -> None:
    class New(Old):
        technician_id: str | None = None

    assert _problems_for(New) == []


def test_removing_an_enum_value_is_breaking() -> None:
    class Narrower(StrEnum):
        A = "a"

    class New(BaseModel):
        order_id: str
        amount: int
        note: str | None = None
        kind: Narrower
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`kind`: enum values removed: ['b']"]


def test_adding_an_enum_value_is_compatible() -> None:
    class Wider(StrEnum):
        A = "a"
        B = "b"
        C = "c"

    class New(BaseModel):
        order_id: str
        amount: int
        note: str | None = None
        kind: Wider
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == []


def test_removing_a_literal_value_is_breaking() -> None:
    class Before(BaseModel):
        level: Literal[1, 2]

    class After(BaseModel):
        level: Literal[1]

    problems = breaking_changes(Before.model_json_schema(), After.model_json_schema())
    assert problems == ["`level`: enum values removed: [2]"]


def test_a_change_inside_a_nested_shape_is_found_with_its_path() -> None:
    class NewAddress(BaseModel):
        street: str | None = None

    class New(BaseModel):
        order_id: str
        amount: int
        note: str | None = None
        kind: Kind
        address: NewAddress
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == ["`address.city`: field removed"]


def test_tightening_a_constraint_is_breaking_and_loosening_is_not() -> None:
    class Loose(BaseModel):
        minutes: int = Field(ge=0)

    class Tight(BaseModel):
        minutes: int = Field(ge=5)

    loose, tight = Loose.model_json_schema(), Tight.model_json_schema()
    assert breaking_changes(loose, tight) == [
        "`minutes`: constraint `minimum` tightened from 0 to 5"
    ]
    assert is_compatible(tight, loose)


def test_documentation_and_defaults_may_change() -> None:
    class New(BaseModel):
        """Now documented."""

        order_id: str = Field(description="The order.")
        amount: int
        note: str | None = "none"
        kind: Kind
        address: Address
        tags: list[str] = Field(default_factory=list)

    assert _problems_for(New) == []


def test_export_refuses_to_overwrite_a_schema_with_a_breaking_change(tmp_path: Path) -> None:
    write(tmp_path)
    committed = tmp_path / SCHEMA_DIR_NAME / "OrderCancelled.v1.json"
    old = json.loads(committed.read_text())
    old["properties"]["legacy_code"] = {"type": "string"}
    committed.write_text(json.dumps(old))

    with pytest.raises(BreakingChangeError, match="legacy_code"):
        write(tmp_path)
    assert "legacy_code" in committed.read_text()

    write(tmp_path, allow_breaking=True)
    assert "legacy_code" not in committed.read_text()
