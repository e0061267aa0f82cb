"""A FastAPI router for webhook self-service and the delivery log, scoped to one owner.

The service passes a dependency that yields the caller's :class:`OwnerScope` (a partner key's
network, or everyone for admins): another owner's subscriptions and deliveries answer 404, exactly
like missing ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import REGISTRY
from servicekit.dates import IsoDatetime
from servicekit.db import SessionFactory
from servicekit.idempotency import handle_idempotently, stage_claim
from servicekit.problems import ProblemError, problem_responses
from servicekit.webhooks import log as delivery_log
from servicekit.webhooks import queue, subscriptions
from servicekit.webhooks.clock import Clock, as_utc, utc_now
from servicekit.webhooks.errors import (
    DeliveryInFlight,
    DeliveryNotFound,
    EndpointDisabled,
    InvalidMessage,
    InvalidReplayRange,
    SubscriptionNotFound,
    UnsafeWebhookUrl,
    WebhookError,
)
from servicekit.webhooks.policy import WebhookPolicy
from servicekit.webhooks.scope import OwnerScope
from servicekit.webhooks.ssrf import Resolver
from servicekit.webhooks.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)

CONTRACT_EVENT_TYPES: frozenset[str] = frozenset(REGISTRY)
"""The event types of the contracts' registry (``fsm.<Event>.v<N>``): what filters may name."""

ScopeDependency = Callable[..., Any]
"""A FastAPI dependency (sync or async, with its own dependencies) returning an OwnerScope."""


class SubscriptionCreate(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="https URL that receives the POSTs.")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Event types to send, named fsm.<Event>.v<N> as in the event catalogue "
        "(e.g. fsm.OrderAssigned.v1); a trailing * matches a prefix (fsm.Order*) and must match "
        "at least one type; empty sends all. Unknown names are refused with 422.",
    )
    description: str | None = Field(default=None, max_length=500)
    owner_id: str | None = Field(
        default=None,
        max_length=64,
        description="Owner (network) of the endpoint: required for admins, implied for partners.",
    )


