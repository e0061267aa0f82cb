"""Export the contracts as documents: one JSON Schema per event, the envelope's, and AsyncAPI 3.0.

``python -m contracts.export`` writes ``docs/schemas/<Name>.v<N>.json`` (also for the events sent
only to partner webhooks), ``docs/schemas/EventEnvelope.json`` and ``docs/asyncapi.yaml`` (the
events on the bus); ``--check`` writes nothing and exits
non-zero when the files on disk differ from what the models generate.

The committed schemas are also the baseline of the compatibility check (``contracts.compat``), so
writing refuses to overwrite a schema with a breaking change unless ``--allow-breaking`` is given:
a breaking change is a new event version, never an edit.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from contracts.base import EventData
from contracts.compat import breaking_changes
from contracts.envelope import EventEnvelope
from contracts.registry import all_event_models
from contracts.topics import SERVICES, events_topic

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
SCHEMA_DIR_NAME = "schemas"
ASYNCAPI_FILE_NAME = "asyncapi.yaml"
ENVELOPE_SCHEMA_NAME = "EventEnvelope"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
API_VERSION = "0.1.0"
KAFKA_BINDING_VERSION = "0.5.0"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
WEBHOOK_ONLY_DELIVERY = "partner-webhook"
"""``x-delivery`` of an event sent only to partner webhooks, never published on the bus."""

JsonObject = dict[str, Any]


def schema_id(name: str) -> str:
    """The ``$id`` of a committed schema, e.g. ``urn:fsm:schema:OrderCreated.v1``."""
    return f"urn:fsm:schema:{name}"


def event_schema(model: type[EventData]) -> JsonObject:
    """The JSON Schema of one event's ``data`` payload, with ``$id``, title and description."""
    schema = model.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_id(model.schema_name()),
            "title": model.event_type,
            "description": _description(model),
            "x-event-type": model.event_type,
            "x-event-version": model.event_version,
            "x-cloudevents-type": model.cloudevents_type(),
            "x-producer": model.producer,
        }
    )
    if model.webhook_only:
        schema["x-delivery"] = WEBHOOK_ONLY_DELIVERY
    else:
        schema["x-topic"] = events_topic(model.producer)
    return schema


def envelope_schema() -> JsonObject:
    """The JSON Schema of the CloudEvents envelope every event travels in."""
    schema = EventEnvelope.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_id(ENVELOPE_SCHEMA_NAME),
            "description": _description(EventEnvelope),
        }
    )
    return schema


def asyncapi_document(models: Sequence[type[EventData]] | None = None) -> JsonObject:
    """The AsyncAPI 3.0 document: one channel per service topic, one message per event version.

    Payloads are the envelope with ``data`` narrowed to the event's schema; every schema is embedded
    under ``components.schemas`` so the document stands alone. Events sent only to partner
    webhooks (``webhook_only``) travel on no topic and are left out.
    """
    models = [
        m for m in (models if models is not None else all_event_models()) if not m.webhook_only
    ]
    ref_template = "#/components/schemas/{model}"
    refs, bundle = models_json_schema(
        [(EventEnvelope, "validation"), *((m, "validation") for m in models)],
        ref_template=ref_template,
    )
    schemas: JsonObject = bundle.get("$defs", {})
    envelope_ref = refs[(EventEnvelope, "validation")]

    messages: JsonObject = {}
    channels: JsonObject = {}
    operations: JsonObject = {}
    for service in SERVICES:
        own = [m for m in models if m.producer == service]
        channel_id = _channel_id(service)
        channels[channel_id] = {
            "address": events_topic(service),
            "title": f"{service} events",
            "description": f"Events published by the {service} service, keyed by order id.",
            "messages": {
                _message_id(m): {"$ref": f"#/components/messages/{_message_id(m)}"} for m in own
            },
            "bindings": {
                "kafka": {"topic": events_topic(service), "bindingVersion": KAFKA_BINDING_VERSION}
            },
        }
        operations[f"send{service.capitalize()}Events"] = {
            "action": "send",
            "title": f"{service} publishes",
            "summary": f"The {service} service publishes its events (through its outbox).",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{_message_id(m)}"} for m in own
            ],
        }
        for m in own:
            messages[_message_id(m)] = _message(m, envelope_ref, refs[(m, "validation")])

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Field-service platform events",
            "version": API_VERSION,
            "description": (
                "Events the intake, scheduling, fieldwork, billing and feedback services exchange "
                "over Kafka. Every event is a CloudEvents 1.0 envelope in structured JSON mode, "
                "keyed by order id so the events of one order stay in order on one partition. "
                "A breaking change to an event is a new version (`fsm.<Name>.v<N+1>`)."
            ),
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The deployment's Kafka-compatible broker (set per environment).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "correlationid": {
                    "description": "Shared by every event of one business flow.",
                    "location": "$message.payload#/correlationid",
                }
            },
        },
    }


