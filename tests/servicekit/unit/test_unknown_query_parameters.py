"""A query parameter no route takes is refused with 422 naming it: a misspelt filter must not
silently return everything."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel

from servicekit.problems import PROBLEM_JSON, install_problem_handlers
from servicekit.query import refuse_unknown_query_parameters


class Window(BaseModel):
    since: str | None = None
    until: str | None = None


async def paging(limit: int = 10, cursor: str | None = None) -> dict[str, object]:
    return {"limit": limit, "cursor": cursor}


def make_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(refuse_unknown_query_parameters)])
    install_problem_handlers(app)

    @app.get("/orders")
    async def orders(
        page: Annotated[dict[str, object], Depends(paging)],
        phone: str | None = None,
        status: Annotated[list[str] | None, Query(alias="status")] = None,
    ) -> dict[str, object]:
        return {"phone": phone, "status": status, **page}

    @app.get("/log")
    async def log(window: Annotated[Window, Query()]) -> Window:
        return window

    return app


async def _get(path: str, **params: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, params=params)  # type: ignore[arg-type]


async def test_a_misspelt_filter_is_a_422_naming_it_not_every_order() -> None:
    response = await _get("/orders", phone_number="13905460001", statuss="open")

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in response.json()["errors"]] == ["phone_number", "statuss"]


async def test_the_parameters_of_the_route_its_dependencies_and_query_models_are_taken() -> None:
    found = await _get("/orders", phone="13905460001", status="open", limit=5, cursor="c")
    logged = await _get("/log", since="a", until="b")
    bare = await _get("/orders")

    assert found.status_code == 200, found.text
    assert found.json() == {"phone": "13905460001", "status": ["open"], "limit": 5, "cursor": "c"}
    assert logged.status_code == 200 and logged.json() == {"since": "a", "until": "b"}
    assert bare.status_code == 200
