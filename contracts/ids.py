"""Identifiers: UUIDv7 so ids sort by creation time."""

from __future__ import annotations

import uuid

import uuid6


def new_event_id() -> uuid.UUID:
    """A new time-ordered UUID (v7) for an event."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def new_id() -> uuid.UUID:
    """A new time-ordered UUID (v7) for an aggregate (order, visit, quote...)."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)
