"""A retry overlapping the first request with the same ``Idempotency-Key`` gets the first's answer,
even when it fails on what the first one did; one after a crash before the answer is told the
request was carried out."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import KIT_REGISTRY, SessionFactory
from servicekit.idempotency import handle_idempotently, stage_claim
from servicekit.problems import ProblemError


def _request(key: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/v1/orders/o-1/rejection",
            "headers": [(b"idempotency-key", key.encode())],
            "query_string": b"",
        }
    )


async def test_a_retry_failing_on_the_first_requests_effect_gets_the_first_answer(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(KIT_REGISTRY.metadata.create_all)
    order = {"held_by": "net-1"}

    async def reject() -> JSONResponse:
        if order["held_by"] != "net-1":
            raise ProblemError(404, "Order o-1 is not held by this network.")
        async with session_factory() as session:
            order["held_by"] = "centre"
            stage_claim(session)  # what the unit of work does on commit
            await session.commit()
        return JSONResponse({"status": "returned to the centre"})

    async def call() -> Any:
        return await handle_idempotently(
            _request("reject-1"),
            session_factory=session_factory,
            principal_id="net-1-key",
            ttl=timedelta(hours=1),
            body={"reason": "no one free"},
            run=reject,
        )

    async def overlapping_retry() -> JSONResponse:
        # The first request commits while the retry is under way (the retry found no record
        # yet and now meets the moved state).
        await call()
        return await reject()

    retried = await handle_idempotently(
        _request("reject-1"),
        session_factory=session_factory,
        principal_id="net-1-key",
        ttl=timedelta(hours=1),
        body={"reason": "no one free"},
        run=overlapping_retry,
    )

    assert retried.status_code == 200
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert bytes(retried.body) == b'{"status":"returned to the centre"}'


async def test_a_retry_after_a_crash_before_the_answer_is_told_the_request_was_carried_out(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(KIT_REGISTRY.metadata.create_all)
    effects: list[str] = []

    async def crashes_after_commit() -> JSONResponse:
        async with session_factory() as session:
            effects.append("returned")
            stage_claim(session)
            await session.commit()
        raise SystemExit  # the process dies before the answer is stored

    async def retry() -> JSONResponse:
        effects.append("returned again")
        return JSONResponse({})

    def call(run: Any) -> Any:
        return handle_idempotently(
            _request("reject-2"),
            session_factory=session_factory,
            principal_id="net-1-key",
            ttl=timedelta(hours=1),
            body={},
            run=run,
            wait_for_first=0.2,
        )

    with pytest.raises(SystemExit):
        await call(crashes_after_commit)
    await asyncio.sleep(0.3)
    with pytest.raises(ProblemError) as refused:
        await call(retry)

    assert refused.value.status == 409 and "carried out" in refused.value.detail
    assert effects == ["returned"]


async def test_a_request_failing_after_its_own_commit_gets_its_own_error_at_once(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    """The record it finds is its own, not a first request's still under way: waiting for it
    only delayed the error and turned it into 409 "still being processed"."""
    async with engine.begin() as connection:
        await connection.run_sync(KIT_REGISTRY.metadata.create_all)

    async def fails_after_commit() -> JSONResponse:
        async with session_factory() as session:
            stage_claim(session)
            await session.commit()
        raise ProblemError(404, "Order o-1 is no longer this network's to read.")

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProblemError) as failed:
        await handle_idempotently(
            _request("reject-3"),
            session_factory=session_factory,
            principal_id="net-1-key",
            ttl=timedelta(hours=1),
            body={},
            run=fails_after_commit,
            wait_for_first=2.0,
        )

    assert failed.value.status == 404
    assert loop.time() - started < 1.0
