"""Each service's OpenAPI document says what a client needs: every error answer is an RFC 9457
problem+json document with its schema, how to authenticate (and where not needed), and which
operations take an ``Idempotency-Key``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from fsm.services import SERVICE_NAMES, build

PROBLEM_REF = "#/components/schemas/Problem"


def _document(service: str, tmp_path: Path) -> dict[str, Any]:
    runtime = build(
        service,
        database_url=f"sqlite+aiosqlite:///{tmp_path / service}.db",
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/openapi.json")
        await runtime.engine.dispose()
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("openapi")
    return {service: _document(service, folder) for service in SERVICE_NAMES}


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method.lower()]
    return operation


def _header_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}


def _is_problem(response: dict[str, Any]) -> bool:
    content = response.get("content", {})
    return set(content) == {"application/problem+json"} and content["application/problem+json"].get(
        "schema"
    ) == {"$ref": PROBLEM_REF}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_problem_schema_is_a_component_with_the_rfc_9457_members(
    documents: dict[str, dict[str, Any]], service: str
) -> None:
    problem = documents[service]["components"]["schemas"]["Problem"]

    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_error_answer_of_every_operation_is_documented_as_problem_json(
    documents: dict[str, dict[str, Any]], service: str
) -> None:
    document = documents[service]
    wrong = [
        f"{method.upper()} {path} {status}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and not _is_problem(response)
    ]

    assert wrong == []
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("service", "method", "path", "statuses"),
    [
        ("intake", "POST", "/v1/orders", {"401", "403", "409", "413", "422", "503"}),
        ("intake", "GET", "/v1/orders/{order_id}", {"401", "403", "404", "422", "503"}),
        ("billing", "POST", "/v1/orders/{order_id}/payments", {"401", "403", "409", "413"}),
        ("fieldwork", "GET", "/v1/visits", {"401", "403", "422", "503"}),
        ("feedback", "POST", "/v1/complaints", {"401", "403", "409", "422", "503"}),
        ("scheduling", "POST", "/v1/webhooks/subscriptions", {"401", "403", "409", "422"}),
    ],
)
def test_operations_document_the_errors_the_kit_can_answer(
    documents: dict[str, dict[str, Any]],
    service: str,
    method: str,
    path: str,
    statuses: set[str],
) -> None:
    responses = _operation(documents[service], method, path)["responses"]

    assert statuses <= set(responses)
    assert all(_is_problem(responses[status]) for status in statuses)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_bearer_scheme_is_declared_and_required_by_v1_operations_only(
    documents: dict[str, dict[str, Any]], service: str
) -> None:
    document = documents[service]
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}]
    assert len(bearer) == 1, schemes

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if path.startswith("/v1/"):
                assert {bearer[0]: []} in operation.get("security", []), where
                assert "401" in operation["responses"], where
            else:
                assert "security" not in operation, where
                assert "401" not in operation["responses"], where


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        ("intake", "POST", "/v1/orders"),
        ("intake", "POST", "/v1/api-keys"),
        ("billing", "POST", "/v1/orders/{order_id}/payments"),
        ("fieldwork", "POST", "/v1/visits/{visit_id}/actions"),
        ("feedback", "POST", "/v1/complaints"),
        ("scheduling", "POST", "/v1/webhooks/subscriptions"),
    ],
)
def test_operations_that_honour_an_idempotency_key_document_the_header(
    documents: dict[str, dict[str, Any]], service: str, method: str, path: str
) -> None:
    operation = _operation(documents[service], method, path)
    headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]

    assert [p["name"] for p in headers if p["name"].lower() == "idempotency-key"] == [
        "Idempotency-Key"
    ]
    assert "409" in operation["responses"]


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        ("intake", "GET", "/v1/orders"),
        ("intake", "PUT", "/v1/warranty-periods/{product_line}"),
        ("fieldwork", "POST", "/v1/offline/batches"),
        ("fieldwork", "PUT", "/v1/coordination-tickets/{ticket_id}/owner"),
        ("billing", "GET", "/v1/orders/{order_id}/charge"),
    ],
)
def test_operations_that_ignore_the_key_do_not_claim_it(
    documents: dict[str, dict[str, Any]], service: str, method: str, path: str
) -> None:
    operation = _operation(documents[service], method, path)

    assert "idempotency-key" not in _header_names(operation)
