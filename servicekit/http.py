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
