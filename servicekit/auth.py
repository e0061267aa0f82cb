"""API keys with roles (FLOW.md "who may do what"), stored as SHA-256 hashes.

Intake hosts key management and publishes ApiKeyIssued/ApiKeyRevoked; every service applies those
events to its own copy of the key table. ``FSM_BOOTSTRAP_API_KEY``, when set, is an admin key for a
first start. Without a valid key every ``/v1`` route answers 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Column, DateTime, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field

from contracts.identity import ApiKeyIssued, ApiKeyRevoked, Role
from servicekit.db import KitTable, SessionFactory, aware
from servicekit.problems import ProblemError

ROLES: tuple[str, ...] = ("agent", "dispatcher", "technician", "partner", "admin")
KEY_PREFIX = "fsm_"


class ApiKey(KitTable, table=True):
    """A key's hash, role and binding; the key itself is never stored."""

    __tablename__ = "api_key"

    key_id: str = Field(primary_key=True, max_length=36)
    key_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=20)
    name: str = Field(max_length=200)
    network_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, role and binding."""

    key_id: str
    role: str
    name: str
    network_id: str | None = None
    technician_id: str | None = None

    def has_role(self, *roles: str) -> bool:
        """Admins may do everything; others only what their role allows."""
        return self.role == "admin" or self.role in roles


def hash_key(raw: str) -> str:
    """SHA-256 hex digest of a key (keys are 256-bit random, so no salt or KDF is needed)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> str:
    """A new random key, shown once to whoever issued it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class Authenticator:
    """Resolves a presented key to a :class:`Principal`."""

    def __init__(
        self,
        session_factory: SessionFactory,
        bootstrap_key: str | None,
        *,
        cache_seconds: float = 2.0,
    ) -> None:
        self._session_factory = session_factory
        self._bootstrap_hash = hash_key(bootstrap_key) if bootstrap_key else None
        self._cache_seconds = cache_seconds
        # digest -> (when looked up, principal or None, the key's expiry)
        self._cache: dict[str, tuple[float, Principal | None, datetime | None]] = {}

    async def authenticate(self, raw: str, *, now: datetime | None = None) -> Principal | None:
        """The principal for ``raw``, or None when it is unknown, revoked or expired at ``now``
        (the service's clock; the wall clock when not given).

        Answers are kept ``cache_seconds`` (a revocation takes effect within that time), so a
        busy caller does not cost a database round trip per request; the expiry is checked
        against ``now`` on every call.
        """
        digest = hash_key(raw)
        if self._bootstrap_hash is not None and hmac.compare_digest(digest, self._bootstrap_hash):
            return Principal(key_id="bootstrap", role="admin", name="bootstrap admin")
        looked_up_at = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and looked_up_at - cached[0] < self._cache_seconds:
            principal, expires_at = cached[1], cached[2]
        else:
            principal, expires_at = await self._lookup(digest)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (looked_up_at, principal, expires_at)
        if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
            return None
        return principal

    async def _lookup(self, digest: str) -> tuple[Principal | None, datetime | None]:
        async with self._session_factory() as session:
            row = (
                await session.execute(select(ApiKey).where(ApiKey.key_hash == digest))  # type: ignore[arg-type]
            ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None, None
        principal = Principal(
            key_id=row.key_id,
            role=row.role,
            name=row.name,
            network_id=row.network_id,
            technician_id=row.technician_id,
        )
        return principal, aware(row.expires_at)


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    api_key = request.headers.get("x-api-key")
    return api_key.strip() if api_key else None


BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="API key",
    description="An API key (`fsm_...`, or FSM_BOOTSTRAP_API_KEY) as "
    "`Authorization: Bearer <key>`; keys are issued with POST /v1/api-keys on intake.",
)
API_KEY_HEADER_SCHEME = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKeyHeader",
    description="The same API key in the `X-API-Key` header, for clients that cannot set "
    "`Authorization`.",
)


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)] = None,
    api_key: Annotated[str | None, Depends(API_KEY_HEADER_SCHEME)] = None,
) -> Principal:
    """The authenticated caller; 401 problem when no valid key is presented.

    ``bearer`` and ``api_key`` declare the two ways of presenting a key, so the OpenAPI
    document lists them on exactly the operations that need a key; the key is read from the
    request by one rule for both."""
    del bearer, api_key
    raw = _presented_key(request)
    if not raw:
        raise ProblemError(
            401,
            "An API key is required: send 'Authorization: Bearer <key>'.",
            title="Unauthorized",
        )
    authenticator: Authenticator = request.app.state.authenticator
    # A service's clock (``app.state.clock``, set by its bootstrap) is the time its domain
    # uses; a key expires by it too, so a service run on a fixed clock agrees with itself.
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    principal = await authenticator.authenticate(raw, now=clock() if clock else None)
    if principal is None:
        raise ProblemError(401, "The API key is unknown, revoked or expired.", title="Unauthorized")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


ROLE_CHECK_ATTRIBUTE = "_fsm_required_roles"
"""Set on the dependencies made by :func:`require_roles` (their roles)."""


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers with one of ``roles`` (admins always)."""

    async def _check(principal: PrincipalDep) -> Principal:
        if not principal.has_role(*roles):
            raise ProblemError(
                403,
                f"This action needs one of the roles: {', '.join(roles)}; "
                f"the key has role '{principal.role}'.",
                title="Forbidden",
            )
        return principal

    # The OpenAPI document lists 403 on the operations guarded by a role check.
    setattr(_check, ROLE_CHECK_ATTRIBUTE, roles)
    return _check


async def apply_key_event(session: AsyncSession, payload: Any) -> None:
    """Apply ApiKeyIssued/ApiKeyRevoked to this service's key table (idempotent, in any
    order: a revocation heard before the key's issue, whose event was dead-lettered and
    re-driven later, leaves a revoked row that the issue then finds, so the key never comes
    back as active)."""
    if isinstance(payload, ApiKeyIssued):
        existing = await session.get(ApiKey, payload.key_id)
        if existing is None:
            session.add(key_row(payload))
    elif isinstance(payload, ApiKeyRevoked):
        existing = await session.get(ApiKey, payload.key_id)
        now = datetime.now(UTC)
        if existing is None:
            session.add(_revoked_unknown_key(payload.key_id, now))
        elif existing.revoked_at is None:
            existing.revoked_at = now
            session.add(existing)


def _revoked_unknown_key(key_id: str, now: datetime) -> ApiKey:
    """The row standing for a key revoked before its issue was heard: revoked, and with a
    hash no key has (a key's hash is its SHA-256 in hex), so nothing authenticates by it."""
    return ApiKey(
        key_id=key_id,
        key_hash=f"revoked:{key_id}",
        role="revoked",
        name="(revoked before its issue was heard)",
        created_at=now,
        revoked_at=now,
    )


def key_row(issued: ApiKeyIssued) -> ApiKey:
    """The key table's row of an issued key (its hash, never the key)."""
    return ApiKey(
        key_id=issued.key_id,
        key_hash=issued.key_hash,
        role=issued.role,
        name=issued.name,
        network_id=issued.network_id,
        technician_id=issued.technician_id,
        created_at=datetime.now(UTC),
        expires_at=issued.expires_at,
    )


def issued_event(
    *,
    key_id: str,
    raw_key: str,
    role: Role,
    name: str,
    network_id: str | None,
    technician_id: str | None,
    expires_at: datetime | None,
) -> ApiKeyIssued:
    """The event announcing a new key (carries only its hash)."""
    return ApiKeyIssued(
        key_id=key_id,
        key_hash=hash_key(raw_key),
        role=role,
        name=name,
        network_id=network_id,
        technician_id=technician_id,
        expires_at=expires_at,
    )
