"""The committed docs (JSON Schemas, AsyncAPI) are generated, deterministic and up to date."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.export import (
    ASYNCAPI_FILE_NAME,
    DOCS_DIR,
    asyncapi_document,
    differences,
    event_schema,
    generated_files,
    main,
)
from contracts.registry import all_event_models
from contracts.topics import ALL_EVENT_TOPICS


def test_committed_docs_are_up_to_date() -> None:
    problems = differences(DOCS_DIR)
    assert problems == [], "run `python -m contracts.export`:\n" + "\n".join(problems)


def test_check_fails_on_missing_files_and_passes_once_written(tmp_path: Path) -> None:
    assert main(["--check", "--docs-dir", str(tmp_path)]) == 1
    assert main(["--docs-dir", str(tmp_path)]) == 0
    assert main(["--check", "--docs-dir", str(tmp_path)]) == 0


def test_check_fails_on_an_edited_file(tmp_path: Path) -> None:
    main(["--docs-dir", str(tmp_path)])
    (tmp_path / ASYNCAPI_FILE_NAME).write_text("asyncapi: 3.0.0\n")
    assert main(["--check", "--docs-dir", str(tmp_path)]) == 1


def test_check_reports_a_schema_no_model_generates(tmp_path: Path) -> None:
    main(["--docs-dir", str(tmp_path)])
    (tmp_path / "schemas" / "Retired.v1.json").write_text("{}\n")
    assert any("Retired.v1.json" in p for p in differences(tmp_path))


def test_output_is_deterministic() -> None:
    first, second = generated_files(), generated_files()
    assert first == second
    for path, text in first.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), path


def test_json_files_have_sorted_keys() -> None:
    for path, text in generated_files().items():
        if path.suffix == ".json":
            assert (
                json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + ("\n")
                == text
            )


@pytest.mark.parametrize("model", all_event_models(), ids=lambda m: m.schema_name())
def test_event_schema_names_and_describes_the_event(model: Any) -> None:
    schema = event_schema(model)
    assert schema["$id"] == f"urn:fsm:schema:{model.schema_name()}"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == model.event_type
    assert schema["description"].split()[0:2] == model.__doc__.split()[0:2]
    assert schema["type"] == "object"


def test_money_is_a_decimal_string_in_the_schema() -> None:
    quote = next(m for m in all_event_models() if m.event_type == "QuoteIssued")
    total = event_schema(quote)["properties"]["total"]
    assert total["type"] == "string"
    assert "pattern" in total


def test_asyncapi_has_one_channel_per_topic_and_a_message_per_event() -> None:
    document = yaml.safe_load(generated_files()[Path(ASYNCAPI_FILE_NAME)])

    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["kafka"]["protocol"] == "kafka"
    assert sorted(c["address"] for c in document["channels"].values()) == sorted(ALL_EVENT_TOPICS)
    names = {
        (m["name"], m["payload"]["allOf"][1]["properties"]["type"]["const"])
        for m in document["components"]["messages"].values()
    }
    on_the_bus = [m for m in all_event_models() if not m.webhook_only]
    assert names == {(m.event_type, m.cloudevents_type()) for m in on_the_bus}
    assert {op["action"] for op in document["operations"].values()} == {"send"}


def test_an_event_sent_only_to_partner_webhooks_has_a_schema_but_no_topic() -> None:
    webhook_only = [m for m in all_event_models() if m.webhook_only]
    assert [m.event_type for m in webhook_only] == ["OrderWithdrawn"]
    files = generated_files()
    document = yaml.safe_load(files[Path(ASYNCAPI_FILE_NAME)])
    for model in webhook_only:
        schema = json.loads(files[Path("schemas") / f"{model.schema_name()}.json"])
        assert schema["x-delivery"] == "partner-webhook" and "x-topic" not in schema
        assert model.event_type not in {
            m["name"] for m in document["components"]["messages"].values()
        }


def test_asyncapi_references_all_resolve() -> None:
    document = asyncapi_document()
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            assert part in target, f"dangling reference {ref}"
            target = target[part]


def test_every_operation_sends_only_messages_of_its_channel() -> None:
    document = asyncapi_document()
    for op in document["operations"].values():
        channel = op["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in op["messages"])


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
