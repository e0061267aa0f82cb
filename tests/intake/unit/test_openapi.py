"""Intake's OpenAPI document: every route is described, every body and answer has an example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from intake.bootstrap import bootstrap
from intake.settings import IntakeSettings


def _schema(tmp_path: Path) -> dict[str, Any]:
    runtime = bootstrap(IntakeSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    return runtime.app.openapi()


def _resolve(schema: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    if ref is None:
        return ref_or_schema
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_every_v1_route_has_a_summary_a_description_and_examples(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    v1 = {p: ops for p, ops in schema["paths"].items() if p.startswith("/v1/")}
    assert "/v1/orders/{order_id}/verify" in v1 and "/v1/warranty-periods" in v1
    for path, operations in v1.items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary") and op.get("description"), where
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                assert _resolve(schema, body["schema"]).get("examples"), where
            ok = op["responses"].get("200") or op["responses"].get("201")
            if ok is not None and "application/json" in ok.get("content", {}):
                answer = _resolve(schema, ok["content"]["application/json"]["schema"])
                items = answer.get("items")
                if items is not None:
                    answer = _resolve(schema, items)
                assert answer.get("examples"), where
            for parameter in op.get("parameters", []):
                if parameter["in"] == "query":
                    assert parameter.get("description"), (where, parameter["name"])


def test_every_post_documents_the_idempotency_key(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    posts = [
        (path, ops["post"])
        for path, ops in schema["paths"].items()
        if "post" in ops and path.startswith("/v1/orders")
    ]
    assert len(posts) == 5
    for path, op in posts:
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        assert "Idempotency-Key" in names, path
