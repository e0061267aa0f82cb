"""HEAD works wherever GET does (same status and headers, no body), and a method a path does not
support gets 405 problem+json whose ``Allow`` lists every method of the path (RFC 9110 15.5.6),
not only those of the first route that matched it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsm.services import build
from servicekit.runtime import ServiceRuntime

KEY = "head-and-allow-admin-key-0123456789"


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceRuntime]:
    folder: Path = tmp_path_factory.mktemp("intake")
    runtime = build(
        "intake",
        database_url=f"sqlite+aiosqlite:///{folder / 'intake.db'}",
        bootstrap_api_key=KEY,
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )
    asyncio.run(runtime.migrate())
    yield runtime
    asyncio.run(runtime.engine.dispose())


def _call(runtime: ServiceRuntime, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body bytes the app sends (as an ASGI server gets them, before
    any client could drop a HEAD answer's body)."""
    path, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {KEY}".encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(runtime.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    headers.pop("x-correlation-id", None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


@pytest.mark.parametrize("path", ["/healthz", "/v1/orders", "/v1/warranty-periods"])
def test_head_answers_what_get_answers_without_the_body(intake: ServiceRuntime, path: str) -> None:
    get_status, get_headers, get_body = _call(intake, "GET", path)
    head_status, head_headers, head_body = _call(intake, "HEAD", path)

    assert get_status == 200 and get_body
    assert (head_status, head_headers, head_body) == (get_status, get_headers, b"")


def test_head_of_an_unknown_order_is_the_404_of_get_without_the_body(
    intake: ServiceRuntime,
) -> None:
    status, headers, body = _call(intake, "HEAD", "/v1/orders/no-such-order")

    assert status == 404 and body == b""
    assert headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/orders", "GET, HEAD, POST"),
        ("PUT", "/v1/orders", "GET, HEAD, POST"),
        ("DELETE", "/v1/orders/some-order", "GET, HEAD"),
        ("GET", "/v1/orders/some-order/verify", "POST"),
        ("HEAD", "/v1/orders/some-order/cancel", "POST"),
        ("POST", "/v1/warranty-periods/water_heater", "DELETE, PUT"),
        ("DELETE", "/v1/api-keys", "GET, HEAD, POST"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
def test_a_method_the_path_does_not_support_gets_405_allowing_all_the_paths_methods(
    intake: ServiceRuntime, method: str, path: str, allowed: str
) -> None:
    status, headers, body = _call(intake, method, path)

    assert status == 405
    assert headers["allow"] == allowed
    assert headers["content-type"] == "application/problem+json"
    if method != "HEAD":
        assert b'"status":405' in body and allowed.encode() in body
