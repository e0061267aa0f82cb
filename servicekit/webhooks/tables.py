"""The webhook tables, in their own registry: a service adds ``WEBHOOK_REGISTRY.metadata`` to its
migrations (see :func:`servicekit.webhooks.include_webhook_tables`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

WEBHOOK_REGISTRY = registry()

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED)


class WebhookTable(SQLModel, registry=WEBHOOK_REGISTRY):
    """Base of the webhook tables."""


def _when(*, nullable: bool) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class WebhookSubscriptionRow(WebhookTable, table=True):
    """An endpoint of one owner: where to send which events, and the secrets that sign them."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_owner", "owner_id", "enabled"),)

    id: str = Field(primary_key=True, max_length=36)
    owner_id: str = Field(max_length=64)
    url: str = Field(sa_column=Column(Text, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=200)
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_column=_when(nullable=True)
    )
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)
    disabled_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    failing_since: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    updated_at: datetime = Field(sa_column=_when(nullable=False))


class WebhookMessageRow(WebhookTable, table=True):
    """A message for an owner: its ``webhook-id``, type and the exact body that is signed."""

    __tablename__ = "webhook_message"
    __table_args__ = (
        UniqueConstraint("owner_id", "message_id", name="uq_webhook_message_owner_message"),
        Index("ix_webhook_message_owner_created", "owner_id", "created_at"),
        Index("ix_webhook_message_subject", "subject"),
    )

    id: str = Field(primary_key=True, max_length=36)
    owner_id: str = Field(max_length=64)
    message_id: str = Field(max_length=200)
    event_type: str = Field(max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    subject: str | None = Field(default=None, max_length=200)
    """What the message is about (an order's id), to find an order's messages again, e.g. to
    erase its personal data when its retention is over (BIL-11); null when it names none."""


class WebhookDeliveryRow(WebhookTable, table=True):
    """One message to one endpoint: its state and when it is next due."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("message_ref", "subscription_id", name="uq_webhook_delivery_message_sub"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_owner", "owner_id", "id"),
        Index("ix_webhook_delivery_subscription", "subscription_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=36)
    message_ref: str = Field(
        sa_column=Column(
            String(36), ForeignKey("webhook_message.id", ondelete="CASCADE"), nullable=False
        )
    )
    subscription_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("webhook_subscription.id", ondelete="CASCADE"), nullable=False
        )
    )
    owner_id: str = Field(max_length=64)
    message_id: str = Field(max_length=200)
    event_type: str = Field(max_length=200)
    status: str = Field(default=PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    claim_token: str | None = Field(default=None, max_length=36)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    updated_at: datetime = Field(sa_column=_when(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class WebhookAttemptRow(WebhookTable, table=True):
    """One HTTP attempt of a delivery, as logged for the delivery log."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "attempted_at"),)

    id: str = Field(primary_key=True, max_length=36)
    delivery_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("webhook_delivery.id", ondelete="CASCADE"), nullable=False
        )
    )
    owner_id: str = Field(max_length=64)
    subscription_id: str = Field(max_length=36)
    attempted_at: datetime = Field(sa_column=_when(nullable=False))
    url: str = Field(sa_column=Column(Text, nullable=False))
    succeeded: bool = False
    status_code: int | None = None
    duration_ms: int = 0
    response_excerpt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
