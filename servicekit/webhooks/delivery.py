"""The delivery worker: claim due deliveries, send them signed, record each attempt and schedule
the next one in the database (no sleeping coroutines: a restart loses nothing).

Endpoints are isolated from each other: a claim shares its batch between the endpoints with
something due (the longest-waiting first, round-robin), an endpoint never has more than
``max_in_flight_per_endpoint`` attempts in flight over all workers (one while it is failing), an
attempt's outcome is recorded as soon as it ends, and the worker keeps claiming for other
endpoints while slow attempts are still in flight.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import httpx
import structlog
from sqlalchemy import func, select, update
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
outbox with this session commits with it). If it raises, that attempt's result rolls back and its
delivery is retried after its lease."""


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
    attempted_at: datetime
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


def _in_flight_limit(policy: WebhookPolicy, failing_since: datetime | None) -> int:
    if failing_since is not None:
        return policy.max_in_flight_per_failing_endpoint
    return policy.max_in_flight_per_endpoint


async def _claim(
    session_factory: SessionFactory, now: datetime, policy: WebhookPolicy, *, limit: int
) -> list[_Claimed]:
    """Lease up to ``limit`` due deliveries in a transaction of their own (see _claim_in)."""
    async with session_factory() as session:
        claimed = await _claim_in(session, now, policy, limit=limit)
        if claimed:
            await session.commit()
        return claimed


