"""Safe retries of POST requests (``Idempotency-Key`` header).

The key's record is inserted in the same transaction as the request's effects (the unit of work
writes it on commit), so a retry after a crash never repeats the effect. The response is stored
right after; a retry with the same key and body gets the stored response, a retry with another
body gets 422, and concurrent retries wait for the first one. Keys expire after a policy TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Column, DateTime, Text, delete, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import Field, col

from servicekit.db import KitTable, SessionFactory, aware
from servicekit.problems import ProblemError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
HEADER_DESCRIPTION = (
    "Makes a retry safe: the same key and body get the first answer (marked "
    "`Idempotent-Replayed: true`) without doing the work twice; the same key with another body "
    "is refused (422); a retry while the first request is still running, or after its answer "
    "was lost, gets 409. Keys are kept per caller and route for the policy's "
    "`idempotency_key_ttl_hours`."
)


def header_parameter() -> dict[str, Any]:
    """The OpenAPI parameter of the header, for operations that honour it (servicekit.openapi
    adds it to every operation whose route calls :func:`handle_idempotently`)."""
    return {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": HEADER_DESCRIPTION,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "example": "3f9c2b1e-call-4711-retry",
    }


class IdempotencyRecord(KitTable, table=True):
    """A request made with an idempotency key, and the response it got."""

    __tablename__ = "idempotency_key"

    scope: str = Field(primary_key=True, max_length=300)
    key: str = Field(primary_key=True, max_length=MAX_KEY_LENGTH)
    request_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    response_headers: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


@dataclass
class IdempotencyClaim:
    """The key a request is being handled under; ``committed`` once the transaction holding
    its record committed (the request's effects are in, whatever happens to it afterwards)."""

    scope: str
    key: str
    request_hash: str
    ttl: timedelta
    committed: bool = False


_claim: ContextVar[IdempotencyClaim | None] = ContextVar("idempotency_claim", default=None)


def current_claim() -> IdempotencyClaim | None:
    """The claim of the request being handled, if it sent a key."""
    return _claim.get()


@contextmanager
def _claiming(claim: IdempotencyClaim) -> Iterator[None]:
    token = _claim.set(claim)
    try:
        yield
    finally:
        _claim.reset(token)


RESOURCE_HEADER = "x-fsm-resource-id"
"""Until the response is stored, the record keeps the id of the aggregate the request changed,
so a retry after a crash between commit and response can rebuild the answer from it."""

EVENTS_HEADER = "x-fsm-events"
"""...and the names of the events the request's transaction published (which of its outcomes
it had: an order taken or a report linked to an order already open)."""


def stage_claim(
    session: AsyncSession, *, resource_id: str | None = None, events: Sequence[str] = ()
) -> None:
    """Insert the current claim's record in ``session``'s transaction (called by the UoW commit),
    naming the aggregate the request changed and the events it published, for a rebuild.

    Only the first commit of a request records it; the contextvar is cleared afterwards.
    """
    claim = _claim.get()
    if claim is None:
        return
    now = datetime.now(UTC)
    session.add(
        IdempotencyRecord(
            scope=claim.scope,
            key=claim.key,
            request_hash=claim.request_hash,
            created_at=now,
            expires_at=now + claim.ttl,
            response_headers=(
                json.dumps({RESOURCE_HEADER: resource_id, EVENTS_HEADER: list(events)})
                if resource_id
                else None
            ),
        )
    )
    _claim.set(None)
    _note_commit(session.sync_session, claim)


def _note_commit(session: Session, claim: IdempotencyClaim) -> None:
    """Set ``claim.committed`` if ``session``'s transaction commits (not if it ends otherwise),
    so the request tells its own record from a concurrent first request's."""
    ended = False

    def committed(_session: Session) -> None:
        if not ended:
            claim.committed = True

    def transaction_ended(_session: Session, transaction: SessionTransaction) -> None:
        nonlocal ended
        # after a commit's after_commit; a rollback ends it without one
        ended = ended or transaction.parent is None

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_transaction_end", transaction_ended)


async def _load(session_factory: SessionFactory, scope: str, key: str) -> IdempotencyRecord | None:
    """The key's record while it lives; an expired one is deleted here, so the key can be used
    again at once (its insert would otherwise clash with the old row until the hourly purge)."""
    async with session_factory() as session:
        record = await session.get(IdempotencyRecord, (scope, key))
        if record is None:
            return None
        now = datetime.now(UTC)
        if aware(record.expires_at) > now:
            return record
        await session.execute(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.scope) == scope,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.expires_at) <= now,
            )
        )
        await session.commit()
        return None


def _replay(record: IdempotencyRecord) -> Response:
    headers = json.loads(record.response_headers or "{}")
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=(record.response_body or "").encode(),
        status_code=record.response_status or 200,
        headers=headers,
        media_type=headers.pop("content-type", "application/json"),
    )


