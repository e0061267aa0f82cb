"""A moment is written ISO 8601 with its UTC offset: a number, in a query or a body, is not read
as a Unix timestamp (``"at": 0`` was 1 January 1970), and a time without an offset is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from servicekit.dates import IsoDate, IsoDatetime
from servicekit.problems import PROBLEM_JSON, install_problem_handlers


class ContactIn(BaseModel):
    at: IsoDatetime
    until: IsoDatetime | None = None


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/deliveries")
    async def deliveries(since: IsoDatetime | None = None) -> dict[str, str | None]:
        return {"since": since.isoformat() if since else None}

    @app.post("/contacts")
    async def contact(body: ContactIn) -> dict[str, str]:
        return {"at": body.at.isoformat()}

    return app


async def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t")


REFUSED = [0, 1764547200, 1764547200.5, "0", "1764547200", "2026-11-24", "2026-11-24T09:00:00"]


@pytest.mark.parametrize("value", REFUSED, ids=repr)
async def test_a_moment_that_is_a_number_or_has_no_offset_is_a_422_naming_the_field(
    value: object,
) -> None:
    async with await _client() as client:
        body = await client.post("/contacts", json={"at": value})
        query = await client.get("/deliveries", params={"since": str(value)})

    for answer, field in ((body, "at"), (query, "since")):
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text


async def test_an_iso_moment_with_its_offset_is_taken() -> None:
    async with await _client() as client:
        body = await client.post("/contacts", json={"at": "2026-11-24T09:00:00+08:00"})
        utc = await client.post("/contacts", json={"at": "2026-11-24T01:00:00.250Z"})
        query = await client.get("/deliveries", params={"since": "2026-11-24T09:00:00+08:00"})
        absent = await client.get("/deliveries")

    assert body.json() == {"at": "2026-11-24T09:00:00+08:00"}
    assert utc.json() == {"at": "2026-11-24T01:00:00.250000+00:00"}
    assert query.json() == {"since": "2026-11-24T09:00:00+08:00"}
    assert absent.json() == {"since": None}


def test_code_may_still_hand_the_types_aware_values_but_no_naive_one() -> None:
    shanghai = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 24, 9, 0, tzinfo=shanghai)
    assert ContactIn(at=moment).at == moment
    assert ContactIn.model_validate({"at": moment}).at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with pytest.raises(ValidationError):
        ContactIn(at=datetime(2026, 11, 24, 9, 0))

    class Day(BaseModel):
        day: IsoDate

    assert Day(day=date(2026, 11, 24)).day == date(2026, 11, 24)
    with pytest.raises(ValidationError):
        Day.model_validate({"day": 0})
