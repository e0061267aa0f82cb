"""The delivery worker: claim due deliveries, send them signed, record each attempt and schedule
the next one in the database (no sleeping coroutines: a restart loses nothing)."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import httpx
import structlog
from sqlalchemy import select, update
from sqlmodel import col

from servicekit.webhooks.clock import Clock, as_utc, new_id, utc_now
from servicekit.webhooks.errors import UnsafeWebhookUrl
from servicekit.webhooks.policy import WebhookPolicy
from servicekit.webhooks.signing import webhook_headers
from servicekit.webhooks.ssrf import Resolver, check_url
from servicekit.webhooks.subscriptions import active_secrets, disable
from servicekit.webhooks.tables import (
    FAILED,
    PENDING,
    SUCCEEDED,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookMessageRow,
    WebhookSubscriptionRow,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from servicekit.db import SessionFactory

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DisabledEndpoint:
    """An endpoint the worker disabled: ``cause`` is ``gone`` (HTTP 410) or ``failing`` (no
    success for ``policy.disable_after_failing_seconds``)."""

    subscription_id: str
    owner_id: str
    url: str
    cause: Literal["gone", "failing"]
    reason: str
    failing_since: datetime | None
    disabled_at: datetime


OnEndpointDisabled = Callable[["AsyncSession", DisabledEndpoint], Awaitable[None]]
"""Called in the transaction that disables the endpoint (so an event the service stages in the
outbox with this session commits with it). If it raises, the batch's results roll back and its
deliveries are retried after their lease."""


@dataclass(slots=True)
class DeliveryReport:
    """What one run of the worker did."""

    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: list[DisabledEndpoint] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        """Accumulate ``other`` into this report."""
        self.claimed += other.claimed
        self.succeeded += other.succeeded
        self.retrying += other.retrying
        self.failed += other.failed
        self.disabled.extend(other.disabled)


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: str
    claim_token: str
    subscription_id: str
    url: str
    secrets: tuple[str, ...]
    message_id: str
    body: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    claimed: _Claimed
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    error: str | None
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit, not to float()
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def next_delay(
    *,
    attempts_made: int,
    policy: WebhookPolicy,
    rng: random.Random,
    retry_after: float | None = None,
) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failures, or None when the schedule
    is exhausted. Jitter spreads each step; a ``Retry-After`` (capped) is never undercut."""
    if attempts_made >= policy.max_attempts:
        return None
    base = policy.retry_schedule_seconds[attempts_made]
    delay = base * (1 + rng.uniform(-policy.jitter_ratio, policy.jitter_ratio))
    if retry_after is not None:
        delay = max(delay, min(retry_after, float(policy.max_retry_after_seconds)))
    return delay


