"""Every error a service returns is an RFC 9457 problem document that says what went wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from servicekit.problems import PROBLEM_JSON, ProblemError, install_problem_handlers


class OrderNotFound(Exception):
    """A domain error the app maps to 404."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.extensions = {"order_id": order_id}


class _PostgresError(Exception):
    """What the PostgreSQL driver raises: the message and its SQLSTATE."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class NewThing(BaseModel):
    name: str
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, {OrderNotFound: (404, "Order not found")})

    @app.post("/things")
    async def create(thing: NewThing) -> NewThing:
        return thing

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        raise OrderNotFound(order_id)

    @app.get("/private")
    async def private() -> None:
        raise ProblemError(401, "An API key is required.", title="Unauthorized")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=409, detail="already brewing")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret connection string")

    @app.get("/database-restarted")
    async def database_restarted() -> None:
        raise DBAPIError(
            "SELECT 1", None, ConnectionResetError("closed"), connection_invalidated=True
        )

    @app.post("/technicians")
    async def create_technician() -> None:
        raise IntegrityError(
            "INSERT INTO technician", {}, Exception("duplicate key value violates unique")
        )

    @app.post("/deadlocked")
    async def deadlocked() -> None:
        raise DBAPIError("UPDATE visit", {}, _PostgresError("40P01", "deadlock detected"))

    @app.get("/database-down")
    async def database_down() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    @app.get("/database-busy")
    async def database_busy() -> None:
        raise PoolTimeout("QueuePool limit of size 15 overflow 0 reached")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The 500 handler answers and Starlette re-raises afterwards; the client must not re-raise.
    transport = httpx.ASGITransport(make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    return body


async def test_missing_field_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/things", json={"count": 2}), 422)

    assert body["type"].endswith("/validation")
    assert [e["field"] for e in body["errors"]] == ["name"]
    assert "name" in body["detail"]
    assert body["instance"] == "/things"


async def test_wrongly_typed_field_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/things", json={"name": "x", "count": "many"}), 422)

    assert [e["field"] for e in body["errors"]] == ["count"]


async def test_body_that_is_not_json_is_a_422_about_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = problem(response, 422)

    [error] = body["errors"]
    assert error["field"] == "body"
    assert error["message"].startswith("the body is not valid JSON")


async def test_a_body_that_is_not_even_utf_8_is_a_422_about_the_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/things", content=b"\x80\x81", headers={"content-type": "application/json"}
    )
    body = problem(response, 422)

    [error] = body["errors"]
    assert error["field"] == "body" and "UTF-8" in error["message"]


async def test_problem_error_keeps_its_status_title_and_detail(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/private"), 401)

    assert body["title"] == "Unauthorized"
    assert body["detail"] == "An API key is required."
    assert body["type"].endswith("/unauthorized")


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/nowhere"), 404)

    assert body["title"] == "Not Found"
    assert body["instance"] == "/nowhere"


async def test_domain_error_maps_to_its_status_with_its_extensions(
    client: httpx.AsyncClient,
) -> None:
    body = problem(await client.get("/orders/o-42"), 404)

    assert body["title"] == "Order not found"
    assert body["detail"] == "order o-42 does not exist"
    assert body["order_id"] == "o-42"


async def test_http_exception_keeps_its_detail(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/teapot"), 409)

    assert body["title"] == "Conflict"
    assert body["detail"] == "already brewing"


async def test_unexpected_error_is_a_500_that_hides_the_cause(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/crash"), 500)

    assert body["title"] == "Internal Server Error"
    assert "secret" not in str(body)


async def test_a_value_out_of_range_is_a_422_not_a_500() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/day")
    async def day(start: date) -> dict[str, str]:
        return {"before": str(start - timedelta(days=1))}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/day", params={"start": "0001-01-01"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/database-restarted", "/database-down", "/database-busy"])
async def test_a_lost_database_connection_is_a_503_with_retry_after_not_a_500(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "1"
    assert "Retry shortly" in response.json()["detail"]


async def test_a_unique_key_clash_with_a_concurrent_request_is_a_409_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/technicians")
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "concurrent request" in response.json()["detail"]


async def test_a_deadlock_rolled_back_is_a_503_to_retry_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/deadlocked")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "Retry" in response.json()["detail"]


async def test_a_nul_character_in_path_query_or_json_body_is_refused_before_the_route() -> None:
    from servicekit.http import RequestGuard

    app = FastAPI()
    install_problem_handlers(app, {})
    app.add_middleware(RequestGuard, max_body_bytes=1_000)

    @app.post("/things/{name}")
    async def create(name: str, thing: NewThing) -> dict[str, str]:
        return {"name": name, "thing": thing.name}

    @app.post("/files")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = [
            await client.post("/things/a%00b", json={"name": "x", "count": 1}),
            await client.post("/things/a?x=%00", json={"name": "x", "count": 1}),
            await client.post("/things/a", json={"name": "x\u0000", "count": 1}),
        ]
        kept = await client.post(
            "/things/a",
            content=b'{"name": "x\\\\u0000", "count": 1}',
            headers={"Content-Type": "application/json"},
        )
        binary = await client.post(
            "/files", content=b"PNG\\u0000\x00", headers={"Content-Type": "image/png"}
        )
    for answer in refused:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert "NUL" in answer.json()["detail"]
    assert kept.status_code == 200 and kept.json()["thing"] == "x\\u0000"
    assert binary.status_code == 200 and binary.json() == {"size": 10}


async def test_a_body_over_the_limit_is_refused_with_413_problem_declared_or_streamed() -> None:
    from servicekit.http import RequestGuard

    app = FastAPI()
    install_problem_handlers(app, {})
    app.add_middleware(RequestGuard, max_body_bytes=1_000)

    @app.post("/files")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 300

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        declared = await client.post("/files", content=b"x" * 1_001)
        streamed = await client.post("/files", content=chunks())
        fits = await client.post("/files", content=b"x" * 1_000)
        json_too_big = await client.post("/files", json={"a": "x" * 1_000})
    for refused in (declared, streamed, json_too_big):
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert "1000 bytes" in refused.json()["detail"]
    assert fits.status_code == 200 and fits.json() == {"size": 1_000}


async def test_a_lone_surrogate_or_a_json_body_not_in_utf_8_is_a_422_not_a_500() -> None:
    """A JSON string may escape half of a surrogate pair (``\\ud800``) and Python's JSON parser
    also takes UTF-8-encoded surrogates and UTF-16/32 texts: neither is a character anything can
    encode (the answer, the database, the outbox), so each was a 500; UTF-16 hid a NUL too."""
    from servicekit.http import RequestGuard

    app = FastAPI()
    install_problem_handlers(app, {})
    app.add_middleware(RequestGuard, max_body_bytes=1_000)

    @app.post("/things")
    async def create(thing: NewThing) -> dict[str, str]:
        return {"thing": thing.name}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def post(body: bytes) -> httpx.Response:
            return await client.post("/things", content=body, headers=json_type)

        lone = [
            await post(b'{"name": "x\\ud800", "count": 1}'),
            await post(b'{"name": "x\\uDC00y", "count": 1}'),
            await post(b'{"name": "\\ude00\\ud83d", "count": 1}'),
            await post(b'{"name": "\\ud83d\\\\ude00", "count": 1}'),
            await post(b'{"name": "ok", "\\ud800": 1, "count": 1}'),
        ]
        not_utf_8 = [
            await post(b'{"name": "x\xed\xa0\x80", "count": 1}'),
            await post('{"name": "x\\u0000", "count": 1}'.encode("utf-16")),
            await post('{"name": "xy", "count": 1}'.encode("utf-32-le")),
        ]
        pair = await post(b'{"name": "\\ud83d\\ude00", "count": 1}')
        escaped_backslash = await post(b'{"name": "\\\\ud800", "count": 1}')
    for answer in lone:
        assert str(problem(answer, 422)["detail"]).startswith("The body holds half of a surrogate")
    for answer in not_utf_8:
        body = problem(answer, 422)
        assert body["errors"] == [
            {"field": "body", "message": "not UTF-8 text", "type": "json_invalid"}
        ]
    assert pair.status_code == 200 and pair.json() == {"thing": "\U0001f600"}
    assert escaped_backslash.status_code == 200 and escaped_backslash.json() == {"thing": "\\ud800"}