def render_json(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_yaml(document: Mapping[str, Any]) -> str:
    """Deterministic YAML text: sorted keys, block style, multi-line strings as literal blocks."""
    return yaml.dump(
        document,
        Dumper=_BlockStringDumper,
        sort_keys=True,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def generated_files() -> dict[Path, str]:
    """Every generated document, by path relative to the docs directory."""
    files = {
        Path(SCHEMA_DIR_NAME) / f"{m.schema_name()}.json": render_json(event_schema(m))
        for m in all_event_models()
    }
    files[Path(SCHEMA_DIR_NAME) / f"{ENVELOPE_SCHEMA_NAME}.json"] = render_json(envelope_schema())
    files[Path(ASYNCAPI_FILE_NAME)] = render_yaml(asyncapi_document())
    return dict(sorted(files.items()))


def differences(docs_dir: Path = DOCS_DIR) -> list[str]:
    """What differs between the documents on disk and the generated ones (empty when up to date).

    A schema file no model generates is reported too: retiring an event is a deliberate deletion.
    """
    problems: list[str] = []
    expected = generated_files()
    for relative, text in expected.items():
        path = docs_dir / relative
        if not path.exists():
            problems.append(f"{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{relative}: out of date")
    schema_dir = docs_dir / SCHEMA_DIR_NAME
    if schema_dir.is_dir():
        for path in sorted(schema_dir.glob("*.json")):
            relative = path.relative_to(docs_dir)
            if relative not in expected:
                problems.append(
                    f"{relative}: generated by no model (delete it if the event retired)"
                )
    return problems


def write(docs_dir: Path = DOCS_DIR, *, allow_breaking: bool = False) -> list[Path]:
    """Write every generated document under ``docs_dir``; returns the paths that changed.

    Raises ``BreakingChangeError`` before writing anything when a committed event schema would be
    replaced by an incompatible one, unless ``allow_breaking``.
    """
    files = generated_files()
    if not allow_breaking:
        problems = _breaking_against_disk(docs_dir, files)
        if problems:
            raise BreakingChangeError(problems)
    changed: list[Path] = []
    for relative, text in files.items():
        path = docs_dir / relative
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


class BreakingChangeError(Exception):
    """Regenerating would replace committed event schemas with incompatible ones."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point of ``python -m contracts.export``."""
    parser = argparse.ArgumentParser(prog="python -m contracts.export", description=__doc__)
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR, help="default: %(default)s")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when files are out of date"
    )
    parser.add_argument(
        "--allow-breaking",
        action="store_true",
        help="overwrite committed schemas even with breaking changes (needs a reviewer's consent)",
    )
    args = parser.parse_args(argv)

    if args.check:
        problems = differences(args.docs_dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `python -m contracts.export` and commit the result", file=sys.stderr)
            return 1
        return 0
    try:
        changed = write(args.docs_dir, allow_breaking=args.allow_breaking)
    except BreakingChangeError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(
            "breaking change: add a new event version instead (or pass --allow-breaking)",
            file=sys.stderr,
        )
        return 2
    for path in changed:
        print(f"wrote {path}")
    return 0


def _breaking_against_disk(docs_dir: Path, files: Mapping[Path, str]) -> list[str]:
    problems: list[str] = []
    for relative, text in files.items():
        path = docs_dir / relative
        if relative.parent != Path(SCHEMA_DIR_NAME) or not path.exists():
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        new = json.loads(text)
        problems.extend(f"{relative.stem}: {p}" for p in breaking_changes(old, new))
    return problems


def _description(model: type[Any]) -> str:
    return inspect.cleandoc(model.__doc__ or "")


def _channel_id(service: str) -> str:
    return f"{service}Events"


def _message_id(model: type[EventData]) -> str:
    return f"{model.event_type}V{model.event_version}"


def _message(model: type[EventData], envelope_ref: JsonObject, data_ref: JsonObject) -> JsonObject:
    description = _description(model)
    return {
        "name": model.event_type,
        "title": f"{model.event_type} v{model.event_version}",
        "summary": " ".join(description.split("\n\n", 1)[0].split()),
        "description": description,
        "contentType": CLOUDEVENTS_CONTENT_TYPE,
        "correlationId": {"$ref": "#/components/correlationIds/correlationid"},
        "tags": [{"name": model.producer}],
        "payload": {
            "allOf": [
                envelope_ref,
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": model.cloudevents_type()},
                        "source": {"const": f"/fsm/{model.producer}"},
                        "data": data_ref,
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The envelope's `partitionkey`: the order id, or the "
                    "aggregate id of an event about no order.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


class _BlockStringDumper(yaml.SafeDumper):
    """Safe YAML dumper writing multi-line strings as ``|`` blocks, for readable descriptions."""

    def ignore_aliases(self, data: Any) -> bool:
        # Shared sub-objects (the envelope `$ref`) would otherwise become `&id001` anchors.
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStringDumper.add_representer(str, _represent_str)


if __name__ == "__main__":
    raise SystemExit(main())