async def handle_idempotently(
    request: Request,
    *,
    session_factory: SessionFactory,
    principal_id: str,
    ttl: timedelta,
    body: Any,
    run: Callable[[], Awaitable[JSONResponse]],
    rebuild: Callable[[str, Sequence[str]], Awaitable[JSONResponse]] | None = None,
    kept: Callable[[JSONResponse], JSONResponse] | None = None,
    wait_for_first: float = 10.0,
) -> Response:
    """Run ``run`` once per (caller, route, ``Idempotency-Key``); without a key just run it.

    ``rebuild(resource_id, events)`` answers a retry whose first attempt committed its effects
    but died before its response was stored (the record names the aggregate it changed and the
    events it published, empty in records written before they were kept); without it such
    a retry gets 409 until the key expires. ``kept(response)`` is what retries get instead of
    the response itself, for an answer that must not be stored (a secret shown only once).
    """
    key = request.headers.get(HEADER)
    if key is None:
        return await run()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ProblemError(
            422,
            f"The {HEADER} header must be 1-{MAX_KEY_LENGTH} characters.",
            title="Invalid idempotency key",
            errors=[{"field": HEADER, "message": "invalid length", "type": "value_error"}],
        )
    scope = f"{principal_id}:{request.method}:{request.url.path}"
    request_hash = hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_for_first
    while True:
        record = await _load(session_factory, scope, key)
        if record is not None:
            if record.request_hash != request_hash:
                raise ProblemError(
                    422,
                    f"This {HEADER} was used with a different request body.",
                    title="Idempotency key reused",
                )
            if record.response_status is not None:
                return _replay(record)
            # The first request committed its effects and is writing its response, or died
            # in between: wait for it, then rebuild the answer from what it changed.
            committed = json.loads(record.response_headers or "{}")
            resource_id = committed.get(RESOURCE_HEADER)
            first_is_gone = datetime.now(UTC) - aware(record.created_at) > timedelta(
                seconds=wait_for_first
            )
            if rebuild is not None and resource_id and (first_is_gone or loop.time() >= deadline):
                response = await rebuild(resource_id, committed.get(EVENTS_HEADER) or ())
                await _store(session_factory, scope, key, kept(response) if kept else response)
                return response
            if first_is_gone:
                raise ProblemError(
                    409,
                    f"The request with this {HEADER} was carried out, but its answer was lost "
                    "(the service stopped before sending it); read the current state instead "
                    "of retrying.",
                    title="Request already carried out",
                )
            if loop.time() >= deadline:
                raise ProblemError(
                    409,
                    "A request with this Idempotency-Key is still being processed; retry later.",
                    title="Request in progress",
                )
            await asyncio.sleep(0.05)
            continue
        claim = IdempotencyClaim(scope, key, request_hash, ttl)
        try:
            with _claiming(claim):
                response = await run()
        except Exception:
            if claim.committed:
                # It failed after its own effects committed: the record is this request's,
                # with no first request to wait for (a retry is told it was carried out).
                raise
            # Another request with this key committed first (this one's record clashed with
            # it), or this retry overlapped the first and failed on what the first one did (a
            # state it already moved on): once the first's record is there, its answer is the
            # retry's answer too. Without a record the failure is this request's own.
            if await _load(session_factory, scope, key) is None:
                raise
            continue
        await _store(session_factory, scope, key, kept(response) if kept else response)
        return response


async def answer_once(
    request: Request,
    *,
    principal_id: str,
    ttl_hours: float,
    body: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int = 200,
) -> Response:
    """:func:`handle_idempotently` for a route of the service whose answer is JSON: ``run``
    returns what the route answers (a model, or a JSONResponse as it is), ``body`` is the
    request's (a model or plain data), keys live ``ttl_hours``."""

    async def respond() -> JSONResponse:
        result = await run()
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse(jsonable_encoder(result), status_code=status_code)

    return await handle_idempotently(
        request,
        session_factory=request.app.state.runtime.session_factory,
        principal_id=principal_id,
        ttl=timedelta(hours=ttl_hours),
        body=jsonable_encoder(body),
        run=respond,
    )


async def _store(session_factory: SessionFactory, scope: str, key: str, response: Response) -> None:
    async with session_factory() as session:
        record = await session.get(IdempotencyRecord, (scope, key))
        if record is None:  # the route did not commit anything: nothing to protect
            return
        record.response_status = response.status_code
        record.response_body = bytes(response.body).decode()
        record.response_headers = json.dumps(
            {k: v for k, v in response.headers.items() if k.lower() in ("location", "content-type")}
        )
        session.add(record)
        await session.commit()


async def purge_expired(session_factory: SessionFactory, now: datetime | None = None) -> int:
    """Delete the keys expired by ``now``; returns how many."""
    async with session_factory() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.expires_at) <= (now or datetime.now(UTC))
            )
        )
        await session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = [
    "EVENTS_HEADER",
    "HEADER",
    "RESOURCE_HEADER",
    "IdempotencyRecord",
    "answer_once",
    "handle_idempotently",
    "header_parameter",
    "purge_expired",
    "stage_claim",
]
