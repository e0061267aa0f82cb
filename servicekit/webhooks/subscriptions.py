"""Subscriptions: endpoint URL, event-type filter, secrets (with rotation), enabled flag."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlmodel import col

from servicekit.webhooks.clock import as_utc, new_id, utc_now
from servicekit.webhooks.errors import SubscriptionNotFound, WebhookError
from servicekit.webhooks.policy import WebhookPolicy
from servicekit.webhooks.scope import OwnerScope
from servicekit.webhooks.signing import generate_secret
from servicekit.webhooks.ssrf import Resolver, check_url
from servicekit.webhooks.tables import FAILED, PENDING, WebhookDeliveryRow, WebhookSubscriptionRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

MAX_EVENT_TYPES = 100


class InvalidSubscription(WebhookError, ValueError):
    """A field of the subscription is invalid."""


EVENT_TYPE_FORM = (
    "fsm.<Event>.v<N> as in the event catalogue (e.g. fsm.OrderAssigned.v1), or a prefix"
    " ending in * that matches at least one of them (e.g. fsm.Order*)"
)


def normalise_event_types(
    event_types: Sequence[str] | None, *, catalogue: Collection[str] | None = None
) -> list[str]:
    """The filter as stored: distinct non-empty names; an empty list means every event type.

    A name ending in ``*`` matches every type starting with what precedes it. With a
    ``catalogue`` (the event types that exist), a name must be one of them and a prefix must
    match at least one: a misspelt filter would otherwise silently match nothing.
    """
    names = [name.strip() for name in (event_types or [])]
    if any(not name or len(name) > 200 for name in names):
        raise InvalidSubscription("event types must be non-empty names of at most 200 characters")
    if len(set(names)) > MAX_EVENT_TYPES:
        raise InvalidSubscription(f"at most {MAX_EVENT_TYPES} event types per subscription")
    names = list(dict.fromkeys(names))
    if catalogue is not None:
        _check_known(names, catalogue)
    return names


def _check_known(names: Sequence[str], catalogue: Collection[str]) -> None:
    unknown = [name for name in names if not any(matches([name], known) for known in catalogue)]
    if not unknown:
        return
    hints = []
    for name in unknown:
        guess = _closest(name, catalogue)
        hints.append(f"{name!r} (did you mean {guess!r}?)" if guess else repr(name))
    raise InvalidSubscription(
        f"unknown event types: {', '.join(hints)}; an event type is named {EVENT_TYPE_FORM}"
    )


def _closest(name: str, catalogue: Collection[str]) -> str | None:
    bare = name.rstrip("*").lower()
    for known in sorted(catalogue):
        # "OrderAssigned", "orderassigned", "OrderAssigned.v1": the name without its dressing
        event = known.split(".")[1].lower() if known.count(".") >= 2 else known.lower()
        if bare in (event, f"{event}.v{known.rsplit('.v', 1)[-1]}", f"fsm.{event}"):
            return known
    close = difflib.get_close_matches(name, list(catalogue), n=1, cutoff=0.8)
    return close[0] if close else None


def matches(event_types: Sequence[str], event_type: str) -> bool:
    """Whether a subscription filter admits ``event_type``."""
    if not event_types:
        return True
    return any(
        name == event_type or (name.endswith("*") and event_type.startswith(name[:-1]))
        for name in event_types
    )


def active_secrets(subscription: WebhookSubscriptionRow, now: datetime) -> list[str]:
    """The secrets that sign at ``now``: the current one, and the previous one until it expires."""
    secrets_ = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and (expires is None or as_utc(expires) > now):
        secrets_.append(subscription.previous_secret)
    return secrets_


async def create_subscription(
    session: AsyncSession,
    *,
    owner_id: str,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    policy: WebhookPolicy,
    resolver: Resolver | None = None,
    now: datetime | None = None,
    catalogue: Collection[str] | None = None,
) -> WebhookSubscriptionRow:
    """Add an enabled endpoint with a fresh secret (the URL passes the SSRF guard first; the
    filter names types of ``catalogue`` when one is given)."""
    if not owner_id or len(owner_id) > 64:
        raise InvalidSubscription("owner_id must have 1 to 64 characters")
    event_types = normalise_event_types(event_types, catalogue=catalogue)
    await check_url(url, policy=policy, resolver=resolver)
    moment = now or utc_now()
    row = WebhookSubscriptionRow(
        id=new_id(),
        owner_id=owner_id,
        url=url,
        description=description,
        event_types=event_types,
        secret=generate_secret(policy.secret_bytes),
        enabled=True,
        created_at=moment,
        updated_at=moment,
    )
    session.add(row)
    await session.flush()
    return row


async def get_subscription(
    session: AsyncSession, *, scope: OwnerScope, subscription_id: str
) -> WebhookSubscriptionRow:
    """The subscription, or :class:`SubscriptionNotFound` (also for another owner's)."""
    row = await session.get(WebhookSubscriptionRow, subscription_id)
    if row is None or not scope.admits(row.owner_id):
        raise SubscriptionNotFound(f"no webhook subscription {subscription_id}")
    return row


async def list_subscriptions(
    session: AsyncSession, *, scope: OwnerScope
) -> list[WebhookSubscriptionRow]:
    """The subscriptions visible in ``scope``, oldest first."""
    result = await session.execute(
        select(WebhookSubscriptionRow)
        .where(scope.where(WebhookSubscriptionRow.owner_id))
        .order_by(col(WebhookSubscriptionRow.id))
    )
    return list(result.scalars())


async def update_subscription(
    session: AsyncSession,
    *,
    scope: OwnerScope,
    subscription_id: str,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    policy: WebhookPolicy,
    resolver: Resolver | None = None,
    now: datetime | None = None,
    catalogue: Collection[str] | None = None,
) -> WebhookSubscriptionRow:
    """Change the given fields (None leaves a field as it is). Enabling clears the disabled
    reason and the failure streak, and so does a new URL (the old one's failures say nothing of
    it); disabling fails the endpoint's pending deliveries."""
    row = await get_subscription(session, scope=scope, subscription_id=subscription_id)
    moment = now or utc_now()
    if event_types is not None:
        row.event_types = normalise_event_types(event_types, catalogue=catalogue)
    if url is not None:
        await check_url(url, policy=policy, resolver=resolver)
        if url != row.url:
            row.failing_since = None
        row.url = url
    if description is not None:
        row.description = description
    if enabled is True and not row.enabled:
        row.enabled = True
        row.disabled_reason = None
        row.disabled_at = None
        row.failing_since = None
    elif enabled is False and row.enabled:
        await disable(session, row, reason="disabled by its owner", now=moment)
    row.updated_at = moment
    session.add(row)
    await session.flush()
    return row


async def delete_subscription(
    session: AsyncSession, *, scope: OwnerScope, subscription_id: str
) -> None:
    """Remove the endpoint with its deliveries and their log."""
    row = await get_subscription(session, scope=scope, subscription_id=subscription_id)
    await session.delete(row)
    await session.flush()


async def rotate_secret(
    session: AsyncSession,
    *,
    scope: OwnerScope,
    subscription_id: str,
    policy: WebhookPolicy,
    now: datetime | None = None,
) -> WebhookSubscriptionRow:
    """Issue a new secret; the current one keeps signing alongside it for the overlap period
    (a second rotation within it retires the oldest, so at most two are active)."""
    row = await get_subscription(session, scope=scope, subscription_id=subscription_id)
    moment = now or utc_now()
    row.previous_secret = row.secret
    row.previous_secret_expires_at = moment + timedelta(
        seconds=policy.secret_rotation_overlap_seconds
    )
    row.secret = generate_secret(policy.secret_bytes)
    row.updated_at = moment
    session.add(row)
    await session.flush()
    return row


async def disable(
    session: AsyncSession, row: WebhookSubscriptionRow, *, reason: str, now: datetime
) -> None:
    """Disable the endpoint and fail its pending deliveries (a replay recovers them)."""
    row.enabled = False
    row.disabled_reason = reason[:500]
    row.disabled_at = now
    row.updated_at = now
    session.add(row)
    await session.execute(
        update(WebhookDeliveryRow)
        .where(
            col(WebhookDeliveryRow.subscription_id) == row.id,
            col(WebhookDeliveryRow.status) == PENDING,
        )
        .values(
            status=FAILED,
            next_attempt_at=None,
            claim_token=None,
            last_error=f"endpoint disabled: {reason}"[:2000],
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