class SubscriptionUpdate(BaseModel):
    """Fields to change; omitted ones stay as they are."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048)
    event_types: list[str] | None = Field(
        default=None,
        max_length=100,
        description="As when adding: fsm.<Event>.v<N> names or prefixes ending in *.",
    )
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="false pauses the endpoint; true re-enables a disabled one."
    )


class SubscriptionPublic(BaseModel):
    """An endpoint as shown to its owner (without its secrets)."""

    id: str
    owner_id: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookSubscriptionRow) -> SubscriptionPublic:
        """The public view of a row (times in UTC)."""
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            disabled_at=_utc(row.disabled_at),
            failing_since=_utc(row.failing_since),
            previous_secret_expires_at=_utc(row.previous_secret_expires_at),
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
        )


class SubscriptionSecrets(BaseModel):
    """The signing secrets: during a rotation both sign every message."""

    secret: str = Field(description="whsec_ + base64 of the key; verify with it.")
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None


class SubscriptionCreated(SubscriptionPublic):
    """A new endpoint with its secret."""

    secret: str


class AttemptPublic(BaseModel):
    """One HTTP attempt."""

    id: str
    attempted_at: datetime
    url: str
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None

    @classmethod
    def of(cls, row: WebhookAttemptRow) -> AttemptPublic:
        """The public view of a row."""
        return cls(
            id=row.id,
            attempted_at=as_utc(row.attempted_at),
            url=row.url,
            succeeded=row.succeeded,
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


class DeliveryPublic(BaseModel):
    """One message to one endpoint."""

    id: str
    subscription_id: str
    owner_id: str
    message_id: str = Field(description="The webhook-id header (the same on every retry).")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDeliveryRow) -> DeliveryPublic:
        """The public view of a row."""
        return cls(
            id=row.id,
            subscription_id=row.subscription_id,
            owner_id=row.owner_id,
            message_id=row.message_id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=_utc(row.next_attempt_at),
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=as_utc(row.created_at),
            finished_at=_utc(row.finished_at),
        )


class DeliveryDetail(DeliveryPublic):
    """A delivery with its body and every attempt."""

    payload: Any
    attempt_log: list[AttemptPublic]


class DeliveryPage(BaseModel):
    """A page of deliveries, newest first."""

    items: list[DeliveryPublic]
    next_before: str | None = Field(description="Pass as `before` for the next page.")


class ReplayRequest(BaseModel):
    """Which messages to send again."""

    model_config = ConfigDict(extra="forbid")

    since: IsoDatetime
    until: IsoDatetime | None = None
    only_failed: bool = Field(
        default=True, description="false also resends messages that were delivered."
    )


class ReplayResult(BaseModel):
    """How many deliveries were scheduled."""

    scheduled: int


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _problem(exc: WebhookError) -> ProblemError:
    if isinstance(exc, SubscriptionNotFound | DeliveryNotFound):
        return ProblemError(404, str(exc), title="Not Found")
    if isinstance(exc, EndpointDisabled):
        return ProblemError(409, str(exc), title="Endpoint disabled")
    if isinstance(exc, DeliveryInFlight):
        return ProblemError(409, str(exc), title="Delivery in flight")
    if isinstance(exc, InvalidReplayRange):
        return ProblemError(
            422,
            "The request has invalid or missing fields: since, until.",
            title="Invalid request",
            type_="https://fsm.example/problems/validation",
            errors=[
                {"field": name, "message": str(exc), "type": type(exc).__name__}
                for name in ("since", "until")
            ],
        )
    field = "url" if isinstance(exc, UnsafeWebhookUrl) else "body"
    if isinstance(exc, subscriptions.InvalidSubscription | InvalidMessage):
        field = "event_types" if "event type" in str(exc) else field
    return ProblemError(
        422,
        f"The request has invalid or missing fields: {field}.",
        title="Invalid request",
        type_="https://fsm.example/problems/validation",
        errors=[{"field": field, "message": str(exc), "type": type(exc).__name__}],
    )


async def _runtime_session_factory(request: Request) -> SessionFactory:
    factory: SessionFactory = request.app.state.runtime.session_factory
    return factory


def webhook_router(
    *,
    scope: ScopeDependency,
    policy: WebhookPolicy,
    session_factory: Callable[
        ..., SessionFactory | Awaitable[SessionFactory]
    ] = _runtime_session_factory,
    resolver: Resolver | None = None,
    clock: Clock = utc_now,
    prefix: str = "/v1/webhooks",
    tags: Sequence[str] = ("webhooks",),
    idempotency_ttl: timedelta = timedelta(hours=24),
    event_catalogue: Collection[str] | None = CONTRACT_EVENT_TYPES,
) -> APIRouter:
    """Subscriptions (create, list, read, change, delete, secret, rotate, replay) and the delivery
    log (list, read with attempts, redeliver), each limited to the scope ``scope`` yields.

    ``session_factory`` is a dependency giving the service's session factory (by default the
    runtime's: ``request.app.state.runtime.session_factory``). The POSTs honour
    ``Idempotency-Key`` (per owner, kept ``idempotency_ttl``): a retry gets the first answer.
    Event-type filters must name types of ``event_catalogue`` (None: any name).
    """
    router = APIRouter(
        prefix=prefix,
        tags=list(tags),
        responses=problem_responses(401, 403, 404, 422),
    )

    async def _session(
        factory: SessionFactory = Depends(session_factory),
    ) -> AsyncIterator[AsyncSession]:
        async with factory() as session:
            yield session

    # Defaults, not Annotated aliases: these dependencies are local to the factory, and with
    # postponed annotations FastAPI resolves annotation strings in the module's globals only.
    scope_dep: OwnerScope = Depends(scope)
    session_dep: AsyncSession = Depends(_session)
    factory_dep: SessionFactory = Depends(session_factory)

    async def _once(
        request: Request,
        factory: SessionFactory,
        session: AsyncSession,
        owner: OwnerScope,
        body: BaseModel | None,
        status_code: int,
        run: Callable[[], Awaitable[BaseModel]],
        *,
        location_of: Callable[[Any], str] | None = None,
    ) -> Response:
        """``run`` once per Idempotency-Key; with ``location_of`` the answer carries the
        created resource's ``Location``."""

        # A retried rotation must not rotate twice: the first secret would stop signing.
        async def respond() -> JSONResponse:
            try:
                result = await run()
                headers = None
                if location_of is not None:
                    headers = {"Location": location_of(result)}
                return JSONResponse(
                    jsonable_encoder(result), status_code=status_code, headers=headers
                )
            except Exception:
                # End the route's transaction before the helper looks the key up on another
                # connection: on SQLite it holds the write lock until the request is over.
                await session.rollback()
                raise

        return await handle_idempotently(
            request,
            session_factory=factory,
            principal_id=f"webhooks:{owner.owner_id or '*'}",
            ttl=idempotency_ttl,
            body=body.model_dump(mode="json") if body is not None else {},
            run=respond,
        )

    @router.post(
        "/subscriptions",
        status_code=201,
        response_model=SubscriptionCreated,
        summary="Add a webhook endpoint",
    )
    async def create(
        body: SubscriptionCreate,
        request: Request,
        owner: OwnerScope = scope_dep,
        session: AsyncSession = session_dep,
        factory: SessionFactory = factory_dep,
    ) -> Response:
        """Add an endpoint; the response carries its signing secret. The URL must resolve to a
        public address (private, loopback and link-local addresses are refused). Deliveries are
        signed per Standard Webhooks and sent at least once, concurrently, retried after a
        failure: they can arrive out of order or twice. Deduplicate by the `webhook-id` header
        and order an order's events by their `time`."""

        async def run() -> SubscriptionCreated:
            return await _create(body, owner, session)

        return await _once(
            request,
            factory,
            session,
            owner,
            body,
            201,
            run,
            location_of=lambda created: f"{request.url.path}/{created.id}",
        )

    async def _create(
        body: SubscriptionCreate, owner: OwnerScope, session: AsyncSession
    ) -> SubscriptionCreated:
        if owner.unrestricted:
            if not body.owner_id:
                raise ProblemError(
                    422,
                    "The request has invalid or missing fields: owner_id.",
                    title="Invalid request",
                    type_="https://fsm.example/problems/validation",
                    errors=[{"field": "owner_id", "message": "required for admin keys"}],
                )
            owner_id = body.owner_id
        else:
            assert owner.owner_id is not None
            if body.owner_id not in (None, owner.owner_id):
                raise ProblemError(403, "A partner key can only add its own network's endpoints.")
            owner_id = owner.owner_id
        try:
            row = await subscriptions.create_subscription(
                session,
                owner_id=owner_id,
                url=body.url,
                event_types=body.event_types,
                description=body.description,
                policy=policy,
                resolver=resolver,
                now=clock(),
                catalogue=event_catalogue,
            )
        except WebhookError as exc:
            raise _problem(exc) from exc
        stage_claim(session)  # the Idempotency-Key is taken with the change, or not at all
        await session.commit()
        return SubscriptionCreated(**SubscriptionPublic.of(row).model_dump(), secret=row.secret)

    @router.get("/subscriptions", response_model=list[SubscriptionPublic], summary="List endpoints")
    async def list_all(
        owner: OwnerScope = scope_dep, session: AsyncSession = session_dep
    ) -> list[SubscriptionPublic]:
        """The caller's endpoints (every owner's for admins)."""
        rows = await subscriptions.list_subscriptions(session, scope=owner)
        return [SubscriptionPublic.of(row) for row in rows]

    @router.get(
        "/subscriptions/{subscription_id}",
        response_model=SubscriptionPublic,
        summary="Read an endpoint",
    )
    async def read(
        subscription_id: str, owner: OwnerScope = scope_dep, session: AsyncSession = session_dep
    ) -> SubscriptionPublic:
        """One endpoint, with why it is disabled if it is."""
        try:
            row = await subscriptions.get_subscription(
                session, scope=owner, subscription_id=subscription_id
            )
        except WebhookError as exc:
            raise _problem(exc) from exc
        return SubscriptionPublic.of(row)

    @router.patch(
        "/subscriptions/{subscription_id}",
        response_model=SubscriptionPublic,
        summary="Change an endpoint",
    )
    async def change(
        subscription_id: str,
        body: SubscriptionUpdate,
        owner: OwnerScope = scope_dep,
        session: AsyncSession = session_dep,
    ) -> SubscriptionPublic:
        """Change URL, filter, description or enabled flag (re-enabling clears the failure
        streak; use replay to recover what it missed)."""
        try:
            row = await subscriptions.update_subscription(
                session,
                scope=owner,
                subscription_id=subscription_id,
                url=body.url,
                event_types=body.event_types,
                description=body.description,
                enabled=body.enabled,
                policy=policy,
                resolver=resolver,
                now=clock(),
                catalogue=event_catalogue,
            )
        except WebhookError as exc:
            raise _problem(exc) from exc
        await session.commit()
        return SubscriptionPublic.of(row)

    @router.delete(
        "/subscriptions/{subscription_id}",
        status_code=204,
        response_class=Response,
        summary="Delete an endpoint",
    )
    async def remove(
        subscription_id: str, owner: OwnerScope = scope_dep, session: AsyncSession = session_dep
    ) -> Response:
        """Delete the endpoint with its deliveries and their log."""
        try:
            await subscriptions.delete_subscription(
                session, scope=owner, subscription_id=subscription_id
            )
        except WebhookError as exc:
            raise _problem(exc) from exc
        await session.commit()
        return Response(status_code=204)

    def _secrets(row: WebhookSubscriptionRow) -> SubscriptionSecrets:
        active = subscriptions.active_secrets(row, as_utc(clock()))
        return SubscriptionSecrets(
            secret=active[0],
            previous_secret=active[1] if len(active) > 1 else None,
            previous_secret_expires_at=_utc(row.previous_secret_expires_at)
            if len(active) > 1
            else None,
        )

    @router.get(
        "/subscriptions/{subscription_id}/secret",
        response_model=SubscriptionSecrets,
        summary="Read the signing secrets",
    )
    async def secret(
        subscription_id: str, owner: OwnerScope = scope_dep, session: AsyncSession = session_dep
    ) -> SubscriptionSecrets:
        """The current secret, and the previous one while a rotation overlaps."""
        try:
            row = await subscriptions.get_subscription(
                session, scope=owner, subscription_id=subscription_id
            )
        except WebhookError as exc:
            raise _problem(exc) from exc
        return _secrets(row)

    @router.post(
        "/subscriptions/{subscription_id}/secret/rotate",
        response_model=SubscriptionSecrets,
        summary="Rotate the signing secret",
    )
    async def rotate(
        subscription_id: str,
        request: Request,
        owner: OwnerScope = scope_dep,
        session: AsyncSession = session_dep,
        factory: SessionFactory = factory_dep,
    ) -> Response:
        """Issue a new secret; the old one keeps signing alongside it for the overlap period,
        so receivers can switch without losing a message."""

        async def run() -> SubscriptionSecrets:
            try:
                row = await subscriptions.rotate_secret(
                    session,
                    scope=owner,
                    subscription_id=subscription_id,
                    policy=policy,
                    now=clock(),
                )
            except WebhookError as exc:
                raise _problem(exc) from exc
            stage_claim(session)
            await session.commit()
            return _secrets(row)

        return await _once(request, factory, session, owner, None, 200, run)

    @router.post(
        "/subscriptions/{subscription_id}/replay",
        response_model=ReplayResult,
        status_code=202,
        summary="Replay a time range",
        responses=problem_responses(409, 422),
    )
    async def replay(
        subscription_id: str,
        body: ReplayRequest,
        request: Request,
        owner: OwnerScope = scope_dep,
        session: AsyncSession = session_dep,
        factory: SessionFactory = factory_dep,
    ) -> Response:
        """Send the endpoint's messages of ``[since, until)`` again (failed or never sent ones;
        all of them with ``only_failed=false``). Messages are kept ``message_retention_days``
        (policy, 90 days by default) once delivered or given up; older ones cannot be replayed.
        409 while the endpoint is disabled; 422 naming `since` and `until` when `until` is not
        after `since`."""

        async def run() -> ReplayResult:
            try:
                scheduled = await queue.replay(
                    session,
                    scope=owner,
                    subscription_id=subscription_id,
                    since=body.since,
                    until=body.until,
                    only_failed=body.only_failed,
                    now=clock(),
                )
            except WebhookError as exc:
                raise _problem(exc) from exc
            stage_claim(session)
            await session.commit()
            return ReplayResult(scheduled=scheduled)

        return await _once(request, factory, session, owner, body, 202, run)

    @router.get("/deliveries", response_model=DeliveryPage, summary="The delivery log")
    async def deliveries(
        owner: OwnerScope = scope_dep,
        session: AsyncSession = session_dep,
        subscription_id: str | None = None,
        status: Literal["pending", "succeeded", "failed"] | None = None,
        event_type: str | None = None,
        message_id: str | None = None,
        since: IsoDatetime | None = None,
        until: IsoDatetime | None = None,
        before: Annotated[str | None, Query(description="Delivery id to page from.")] = None,
        limit: Annotated[int, Query(ge=1, le=delivery_log.MAX_PAGE)] = 50,
    ) -> DeliveryPage:
        """Deliveries, newest first, filtered; only the caller's own."""
        rows = await delivery_log.list_deliveries(
            session,
            scope=owner,
            subscription_id=subscription_id,
            status=status,
            event_type=event_type,
            message_id=message_id,
            since=since,
            until=until,
            before=before,
            limit=limit,
        )
        return DeliveryPage(
            items=[DeliveryPublic.of(row) for row in rows],
            next_before=rows[-1].id if len(rows) == limit else None,
        )

    @router.get(
        "/deliveries/{delivery_id}",
        response_model=DeliveryDetail,
        summary="One delivery with its attempts",
    )
    async def delivery(
        delivery_id: str, owner: OwnerScope = scope_dep, session: AsyncSession = session_dep
    ) -> DeliveryDetail:
        """The delivery, its body and every attempt (status, duration, response excerpt, error)."""
        try:
            row = await delivery_log.get_delivery(session, scope=owner, delivery_id=delivery_id)
            attempts = await delivery_log.list_attempts(
                session, scope=owner, delivery_id=delivery_id
            )
            payload = await delivery_log.get_payload(session, scope=owner, delivery_id=delivery_id)
        except WebhookError as exc:
            raise _problem(exc) from exc
        return DeliveryDetail(
            **DeliveryPublic.of(row).model_dump(),
            payload=json.loads(payload),
            attempt_log=[AttemptPublic.of(a) for a in attempts],
        )

    @router.post(
        "/deliveries/{delivery_id}/redeliver",
        response_model=DeliveryPublic,
        status_code=202,
        summary="Send one delivery again",
        responses=problem_responses(409),
    )
    async def redeliver(
        delivery_id: str,
        request: Request,
        owner: OwnerScope = scope_dep,
        session: AsyncSession = session_dep,
        factory: SessionFactory = factory_dep,
    ) -> Response:
        """Schedule the delivery now with a fresh retry schedule (same webhook-id). 409 while the
        endpoint is disabled, and while an attempt of this delivery is in flight (try again once
        it has ended)."""

        async def run() -> DeliveryPublic:
            try:
                row = await queue.redeliver(
                    session, scope=owner, delivery_id=delivery_id, now=clock()
                )
            except WebhookError as exc:
                raise _problem(exc) from exc
            stage_claim(session)
            await session.commit()
            return DeliveryPublic.of(row)

        return await _once(request, factory, session, owner, None, 202, run)

    return router
