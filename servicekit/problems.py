"""RFC 9457 problem details (``application/problem+json``) for every error a service returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from servicekit.db import CONFLICT_SQLSTATES, is_transient

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://fsm.example/problems/"

# PostgreSQL's serialization failure and deadlock: the transaction lost a race and was rolled
# back whole; the same request succeeds when retried.
#: PostgreSQL refusing a character of the input (a NUL byte, which no text column can hold).
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def _overflow_behind(error: BaseException | None) -> OverflowError | None:
    """The OverflowError a database error was raised from, if any: asyncpg wraps the one it
    hits encoding a year-1 date in its DataError, which SQLAlchemy wraps again."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OverflowError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class ProblemError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_ or f"{PROBLEM_BASE}{self.title.lower().replace(' ', '-')}"
        self.extensions = extensions


def problem_response(
    status: int,
    *,
    title: str,
    detail: str,
    type_: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": type_ or f"{PROBLEM_BASE}{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def not_utf_8_problem(instance: str) -> JSONResponse:
    """The 422 of a body that is not UTF-8 text (as malformed as one that is not JSON)."""
    return problem_response(
        422,
        title="Invalid request",
        detail="The request has invalid or missing fields: body (not UTF-8 text).",
        type_=f"{PROBLEM_BASE}validation",
        instance=instance,
        errors=[{"field": "body", "message": "not UTF-8 text", "type": "json_invalid"}],
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI errors as ``{"field", "message", "type"}`` entries."""
    out = []
    for err in errors:
        loc = err.get("loc", ())
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = _field_path(loc)
        if err.get("type") == "json_invalid":
            # The location of a JSON syntax error is a character offset, not a field.
            message = "the body is not valid JSON: " + str(err.get("ctx", {}).get("error", message))
            field = "body"
        out.append({"field": field, "message": message, "type": str(err.get("type"))})
    return out


def install_problem_handlers(
    app: FastAPI, domain_errors: Mapping[type[Exception], tuple[int, str]] | None = None
) -> None:
    """Answer every error as problem+json; ``domain_errors`` maps exception types to
    (status, title) so services keep their error taxonomy in one module."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status,
            title=exc.title,
            detail=exc.detail,
            type_=exc.type,
            instance=request.url.path,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422,
            title="Invalid request",
            detail=f"The request has invalid or missing fields: {fields}.",
            type_=f"{PROBLEM_BASE}validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's 400 for a body it cannot even decode: as malformed as bad JSON, 422.
            return not_utf_8_problem(request.url.path)
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route of the path only.
            allowed = allowed_methods(request.app, request.scope)
            if allowed:
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
                detail = f"{request.url.path} supports {', '.join(allowed)} only."
        return problem_response(
            exc.status_code,
            title=title,
            detail=detail,
            instance=request.url.path,
            headers=headers,
        )

    for exc_type, (status, title) in (domain_errors or {}).items():

        def _make(status: int = status, title: str = title) -> Any:
            async def _domain(request: Request, exc: Exception) -> JSONResponse:
                extensions = getattr(exc, "extensions", {}) or {}
                return problem_response(
                    status,
                    title=title,
                    detail=str(exc),
                    instance=request.url.path,
                    **extensions,
                )

            return _domain

        app.add_exception_handler(exc_type, _make())

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        overflow = _overflow_behind(exc.orig)
        if overflow is not None:
            return await _out_of_range(request, overflow)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return await _database_unavailable(request, exc)
        if isinstance(exc, IntegrityError):
            # A unique key the handler did not expect to clash: another request created the
            # same thing meanwhile (the handler's own "exists already" check ran before it).
            log.warning("http.integrity_conflict", path=request.url.path, error=str(exc.orig))
            return problem_response(
                409,
                title="Conflict",
                detail="A concurrent request created or changed the same record; nothing was "
                "changed by this one. Read the current state and retry if still needed.",
                instance=request.url.path,
            )
        if getattr(exc.orig, "sqlstate", None) == "22001":  # string data right truncation
            return problem_response(
                422,
                title="Unprocessable Content",
                detail="A value in the request is longer than its field can hold.",
                instance=request.url.path,
            )
        if getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES:
            return problem_response(
                422,
                title="Unprocessable Content",
                detail="The request holds a character that cannot be stored or searched for "
                "(a NUL byte, \\u0000): remove it.",
                instance=request.url.path,
            )
        if getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES:
            log.warning("http.transaction_conflict", path=request.url.path, error=str(exc.orig))
            return problem_response(
                503,
                title="Service Unavailable",
                detail="The request collided with a concurrent change and was rolled back "
                "whole. Retry it, with the same Idempotency-Key if it changes anything.",
                instance=request.url.path,
                headers={"Retry-After": "1"},
            )
        return await _unexpected(request, exc)

    @app.exception_handler(ConnectionError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database dropped the connection (a restart, a failover), refuses new ones, or
        # every pooled connection stayed busy for the pool timeout: a retry is the right move
        # (with the same Idempotency-Key, in case the connection dropped while committing).
        log.warning("http.database_unavailable", path=request.url.path, error=repr(exc))
        return problem_response(
            503,
            title="Service Unavailable",
            detail="The database is unreachable or busy. Retry shortly, with the same "
            "Idempotency-Key if the request changes anything.",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: OverflowError) -> JSONResponse:
        # Dates and numbers at the edge of their type (year 1, year 9999, 2**63) pass
        # validation but overflow in arithmetic or in the database driver: the input is the
        # problem, so it is a 422, not a 500.
        return problem_response(
            422,
            title="Invalid request",
            detail=f"A value in the request is out of the supported range ({exc}).",
            type_=f"{PROBLEM_BASE}validation",
            instance=request.url.path,
            errors=[{"field": "request", "message": "value out of range", "type": "overflow"}],
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and is_transient(exc):
            # The database refuses us for a while (not accepting connections, disk full, a
            # rotated password): the request may succeed once it is mended, so 503, not 500.
            return await _database_unavailable(request, exc)
        log.exception("http.unhandled_error", path=request.url.path)
        return problem_response(
            500,
            title="Internal Server Error",
            detail="An unexpected error occurred; it has been logged.",
            instance=request.url.path,
        )


def allowed_methods(app: FastAPI, scope: Mapping[str, Any]) -> list[str]:
    """Every method some route of ``app`` takes on the request's path, sorted (HEAD with GET,
    which :class:`servicekit.http.HeadAsGet` answers)."""
    methods: set[str] = set()
    probe = {**scope, "method": "GET"}
    for route in iter_route_contexts(app.routes):
        match, _ = route.matches(probe)
        if match is not Match.NONE:
            methods |= set(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json answers for ``statuses``."""
    return {
        status: {
            "description": HTTPStatus(status).phrase + " (RFC 9457 problem details)",
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
