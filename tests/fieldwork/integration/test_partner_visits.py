"""Partner networks report progress through fieldwork's visit actions (issue 5), on SQLite and
PostgreSQL: a network's key drives the visits its network holds exactly as an in-house
technician does (same events), and sees nothing of another network's visits: every route with a
visit or order in its path answers as for a missing one, and nothing reaches the outbox."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from contracts.common import AssigneeKind, Channel, Customer, Fault, Product, WarrantyStatus
from contracts.envelope import EventEnvelope
from contracts.identity import Role
from contracts.intake import OrderCreated
from contracts.scheduling import (
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    ReturnReason,
    RevisitBooked,
    RevisitReason,
)
from fieldwork.domain.policy import DEFAULT_KIT
from servicekit.auth import generate_key, issued_event
from servicekit.outbox import OutboxMessage
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock, act, ok, outbox

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _client(runtime: ServiceRuntime, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://fieldwork",
        headers={"Authorization": f"Bearer {key}"},
    )


async def issue_key(
    runtime: ServiceRuntime,
    role: Role,
    *,
    technician_id: str | None = None,
    network_id: str | None = None,
) -> str:
    raw = generate_key()
    await runtime.handle_event(
        EventEnvelope.wrap(
            issued_event(
                key_id=str(uuid.uuid4()),
                raw_key=raw,
                role=role,
                name=f"a {role}",
                network_id=network_id,
                technician_id=technician_id,
                expires_at=None,
            )
        )
    )
    return raw


async def created(runtime: ServiceRuntime, order_id: str) -> None:
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderCreated(
                order_id=order_id,
                customer=Customer.model_validate(
                    {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路"}}
                ),
                product=Product.model_validate({"line": "water_heater", "model": "JSQ24"}),
                fault=Fault(description="热水器打不着火"),
                channel=Channel.HOTLINE,
                warranty_status=WarrantyStatus.IN_WARRANTY,
            ),
            time=T0 - timedelta(days=1),
        )
    )


async def in_house_order(runtime: ServiceRuntime, order_id: str, visit_id: str, tech: str) -> None:
    await created(runtime, order_id)
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderAssigned(
                order_id=order_id,
                visit_id=visit_id,
                assignee_kind=AssigneeKind.TECHNICIAN,
                technician_id=tech,
                assigned_by="dispatcher-1",
            ),
            time=T0 - timedelta(hours=20),
        )
    )


async def network_order(
    runtime: ServiceRuntime,
    order_id: str,
    visit_id: str,
    network: str,
    *,
    tech: str | None = None,
) -> None:
    """Assigned to the network; its dispatcher then places it with its own technician."""
    await created(runtime, order_id)
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderAssigned(
                order_id=order_id,
                visit_id=visit_id,
                assignee_kind=AssigneeKind.NETWORK,
                network_id=network,
                assigned_by="dispatcher-1",
            ),
            time=T0 - timedelta(hours=20),
        )
    )
    if tech is not None:
        await runtime.handle_event(
            EventEnvelope.wrap(
                OrderReassigned(
                    order_id=order_id,
                    visit_id=visit_id,
                    assignee_kind=AssigneeKind.TECHNICIAN,
                    technician_id=tech,
                    network_id=network,
                    previous_assignee_kind=AssigneeKind.NETWORK,
                    previous_network_id=network,
                    reassigned_by=f"{network}-dispatcher",
                ),
                time=T0 - timedelta(hours=19),
            )
        )


async def outbox_size(runtime: ServiceRuntime) -> int:
    async with runtime.session_factory() as session:
        return int(
            (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        )


async def journey(client: httpx.AsyncClient, clock: Clock, visit_id: str) -> None:
    """Depart, arrive, diagnose, repair and complete: the same calls for both kinds of work."""
    await ok(
        client,
        visit_id,
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )
    clock.advance(minutes=30)
    await ok(client, visit_id, type="arrive")
    await ok(
        client,
        visit_id,
        type="door_outcome",
        outcome="customer_present",
        next_step="proceed",
        id_shown=True,
    )
    await ok(client, visit_id, type="diagnose", cause="点火针老化")
    await ok(client, visit_id, type="start_repair")
    clock.advance(minutes=20)
    done = await ok(client, visit_id, type="complete_repair", tested=False, sure_fixed=True)
    assert done["state"] == "completed"


async def test_a_partner_key_drives_its_networks_visit_with_the_same_events_as_in_house_work(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await in_house_order(runtime, "o-house", "v-house", "tech-7")
    await network_order(runtime, "o-net", "v-net", "net-a", tech="net-a-tech-1")
    technician = await issue_key(runtime, "technician", technician_id="tech-7")
    partner = await issue_key(runtime, "partner", network_id="net-a")

    async with _client(runtime, technician) as tech7, _client(runtime, partner) as net_a:
        assert [v["visit_id"] for v in (await net_a.get("/v1/visits")).json()["items"]] == ["v-net"]
        await journey(tech7, clock, "v-house")
        await journey(net_a, clock, "v-net")
        assert (await net_a.get("/v1/visits/v-net")).json()["state"] == "completed"
        times = (await net_a.get("/v1/orders/o-net/visits")).json()
        assert [v["visit_id"] for v in times["visits"]] == ["v-net"]

    events = await outbox(runtime)
    house = [e.event_name for e in events if e.subject == "o-house"]
    network = [e.event_name for e in events if e.subject == "o-net"]
    assert network == house
    assert {"TechnicianDeparted", "TechnicianArrived", "RepairCompleted"} <= set(network)
    assert all(
        e.data["technician_id"] == "net-a-tech-1"
        for e in events
        if e.subject == "o-net" and "technician_id" in e.data
    )


async def test_a_partner_key_reports_a_failed_repair_from_the_offline_batch(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await network_order(runtime, "o-net", "v-net", "net-a", tech="net-a-tech-1")
    partner = await issue_key(runtime, "partner", network_id="net-a")
    at = clock.now

    def item(n: int, **action: Any) -> dict[str, Any]:
        moment = at + timedelta(minutes=n)
        return {
            "client_id": f"c-{n}",
            "visit_id": "v-net",
            "occurred_at": moment.isoformat(),
            "action": action,
        }

    batch = [
        item(
            0, type="depart", eta=(at + timedelta(minutes=30)).isoformat(), kit_checked=DEFAULT_KIT
        ),
        item(30, type="arrive"),
        item(
            31, type="door_outcome", outcome="customer_present", next_step="proceed", id_shown=True
        ),
        item(40, type="diagnose", cause="主板烧毁"),
        item(50, type="fail", reason="needs_second_visit"),
    ]
    clock.advance(hours=2)
    async with _client(runtime, partner) as net_a:
        response = await net_a.post("/v1/offline/batches", json={"actions": batch})

    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["applied"] * 5
    names = [e.event_name for e in await outbox(runtime)]
    assert "RepairFailed" in names


async def test_a_network_visit_without_a_technician_answers_409_naming_the_missing_technician(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await network_order(runtime, "o-net", "v-net", "net-a")
    partner = await issue_key(runtime, "partner", network_id="net-a")

    async with _client(runtime, partner) as net_a:
        assert (await net_a.get("/v1/visits/v-net")).status_code == 200
        refused = await act(
            net_a, "v-net", type="depart", eta=T0.isoformat(), kit_checked=list(DEFAULT_KIT)
        )

    assert refused.status_code == 409
    assert refused.json()["rule"] == "SCH-12" and refused.json()["network_id"] == "net-a"
    assert await outbox_size(runtime) == 0


async def test_a_network_loses_its_visits_when_moved_in_house_or_returned_to_the_centre(
    runtime: ServiceRuntime,
) -> None:
    await network_order(runtime, "o-1", "v-1", "net-a", tech="net-a-tech-1")
    await network_order(runtime, "o-2", "v-2", "net-a")
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderReassigned(
                order_id="o-1",
                visit_id="v-1",
                assignee_kind=AssigneeKind.TECHNICIAN,
                technician_id="tech-7",
                previous_assignee_kind=AssigneeKind.TECHNICIAN,
                previous_technician_id="net-a-tech-1",
                previous_network_id="net-a",
                reassigned_by="dispatcher-1",
            )
        )
    )
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderReturnedToCentre(
                order_id="o-2",
                visit_id="v-2",
                reason=ReturnReason.CANNOT_STAFF,
                network_id="net-a",
            )
        )
    )
    partner = await issue_key(runtime, "partner", network_id="net-a")
    async with _client(runtime, partner) as net_a:
        assert (await net_a.get("/v1/visits")).json()["items"] == []
        assert (await net_a.get("/v1/visits/v-1")).status_code == 404
        assert (await net_a.get("/v1/visits/v-2")).status_code == 404


async def test_a_revisit_by_the_same_technician_stays_with_the_network(
    runtime: ServiceRuntime,
) -> None:
    await network_order(runtime, "o-1", "v-1", "net-a", tech="net-a-tech-1")
    await runtime.handle_event(
        EventEnvelope.wrap(
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.MISSING_PART,
                technician_id="net-a-tech-1",
            )
        )
    )
    partner = await issue_key(runtime, "partner", network_id="net-a")
    async with _client(runtime, partner) as net_a:
        listed = (await net_a.get("/v1/visits")).json()["items"]
    assert [v["visit_id"] for v in listed] == ["v-1", "v-2"]


def _sample(method: str, path: str) -> dict[str, Any]:
    """A valid request for each route with an id in its path, so 404 is not masked by 422."""
    samples: dict[tuple[str, str], dict[str, Any]] = {
        ("post", "/v1/visits/{visit_id}/actions"): {"json": {"action": {"type": "arrive"}}},
        ("post", "/v1/visits/{visit_id}/evidence"): {
            "params": {"kind": "photo"},
            "content": PNG,
            "headers": {"Content-Type": "image/png"},
        },
        ("post", "/v1/take-backs/{receipt_number}/progress"): {
            "json": {"stage": "diagnosed", "note": "x"}
        },
        ("post", "/v1/take-backs/{receipt_number}/return"): {"json": {"repaired": True}},
        ("post", "/v1/loaners/{serial}/collect"): {"json": {"condition": "good"}},
        ("post", "/v1/coordination-tickets/{ticket_id}/contacts"): {
            "json": {"by": "x", "channel": "phone", "note": "x"}
        },
        ("post", "/v1/coordination-tickets/{ticket_id}/checks"): {"json": {"by": "x"}},
        ("put", "/v1/coordination-tickets/{ticket_id}/owner"): {"json": {"owner": "x"}},
        ("post", "/v1/coordination-tickets/{ticket_id}/close"): {"json": {"resolution": "x"}},
    }
    if method == "get":
        return {}
    assert (method, path) in samples, f"new route {method.upper()} {path}: add a sample request"
    return samples[(method, path)]


async def test_a_partner_key_sees_another_networks_visits_as_missing_on_every_route(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await network_order(runtime, "o-a", "v-a", "net-a", tech="net-a-tech-1")
    key_a = await issue_key(runtime, "partner", network_id="net-a")
    key_b = await issue_key(runtime, "partner", network_id="net-b")
    unbound = await issue_key(runtime, "partner")
    theirs = {
        "visit_id": "v-a",
        "order_id": "o-a",
        "receipt_number": "r-a",
        "ticket_id": "t-a",
        "serial": "l-a",
        "evidence_id": "e-a",
    }
    missing = {k: f"{v}-missing" for k, v in theirs.items()}
    before = await outbox_size(runtime)

    paths = runtime.app.openapi()["paths"]
    scoped = [
        (method, path) for path, operations in paths.items() if "{" in path for method in operations
    ]
    assert ("post", "/v1/visits/{visit_id}/actions") in scoped
    assert ("get", "/v1/orders/{order_id}/visits") in scoped
    seen_404: set[str] = set()
    async with _client(runtime, key_a) as net_a:
        assert (await net_a.get("/v1/visits/v-a")).status_code == 200
        assert (await net_a.get("/v1/orders/o-a/visits")).status_code == 200
    for key in (key_b, unbound):
        async with _client(runtime, key) as other:
            for method, path in scoped:
                sample = _sample(method, path)
                responses = []
                for ids in (theirs, missing):
                    url = path.format(**{k: v for k, v in ids.items() if "{" + k + "}" in path})
                    response = await other.request(method.upper(), url, **sample)
                    text = response.text
                    for name, value in ids.items():
                        text = text.replace(value, f"<{name}>")
                    responses.append((response.status_code, response.headers["content-type"], text))
                assert responses[0] == responses[1], f"{method.upper()} {path} tells them apart"
                if "{visit_id}" in path or path == "/v1/orders/{order_id}/visits":
                    assert responses[0][0] == 404, f"{method.upper()} {path}: {responses[0]}"
                    assert responses[0][1].startswith("application/problem+json")
                    seen_404.add(path)
            assert (await other.get("/v1/visits")).json()["items"] == []
            assert (await other.get("/v1/visits", params={"order_id": "o-a"})).json()["items"] == []
            batch = await other.post(
                "/v1/offline/batches",
                json={
                    "actions": [
                        {
                            "client_id": "c-1",
                            "visit_id": visit_id,
                            "occurred_at": clock.now.isoformat(),
                            "action": {
                                "type": "depart",
                                "eta": clock.now.isoformat(),
                                "kit_checked": list(DEFAULT_KIT),
                            },
                        }
                        for visit_id in ("v-a",)
                    ]
                },
            )
            assert batch.status_code == 200
            [result] = batch.json()["results"]
            assert result["status"] == "refused" and result["reason"] == "Visit v-a was not found."

    assert {p for p in paths if "{visit_id}" in p} <= seen_404
    assert await outbox_size(runtime) == before
    async with _client(runtime, key_a) as net_a:
        assert (await net_a.get("/v1/visits/v-a")).json()["state"] == "scheduled"
