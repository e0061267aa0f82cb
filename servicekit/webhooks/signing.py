"""Secrets and Standard Webhooks signatures (``v1,`` HMAC-SHA256 of ``id.timestamp.body``)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def generate_secret(n_bytes: int = 32) -> str:
    """A new endpoint secret: ``whsec_`` + base64 of ``n_bytes`` (24-64) random bytes."""
    if not 24 <= n_bytes <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")


def signature_header(
    *, message_id: str, timestamp: datetime, body: str, secrets_: Iterable[str]
) -> str:
    """The ``webhook-signature`` value: one ``v1,`` signature per active secret, space-separated."""
    moment = timestamp.astimezone(UTC)
    return " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body) for secret in secrets_
    )


def webhook_headers(
    *, message_id: str, timestamp: datetime, body: str, secrets_: Iterable[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.astimezone(UTC).timestamp())),
        "webhook-signature": signature_header(
            message_id=message_id, timestamp=timestamp, body=body, secrets_=secrets_
        ),
    }