async def _claim_in(
    session: AsyncSession, now: datetime, policy: WebhookPolicy, *, limit: int
) -> list[_Claimed]:
    """Lease up to ``limit`` due deliveries, shared round-robin between the endpoints with
    something due (the longest-waiting first), each within its in-flight limit; the caller
    commits."""
    if limit <= 0:
        return []
    delivery, subscription = WebhookDeliveryRow, WebhookSubscriptionRow
    due = (col(delivery.status) == PENDING) & (col(delivery.next_attempt_at) <= now)
    leased = (
        (col(delivery.status) == PENDING)
        & col(delivery.claim_token).is_not(None)
        & (col(delivery.next_attempt_at) > now)
    )
    postgres = session.get_bind().dialect.name == "postgresql"

    async def in_flight(ids: Sequence[str]) -> dict[str, int]:
        query = select(col(delivery.subscription_id), func.count()).where(
            leased, col(delivery.subscription_id).in_(ids)
        )
        rows = await session.execute(query.group_by(col(delivery.subscription_id)))
        return {sub_id: int(n) for sub_id, n in rows.all()}

    # Endpoints with something due and a free slot, the longest-waiting first, with their
    # attempts in flight; one statement (a claim runs as often as attempts end).
    busy_now = (
        select(func.count())
        .where(leased, col(delivery.subscription_id) == col(subscription.id))
        .correlate(subscription)
        .scalar_subquery()
    )
    saturated = (
        select(col(delivery.subscription_id))
        .where(leased)
        .group_by(col(delivery.subscription_id))
        .having(func.count() >= policy.max_in_flight_per_endpoint)
    )
    endpoints_query = (
        select(col(subscription.id), col(subscription.failing_since), busy_now.label("busy"))
        .join(delivery, col(delivery.subscription_id) == col(subscription.id))
        .where(
            due,
            col(subscription.enabled).is_(True),
            col(subscription.id).not_in(saturated),
        )
        .group_by(col(subscription.id), col(subscription.failing_since))
        .order_by(func.min(col(delivery.next_attempt_at)), col(subscription.id))
        .limit(limit)
    )
    candidates = (await session.execute(endpoints_query)).all()
    if not candidates:
        return []
    endpoints = {sub_id: failing for sub_id, failing, _ in candidates}
    busy = {sub_id: int(n) for sub_id, _, n in candidates}
    if postgres:
        # One worker claims for an endpoint at a time, so the in-flight count it reads stays
        # true until it commits (NO KEY UPDATE: enqueue's foreign-key checks do not wait); the
        # count is read again under the lock. SQLite needs nothing: the kit's engine begins
        # IMMEDIATE, so one writer at a time and the counts above hold.
        lock_query = (
            select(col(subscription.id), col(subscription.failing_since))
            .where(col(subscription.id).in_(list(endpoints)), col(subscription.enabled).is_(True))
            .with_for_update(skip_locked=True, key_share=True)
        )
        endpoints = {sub_id: failing for sub_id, failing in await session.execute(lock_query)}
        busy = await in_flight(list(endpoints))
    room = {
        sub_id: _in_flight_limit(policy, failing_since) - busy.get(sub_id, 0)
        for sub_id, failing_since in endpoints.items()
    }
    room = {sub_id: n for sub_id, n in room.items() if n > 0}
    if not room:
        return []
    rank = (
        func.row_number()
        .over(
            partition_by=col(delivery.subscription_id),
            order_by=(col(delivery.next_attempt_at), col(delivery.id)),
        )
        .label("rank")
    )
    ranked = (
        select(
            col(delivery.id).label("id"),
            col(delivery.subscription_id).label("subscription_id"),
            col(delivery.next_attempt_at).label("due"),
            rank,
        )
        .where(due, col(delivery.subscription_id).in_(list(room)))
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.id, ranked.c.subscription_id, ranked.c.rank)
        .where(ranked.c.rank <= max(room.values()))
        .order_by(ranked.c.rank, ranked.c.due, ranked.c.id)
    )
    chosen = [d_id for d_id, sub_id, n in rows.all() if n <= room[sub_id]][:limit]
    if not chosen:
        return []
    query = (
        select(delivery, WebhookMessageRow, subscription)
        .join(WebhookMessageRow, col(WebhookMessageRow.id) == col(delivery.message_ref))
        .join(subscription, col(subscription.id) == col(delivery.subscription_id))
        .where(col(delivery.id).in_(chosen), due)
    )
    if postgres:
        # Concurrent workers skip each other's rows instead of waiting or double-sending;
        # a row another worker leased meanwhile no longer passes `due` once locked.
        query = query.with_for_update(skip_locked=True, of=delivery)
    found = {row[0].id: row for row in (await session.execute(query)).all()}
    if not found:
        return []
    token = new_id()
    await session.execute(
        update(delivery)
        .where(col(delivery.id).in_(list(found)))
        .values(
            claim_token=token,
            next_attempt_at=now + timedelta(seconds=policy.claim_lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    return [
        _Claimed(
            delivery_id=d.id,
            claim_token=token,
            subscription_id=sub.id,
            url=sub.url,
            secrets=tuple(active_secrets(sub, now)),
            message_id=message.message_id,
            body=message.payload,
        )
        for d, message, sub in (found[d_id] for d_id in chosen if d_id in found)
    ]


async def _attempt(
    client: httpx.AsyncClient,
    claimed: _Claimed,
    *,
    clock: Clock,
    policy: WebhookPolicy,
    resolver: Resolver | None,
) -> _Outcome:
    # Signed and logged with the moment it is sent, not the batch's: a receiver checks the
    # timestamp against its own clock (5 minutes of tolerance in the Standard Webhooks libraries).
    attempted_at = as_utc(clock())
    started = time.perf_counter()

    def outcome(
        status_code: int | None = None,
        excerpt: str | None = None,
        error: str | None = None,
        retry_after: float | None = None,
    ) -> _Outcome:
        return _Outcome(
            claimed=claimed,
            attempted_at=attempted_at,
            status_code=status_code,
            duration_ms=round((time.perf_counter() - started) * 1000),
            excerpt=_storable(excerpt),
            error=_storable(error),
            retry_after=retry_after,
        )

    try:
        # Name resolution is part of the attempt: a DNS server that does not answer times the
        # attempt out like a receiver that does not answer.
        async with asyncio.timeout(policy.timeout_seconds):
            try:
                target = await check_url(claimed.url, policy=policy, resolver=resolver)
            except UnsafeWebhookUrl as exc:
                return outcome(error=f"refused by the SSRF guard: {exc}")
            headers = {
                "content-type": "application/json",
                "user-agent": policy.user_agent,
                # Only an excerpt is kept: a compressed answer would be inflated whole to get it.
                "accept-encoding": "identity",
                **webhook_headers(
                    message_id=claimed.message_id,
                    timestamp=attempted_at,
                    body=claimed.body,
                    secrets_=claimed.secrets,
                ),
                **target.request_headers(),
            }
            if target.address is not None and target.url.scheme == "https":
                # The pool keys connections by address: never reuse one negotiated for another
                # host name.
                headers["connection"] = "close"
            request = client.build_request(
                "POST",
                target.request_url(),
                content=claimed.body.encode(),
                headers=headers,
                timeout=policy.timeout_seconds,
                extensions=target.request_extensions(),
            )
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
        retry_after=parse_retry_after(response.headers.get("retry-after"), attempted_at),
    )


async def _attempt_safely(
    client: httpx.AsyncClient,
    claimed: _Claimed,
    *,
    clock: Clock,
    policy: WebhookPolicy,
    resolver: Resolver | None,
) -> _Outcome:
    try:
        return await _attempt(client, claimed, clock=clock, policy=policy, resolver=resolver)
    except Exception as exc:  # one endpoint's oddity is its own failed attempt
        log.exception("webhook.attempt_failed", delivery_id=claimed.delivery_id)
        return _Outcome(
            claimed=claimed,
            attempted_at=as_utc(clock()),
            status_code=None,
            duration_ms=0,
            excerpt=None,
            error=_storable(f"{type(exc).__name__}: {exc}"[:2000]),
            retry_after=None,
        )


def _storable(text: str | None) -> str | None:
    """``text`` as a text column can hold it: PostgreSQL refuses NUL, which a receiver's answer
    may carry (the whole batch's outcomes would roll back with it)."""
    return None if text is None else text.replace("\x00", "\ufffd")


async def _read_excerpt(response: httpx.Response, limit: int) -> str | None:
    """The first ``limit`` bytes of the answer, read raw and, when the receiver compressed it
    anyway (gzip or deflate), inflated no further than ``limit``: httpx would inflate each
    chunk whole, and a few KiB can inflate to many MiB."""
    if limit <= 0:
        return None
    if response.is_stream_consumed:  # read already (a transport that answers in memory)
        return response.content[:limit].decode("utf-8", errors="replace") or None
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    inflater = zlib.decompressobj(wbits=47) if encoding in ("gzip", "x-gzip", "deflate") else None
    chunks = bytearray()
    async for chunk in response.aiter_raw():
        if inflater is None:
            chunks.extend(chunk)
        else:
            try:
                chunks.extend(inflater.decompress(chunk, limit - len(chunks)))
            except zlib.error:
                break
        if len(chunks) >= limit or (inflater is not None and inflater.eof):
            break
    return bytes(chunks[:limit]).decode("utf-8", errors="replace") or None


async def _record(
    session_factory: SessionFactory,
    outcomes: Sequence[_Outcome],
    *,
    policy: WebhookPolicy,
    rng: random.Random,
    on_endpoint_disabled: OnEndpointDisabled | None,
) -> DeliveryReport:
    """Record the attempts that ended, in one transaction (callers record what has ended and
    never wait for a slow attempt to record the others)."""
    if not outcomes:
        return DeliveryReport()
    async with session_factory() as session:
        report = await _record_in(
            session, outcomes, policy=policy, rng=rng, on_endpoint_disabled=on_endpoint_disabled
        )
        await session.commit()
    return report


async def _record_and_claim(
    session_factory: SessionFactory,
    outcomes: Sequence[_Outcome],
    now: Callable[[], datetime],
    *,
    limit: int,
    policy: WebhookPolicy,
    rng: random.Random,
    on_endpoint_disabled: OnEndpointDisabled | None,
) -> tuple[DeliveryReport, list[_Claimed]]:
    """Record the attempts that ended and lease up to ``limit`` more in one transaction: the
    slots the recorded attempts held are taken again at once, without a round trip of their own
    (``now`` is read after recording)."""
    async with session_factory() as session:
        report = await _record_in(
            session, outcomes, policy=policy, rng=rng, on_endpoint_disabled=on_endpoint_disabled
        )
        await session.flush()
        claimed = await _claim_in(session, as_utc(now()), policy, limit=limit)
        if outcomes or claimed:
            await session.commit()
    return report, claimed


async def _record_in(
    session: AsyncSession,
    outcomes: Sequence[_Outcome],
    *,
    policy: WebhookPolicy,
    rng: random.Random,
    on_endpoint_disabled: OnEndpointDisabled | None,
) -> DeliveryReport:
    """Record the attempts that ended in ``session`` (the caller commits)."""
    report = DeliveryReport(claimed=len(outcomes))
    if not outcomes:
        return report
    postgres = session.get_bind().dialect.name == "postgresql"
    sub_query = (
        select(WebhookSubscriptionRow)
        .where(col(WebhookSubscriptionRow.id).in_({o.claimed.subscription_id for o in outcomes}))
        .order_by(col(WebhookSubscriptionRow.id))
    )
    delivery_query = (
        select(WebhookDeliveryRow)
        .where(col(WebhookDeliveryRow.id).in_([o.claimed.delivery_id for o in outcomes]))
        .order_by(col(WebhookDeliveryRow.id))
    )
    if postgres:
        # Lock order subscriptions -> deliveries, as disabling does, so workers never deadlock.
        sub_query = sub_query.with_for_update()
        delivery_query = delivery_query.with_for_update()
    subscriptions = {s.id: s for s in (await session.execute(sub_query)).scalars()}
    deliveries = {d.id: d for d in (await session.execute(delivery_query)).scalars()}
    for result in sorted(outcomes, key=lambda o: (o.attempted_at, o.claimed.delivery_id)):
        delivery = deliveries.get(result.claimed.delivery_id)
        subscription = subscriptions.get(result.claimed.subscription_id)
        if delivery is None or subscription is None:
            continue  # deleted with its subscription meanwhile
        await _record_one(
            session,
            delivery,
            subscription,
            result,
            policy=policy,
            rng=rng,
            report=report,
            on_endpoint_disabled=on_endpoint_disabled,
        )
    return report


async def _record_one(
    session: AsyncSession,
    delivery: WebhookDeliveryRow,
    subscription: WebhookSubscriptionRow,
    result: _Outcome,
    *,
    policy: WebhookPolicy,
    rng: random.Random,
    report: DeliveryReport,
    on_endpoint_disabled: OnEndpointDisabled | None,
) -> None:
    now = result.attempted_at
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
        return  # redelivered or disabled while in flight: the log keeps the attempt
    if not subscription.enabled:
        # Disabled by an earlier outcome of this batch (the bulk update is not in memory).
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_error = f"endpoint disabled: {subscription.disabled_reason}"[:2000]
        delivery.claim_token = None
        delivery.updated_at = now
        _finish_failed(delivery, now)
        report.failed += 1
        return
    if not result.succeeded and subscription.failing_since is not None:
        since = as_utc(subscription.failing_since)
        if now - since >= timedelta(seconds=policy.disable_after_failing_seconds):
            subscription.failing_since = await _continuous_failure_since(
                session, subscription.id, since=since, now=now, policy=policy
            )
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


async def _continuous_failure_since(
    session: AsyncSession,
    subscription_id: str,
    *,
    since: datetime,
    now: datetime,
    policy: WebhookPolicy,
) -> datetime:
    """When the endpoint's current run of failures began: ``since``, unless its attempts since
    then pause longer than ``failure_streak_max_gap_seconds`` somewhere (nothing was sent, or no
    worker ran): the run restarts after the last such pause. A give-up alone restarts nothing, so
    a steady trickle of messages to a dead endpoint still disables it."""
    gap = timedelta(seconds=policy.failure_streak_max_gap_seconds)
    times = (
        await session.execute(
            select(col(WebhookAttemptRow.attempted_at))
            .join(
                WebhookDeliveryRow,
                col(WebhookDeliveryRow.id) == col(WebhookAttemptRow.delivery_id),
            )
            .where(
                col(WebhookDeliveryRow.subscription_id) == subscription_id,
                col(WebhookAttemptRow.attempted_at) >= since,
                col(WebhookAttemptRow.attempted_at) <= now,
            )
            .order_by(col(WebhookAttemptRow.attempted_at))
        )
    ).scalars()
    start = previous = since
    for moment in [*(as_utc(t) for t in times), now]:
        if moment - previous > gap:
            start = moment
        previous = moment
    return start


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
            f"every attempt failed for {days:g} days (since {failing_since.isoformat()}, with no"
            f" pause over {policy.failure_streak_max_gap_seconds / 86_400:g} days)",
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
    """Claim up to ``policy.batch_size`` due deliveries (shared fairly between endpoints, each
    within its in-flight limit), send them ``max_concurrency`` at a time and record each outcome
    as it ends; safe to run from several workers at once.

    ``now`` freezes the clock for the run (simulations and tests); without it each attempt is
    signed and logged with the time it is sent."""
    policy = policy or WebhookPolicy()
    clock: Clock = (lambda: moment) if (moment := as_utc(now) if now else None) else utc_now
    claimed = await _claim(session_factory, as_utc(clock()), policy, limit=policy.batch_size)
    if not claimed:
        return DeliveryReport()
    gate = asyncio.Semaphore(policy.max_concurrency)
    generator = rng or random.Random()

    async def one(item: _Claimed) -> _Outcome:
        async with gate:
            return await _attempt_safely(
                http_client, item, clock=clock, policy=policy, resolver=resolver
            )

    report = DeliveryReport()
    pending = {asyncio.create_task(one(item)) for item in claimed}
    try:
        while pending:
            # Record whatever has ended; a slow attempt holds back no other's result.
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            report.add(
                await _record(
                    session_factory,
                    [task.result() for task in done],
                    policy=policy,
                    rng=generator,
                    on_endpoint_disabled=on_endpoint_disabled,
                )
            )
    finally:
        for task in pending:  # only if recording raised: those are retried after their lease
            task.cancel()
    return report


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
    """A periodic job for ``runtime.add_periodic``: holds up to ``batch_size`` claimed deliveries
    and sends them ``max_concurrency`` at a time; as soon as an attempt ends (or every
    ``poll_interval_seconds`` while none does) it records what ended and claims more for any
    endpoint with room, in one transaction, so a slow endpoint never holds the others back and
    a healthy one gets its freed slots back at once. A run ends when nothing is due or in
    flight, or once it claimed ``max_batches_per_run`` batches' worth (``batch_size`` each) of
    deliveries; attempts still in flight then go on and the next run records and reports them."""

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
        self._in_flight: dict[asyncio.Task[_Outcome], str] = {}  # attempt -> its endpoint
        self._slots = asyncio.Semaphore(policy.max_concurrency)

    async def _send(self, client: httpx.AsyncClient, item: _Claimed) -> _Outcome:
        async with self._slots:
            return await _attempt_safely(
                client, item, clock=self._clock, policy=self._policy, resolver=self._resolver
            )

    def _worth_a_round(self) -> bool:
        """Whether what ended is worth a transaction (a round costs about as much for one
        delivery as for a batch): every attempt of some endpoint ended, so all its slots can be
        taken again in one claim, or half of all attempts in flight did and at least an
        endpoint's worth (``max_in_flight_per_endpoint``)."""
        ended = 0
        endpoint_running: dict[str, bool] = {}
        for task, endpoint in self._in_flight.items():
            done = task.done()
            ended += done
            endpoint_running[endpoint] = endpoint_running.get(endpoint, False) or not done
        enough = max(len(self._in_flight) / 2, self._policy.max_in_flight_per_endpoint)
        return not all(endpoint_running.values()) or ended >= enough or not self._in_flight

    async def _wait_for_room(self) -> None:
        """Until an endpoint's attempts all ended or half of those in flight did (at once if so
        already), or the poll interval passed. No poll sleep while a healthy endpoint has free
        slots: the round starts as its attempts end, records them and claims its next ones;
        the interval bounds how long slow attempts keep the worker from claiming for
        endpoints that became due meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.poll_interval_seconds
        while not self._worth_a_round():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            running = [task for task in self._in_flight if not task.done()]
            await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    async def run_once(self) -> DeliveryReport:
        """Deliver what is due (see the class); the report covers the attempts recorded."""
        if self._client is None:
            self._client = make_http_client(self._policy)
        client = self._client
        policy = self._policy
        report = DeliveryReport()
        # A run claims at most max_batches_per_run batches' worth of deliveries, however small
        # the claims the per-endpoint limits split them into.
        budget = policy.max_batches_per_run * policy.batch_size
        try:
            while True:
                ended = [task for task in self._in_flight if task.done()]
                for task in ended:
                    del self._in_flight[task]
                outcomes = [task.result() for task in ended if not task.cancelled()]
                # Claimed ahead up to a batch, sent max_concurrency at a time: the lease covers
                # a batch's wait (the policy checks it); each endpoint's share is capped at claim.
                limit = min(policy.batch_size - len(self._in_flight), budget)
                if outcomes or limit > 0:
                    recorded, claimed = await _record_and_claim(
                        self._session_factory,
                        outcomes,
                        self._clock,
                        limit=limit,
                        policy=policy,
                        rng=self._rng,
                        on_endpoint_disabled=self._on_endpoint_disabled,
                    )
                    report.add(recorded)
                    budget -= len(claimed)
                    for item in claimed:
                        task = asyncio.create_task(self._send(client, item))
                        self._in_flight[task] = item.subscription_id
                if not self._in_flight or budget <= 0:
                    break
                await self._wait_for_room()
        except asyncio.CancelledError:
            await self._cancel_in_flight()
            raise
        return report

    async def _cancel_in_flight(self) -> None:
        # Abandoned attempts are sent again after their lease (at least once).
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()

    async def aclose(self) -> None:
        """Stop attempts still in flight and close the HTTP client the worker created."""
        await self._cancel_in_flight()
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
