"""Enqueueing (inside the caller's transaction), redelivery and replay."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import delete, exists, select
from sqlmodel import col

from servicekit.webhooks.clock import as_utc, new_id, utc_now
from servicekit.webhooks.errors import (
    DeliveryInFlight,
    DeliveryNotFound,
    EndpointDisabled,
    InvalidMessage,
    InvalidReplayRange,
)
from servicekit.webhooks.scope import OwnerScope
from servicekit.webhooks.subscriptions import get_subscription, matches
from servicekit.webhooks.tables import (
    FAILED,
    PENDING,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookMessageRow,
    WebhookSubscriptionRow,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from servicekit.db import SessionFactory

MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,200}$")

JsonBody = Mapping[str, Any] | Sequence[Any] | BaseModel | str


def serialise(payload: JsonBody) -> str:
    """The exact body that is stored, signed and sent (compact UTF-8 JSON)."""
    if isinstance(payload, BaseModel):
        value: Any = payload.model_dump(mode="json")
    elif isinstance(payload, str):
        try:
            value = json.loads(payload)
        except ValueError as exc:
            raise InvalidMessage(f"the payload is not JSON: {exc}") from exc
    else:
        value = payload
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"the payload is not JSON-serialisable: {exc}") from exc


def _new_delivery(
    message: WebhookMessageRow, subscription_id: str, now: datetime, delay: float = 0.0
) -> WebhookDeliveryRow:
    return WebhookDeliveryRow(
        id=new_id(),
        message_ref=message.id,
        subscription_id=subscription_id,
        owner_id=message.owner_id,
        message_id=message.message_id,
        event_type=message.event_type,
        status=PENDING,
        attempts=0,
        next_attempt_at=now + timedelta(seconds=delay),
        created_at=now,
        updated_at=now,
    )


async def enqueue(
    session: AsyncSession,
    owner_id: str,
    event_type: str,
    message_id: str,
    payload: JsonBody,
    *,
    now: datetime | None = None,
    first_delay_seconds: float = 0.0,
    subject: str | None = None,
    also_for: Iterable[str] = (),
) -> list[str]:
    """Stage ``payload`` for every enabled subscription of ``owner_id`` whose filter admits
    ``event_type`` (or one of ``also_for``: the event types the message stands for, so an
    endpoint that asked for those is sent it too), in the caller's transaction (nothing is
    sent unless it commits).

    ``message_id`` becomes the ``webhook-id`` (the same on every retry; receivers dedupe on it);
    enqueueing an id the owner already has does nothing. The message is kept for a later replay
    when the owner has subscriptions, even if none matches now; ``subject`` (what it is about,
    an order's id) finds it again. Returns the new delivery ids.
    """
    if not MESSAGE_ID.match(message_id):
        raise InvalidMessage("message_id must be 1-200 characters of A-Z a-z 0-9 . _ : ~ -")
    if not event_type or len(event_type) > 200:
        raise InvalidMessage("event_type must have 1 to 200 characters")
    body = serialise(payload)
    moment = as_utc(now) if now else utc_now()
    subscriptions = list(
        (
            await session.execute(
                select(WebhookSubscriptionRow).where(
                    col(WebhookSubscriptionRow.owner_id) == owner_id
                )
            )
        ).scalars()
    )
    if not subscriptions:
        return []
    duplicate = await session.execute(
        select(col(WebhookMessageRow.id)).where(
            col(WebhookMessageRow.owner_id) == owner_id,
            col(WebhookMessageRow.message_id) == message_id,
        )
    )
    if duplicate.first() is not None:
        return []
    message = WebhookMessageRow(
        id=new_id(),
        owner_id=owner_id,
        message_id=message_id,
        event_type=event_type,
        payload=body,
        created_at=moment,
        subject=subject,
    )
    session.add(message)
    deliveries = [
        _new_delivery(message, sub.id, moment, first_delay_seconds)
        for sub in subscriptions
        if sub.enabled
        and any(matches(sub.event_types, admitted) for admitted in (event_type, *also_for))
    ]
    # The message row must exist before the deliveries that reference it (PostgreSQL checks
    # foreign keys per statement; there is no relationship() to order the inserts).
    await session.flush()
    session.add_all(deliveries)
    return [d.id for d in deliveries]


def _reset(delivery: WebhookDeliveryRow, now: datetime) -> None:
    delivery.status = PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.claim_token = None
    delivery.finished_at = None
    delivery.updated_at = now


async def redeliver(
    session: AsyncSession,
    *,
    scope: OwnerScope,
    delivery_id: str,
    now: datetime | None = None,
) -> WebhookDeliveryRow:
    """Send one delivery again now, with a fresh retry schedule and the same ``webhook-id``.
    Refused (:class:`DeliveryInFlight`) while an attempt of it is in flight: clearing its claim
    would let a second worker send it alongside, past the endpoint's in-flight limit."""
    # Locked, so a worker cannot claim it between the check and the reset (its claim skips
    # locked rows); read fresh, in case a claim committed since the session last saw it.
    delivery = await session.get(
        WebhookDeliveryRow, delivery_id, with_for_update=True, populate_existing=True
    )
    if delivery is None or not scope.admits(delivery.owner_id):
        raise DeliveryNotFound(f"no webhook delivery {delivery_id}")
    moment = as_utc(now) if now else utc_now()
    subscription = await get_subscription(
        session, scope=scope, subscription_id=delivery.subscription_id
    )
    if not subscription.enabled:
        raise EndpointDisabled(
            f"the endpoint is disabled ({subscription.disabled_reason}); enable it first"
        )
    lease_ends = delivery.next_attempt_at and as_utc(delivery.next_attempt_at)
    if delivery.status == PENDING and delivery.claim_token and lease_ends and lease_ends > moment:
        raise DeliveryInFlight(
            "an attempt of this delivery is in flight; redeliver it once that attempt has ended"
            f" (at the latest {lease_ends.isoformat()})"
        )
    _reset(delivery, moment)
    session.add(delivery)
    await session.flush()
    return delivery


async def replay(
    session: AsyncSession,
    *,
    scope: OwnerScope,
    subscription_id: str,
    since: datetime,
    until: datetime | None = None,
    only_failed: bool = True,
    now: datetime | None = None,
) -> int:
    """Send the endpoint's messages created in ``[since, until)`` again: failed deliveries (all
    finished ones unless ``only_failed``) and messages it never got (e.g. while disabled) that its
    filter admits. Returns how many deliveries were scheduled."""
    if until is not None and as_utc(until) <= as_utc(since):
        raise InvalidReplayRange(
            "until must be later than since: the range [since, until) is empty"
        )
    subscription = await get_subscription(session, scope=scope, subscription_id=subscription_id)
    if not subscription.enabled:
        raise EndpointDisabled(
            f"the endpoint is disabled ({subscription.disabled_reason}); enable it first"
        )
    moment = as_utc(now) if now else utc_now()
    conditions = [
        col(WebhookMessageRow.owner_id) == subscription.owner_id,
        col(WebhookMessageRow.created_at) >= as_utc(since),
    ]
    if until is not None:
        conditions.append(col(WebhookMessageRow.created_at) < as_utc(until))
    rows = (
        await session.execute(
            select(WebhookMessageRow, WebhookDeliveryRow)
            .outerjoin(
                WebhookDeliveryRow,
                (col(WebhookDeliveryRow.message_ref) == col(WebhookMessageRow.id))
                & (col(WebhookDeliveryRow.subscription_id) == subscription.id),
            )
            .where(*conditions)
            .order_by(col(WebhookMessageRow.created_at), col(WebhookMessageRow.id))
        )
    ).all()
    scheduled = 0
    for message, delivery in rows:
        if delivery is None:
            if matches(subscription.event_types, message.event_type):
                session.add(_new_delivery(message, subscription.id, moment))
                scheduled += 1
        elif delivery.status == FAILED or (not only_failed and delivery.status != PENDING):
            _reset(delivery, moment)
            session.add(delivery)
            scheduled += 1
    await session.flush()
    return scheduled


async def purge_finished_before(
    session_factory: SessionFactory, cutoff: datetime, *, batch: int = 500
) -> int:
    """Delete the messages created before ``cutoff`` whose deliveries have all finished
    (succeeded or given up), with their deliveries and attempt log, ``batch`` messages per
    transaction; returns how many messages. A message with a delivery still pending stays,
    however old: it is still being retried (or was sent again by hand)."""
    being_delivered = exists().where(
        col(WebhookDeliveryRow.message_ref) == col(WebhookMessageRow.id),
        col(WebhookDeliveryRow.status) == PENDING,
    )
    purged = 0
    while True:
        async with session_factory() as session:
            ids = list(
                (
                    await session.execute(
                        select(col(WebhookMessageRow.id))
                        .where(col(WebhookMessageRow.created_at) < as_utc(cutoff))
                        .where(~being_delivered)
                        .limit(batch)
                    )
                ).scalars()
            )
            if ids:
                deliveries = select(col(WebhookDeliveryRow.id)).where(
                    col(WebhookDeliveryRow.message_ref).in_(ids)
                )
                await session.execute(
                    delete(WebhookAttemptRow).where(
                        col(WebhookAttemptRow.delivery_id).in_(deliveries)
                    )
                )
                await session.execute(
                    delete(WebhookDeliveryRow).where(col(WebhookDeliveryRow.message_ref).in_(ids))
                )
                await session.execute(
                    delete(WebhookMessageRow).where(col(WebhookMessageRow.id).in_(ids))
                )
                await session.commit()
        purged += len(ids)
        if len(ids) < batch:
            return purged
