"""HTTP plumbing: correlation ids, request metrics, health, readiness and metrics routes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import context
from servicekit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from servicekit.problems import problem_response

CORRELATION_HEADER = "x-correlation-id"


class CorrelationAndMetricsMiddleware:
    """Binds the caller's ``X-Correlation-ID`` (or a new one) to the request, echoes it, and
    records request counts and latencies by route template."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == CORRELATION_HEADER.encode():
                incoming = value.decode("latin-1")[:128]
                break
        request_id = str(uuid.uuid4())
        correlation = incoming or request_id
        status_holder = {"status": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), correlation.encode()))
                message["headers"] = headers
            await send(message)

        started = time.perf_counter()
        with context.flow_context(correlation=correlation, causation=request_id):
            try:
                await self.app(scope, receive, _send)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                method = scope.get("method", "")
                HTTP_REQUESTS.labels(self.service, method, template, status_holder["status"]).inc()
                HTTP_LATENCY.labels(self.service, method, template).observe(
                    time.perf_counter() - started
                )


class NulByteGuard:
    """Answers 422 problem+json to a request carrying a NUL character in its path, its query or
    a JSON body (``\\u0000``). No text column of PostgreSQL can hold one, so it would otherwise
    fail deep in a query (a 500), or be stored in a JSON document and published, and then stop
    every consumer that writes it into a text column."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await _nul_refused(scope, receive, send, "the path or the query")
            return
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        if b"json" not in content_type.lower():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _has_json_nul(body):
            await _nul_refused(scope, receive, send, "the body")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _has_json_nul(body: bytes) -> bool:
    """Whether a JSON text holds the escape ``\\u0000`` (not an escaped backslash before
    ``u0000``, which is plain text)."""
    start = body.find(b"\\u0000")
    while start != -1:
        backslashes = 0
        while start - backslashes - 1 >= 0 and body[start - backslashes - 1] == ord("\\"):
            backslashes += 1
        if backslashes % 2 == 0:
            return True
        start = body.find(b"\\u0000", start + 1)
    return False


async def _nul_refused(scope: Scope, receive: Receive, send: Send, where: str) -> None:
    response = problem_response(
        422,
        title="Unprocessable Content",
        detail=f"{where.capitalize()} holds a NUL character (\\u0000), which cannot be stored: "
        "remove it.",
        instance=scope.get("path", ""),
    )
    await response(scope, receive, send)


ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]


def ops_router(readiness: ReadinessCheck) -> APIRouter:
    """``/healthz`` (alive), ``/readyz`` (database and broker reachable) and ``/metrics``."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process is up and serving HTTP."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness",
        responses={503: {"description": "A dependency is unreachable (problem+json)."}},
    )
    async def readyz(request: Request) -> Any:
        """The service's database and the broker are reachable."""
        checks = await readiness()
        if all(v == "ok" for v in checks.values()):
            return {"status": "ok", "checks": checks}
        return problem_response(
            503,
            title="Service Unavailable",
            detail="Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"),
            instance=request.url.path,
            checks=checks,
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
