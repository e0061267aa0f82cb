"""Signed, retried webhooks (Standard Webhooks), domain-agnostic.

A service includes :data:`WEBHOOK_REGISTRY` metadata in its migrations, calls :func:`enqueue` in
its unit-of-work transaction, mounts :func:`webhook_router` with a scope dependency, and runs a
:class:`WebhookWorker` (or :func:`deliver_due`) with ``runtime.add_periodic``.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from servicekit.webhooks.api import webhook_router
from servicekit.webhooks.delivery import (
    DeliveryReport,
    DisabledEndpoint,
    OnEndpointDisabled,
    WebhookWorker,
    deliver_due,
    make_http_client,
)
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
from servicekit.webhooks.log import get_delivery, list_attempts, list_deliveries
from servicekit.webhooks.policy import WebhookPolicy
from servicekit.webhooks.queue import enqueue, purge_finished_before, redeliver, replay
from servicekit.webhooks.scope import OwnerScope
from servicekit.webhooks.signing import generate_secret
from servicekit.webhooks.ssrf import Resolver, check_url
from servicekit.webhooks.subscriptions import (
    InvalidSubscription,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    rotate_secret,
    update_subscription,
)
from servicekit.webhooks.tables import WEBHOOK_REGISTRY


def include_webhook_tables(target: MetaData) -> MetaData:
    """Copy the ``webhook_*`` tables into a service's metadata (for its ``migrations/env.py``,
    whose ``run_env`` takes one MetaData) and return it."""
    for table in WEBHOOK_REGISTRY.metadata.sorted_tables:
        if table.name not in target.tables:
            table.to_metadata(target)
    return target


__all__ = [
    "WEBHOOK_REGISTRY",
    "DeliveryInFlight",
    "DeliveryNotFound",
    "DeliveryReport",
    "DisabledEndpoint",
    "EndpointDisabled",
    "InvalidMessage",
    "InvalidReplayRange",
    "InvalidSubscription",
    "OnEndpointDisabled",
    "OwnerScope",
    "Resolver",
    "SubscriptionNotFound",
    "UnsafeWebhookUrl",
    "WebhookError",
    "WebhookPolicy",
    "WebhookWorker",
    "check_url",
    "create_subscription",
    "delete_subscription",
    "deliver_due",
    "enqueue",
    "generate_secret",
    "get_delivery",
    "get_subscription",
    "include_webhook_tables",
    "list_attempts",
    "list_deliveries",
    "list_subscriptions",
    "make_http_client",
    "purge_finished_before",
    "redeliver",
    "replay",
    "rotate_secret",
    "update_subscription",
    "webhook_router",
]
