"""Intake's REST API against a real database (SQLite and PostgreSQL): what is stored and staged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from contracts.envelope import EventEnvelope
from contracts.registry import parse_data
from intake.adapters.tables import OrderRow
from intake.bootstrap import bootstrap
from intake.entrypoints.consumer import make_handler
from intake.settings import IntakeSettings
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

ADMIN_KEY = "test-admin-key-0123456789"
ORDER = {
    "customer": {
        "name": "王芳",
        "phone": "13800138000",
        "address": "山东省东营市东营区西四路100号3单元502",
    },
    "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2025-03-01"},
    "fault": {"description": "热水器打不着火"},
    "requests": "周六上午",
    "channel": "hotline",
}


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[ServiceRuntime]:
    rt = bootstrap(
        IntakeSettings(
            database_url=database_url,
            bootstrap_api_key=ADMIN_KEY,
            run_consumer=False,
            run_relay=False,
        )
    )
    await rt.migrate()
    yield rt
    await rt.engine.dispose()


@pytest.fixture
async def client(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://intake",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as c:
        yield c


async def _outbox(runtime: ServiceRuntime) -> list[OutboxMessage]:
    async with runtime.session_factory() as session:
        return list((await session.execute(select(OutboxMessage))).scalars())


async def _order_count(runtime: ServiceRuntime) -> int:
    async with runtime.session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(OrderRow))).scalar_one())


async def test_int_1_order_is_stored_and_order_created_staged_in_the_same_transaction(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    response = await client.post("/v1/orders", json=ORDER)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "received"
    assert body["customer"]["phones"] == ["+8613800138000"]
    assert body["customer"]["address"]["detail"] == ORDER["customer"]["address"]  # type: ignore[index]
    assert body["needs_verification"] == []

    rows = await _outbox(runtime)
    assert len(rows) == 1
    envelope = EventEnvelope.model_validate_json(rows[0].payload)
    assert envelope.type == "fsm.OrderCreated.v1"
    assert envelope.subject == envelope.partitionkey == rows[0].key == body["id"]
    assert rows[0].topic == "fsm.intake.events"
    created = parse_data(envelope)
    assert created.order_id == body["id"]  # type: ignore[attr-defined]

    read = await client.get(f"/v1/orders/{body['id']}")
    assert read.status_code == 200
    assert read.json()["id"] == body["id"]


async def test_int_2_missing_details_are_accepted_and_listed(client: httpx.AsyncClient) -> None:
    body = {**ORDER, "product": {"line": "water_heater"}}
    response = await client.post("/v1/orders", json=body)
    assert response.status_code == 201
    assert set(response.json()["needs_verification"]) == {"product.model", "product.purchase_date"}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o["customer"].pop("phone"), "customer.phone"),
        (lambda o: o["customer"].__setitem__("phone", "12345"), "customer.phone"),
        (
            lambda o: o["product"].__setitem__("purchase_date", "2999-01-01"),
            "product.purchase_date",
        ),
        (lambda o: o.__setitem__("channel", "pigeon"), "channel"),
    ],
)
async def test_int_2_malformed_input_is_refused_naming_the_field_and_nothing_is_stored(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    mutate,
    field: str,  # type: ignore[no-untyped-def]
) -> None:
    import copy

    body = copy.deepcopy(ORDER)
    mutate(body)
    response = await client.post("/v1/orders", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await _order_count(runtime) == 0
    assert await _outbox(runtime) == []


async def test_int_1_every_documented_example_of_a_new_order_is_taken_as_sent(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # The runtime keeps the real clock: an example must stay valid whenever it is sent.
    document = (await client.get("/openapi.json")).json()
    body = document["paths"]["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    examples = document["components"]["schemas"][name]["examples"]
    assert len(examples) >= 2
    for example in examples:
        taken = await client.post("/v1/orders", json=example)
        assert taken.status_code == 201, taken.text
    assert await _order_count(runtime) == len(examples)


@pytest.mark.parametrize(
    "coordinate", [{"lat": True, "lon": 118.6747}, {"lat": 37.4341, "lon": False}]
)
async def test_int_1_a_coordinate_is_a_number_not_a_boolean(
    runtime: ServiceRuntime, client: httpx.AsyncClient, coordinate: dict[str, object]
) -> None:
    address = {"city": "东营市", "detail": "西四路100号", **coordinate}
    body = {**ORDER, "customer": {**ORDER["customer"], "address": address}}
    response = await client.post("/v1/orders", json=body)
    assert response.status_code == 422, response.text
    [axis] = [k for k, v in coordinate.items() if isinstance(v, bool)]
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith("customer.address") and f.endswith(axis) for f in fields), fields
    assert await _order_count(runtime) == 0


@pytest.mark.parametrize(
    ("given", "missing"), [({"lat": 37.4341}, "lon"), ({"lon": 118.67}, "lat")]
)
async def test_int_2_half_a_coordinate_is_refused_not_dropped(
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    given: dict[str, float],
    missing: str,
) -> None:
    # A latitude without its longitude locates nothing: stored, it was silently lost.
    address = {"city": "东营市", "detail": "西四路100号", **given}
    body = {**ORDER, "customer": {**ORDER["customer"], "address": address}}
    response = await client.post("/v1/orders", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == f"customer.address.{missing}", error
    assert "both or neither" in error["message"]
    assert await _order_count(runtime) == 0

    order = (await client.post("/v1/orders", json=ORDER)).json()
    verified = await client.post(
        f"/v1/orders/{order['id']}/verify", json={"customer": body["customer"]}
    )
    assert verified.status_code == 422, verified.text
    assert [e["field"] for e in verified.json()["errors"]] == [f"customer.address.{missing}"]


async def test_a_body_that_is_not_json_is_refused(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/v1/orders", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert await _order_count(runtime) == 0


async def test_unknown_order_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/orders/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_v1_without_a_key_is_401_and_a_technician_key_may_not_take_orders(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    anonymous = await client.post("/v1/orders", json=ORDER, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    issued = await client.post(
        "/v1/api-keys", json={"name": "t1", "role": "technician", "technician_id": "t-1"}
    )
    assert issued.status_code == 201
    technician = await client.post(
        "/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {issued.json()['key']}"}
    )
    assert technician.status_code == 403
    assert await _order_count(runtime) == 0


async def test_an_issued_key_is_located_where_get_reads_it_without_its_secret(
    client: httpx.AsyncClient,
) -> None:
    issued = await client.post(
        "/v1/api-keys", json={"name": "t1", "role": "technician", "technician_id": "t-1"}
    )
    assert issued.status_code == 201, issued.text

    read = await client.get(issued.headers["location"])
    missing = await client.get("/v1/api-keys/no-such-key")

    assert read.status_code == 200, read.text
    assert read.json()["key_id"] == issued.json()["key_id"] and "key" not in read.json()
    assert read.json()["revoked_at"] is None
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_key_that_would_expire_before_it_is_issued_is_refused(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "a1", "role": "agent", "expires_at": "2020-01-01T00:00:00+08:00"}

    refused = await client.post("/v1/api-keys", json=body)

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "already past" in refused.text


async def test_a_key_named_only_by_spaces_is_refused_as_it_would_sign_for_nobody(
    client: httpx.AsyncClient,
) -> None:
    # A key's name is who is recorded as having cancelled, verified or overridden an order
    # (INT-2, SCH-12): a blank one would record nobody.
    for blank in ("   ", "\u3000"):
        refused = await client.post("/v1/api-keys", json={"name": blank, "role": "agent"})

        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["name"]
    padded = await client.post("/v1/api-keys", json={"name": " agent 7 ", "role": "agent"})
    assert padded.status_code == 201, padded.text
    assert padded.json()["name"] == "agent 7"
    assert [k["name"] for k in (await client.get("/v1/api-keys")).json()] == ["agent 7"]


async def test_events_of_other_services_land_on_the_timeline_once(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    from contracts.common import AssigneeKind
    from contracts.scheduling import OrderAssigned

    order_id = (await client.post("/v1/orders", json=ORDER)).json()["id"]
    created = EventEnvelope.model_validate_json((await _outbox(runtime))[0].payload)
    assigned = EventEnvelope.wrap(
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="dispatcher-1",
        )
    )
    handle = make_handler(runtime.app.state.uow_factory, clock=runtime.app.state.clock)
    for envelope in (assigned, created, assigned, created):
        await handle(envelope)
    timeline = (await client.get(f"/v1/orders/{order_id}")).json()
    assert [e["type"] for e in timeline["timeline"]] == ["OrderCreated", "OrderAssigned"]
    assert timeline["status"] == "assigned"


async def test_the_hourly_purge_forgets_published_events_and_old_inbox_ids_after_their_keep_time(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from contracts.common import AssigneeKind
    from contracts.scheduling import OrderAssigned
    from servicekit.inbox import InboxMessage

    order_id = (await client.post("/v1/orders", json=ORDER)).json()["id"]
    await make_handler(runtime.app.state.uow_factory, clock=runtime.app.state.clock)(
        EventEnvelope.wrap(
            OrderAssigned(
                order_id=order_id,
                visit_id="v-1",
                assignee_kind=AssigneeKind.TECHNICIAN,
                technician_id="t-1",
                assigned_by="dispatcher-1",
            )
        )
    )
    now = datetime.now(UTC)
    async with runtime.session_factory() as session:
        await session.execute(update(OutboxMessage).values(published_at=now - timedelta(hours=2)))
        await session.commit()

    assert await runtime.purge_delivered_messages(now) == {
        "outbox": 0,
        "inbox": 0,
        "idempotency_keys": 0,
    }
    later = now + timedelta(days=runtime.settings.inbox_keep_days, minutes=1)
    assert await runtime.purge_delivered_messages(later) == {
        "outbox": 1,
        "inbox": 1,
        "idempotency_keys": 0,
    }
    async with runtime.session_factory() as session:
        assert (await session.execute(select(func.count()).select_from(InboxMessage))).scalar() == 0
    # The order and its timeline stay: only the delivery bookkeeping goes.
    timeline = (await client.get(f"/v1/orders/{order_id}")).json()["timeline"]
    assert [e["type"] for e in timeline] == ["OrderCreated", "OrderAssigned"]