async def _claim(
    session_factory: SessionFactory, now: datetime, policy: WebhookPolicy
) -> list[_Claimed]:
    async with session_factory() as session:
        query = (
            select(WebhookDeliveryRow, WebhookMessageRow, WebhookSubscriptionRow)
            .join(
                WebhookMessageRow,
                col(WebhookMessageRow.id) == col(WebhookDeliveryRow.message_ref),
            )
            .join(
                WebhookSubscriptionRow,
                col(WebhookSubscriptionRow.id) == col(WebhookDeliveryRow.subscription_id),
            )
            .where(
                col(WebhookDeliveryRow.status) == PENDING,
                col(WebhookDeliveryRow.next_attempt_at) <= now,
                col(WebhookSubscriptionRow.enabled).is_(True),
            )
            .order_by(col(WebhookDeliveryRow.next_attempt_at), col(WebhookDeliveryRow.id))
            .limit(policy.batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Concurrent workers skip each other's rows instead of waiting or double-sending.
            # SQLite needs nothing: the kit's engine begins IMMEDIATE, so one writer at a time.
            query = query.with_for_update(skip_locked=True, of=WebhookDeliveryRow)
        rows = (await session.execute(query)).all()
        if not rows:
            return []
        token = new_id()
        ids = [delivery.id for delivery, _, _ in rows]
        await session.execute(
            update(WebhookDeliveryRow)
            .where(col(WebhookDeliveryRow.id).in_(ids))
            .values(
                claim_token=token,
                next_attempt_at=now + timedelta(seconds=policy.claim_lease_seconds),
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        return [
            _Claimed(
                delivery_id=delivery.id,
                claim_token=token,
                subscription_id=subscription.id,
                url=subscription.url,
                secrets=tuple(active_secrets(subscription, now)),
                message_id=message.message_id,
                body=message.payload,
            )
            for delivery, message, subscription in rows
        ]


async def _attempt(
    client: httpx.AsyncClient,
    claimed: _Claimed,
    *,
    now: datetime,
    policy: WebhookPolicy,
    resolver: Resolver | None,
) -> _Outcome:
    started = time.perf_counter()

    def outcome(
        status_code: int | None = None,
        excerpt: str | None = None,
        error: str | None = None,
        retry_after: float | None = None,
    ) -> _Outcome:
        return _Outcome(
            claimed=claimed,
            status_code=status_code,
            duration_ms=round((time.perf_counter() - started) * 1000),
            excerpt=excerpt,
            error=error,
            retry_after=retry_after,
        )

    try:
        target = await check_url(claimed.url, policy=policy, resolver=resolver)
    except UnsafeWebhookUrl as exc:
        return outcome(error=f"refused by the SSRF guard: {exc}")
    headers = {
        "content-type": "application/json",
        "user-agent": policy.user_agent,
        **webhook_headers(
            message_id=claimed.message_id,
            timestamp=now,
            body=claimed.body,
            secrets_=claimed.secrets,
        ),
        **target.request_headers(),
    }
    if target.address is not None and target.url.scheme == "https":
        # The pool keys connections by address: never reuse one negotiated for another host name.
        headers["connection"] = "close"
    request = client.build_request(
        "POST",
        target.request_url(),
        content=claimed.body.encode(),
        headers=headers,
        timeout=policy.timeout_seconds,
        extensions=target.request_extensions(),
    )
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                excerpt = await _read_excerpt(response, policy.response_excerpt_bytes)
            finally:
                await response.aclose()
    except TimeoutError:
        return outcome(error=f"timed out after {policy.timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return outcome(error=f"{type(exc).__name__}: {exc}"[:2000])
    return outcome(
        status_code=response.status_code,
        excerpt=excerpt,
        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
    )


async def _read_excerpt(response: httpx.Response, limit: int) -> str | None:
    if limit <= 0:
        return None
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks.extend(chunk)
        if len(chunks) >= limit:
            break
    return bytes(chunks[:limit]).decode("utf-8", errors="replace") or None


async def _record(
    session_factory: SessionFactory,
    outcomes: Sequence[_Outcome],
    *,
    now: datetime,
    policy: WebhookPolicy,
    rng: random.Random,
    on_endpoint_disabled: OnEndpointDisabled | None,
) -> DeliveryReport:
    report = DeliveryReport(claimed=len(outcomes))
    # Successes first: a success in the same batch ends the endpoint's failure streak.
    ordered = sorted(outcomes, key=lambda o: (not o.succeeded, o.claimed.delivery_id))
    async with session_factory() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        sub_query = (
            select(WebhookSubscriptionRow)
            .where(col(WebhookSubscriptionRow.id).in_({o.claimed.subscription_id for o in ordered}))
            .order_by(col(WebhookSubscriptionRow.id))
        )
        delivery_query = (
            select(WebhookDeliveryRow)
            .where(col(WebhookDeliveryRow.id).in_([o.claimed.delivery_id for o in ordered]))
            .order_by(col(WebhookDeliveryRow.id))
        )
        if postgres:
            # Lock order subscriptions -> deliveries, as disabling does, so workers never deadlock.
            sub_query = sub_query.with_for_update()
            delivery_query = delivery_query.with_for_update()
        subscriptions = {s.id: s for s in (await session.execute(sub_query)).scalars()}
        deliveries = {d.id: d for d in (await session.execute(delivery_query)).scalars()}
        for result in ordered:
            delivery = deliveries.get(result.claimed.delivery_id)
            subscription = subscriptions.get(result.claimed.subscription_id)
            if delivery is None or subscription is None:
                continue  # deleted with its subscription meanwhile
            session.add(
                WebhookAttemptRow(
                    id=new_id(),
                    delivery_id=delivery.id,
                    owner_id=delivery.owner_id,
                    subscription_id=subscription.id,
                    attempted_at=now,
                    url=result.claimed.url,
                    succeeded=result.succeeded,
                    status_code=result.status_code,
                    duration_ms=result.duration_ms,
                    response_excerpt=result.excerpt,
                    error=result.error,
                )
            )
            if delivery.claim_token != result.claimed.claim_token or delivery.status != PENDING:
                continue  # redelivered or disabled while in flight: the log keeps the attempt
            if not subscription.enabled:
                # Disabled earlier in this batch (the bulk update is not reflected in memory).
                delivery.attempts += 1
                delivery.last_status_code = result.status_code
                delivery.last_error = f"endpoint disabled: {subscription.disabled_reason}"[:2000]
                delivery.claim_token = None
                delivery.updated_at = now
                _finish_failed(delivery, now)
                report.failed += 1
                continue
            disabled = _apply(
                delivery,
                subscription,
                result,
                now=now,
                policy=policy,
                rng=rng,
                report=report,
            )
            if disabled is not None:
                await disable(session, subscription, reason=disabled.reason, now=now)
                report.disabled.append(disabled)
                log.warning(
                    "webhook.endpoint_disabled",
                    subscription_id=subscription.id,
                    owner_id=subscription.owner_id,
                    cause=disabled.cause,
                    reason=disabled.reason,
                )
                if on_endpoint_disabled is not None:
                    await on_endpoint_disabled(session, disabled)
        await session.commit()
    return report


def _apply(
    delivery: WebhookDeliveryRow,
    subscription: WebhookSubscriptionRow,
    result: _Outcome,
    *,
    now: datetime,
    policy: WebhookPolicy,
    rng: random.Random,
    report: DeliveryReport,
) -> DisabledEndpoint | None:
    """Update the delivery (and the endpoint's failure streak); the endpoint to disable, if any."""
    delivery.attempts += 1
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error or (
        None if result.succeeded else f"HTTP {result.status_code}"
    )
    delivery.claim_token = None
    delivery.updated_at = now
    if result.succeeded:
        delivery.status = SUCCEEDED
        delivery.next_attempt_at = None
        delivery.finished_at = now
        subscription.failing_since = None
        report.succeeded += 1
        return None
    if subscription.failing_since is None:
        subscription.failing_since = now
    failing_since = as_utc(subscription.failing_since)
    if result.status_code == 410:
        _finish_failed(delivery, now)
        report.failed += 1
        return _disabled(subscription, "gone", "the endpoint answered 410 Gone", failing_since, now)
    delay = next_delay(
        attempts_made=delivery.attempts, policy=policy, rng=rng, retry_after=result.retry_after
    )
    if delay is None:
        _finish_failed(delivery, now)
        delivery.last_error = f"retry schedule exhausted; last: {delivery.last_error}"[:2000]
        report.failed += 1
    else:
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        report.retrying += 1
    if subscription.enabled and now - failing_since >= timedelta(
        seconds=policy.disable_after_failing_seconds
    ):
        if delay is not None:
            _finish_failed(delivery, now)
            report.retrying -= 1
            report.failed += 1
        days = policy.disable_after_failing_seconds / 86_400
        return _disabled(
            subscription,
            "failing",
            f"every attempt failed for {days:g} days (since {failing_since.isoformat()})",
            failing_since,
            now,
        )
    return None


def _finish_failed(delivery: WebhookDeliveryRow, now: datetime) -> None:
    delivery.status = FAILED
    delivery.next_attempt_at = None
    delivery.finished_at = now


def _disabled(
    subscription: WebhookSubscriptionRow,
    cause: Literal["gone", "failing"],
    reason: str,
    failing_since: datetime,
    now: datetime,
) -> DisabledEndpoint | None:
    if not subscription.enabled:
        return None
    return DisabledEndpoint(
        subscription_id=subscription.id,
        owner_id=subscription.owner_id,
        url=subscription.url,
        cause=cause,
        reason=reason,
        failing_since=failing_since,
        disabled_at=now,
    )


async def deliver_due(
    session_factory: SessionFactory,
    http_client: httpx.AsyncClient,
    now: datetime | None = None,
    *,
    policy: WebhookPolicy | None = None,
    on_endpoint_disabled: OnEndpointDisabled | None = None,
    resolver: Resolver | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Claim up to ``policy.batch_size`` due deliveries, send them (``max_concurrency`` at a
    time) and record the outcomes; safe to run from several workers at once."""
    policy = policy or WebhookPolicy()
    moment = as_utc(now) if now is not None else utc_now()
    claimed = await _claim(session_factory, moment, policy)
    if not claimed:
        return DeliveryReport()
    gate = asyncio.Semaphore(policy.max_concurrency)

    async def guarded(item: _Claimed) -> _Outcome:
        async with gate:
            try:
                return await _attempt(
                    http_client, item, now=moment, policy=policy, resolver=resolver
                )
            except Exception as exc:  # one endpoint's oddity is its own failed attempt
                log.exception("webhook.attempt_failed", delivery_id=item.delivery_id)
                return _Outcome(
                    claimed=item,
                    status_code=None,
                    duration_ms=0,
                    excerpt=None,
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    retry_after=None,
                )

    outcomes = await asyncio.gather(*(guarded(item) for item in claimed))
    return await _record(
        session_factory,
        outcomes,
        now=moment,
        policy=policy,
        rng=rng or random.Random(),
        on_endpoint_disabled=on_endpoint_disabled,
    )


def make_http_client(policy: WebhookPolicy) -> httpx.AsyncClient:
    """The client the worker uses: no redirects (they would bypass the SSRF guard), no proxies
    from the environment, the policy's timeout."""
    return httpx.AsyncClient(
        timeout=policy.timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=policy.max_concurrency * 2),
    )


class WebhookWorker:
    """A periodic job for ``runtime.add_periodic``: delivers what is due, batch after batch."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        policy: WebhookPolicy,
        clock: Clock = utc_now,
        on_endpoint_disabled: OnEndpointDisabled | None = None,
        resolver: Resolver | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._policy = policy
        self._clock = clock
        self._on_endpoint_disabled = on_endpoint_disabled
        self._resolver = resolver
        self._client = http_client
        self._owns_client = http_client is None
        self._rng = random.Random()

    async def run_once(self) -> DeliveryReport:
        """Deliver due batches until one comes back short or ``max_batches_per_run`` is hit."""
        if self._client is None:
            self._client = make_http_client(self._policy)
        total = DeliveryReport()
        for _ in range(self._policy.max_batches_per_run):
            report = await deliver_due(
                self._session_factory,
                self._client,
                self._clock(),
                policy=self._policy,
                on_endpoint_disabled=self._on_endpoint_disabled,
                resolver=self._resolver,
                rng=self._rng,
            )
            total.add(report)
            if report.claimed < self._policy.batch_size:
                break
        return total

    async def aclose(self) -> None:
        """Close the HTTP client the worker created."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
