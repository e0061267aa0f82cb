"""Admission control: fair turns for requests, probes always answered, overload shed with 503."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from servicekit.admission import AdmissionMiddleware, FairGate
from servicekit.metrics import HTTP_QUEUED, HTTP_SHED
from servicekit.settings import ServiceSettings


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_freed_slot_goes_to_the_oldest_waiter_not_to_a_newcomer() -> None:
    gate = FairGate(1)
    order: list[str] = []
    await gate.acquire()

    async def take(name: str) -> None:
        await gate.acquire()
        order.append(name)

    first = asyncio.create_task(take("first"))
    second = asyncio.create_task(take("second"))
    await _settle()
    assert gate.waiting == 2

    gate.release()
    newcomer = asyncio.create_task(take("newcomer"))  # asks before "first" has run again
    await _settle()
    assert order == ["first"]

    gate.release()
    await _settle()
    gate.release()
    await asyncio.gather(first, second, newcomer)
    assert order == ["first", "second", "newcomer"]


async def test_a_waiter_that_gives_up_does_not_take_a_slot_with_it() -> None:
    gate = FairGate(1)
    await gate.acquire()
    quitter = asyncio.create_task(gate.acquire())
    stayer = asyncio.create_task(gate.acquire())
    await _settle()
    quitter.cancel()
    await _settle()

    gate.release()
    await asyncio.wait_for(stayer, timeout=1)
    gate.release()
    await asyncio.wait_for(gate.acquire(), timeout=1)  # the slot came back to the gate


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_is_passed_on() -> None:
    gate = FairGate(1)
    await gate.acquire()
    unlucky = asyncio.create_task(gate.acquire())
    next_in_line = asyncio.create_task(gate.acquire())
    await _settle()

    gate.release()  # handed to "unlucky"...
    unlucky.cancel()  # ...which is cancelled before it runs
    await _settle()

    assert unlucky.cancelled()
    await asyncio.wait_for(next_in_line, timeout=1)


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        FairGate(0)


def _app(gate: FairGate, queue_timeout: float) -> tuple[FastAPI, asyncio.Event]:
    release = asyncio.Event()
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"status": "done"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        AdmissionMiddleware, gate=gate, queue_timeout=queue_timeout, service="gate-test"
    )
    return app, release


async def test_a_request_that_waits_too_long_is_shed_with_503_problem_and_retry_after() -> None:
    app, release = _app(FairGate(1), queue_timeout=0.05)
    shed_before = HTTP_SHED.labels("gate-test")._value.get()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        busy = asyncio.create_task(client.get("/slow"))
        await _settle()

        shed = await client.get("/slow")
        assert HTTP_QUEUED.labels("gate-test")._value.get() == 0  # the shed one left the queue
        probe = await client.get("/healthz")

        release.set()
        assert (await busy).status_code == 200
    assert shed.status_code == 503
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.headers["retry-after"] == "1"
    assert "waited 0.05 s" in shed.json()["detail"]
    assert probe.status_code == 200  # probes are never queued behind the work
    assert HTTP_SHED.labels("gate-test")._value.get() == shed_before + 1


async def test_a_request_that_gets_its_turn_in_time_is_served() -> None:
    gate = FairGate(1)
    app, release = _app(gate, queue_timeout=5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        first = asyncio.create_task(client.get("/slow"))
        second = asyncio.create_task(client.get("/slow"))
        await _settle()
        assert gate.waiting == 1
        release.set()
        assert [r.status_code for r in await asyncio.gather(first, second)] == [200, 200]
    assert gate.waiting == 0
    await asyncio.wait_for(gate.acquire(), timeout=1)  # every slot was given back


def test_by_default_the_gate_leaves_two_pool_connections_to_the_consumer_and_relay() -> None:
    def gate_size(**fields: Any) -> int:
        return ServiceSettings(
            service_name="svc", port=8000, **fields
        ).resolved_http_max_concurrency

    assert gate_size(database_pool_size=15) == 13
    assert gate_size(database_pool_size=2) == 1
    assert gate_size(http_max_concurrency=40) == 40
