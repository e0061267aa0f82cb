"""The webhook router mounted as a service would: API keys, a scope per partner network, and the
delivery log that never shows another owner's deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine
from support.db import create_tables
from webhook_testkit import Receiver

from servicekit.auth import ApiKey, Authenticator, Principal, hash_key, require_roles
from servicekit.db import SessionFactory
from servicekit.problems import ProblemError, install_problem_handlers
from servicekit.webhooks import (
    WEBHOOK_REGISTRY,
    OwnerScope,
    WebhookPolicy,
    deliver_due,
    enqueue,
    webhook_router,
)

ADMIN = "admin-key-0123456789"
KEYS = {"net-a": "partner-a-key-0123456789", "net-b": "partner-b-key-0123456789"}
EVENT = "com.fsm.scheduling.OrderAssignedToNetwork.v1"


async def network_scope(
    principal: Annotated[Principal, Depends(require_roles("partner"))],
) -> OwnerScope:
    """What a service passes: partner keys see their network, admins everything."""
    if principal.role == "admin":
        return OwnerScope.everyone()
    if not principal.network_id:
        raise ProblemError(403, "This partner key is not bound to a network.")
    return OwnerScope.owner(principal.network_id)


def _app(sessions: SessionFactory, policy: WebhookPolicy) -> FastAPI:
    app = FastAPI()
    app.state.authenticator = Authenticator(sessions, ADMIN)
    install_problem_handlers(app)

    async def session_factory() -> SessionFactory:
        return sessions

    app.include_router(
        webhook_router(scope=network_scope, policy=policy, session_factory=session_factory)
    )
    return app


@pytest.fixture
async def keyed(wh_engine: AsyncEngine, sessions: SessionFactory) -> SessionFactory:
    await create_tables(wh_engine, WEBHOOK_REGISTRY.metadata)
    async with sessions() as session:
        for network, raw in KEYS.items():
            session.add(
                ApiKey(
                    key_id=network,
                    key_hash=hash_key(raw),
                    role="partner",
                    name=network,
                    network_id=network,
                    created_at=datetime.now(UTC),
                )
            )
        await session.commit()
    return sessions


@pytest.fixture
async def api(keyed: SessionFactory, local_policy: WebhookPolicy) -> AsyncIterator[FastAPI]:
    yield _app(keyed, local_policy)


def _client(app: FastAPI, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://svc",
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_a_private_address_url_is_refused_with_a_422_naming_the_url(
    keyed: SessionFactory,
) -> None:
    app = _app(keyed, WebhookPolicy())
    async with _client(app, KEYS["net-a"]) as client:
        response = await client.post(
            "/v1/webhooks/subscriptions", json={"url": "https://10.0.0.7/hook"}
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "url"
    assert "private" in response.json()["errors"][0]["message"]


async def test_partner_self_service_creates_its_own_endpoint_with_a_secret(
    api: FastAPI, receiver: Receiver
) -> None:
    async with _client(api, KEYS["net-a"]) as client:
        created = await client.post(
            "/v1/webhooks/subscriptions",
            json={"url": receiver.url(), "event_types": ["fsm.Order*"]},
        )
        assert created.status_code == 201, created.text
        assert created.json()["owner_id"] == "net-a"
        assert created.json()["secret"].startswith("whsec_")
        other = await client.post(
            "/v1/webhooks/subscriptions", json={"url": receiver.url(), "owner_id": "net-b"}
        )
        assert other.status_code == 403
        rotated = await client.post(
            f"/v1/webhooks/subscriptions/{created.json()['id']}/secret/rotate"
        )
        assert rotated.json()["previous_secret"] == created.json()["secret"]
    async with _client(api, ADMIN) as client:
        missing_owner = await client.post(
            "/v1/webhooks/subscriptions", json={"url": receiver.url()}
        )
        assert missing_owner.status_code == 422


async def test_a_new_endpoint_is_located_where_get_reads_it_also_on_a_retry(
    api: FastAPI, receiver: Receiver
) -> None:
    async with _client(api, KEYS["net-a"]) as client:
        body = {"url": receiver.url(), "event_types": ["fsm.Order*"]}
        key = {"Idempotency-Key": "add-endpoint-1"}
        created = await client.post("/v1/webhooks/subscriptions", json=body, headers=key)
        retried = await client.post("/v1/webhooks/subscriptions", json=body, headers=key)
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        assert location == f"/v1/webhooks/subscriptions/{created.json()['id']}"
        assert retried.headers["location"] == location
        read = await client.get(location)
    assert read.status_code == 200 and read.json()["id"] == created.json()["id"]


async def test_the_scoped_log_never_shows_another_networks_deliveries_on_any_route(
    api: FastAPI, keyed: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    subs: dict[str, str] = {}
    for network, key in KEYS.items():
        async with _client(api, key) as client:
            response = await client.post("/v1/webhooks/subscriptions", json={"url": receiver.url()})
            subs[network] = response.json()["id"]
    async with keyed() as session:
        for network in KEYS:
            for i in range(3):
                await enqueue(session, network, EVENT, f"msg_{network}_{i}", {"n": network})
        await session.commit()
    async with httpx.AsyncClient() as http:
        await deliver_due(keyed, http, datetime.now(UTC), policy=local_policy)

    async with _client(api, KEYS["net-b"]) as client:
        page = (await client.get("/v1/webhooks/deliveries", params={"limit": 200})).json()
        assert {d["owner_id"] for d in page["items"]} == {"net-b"} and len(page["items"]) == 3
        assert [s["owner_id"] for s in (await client.get("/v1/webhooks/subscriptions")).json()] == [
            "net-b"
        ]
        own = page["items"][0]["id"]
        detail = (await client.get(f"/v1/webhooks/deliveries/{own}")).json()
        assert (
            detail["payload"] == {"n": "net-b"} and detail["attempt_log"][0]["status_code"] == 200
        )

    async with _client(api, KEYS["net-a"]) as client:
        a_delivery = (await client.get("/v1/webhooks/deliveries")).json()["items"][0]["id"]
        filtered = await client.get(
            "/v1/webhooks/deliveries", params={"subscription_id": subs["net-b"]}
        )
        assert filtered.json()["items"] == []

    # Walk every route of the router with net-a's ids as net-b: each answers 404, like a
    # missing resource, and nothing of net-a's changes.
    ids = {"subscription_id": subs["net-a"], "delivery_id": a_delivery}
    bodies = {"PATCH": {"enabled": False}, "POST": {"since": "2000-01-01T00:00:00Z"}}
    walked = 0
    async with _client(api, KEYS["net-b"]) as client:
        for route in webhook_router(scope=network_scope, policy=local_policy).routes:
            assert isinstance(route, APIRoute)
            if "{" not in route.path:
                continue
            for method in route.methods:
                path = route.path.format(**ids)
                response = await client.request(
                    method,
                    path,
                    json=bodies.get(method) if "replay" in path or method == "PATCH" else None,
                )
                assert response.status_code == 404, (method, path, response.text)
                walked += 1
    assert walked == 8  # read, change, delete, secret, rotate, replay, delivery, redeliver
    async with _client(api, KEYS["net-a"]) as client:
        sub = (await client.get(f"/v1/webhooks/subscriptions/{subs['net-a']}")).json()
        assert sub["enabled"] is True

    async with _client(api, ADMIN) as client:
        everything = (await client.get("/v1/webhooks/deliveries")).json()["items"]
        assert {d["owner_id"] for d in everything} == {"net-a", "net-b"}


async def test_the_log_pages_newest_first_and_filters_by_status(
    api: FastAPI, keyed: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    async with _client(api, KEYS["net-a"]) as client:
        await client.post("/v1/webhooks/subscriptions", json={"url": receiver.url()})
    async with keyed() as session:
        for i in range(5):
            await enqueue(session, "net-a", EVENT, f"msg_{i}", {"i": i})
        await session.commit()
    async with _client(api, KEYS["net-a"]) as client:
        first = (await client.get("/v1/webhooks/deliveries", params={"limit": 3})).json()
        second = (
            await client.get(
                "/v1/webhooks/deliveries", params={"limit": 3, "before": first["next_before"]}
            )
        ).json()
        ids = [d["message_id"] for d in first["items"] + second["items"]]
        assert ids == [f"msg_{i}" for i in reversed(range(5))]
        assert second["next_before"] is None
        pending = await client.get("/v1/webhooks/deliveries", params={"status": "pending"})
        assert len(pending.json()["items"]) == 5
        bad = await client.get("/v1/webhooks/deliveries", params={"status": "lost"})
        assert bad.status_code == 422


async def test_without_a_partner_or_admin_key_the_routes_answer_401_or_403(api: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://svc"
    ) as client:
        assert (await client.get("/v1/webhooks/deliveries")).status_code == 401


async def test_a_retried_post_with_its_idempotency_key_is_done_once_and_answered_the_same(
    api: FastAPI, receiver: Receiver
) -> None:
    async with _client(api, KEYS["net-a"]) as client:
        create = {"Idempotency-Key": "create-1"}
        first = await client.post(
            "/v1/webhooks/subscriptions", json={"url": receiver.url()}, headers=create
        )
        retried = await client.post(
            "/v1/webhooks/subscriptions", json={"url": receiver.url()}, headers=create
        )
        assert (first.status_code, retried.status_code) == (201, 201), retried.text
        assert retried.json() == first.json()
        assert len((await client.get("/v1/webhooks/subscriptions")).json()) == 1
        original = first.json()["secret"]

        rotate = f"/v1/webhooks/subscriptions/{first.json()['id']}/secret/rotate"
        once = {"Idempotency-Key": "rotate-1"}
        rotated = await client.post(rotate, headers=once)
        rotated_again = await client.post(rotate, headers=once)

    assert rotated.status_code == rotated_again.status_code == 200, rotated_again.text
    assert rotated_again.json() == rotated.json()
    # One rotation: the secret the partner still verifies with keeps signing in the overlap.
    assert rotated.json()["previous_secret"] == original


async def test_a_replay_whose_until_is_before_its_since_answers_422_naming_both_fields(
    api: FastAPI, receiver: Receiver
) -> None:
    async with _client(api, KEYS["net-a"]) as client:
        sub = (await client.post("/v1/webhooks/subscriptions", json={"url": receiver.url()})).json()
        response = await client.post(
            f"/v1/webhooks/subscriptions/{sub['id']}/replay",
            json={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in response.json()["errors"]} == {"since", "until"}


async def test_redelivering_a_delivery_whose_attempt_is_in_flight_answers_409(
    api: FastAPI, keyed: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    from servicekit.webhooks.delivery import _claim

    async with _client(api, KEYS["net-a"]) as client:
        await client.post("/v1/webhooks/subscriptions", json={"url": receiver.url()})
    async with keyed() as session:
        (delivery_id,) = await enqueue(session, "net-a", EVENT, "msg_busy", {"a": 1})
        await session.commit()
    assert len(await _claim(keyed, datetime.now(UTC), local_policy, limit=10)) == 1
    async with _client(api, KEYS["net-a"]) as client:
        response = await client.post(f"/v1/webhooks/deliveries/{delivery_id}/redeliver")
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "in flight" in response.json()["detail"]
