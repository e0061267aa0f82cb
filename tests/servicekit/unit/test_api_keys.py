"""API keys: stored only as hashes; the bootstrap key is an admin; revoked or expired keys are
refused with 401; a key without the route's role gets 403."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from support.db import create_tables

from contracts.identity import ApiKeyRevoked
from servicekit.auth import (
    ApiKey,
    Authenticator,
    Principal,
    PrincipalDep,
    apply_key_event,
    generate_key,
    hash_key,
    issued_event,
    require_roles,
)
from servicekit.db import SessionFactory, make_engine, make_session_factory
from servicekit.problems import PROBLEM_JSON, install_problem_handlers

BOOTSTRAP_KEY = "bootstrap-key-0123456789"


@pytest.fixture
async def keys(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await create_tables(engine)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def issue(
    keys: SessionFactory,
    *,
    role: str,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> str:
    raw = generate_key()
    async with keys() as session:
        session.add(
            ApiKey(
                key_id=str(uuid.uuid4()),
                key_hash=hash_key(raw),
                role=role,
                name=f"{role} key",
                created_at=datetime.now(UTC),
                expires_at=expires_at,
                revoked_at=revoked_at,
            )
        )
        await session.commit()
    return raw


def test_key_is_stored_as_its_sha256_hex_digest() -> None:
    raw = generate_key()

    assert hash_key(raw) == hashlib.sha256(raw.encode()).hexdigest()
    assert hash_key(raw) != hash_key(generate_key())
    assert raw.startswith("fsm_")


async def test_bootstrap_key_authenticates_as_admin(keys: SessionFactory) -> None:
    principal = await Authenticator(keys, BOOTSTRAP_KEY).authenticate(BOOTSTRAP_KEY)

    assert principal is not None
    assert principal.role == "admin"
    assert principal.key_id == "bootstrap"


async def test_without_bootstrap_key_nothing_unknown_gets_in(keys: SessionFactory) -> None:
    authenticator = Authenticator(keys, None)

    assert await authenticator.authenticate(BOOTSTRAP_KEY) is None
    assert await authenticator.authenticate("") is None


async def test_issued_key_authenticates_with_its_role(keys: SessionFactory) -> None:
    raw = await issue(keys, role="dispatcher", expires_at=datetime.now(UTC) + timedelta(days=1))

    principal = await Authenticator(keys, BOOTSTRAP_KEY).authenticate(raw)

    assert principal is not None
    assert principal.role == "dispatcher"


async def test_revoked_key_is_refused(keys: SessionFactory) -> None:
    raw = await issue(keys, role="dispatcher", revoked_at=datetime.now(UTC))

    assert await Authenticator(keys, BOOTSTRAP_KEY).authenticate(raw) is None


async def test_expired_key_is_refused(keys: SessionFactory) -> None:
    raw = await issue(keys, role="dispatcher", expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert await Authenticator(keys, BOOTSTRAP_KEY).authenticate(raw) is None


def test_admin_has_every_role_and_others_only_their_own() -> None:
    admin = Principal(key_id="a", role="admin", name="admin")
    technician = Principal(key_id="t", role="technician", name="tech")

    assert admin.has_role("dispatcher")
    assert technician.has_role("technician", "dispatcher")
    assert not technician.has_role("dispatcher")


@pytest.fixture
def app(keys: SessionFactory) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.authenticator = Authenticator(keys, BOOTSTRAP_KEY)

    @app.post("/v1/assignments")
    async def assign(
        principal: Principal = Depends(require_roles("dispatcher")),
    ) -> dict[str, str]:
        return {"by": principal.role}

    @app.get("/v1/me")
    async def me(principal: PrincipalDep) -> dict[str, str]:
        return {"role": principal.role}

    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


async def test_request_without_key_is_a_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me")

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "Bearer" in response.json()["detail"]


async def test_request_with_revoked_key_is_a_401_problem(
    client: httpx.AsyncClient, keys: SessionFactory
) -> None:
    raw = await issue(keys, role="dispatcher", revoked_at=datetime.now(UTC))

    response = await client.get("/v1/me", headers=bearer(raw))

    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"


async def test_key_without_the_routes_role_is_a_403_naming_the_roles(
    client: httpx.AsyncClient, keys: SessionFactory
) -> None:
    raw = await issue(keys, role="technician")

    response = await client.post("/v1/assignments", headers=bearer(raw))

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "dispatcher" in response.json()["detail"]
    assert "technician" in response.json()["detail"]


async def test_key_with_the_routes_role_or_admin_is_let_through(
    client: httpx.AsyncClient, keys: SessionFactory
) -> None:
    dispatcher = await issue(keys, role="dispatcher")

    by_dispatcher = await client.post("/v1/assignments", headers=bearer(dispatcher))
    by_admin = await client.post("/v1/assignments", headers={"X-API-Key": BOOTSTRAP_KEY})

    assert (by_dispatcher.status_code, by_dispatcher.json()) == (200, {"by": "dispatcher"})
    assert (by_admin.status_code, by_admin.json()) == (200, {"by": "admin"})


async def test_a_revocation_heard_before_its_issue_keeps_the_key_refused(
    keys: SessionFactory,
) -> None:
    # ApiKeyIssued dead-lettered and re-driven after its ApiKeyRevoked was applied: the key
    # must stay revoked, not come back as active.
    raw = generate_key()
    issued = issued_event(
        key_id="k-1",
        raw_key=raw,
        role="dispatcher",
        name="dispatcher key",
        network_id=None,
        technician_id=None,
        expires_at=None,
    )
    async with keys() as session:
        await apply_key_event(session, ApiKeyRevoked(key_id="k-1", reason="leaked"))
        await session.commit()
    async with keys() as session:
        await apply_key_event(session, issued)
        await session.commit()

    assert await Authenticator(keys, BOOTSTRAP_KEY).authenticate(raw) is None


async def test_a_key_expires_by_the_services_clock_not_the_wall_clock(
    app: FastAPI, client: httpx.AsyncClient, keys: SessionFactory
) -> None:
    # A service started with a fixed clock (tests, a replay) answers as of that clock, as its
    # domain does: a key valid for another day on the wall clock has expired by that clock, and
    # one that expired on the wall clock is still valid by it.
    wall = datetime.now(UTC)
    valid_for_a_day = await issue(keys, role="dispatcher", expires_at=wall + timedelta(days=1))
    expired_a_day_ago = await issue(keys, role="dispatcher", expires_at=wall - timedelta(days=1))

    app.state.clock = lambda: wall + timedelta(days=2)
    after = await client.get("/v1/me", headers=bearer(valid_for_a_day))
    app.state.clock = lambda: wall - timedelta(days=2)
    before = await client.get("/v1/me", headers=bearer(expired_a_day_ago))

    assert after.status_code == 401
    assert before.status_code == 200


async def test_a_remembered_key_is_refused_once_it_expires(keys: SessionFactory) -> None:
    """The answer kept for a busy caller does not outlive the key's expiry."""
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    raw = await issue(keys, role="dispatcher", expires_at=expires_at)
    authenticator = Authenticator(keys, BOOTSTRAP_KEY, cache_seconds=3600)

    before = await authenticator.authenticate(raw, now=expires_at - timedelta(seconds=1))
    at_expiry = await authenticator.authenticate(raw, now=expires_at)

    assert before is not None
    assert at_expiry is None
