"""Fieldwork's lists (visits, loaners, coordination tickets) page like every other list of the
platform, on SQLite and PostgreSQL: a page object (`items`, `next_cursor`), `limit` (the policy's
`list_page_default` when not given, cut to its `list_page_max`) and an opaque `cursor` bound to
its list; each row exactly once in a stable order; a bad cursor or limit is a 422 problem. Who
sees what is unchanged: a technician their own visits, a partner key its network's."""

from __future__ import annotations

import importlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from contracts.common import AssigneeKind, Channel, Customer, Fault, Product, WarrantyStatus
from contracts.envelope import EventEnvelope
from contracts.identity import Role
from contracts.intake import OrderCreated
from contracts.scheduling import OrderAssigned
from fieldwork.domain.coordination import CoordinationTicket
from fieldwork.domain.policy import FieldworkPolicy
from servicekit.auth import generate_key, issued_event
from servicekit.db import make_engine
from servicekit.migrations import upgrade
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock, ok, on_site

POLICY = FieldworkPolicy()


def _client(runtime: ServiceRuntime, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://fieldwork",
        headers={"Authorization": f"Bearer {key}"},
    )


async def _key(
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


async def _visit(
    runtime: ServiceRuntime,
    order_id: str,
    visit_id: str,
    *,
    at: datetime,
    technician_id: str | None = "tech-7",
    network_id: str | None = None,
    loaner_required: bool = False,
) -> None:
    """An order, and its visit assigned at ``at`` (the visit's creation time)."""
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
                loaner_required=loaner_required,
            ),
            time=at - timedelta(hours=1),
        )
    )
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderAssigned(
                order_id=order_id,
                visit_id=visit_id,
                assignee_kind=AssigneeKind.NETWORK if network_id else AssigneeKind.TECHNICIAN,
                technician_id=technician_id,
                network_id=network_id,
                assigned_by="dispatcher-1",
            ),
            time=at,
        )
    )


async def _pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of the list, following ``next_cursor`` to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move on"


def _ids(pages: list[list[dict[str, Any]]], key: str) -> list[str]:
    return [item[key] for page in pages for item in page]


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}


# -- visits --------------------------------------------------------------------------------------


