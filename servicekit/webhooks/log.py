"""The delivery log: deliveries and their attempts, always limited to the caller's scope."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import col

from servicekit.webhooks.clock import as_utc
from servicekit.webhooks.errors import DeliveryNotFound
from servicekit.webhooks.scope import OwnerScope
from servicekit.webhooks.tables import WebhookAttemptRow, WebhookDeliveryRow, WebhookMessageRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

MAX_PAGE = 200


async def list_deliveries(
    session: AsyncSession,
    *,
    scope: OwnerScope,
    subscription_id: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    message_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[WebhookDeliveryRow]:
    """Deliveries visible in ``scope``, newest first; ``before`` (a delivery id) pages on."""
    conditions = [scope.where(WebhookDeliveryRow.owner_id)]
    if subscription_id is not None:
        conditions.append(col(WebhookDeliveryRow.subscription_id) == subscription_id)
    if status is not None:
        conditions.append(col(WebhookDeliveryRow.status) == status)
    if event_type is not None:
        conditions.append(col(WebhookDeliveryRow.event_type) == event_type)
    if message_id is not None:
        conditions.append(col(WebhookDeliveryRow.message_id) == message_id)
    if since is not None:
        conditions.append(col(WebhookDeliveryRow.created_at) >= as_utc(since))
    if until is not None:
        conditions.append(col(WebhookDeliveryRow.created_at) < as_utc(until))
    if before is not None:
        conditions.append(col(WebhookDeliveryRow.id) < before)
    result = await session.execute(
        select(WebhookDeliveryRow)
        .where(*conditions)
        .order_by(col(WebhookDeliveryRow.id).desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    return list(result.scalars())


async def get_delivery(
    session: AsyncSession, *, scope: OwnerScope, delivery_id: str
) -> WebhookDeliveryRow:
    """One delivery, or :class:`DeliveryNotFound` (also for another owner's)."""
    delivery = await session.get(WebhookDeliveryRow, delivery_id)
    if delivery is None or not scope.admits(delivery.owner_id):
        raise DeliveryNotFound(f"no webhook delivery {delivery_id}")
    return delivery


async def list_attempts(
    session: AsyncSession, *, scope: OwnerScope, delivery_id: str
) -> list[WebhookAttemptRow]:
    """The attempts of one delivery, oldest first."""
    await get_delivery(session, scope=scope, delivery_id=delivery_id)
    result = await session.execute(
        select(WebhookAttemptRow)
        .where(
            col(WebhookAttemptRow.delivery_id) == delivery_id,
            scope.where(WebhookAttemptRow.owner_id),
        )
        .order_by(col(WebhookAttemptRow.attempted_at), col(WebhookAttemptRow.id))
    )
    return list(result.scalars())


async def get_payload(session: AsyncSession, *, scope: OwnerScope, delivery_id: str) -> str:
    """The exact body of a delivery's message."""
    delivery = await get_delivery(session, scope=scope, delivery_id=delivery_id)
    message = await session.get(WebhookMessageRow, delivery.message_ref)
    if message is None:
        raise DeliveryNotFound(f"no webhook delivery {delivery_id}")
    return message.payload
