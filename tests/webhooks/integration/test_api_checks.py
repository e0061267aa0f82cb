"""The router answers bad subscription input with a 422 naming the field (never a 500): event
types outside the contracts' registry, malformed internationalised host names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from support.db import create_tables

from servicekit.auth import ApiKey, Authenticator, Principal, hash_key, require_roles
from servicekit.db import SessionFactory
from servicekit.problems import install_problem_handlers
from servicekit.webhooks import WEBHOOK_REGISTRY, OwnerScope, WebhookPolicy, webhook_router

ADMIN = "admin-key-0123456789"
PARTNER = "partner-a-key-0123456789"


async def _scope(
    principal: Annotated[Principal, Depends(require_roles("partner"))],
) -> OwnerScope:
    return OwnerScope.owner(principal.network_id or "")


@pytest.fixture
async def client(
    wh_engine: AsyncEngine, sessions: SessionFactory, local_policy: WebhookPolicy
) -> httpx.AsyncClient:
    await create_tables(wh_engine, WEBHOOK_REGISTRY.metadata)
    async with sessions() as session:
        session.add(
            ApiKey(
                key_id="net-a",
                key_hash=hash_key(PARTNER),
                role="partner",
                name="net-a",
                network_id="net-a",
                created_at=datetime.now(UTC),
            )
        )
        await session.commit()
    app = FastAPI()
    app.state.authenticator = Authenticator(sessions, ADMIN)
    install_problem_handlers(app)

    async def session_factory() -> SessionFactory:
        return sessions

    # no event catalogue passed: the router checks filters against the contracts' registry
    app.include_router(
        webhook_router(scope=_scope, policy=local_policy, session_factory=session_factory)
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://svc",
        headers={"Authorization": f"Bearer {PARTNER}"},
    )


def _error(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    (error,) = response.json()["errors"]
    return error


async def test_an_unknown_event_type_in_a_filter_is_a_422_naming_it_and_the_expected_form(
    client: httpx.AsyncClient,
) -> None:
    async with client:
        for names in (["OrderAssigned"], ["OrderAssigned.v1"], ["orderassigned"]):
            response = await client.post(
                "/v1/webhooks/subscriptions",
                json={"url": "http://127.0.0.1:9/hook", "event_types": names},
            )
            error = _error(response)
            assert error["field"] == "event_types"
            assert repr(names[0]) in error["message"] and "fsm.<Event>.v<N>" in error["message"]
        good = await client.post(
            "/v1/webhooks/subscriptions",
            json={
                "url": "http://127.0.0.1:9/hook",
                "event_types": ["fsm.OrderAssigned.v1", "fsm.Invoice*"],
            },
        )
        assert good.status_code == 201, good.text
        changed = await client.patch(
            f"/v1/webhooks/subscriptions/{good.json()['id']}",
            json={"event_types": ["fsm.OrderAssignd.v1"]},
        )
        assert _error(changed)["field"] == "event_types"


@pytest.mark.parametrize("url", ["https://xn--/", "https://xn--a/", "https://xn--ls8h.la/"])
async def test_a_malformed_idna_host_is_a_422_on_url_when_adding_or_changing(
    client: httpx.AsyncClient, url: str
) -> None:
    async with client:
        assert (
            _error(await client.post("/v1/webhooks/subscriptions", json={"url": url}))["field"]
            == "url"
        )
        created = await client.post(
            "/v1/webhooks/subscriptions", json={"url": "http://127.0.0.1:9/hook"}
        )
        changed = await client.patch(
            f"/v1/webhooks/subscriptions/{created.json()['id']}", json={"url": url}
        )
        assert _error(changed)["field"] == "url"
