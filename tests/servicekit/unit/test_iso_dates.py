"""A calendar date is written YYYY-MM-DD: a number, in a query, a path or a body, is not read
as a Unix timestamp (``?day=0`` was 1 January 1970)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from servicekit.dates import IsoDate
from servicekit.problems import PROBLEM_JSON, install_problem_handlers


class RunIn(BaseModel):
    day: IsoDate | None = None


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/figures")
    async def figures(start: IsoDate) -> dict[str, str]:
        return {"start": start.isoformat()}

    @app.post("/plans/{day}/optimisation")
    async def optimise(day: IsoDate) -> dict[str, str]:
        return {"day": day.isoformat()}

    @app.post("/runs")
    async def run(body: RunIn) -> dict[str, str | None]:
        return {"day": body.day.isoformat() if body.day else None}

    return app


async def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t")


@pytest.mark.parametrize("value", ["0", "1764547200", "2026-1-1", "24/11/2026"])
async def test_a_date_that_is_not_yyyy_mm_dd_is_a_422_wherever_it_is_given(value: str) -> None:
    async with await _client() as client:
        answers = [
            await client.get("/figures", params={"start": value}),
            await client.post(f"/plans/{value.replace('/', '-')}/optimisation"),
        ]
        for body in ({"day": int(value)} if value.isdigit() else {"day": value}, {"day": 0.5}):
            answers.append(await client.post("/runs", json=body))

    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON


async def test_an_iso_date_is_taken() -> None:
    async with await _client() as client:
        figures = await client.get("/figures", params={"start": "2026-11-24"})
        plan = await client.post("/plans/2026-11-24/optimisation")
        run = await client.post("/runs", json={"day": "2026-11-24"})
        today = await client.post("/runs", json={})

    assert figures.json() == {"start": "2026-11-24"} and plan.json() == {"day": "2026-11-24"}
    assert run.json() == {"day": date(2026, 11, 24).isoformat()} and today.json() == {"day": None}
