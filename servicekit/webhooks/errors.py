"""Errors of the webhook kit (the router maps them to problem+json)."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of the webhook kit's errors."""


class UnsafeWebhookUrl(WebhookError, ValueError):
    """The endpoint URL is refused (scheme, form, or an address the SSRF guard forbids)."""


class SubscriptionNotFound(WebhookError, LookupError):
    """No such subscription in the caller's scope (another owner's looks the same)."""


class DeliveryNotFound(WebhookError, LookupError):
    """No such delivery in the caller's scope."""


class EndpointDisabled(WebhookError):
    """The endpoint is disabled; enable it before redelivering or replaying."""


class InvalidMessage(WebhookError, ValueError):
    """The message cannot be enqueued (id or body)."""


class DeliveryInFlight(WebhookError):
    """An attempt of the delivery is in flight; redeliver it once that attempt has ended."""


class InvalidReplayRange(WebhookError, ValueError):
    """A replay's ``until`` is not after its ``since``."""
