"""The kit's 201 Created answer (status, ``Location``, the body as JSON) and the ``{name:slashed}``
path parameter, which reaches an identifier holding ``/`` by its percent-encoded URL (``%2F``,
decoded by the server before routing) and never matches an empty one."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from servicekit.http import created


class Thing(BaseModel):
    key: str
    day: date
    price: Decimal


def test_created_answers_201_with_the_location_and_the_model_as_json() -> None:
    answer = created(Thing(key="a/b", day=date(2026, 3, 1), price=Decimal("1.5")), "/v1/t/a%2Fb")

    assert answer.status_code == 201
    assert answer.headers["location"] == "/v1/t/a%2Fb"
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == {"key": "a/b", "day": "2026-03-01", "price": "1.5"}


def test_created_takes_what_a_model_dumped_as_it_is() -> None:
    dumped = Thing(key="k", day=date(2026, 3, 1), price=Decimal("2")).model_dump(mode="json")

    answer = created(dumped, "/v1/t/k")

    assert (answer.status_code, json.loads(answer.body)) == (201, dumped)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things")
    async def listed() -> list[str]:
        return []

    @app.get("/v1/things/{key:slashed}")
    async def read(key: str) -> dict[str, Any]:
        return {"read": key}

    @app.post("/v1/things/{key:slashed}/collect")
    async def collect(key: str) -> dict[str, Any]:
        return {"collected": key}

    return app


async def _call(method: str, url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, url)


async def test_a_slashed_parameter_takes_an_identifier_holding_a_slash() -> None:
    assert (await _call("GET", "/v1/things/a%2Fb%2Fc")).json() == {"read": "a/b/c"}
    assert (await _call("GET", "/v1/things/%2Fa")).json() == {"read": "/a"}
    assert (await _call("GET", "/v1/things/plain")).json() == {"read": "plain"}


async def test_a_slashed_parameter_leaves_the_routes_tail_to_the_route() -> None:
    assert (await _call("POST", "/v1/things/a%2Fb/collect")).json() == {"collected": "a/b"}
    assert (await _call("POST", "/v1/things/a%2Fcollect/collect")).json() == {
        "collected": "a/collect"
    }
    assert (await _call("GET", "/v1/things/a%2Fcollect")).json() == {"read": "a/collect"}


async def test_a_slashed_parameter_never_matches_nothing() -> None:
    # "/v1/things/" is not a read of "": it is redirected to the list, as without the parameter.
    answer = await _call("GET", "/v1/things/")

    assert answer.status_code == 307
    assert answer.headers["location"] == "http://test/v1/things"
