"""HTTP plumbing: correlation ids, request metrics, health, readiness and metrics routes, the
201 Created answer, and path parameters that may hold ``/``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import context
from servicekit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from servicekit.problems import not_utf_8_problem, problem_response

CORRELATION_HEADER = "x-correlation-id"


def created(content: Any, location: str) -> JSONResponse:
    """A 201 Created answer of ``content`` (a model, or what it dumped to JSON) with the created
    resource's ``Location``, given as a path whose identifiers are percent-encoded (e.g.
    ``quote(serial, safe="")``). The answer is whole, so an ``Idempotency-Key`` keeps it with
    its ``Location`` and a retry is located too."""
    # a model dumps itself to JSON types; jsonable_encoder would walk the dump again (a tenth
    # of intake's CPU for an order taken)
    body = (
        content.model_dump(mode="json", by_alias=True)
        if isinstance(content, BaseModel)
        else jsonable_encoder(content)
    )
    return JSONResponse(
        body,
        status_code=status.HTTP_201_CREATED,
        headers={"Location": location},
    )


class SlashedConvertor(Convertor[str]):
    """``{name:slashed}``: a path parameter of any non-empty text, ``/`` included.

    The ASGI server hands the router the decoded path, so ``%2F`` arrives as ``/`` and the
    default ``{name}`` (``[^/]+``) misses such an identifier. This one matches greedily up to
    the route's literal tail (``/v1/loaners/{serial:slashed}/collect`` takes ``A/B`` from
    ``/v1/loaners/A%2FB/collect``); routes that differ only in that tail must differ in method.
    Unlike ``{name:path}`` it never matches nothing, so ``/v1/loaners/`` is not a read of ``""``.
    """

    regex = ".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("slashed", SlashedConvertor())


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


class HeadAsGet:
    """Answers HEAD wherever GET is answered, with GET's status and headers and no body
    (RFC 9110 9.3.2): routes declare GET only, and FastAPI would answer HEAD with 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # Changed in place, so the middlewares outside see the matched route; given back after.
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, without_body)
        finally:
            scope["method"] = "HEAD"


class RequestGuard:
    """Refuses, with problem+json and before any route runs, a request whose body is larger than
    ``max_body_bytes`` (413: it is never read into memory whole) or that carries a NUL character
    in its path, its query or a JSON body (422: no text column of PostgreSQL can hold one, so it
    would fail deep in a query, or be stored in a JSON document and published, and then stop
    every consumer that writes it into a text column). A JSON body must also be UTF-8 text
    whose escapes name characters: half of a surrogate pair (``\\ud800`` alone) is none, and
    Python's parser would take it, UTF-8-encoded surrogates and UTF-16/32 texts alike, to fail
    later encoding the answer, a row or an event (422, never 500)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await _refuse(
                scope,
                receive,
                send,
                422,
                "The path or the query holds a NUL "
                "character (\\u0000), which cannot be stored: remove it.",
            )
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if b"json" in headers.get(b"content-type", b"").lower():
                body = await _read_all(counted)
                if body is None:  # the client went away: nothing to answer
                    return
                fault = _json_text_fault(body)
                if fault == "encoding":
                    await not_utf_8_problem(scope.get("path", ""))(scope, receive, send)
                    return
                if fault is not None:
                    await _refuse(scope, receive, send, 422, _JSON_TEXT_FAULTS[fault])
                    return
                await self.app(scope, _replaying(body, receive), watched)
            else:
                await self.app(scope, counted, watched)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _refuse(
            scope,
            receive,
            send,
            413,
            f"The request body is larger than {self.max_body_bytes} bytes.",
        )


class _BodyTooLarge(Exception):
    """The body read so far is over the limit."""


async def _read_all(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then what the client sends (a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


_JSON_TEXT_FAULTS = {
    "nul": "The body holds a NUL character (\\u0000), which cannot be stored: remove it.",
    "surrogate": "The body holds half of a surrogate pair (an escape \\ud800-\\udfff without "
    "its other half), which is not a character and cannot be stored: remove it.",
}
# A backslash run before "u" and four hex digits: an escape when the run is odd (an even run is
# escaped backslashes, then plain text).
_UNICODE_ESCAPE = re.compile(rb"(\\+)u([0-9a-fA-F]{4})")


def _json_text_fault(body: bytes) -> str | None:
    """What keeps a JSON body's text from being stored: ``encoding`` (not UTF-8: a raw NUL byte,
    as UTF-16/32 texts have, or an invalid sequence such as an encoded surrogate), ``nul`` (the
    escape ``\\u0000``), ``surrogate`` (an escaped surrogate without its other half), or None."""
    if b"\x00" in body:
        return "encoding"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "encoding"
    if b"\\u" not in body:
        return None
    high_ended_at = -1  # the end of an escaped high surrogate still waiting for its low half
    for escape in _UNICODE_ESCAPE.finditer(body):
        backslashes = len(escape.group(1))
        if backslashes % 2 == 0:
            continue
        unit = int(escape.group(2), 16)
        is_low = 0xDC00 <= unit <= 0xDFFF
        completes_pair = high_ended_at == escape.start() and backslashes == 1 and is_low
        if high_ended_at != -1 and not completes_pair:
            return "surrogate"
        high_ended_at = -1
        if unit == 0:
            return "nul"
        if 0xD800 <= unit <= 0xDBFF:
            high_ended_at = escape.end()
        elif is_low and not completes_pair:
            return "surrogate"
    return "surrogate" if high_ended_at != -1 else None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    title = "Content Too Large" if status == 413 else "Unprocessable Content"
    response = problem_response(status, title=title, detail=detail, instance=scope.get("path", ""))
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
