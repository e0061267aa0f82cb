"""API-key events: intake hosts key management and every service keeps a copy of the key hashes.

Only the SHA-256 hash of a key travels; the key itself is shown once, to the admin who issued it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime

from contracts.base import EventData

Role = Literal["agent", "dispatcher", "technician", "partner", "admin"]


class ApiKeyIssued(EventData):
    """An admin issued an API key with a role (FLOW.md "who may do what").

    `network_id` binds a `partner` key to one network; `technician_id` binds a `technician` key.
    The event's subject and partition key are the key id.
    """

    event_type: ClassVar[str] = "ApiKeyIssued"
    producer: ClassVar[str] = "intake"
    subject_field: ClassVar[str] = "key_id"

    key_id: str
    key_hash: str
    role: Role
    name: str
    network_id: str | None = None
    technician_id: str | None = None
    expires_at: AwareDatetime | None = None


class ApiKeyRevoked(EventData):
    """An admin revoked an API key; every service refuses it from then on."""

    event_type: ClassVar[str] = "ApiKeyRevoked"
    producer: ClassVar[str] = "intake"
    subject_field: ClassVar[str] = "key_id"

    key_id: str
    reason: str | None = None