async def test_a_technician_pages_through_their_visits_exactly_once_oldest_first(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # Seven visits of tech-7, created in an order their ids do not follow, two at the same time
    # (ordered by id then); one of another technician, which tech-7 never sees.
    created = [3, 0, 5, 1, 6, 2, 4]
    for minute, n in enumerate(created):
        at = T0 - timedelta(hours=10) + timedelta(minutes=minute - (1 if minute == 5 else 0))
        await _visit(runtime, f"o-{n}", f"v-{n}", at=at)
    await _visit(runtime, "o-other", "v-other", at=T0 - timedelta(hours=10), technician_id="t-8")
    oldest_first = ["v-3", "v-0", "v-5", "v-1", "v-2", "v-6", "v-4"]
    await on_site(admin, clock, "v-5")
    await ok(admin, "v-5", type="fail", reason="needs_second_visit")  # ended: off the list
    technician = await _key(runtime, "technician", technician_id="tech-7")

    async with _client(runtime, technician) as tech7:
        open_pages = await _pages(tech7, "/v1/visits", limit=2)
        every = await _pages(tech7, "/v1/visits", limit=3, include_ended=True)
        one_order = await _pages(tech7, "/v1/visits", order_id="o-1")
        whole = (await tech7.get("/v1/visits")).json()

    assert [len(p) for p in open_pages] == [2, 2, 2]
    assert _ids(open_pages, "visit_id") == [v for v in oldest_first if v != "v-5"]
    assert [len(p) for p in every] == [3, 3, 1]
    assert _ids(every, "visit_id") == oldest_first
    assert _ids(one_order, "visit_id") == ["v-1"]
    assert [v["visit_id"] for v in whole["items"]] == [v for v in oldest_first if v != "v-5"]
    assert whole["next_cursor"] is None


async def test_a_partner_key_pages_through_its_networks_visits_only(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    for n in range(5):
        at = T0 - timedelta(hours=10) + timedelta(minutes=n)
        await _visit(runtime, f"o-a{n}", f"v-a{n}", at=at, technician_id=None, network_id="net-a")
        await _visit(runtime, f"o-b{n}", f"v-b{n}", at=at, technician_id=None, network_id="net-b")
    partner = await _key(runtime, "partner", network_id="net-a")
    unbound = await _key(runtime, "partner")

    async with _client(runtime, partner) as net_a, _client(runtime, unbound) as nobody:
        pages = await _pages(net_a, "/v1/visits", limit=2)
        foreign_order = (await net_a.get("/v1/visits", params={"order_id": "o-b1"})).json()
        none = (await nobody.get("/v1/visits")).json()
    # the centre lists an order's visits; without an order, none (as before)
    of_order = (await admin.get("/v1/visits", params={"order_id": "o-b1"})).json()
    without_order = (await admin.get("/v1/visits")).json()

    assert _ids(pages, "visit_id") == [f"v-a{n}" for n in range(5)]
    assert foreign_order == {"items": [], "next_cursor": None}
    assert none == {"items": [], "next_cursor": None}
    assert [v["visit_id"] for v in of_order["items"]] == ["v-b1"]
    assert without_order == {"items": [], "next_cursor": None}


async def test_the_visit_list_refuses_a_bad_cursor_or_limit_with_a_problem(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    for n in range(3):
        await _visit(runtime, f"o-{n}", f"v-{n}", at=T0 - timedelta(hours=10, minutes=n))
    await admin.post("/v1/loaners", json={"serial": "L-1", "product_line": "water_heater"})
    await admin.post("/v1/loaners", json={"serial": "L-2", "product_line": "water_heater"})
    technician = await _key(runtime, "technician", technician_id="tech-7")
    loaner_cursor = (await admin.get("/v1/loaners", params={"limit": 1})).json()["next_cursor"]
    assert loaner_cursor is not None

    async with _client(runtime, technician) as tech7:
        _refused(await tech7.get("/v1/visits", params={"cursor": "not-a-cursor"}), "cursor")
        _refused(await tech7.get("/v1/visits", params={"cursor": "e30"}), "cursor")
        _refused(await tech7.get("/v1/visits", params={"cursor": loaner_cursor}), "cursor")
        _refused(await tech7.get("/v1/visits", params={"limit": 0}), "limit")
        _refused(await tech7.get("/v1/visits", params={"limit": "many"}), "limit")


# -- loaners -------------------------------------------------------------------------------------


async def test_fld_6_the_loaner_inventory_pages_by_serial_and_cuts_a_limit_to_the_policy_maximum(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    count = POLICY.list_page_max + 3
    serials = [f"L-{n:04d}" for n in range(count)]
    for serial in reversed(serials):  # registered in the reverse order of their serials
        registered = await admin.post(
            "/v1/loaners", json={"serial": serial, "product_line": "water_heater"}
        )
        assert registered.status_code == 201, registered.text

    default = await _pages(admin, "/v1/loaners")
    first = await admin.get("/v1/loaners", params={"limit": POLICY.list_page_max + 100})
    rest = await admin.get(
        "/v1/loaners",
        params={"limit": POLICY.list_page_max + 100, "cursor": first.json()["next_cursor"]},
    )

    page = POLICY.list_page_default
    assert [len(p) for p in default] == [page] * (count // page) + [count % page]
    assert _ids(default, "serial") == serials
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == POLICY.list_page_max  # cut to the maximum, and it says
    assert first.json()["next_cursor"] is not None
    assert [x["serial"] for x in rest.json()["items"]] == serials[POLICY.list_page_max :]
    assert rest.json()["next_cursor"] is None


async def test_fld_6_the_loaner_inventory_filters_by_state_and_refuses_a_bad_cursor(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    for serial in ("L-1", "L-2", "L-3", "L-4"):
        await admin.post("/v1/loaners", json={"serial": serial, "product_line": "water_heater"})
    await _visit(runtime, "o-1", "v-1", at=T0 - timedelta(hours=10), loaner_required=True)
    await on_site(admin, clock, "v-1", loaner_serial="L-2")

    available = await _pages(admin, "/v1/loaners", state="available", limit=2)
    on_board = (await admin.get("/v1/loaners", params={"state": "on_board"})).json()

    assert _ids(available, "serial") == ["L-1", "L-3", "L-4"]
    assert [x["serial"] for x in on_board["items"]] == ["L-2"]
    _refused(await admin.get("/v1/loaners", params={"state": "lost"}), "state")
    _refused(await admin.get("/v1/loaners", params={"cursor": "bm90IGEgY3Vyc29y"}), "cursor")
    _refused(await admin.get("/v1/loaners", params={"limit": -1}), "limit")


# -- coordination tickets ------------------------------------------------------------------------


async def _tickets(runtime: ServiceRuntime, *checks: tuple[str, date, str, bool]) -> None:
    """Open a ticket per (order, next check day, owner, closed)."""
    async with runtime.app.state.uow_factory() as uow:
        for order_id, check_due, owner, closed in checks:
            await uow.tickets.add(
                CoordinationTicket(
                    ticket_id=f"t-{order_id}",
                    order_id=order_id,
                    owner=owner,
                    reason="needs_second_visit",
                    opened_at=T0,
                    next_check_due=check_due,
                    closed_at=T0 if closed else None,
                )
            )
        await uow.commit()


async def test_fld_15_coordination_tickets_page_as_a_work_queue_the_next_check_due_first(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    day = date(2026, 3, 17)
    await _tickets(
        runtime,
        ("o-5", day + timedelta(days=2), "team_lead", False),
        ("o-2", day, "team_lead", False),
        ("o-4", day + timedelta(days=1), "lead-2", False),
        ("o-1", day, "lead-2", False),  # the same day as o-2: by ticket id
        ("o-3", day + timedelta(days=1), "team_lead", True),
        ("o-6", day + timedelta(days=3), "team_lead", False),
    )

    open_pages = await _pages(admin, "/v1/coordination-tickets", limit=2)
    every = await _pages(admin, "/v1/coordination-tickets", limit=4, open_only=False)
    lead_2 = await _pages(admin, "/v1/coordination-tickets", owner="lead-2")

    assert [len(p) for p in open_pages] == [2, 2, 1]
    assert _ids(open_pages, "order_id") == ["o-1", "o-2", "o-4", "o-5", "o-6"]
    assert _ids(every, "order_id") == ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"]
    assert _ids(lead_2, "order_id") == ["o-1", "o-4"]
    ticket_page = (await admin.get("/v1/coordination-tickets", params={"limit": 1})).json()
    _refused(
        await admin.get("/v1/loaners", params={"cursor": ticket_page["next_cursor"]}), "cursor"
    )
    _refused(await admin.get("/v1/coordination-tickets", params={"cursor": "x"}), "cursor")
    _refused(await admin.get("/v1/coordination-tickets", params={"limit": 0}), "limit")


# -- the migration -------------------------------------------------------------------------------


async def test_migration_0007_gives_existing_visits_their_creation_time_to_be_listed_by(
    database_url: str,
) -> None:
    migrations = importlib.import_module("fieldwork.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0006")
    columns = {
        "visit_id": sa.String,
        "order_id": sa.String,
        "technician_id": sa.String,
        "state": sa.String,
        "updated_at": sa.DateTime(timezone=True),
        "doc": sa.JSON,
    }
    visit = sa.table("fieldwork_visit", *(sa.column(n, t) for n, t in columns.items()))

    def row(visit_id: str, created_at: str) -> dict[str, Any]:
        return {
            "visit_id": visit_id,
            "order_id": f"o-{visit_id}",
            "technician_id": "tech-7",
            "state": "scheduled",
            "updated_at": T0,
            "doc": {"visit_id": visit_id, "order_id": f"o-{visit_id}", "created_at": created_at},
        }

    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                visit.insert(),
                [row("v-1", "2026-03-02T09:00:00+08:00"), row("v-2", "2026-03-01T23:30:00+00:00")],
            )
        await upgrade(migrations, database_url)
        migrated = sa.table(
            "fieldwork_visit",
            sa.column("visit_id", sa.String),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        async with engine.connect() as conn:
            found = {str(r.visit_id): r.created_at for r in await conn.execute(sa.select(migrated))}
    finally:
        await engine.dispose()
    as_utc = {k: (v if v.tzinfo else v.replace(tzinfo=T0.tzinfo)) for k, v in found.items()}
    assert as_utc == {"v-1": T0, "v-2": T0 - timedelta(minutes=90)}
