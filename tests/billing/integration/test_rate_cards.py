"""Network rate cards over the API and in the monthly settlement (BIL-12), on SQLite and
PostgreSQL: versions published like fee schedules (BIL-1), each in force from its
`effective_from`; a completed repair or installation is owed to the network at the rate of the
version in force when the work was done, for the order's product line, else the card's `*`
rate, else the policy's flat fee."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.common import AssigneeKind
from contracts.fieldwork import InstallationCompleted, QuoteRequested, RepairCompleted
from contracts.scheduling import OrderAssigned
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock
from .test_billing_api import fee, key, order_created, publish, send

CARD = {
    "rates": [
        {"product_line": "water_heater", "kind": "repair", "amount": "65.00"},
        {"product_line": "*", "kind": "repair", "amount": "55.00"},
        {"product_line": "*", "kind": "installation", "amount": "95.50"},
    ]
}
PROBLEM = "application/problem+json"


async def create(
    client: httpx.AsyncClient,
    body: dict[str, Any] = CARD,
    network: str = "net-9",
    **headers: str,
) -> httpx.Response:
    response = await client.post(f"/v1/rate-cards/{network}/versions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response


def refused(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    return body


def fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in refused(response)["errors"]}


# --- the API ----------------------------------------------------------------------------------


async def test_bil_12_rate_card_versions_are_created_listed_newest_first_and_read(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client)
    body = first.json()
    assert (body["network_id"], body["version"], body["label"]) == ("net-9", 1, "net-9@v1")
    assert datetime.fromisoformat(body["effective_from"]) == T0  # none given: now
    assert datetime.fromisoformat(body["published_at"]) == T0
    assert body["published_by"]
    assert body["rates"] == CARD["rates"]
    assert first.headers["Location"] == "/v1/rate-cards/net-9/versions/1"
    later = (T0 + timedelta(days=10)).isoformat()
    second = await create(client, {**CARD, "effective_from": later})
    assert second.json()["version"] == 2
    assert datetime.fromisoformat(second.json()["effective_from"]) == T0 + timedelta(days=10)

    v1 = await client.get("/v1/rate-cards/net-9/versions/1")
    assert v1.status_code == 200 and v1.json() == body
    versions = (await client.get("/v1/rate-cards/net-9/versions")).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert versions["next_cursor"] is None
    assert {"label", "effective_from", "published_at", "published_by"} <= set(versions["items"][0])
    # v2 takes effect in ten days: the card in force now is v1
    assert (await client.get("/v1/rate-cards/net-9")).json()["version"] == 1
    for method in ("PUT", "PATCH", "DELETE"):
        changed = await client.request(method, "/v1/rate-cards/net-9/versions/1")
        assert changed.status_code == 405


async def test_bil_12_rate_card_versions_come_in_pages_each_once(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        await create(client)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/rate-cards/net-9/versions", params=params)).json()
        seen += [v["version"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    assert "cursor" in fields(
        await client.get("/v1/rate-cards/net-9/versions", params={"cursor": "garbage"})
    )
    for _ in range(2):
        await publish(client)
    schedules = await client.get("/v1/fee-schedules/water_heater/versions", params={"limit": 1})
    foreign = schedules.json()["next_cursor"]
    assert foreign is not None
    assert "cursor" in fields(
        await client.get("/v1/rate-cards/net-9/versions", params={"cursor": foreign})
    )


async def test_bil_12_unknown_networks_and_versions_are_404_problems(
    client: httpx.AsyncClient,
) -> None:
    refused(await client.get("/v1/rate-cards/net-0/versions"), 404)
    refused(await client.get("/v1/rate-cards/net-0"), 404)
    await create(client, {**CARD, "effective_from": (T0 + timedelta(days=1)).isoformat()})
    refused(await client.get("/v1/rate-cards/net-9/versions/2"), 404)
    missing_now = refused(await client.get("/v1/rate-cards/net-9"), 404)  # not in force yet
    assert "net-9" in missing_now["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rates": [{"product_line": "*", "kind": "visit", "amount": "1.00"}]}, "rates.0.kind"),
        (
            {"rates": [{"product_line": "*", "kind": "repair", "amount": "-5.00"}]},
            "rates.0.amount",
        ),
        (
            {"rates": [{"product_line": "*", "kind": "repair", "amount": "5.001"}]},
            "rates.0.amount",
        ),
        ({"rates": [{"product_line": "*", "kind": "repair", "amount": "5,00"}]}, "rates.0.amount"),
        (
            {"rates": [{"product_line": "a b", "kind": "repair", "amount": "5.00"}]},
            "rates.0.product_line",
        ),
        ({"rates": [{"product_line": "*", "kind": "repair"}]}, "rates.0.amount"),
        (
            {
                "rates": [
                    {"product_line": "boiler", "kind": "repair", "amount": "5.00"},
                    {"product_line": "boiler", "kind": "repair", "amount": "6.00"},
                ]
            },
            "rates",
        ),
        ({**CARD, "effective_from": "2026-12-01T00:00:00"}, "effective_from"),
        ({**CARD, "effective_from": 1800000000}, "effective_from"),
        ({**CARD, "effective_from": (T0 - timedelta(seconds=1)).isoformat()}, "effective_from"),
        ({**CARD, "note": "x"}, "note"),
        ({}, "rates"),
    ],
)
async def test_bil_12_a_bad_rate_card_is_a_422_problem_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/rate-cards/net-9/versions", json=body)

    assert field in fields(response)
    refused(await client.get("/v1/rate-cards/net-9/versions"), 404)  # nothing was created


async def test_bil_12_a_too_long_network_id_is_a_422_problem(client: httpx.AsyncClient) -> None:
    assert "network_id" in fields(
        await client.post(f"/v1/rate-cards/{'n' * 65}/versions", json=CARD)
    )


@pytest.mark.parametrize("network", ["net-9%20", "%20net-9", "%E2%80%AEnet-9", "网点-9", "net 9"])
async def test_bil_12_a_network_id_no_network_can_have_is_a_422_problem_not_a_card(
    client: httpx.AsyncClient, network: str
) -> None:
    # Networks are registered with ids of [A-Za-z0-9_.:-] (scheduling): a card published for
    # "net-9 " was stored and answered 201, yet never priced net-9's work (BIL-12).
    assert "network_id" in fields(
        await client.post(f"/v1/rate-cards/{network}/versions", json=CARD)
    )
    for path in ("", "/versions", "/versions/1"):
        assert "network_id" in fields(await client.get(f"/v1/rate-cards/{network}{path}"))


async def test_bil_12_only_admins_write_cards_and_a_network_reads_only_its_own(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    dispatcher = await key(runtime, "dispatcher")
    own = await key(runtime, "partner", network_id="net-9")
    other = await key(runtime, "partner", network_id="net-1")
    technician = await key(runtime, "technician", technician_id="nt-1")
    for caller in (dispatcher, own, technician):
        refused(await client.post("/v1/rate-cards/net-9/versions", json=CARD, headers=caller), 403)
    await create(client)
    for path in ("/v1/rate-cards/net-9", "/v1/rate-cards/net-9/versions"):
        assert (await client.get(path, headers=dispatcher)).status_code == 200
        assert (await client.get(path, headers=own)).status_code == 200
        refused(await client.get(path, headers=other), 403)
        refused(await client.get(path, headers=technician), 403)
    assert (await client.get("/v1/rate-cards/net-9/versions/1", headers=own)).status_code == 200
    refused(await client.get("/v1/rate-cards/net-9/versions/1", headers=other), 403)


async def test_bil_12_a_retried_card_creation_with_its_key_is_done_once(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client, **{"Idempotency-Key": "card-1"})
    retried = await create(client, **{"Idempotency-Key": "card-1"})

    assert retried.json() == first.json()
    assert retried.headers["location"] == "/v1/rate-cards/net-9/versions/1"
    assert (await create(client)).json()["version"] == 2


# --- the settlement item of completed work ----------------------------------------------------


async def assigned_to_network(runtime: ServiceRuntime, order_id: str, network: str) -> None:
    """Visit v-1 of the order given to the network's technician nt-1."""
    await send(
        runtime,
        OrderAssigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.NETWORK,
            network_id=network,
            technician_id="nt-1",
            assigned_by="disp-1",
        ),
    )


async def network_order(runtime: ServiceRuntime, order_id: str, network: str) -> None:
    """An order of a water heater whose visit v-1 the network gave its technician nt-1."""
    await send(runtime, order_created(order_id))
    await assigned_to_network(runtime, order_id, network)


def repaired(order_id: str) -> RepairCompleted:
    return RepairCompleted(
        order_id=order_id,
        visit_id="v-1",
        technician_id="nt-1",
        tested=True,
        sure_fixed=True,
        on_site_minutes=40,
    )


async def service_fees(
    client: httpx.AsyncClient, network: str, month: str
) -> dict[str, tuple[str, str]]:
    statement = await client.get(f"/v1/settlements/{network}/{month}")
    assert statement.status_code == 200, statement.text
    return {
        i["order_id"]: (i["amount"], i["description"])
        for i in statement.json()["items"]
        if i["kind"] == "service_fee"
    }


async def test_bil_12_a_repair_by_a_network_technician_is_owed_at_the_cards_rate(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await create(client)
    await network_order(runtime, "o-1", "net-9")

    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))

    fees = await service_fees(client, "net-9", "2026-04")
    assert fees["o-1"][0] == "65.00"
    assert "rate card net-9@v1 (water_heater repair)" in fees["o-1"][1]
    assert (await client.get("/v1/settlements/net-9/2026-04")).json()["service_fees_owed"] == (
        "65.00"
    )


async def test_bil_12_completed_work_is_priced_by_the_version_in_force_when_it_was_done(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await create(client)
    may = T0 + timedelta(days=3)  # 3 May, Shanghai
    await create(
        client,
        {
            "effective_from": may.isoformat(),
            "rates": [{"product_line": "water_heater", "kind": "repair", "amount": "70.00"}],
        },
    )
    for order_id in ("o-before", "o-after", "o-install"):
        await network_order(runtime, order_id, "net-9")
    clock.now = may + timedelta(days=1)  # billing hears of the earlier repair after v2 started

    await send(runtime, repaired("o-before"), at=may - timedelta(minutes=1))
    await send(runtime, repaired("o-after"), at=may)
    await send(
        runtime,
        InstallationCompleted(
            order_id="o-install",
            visit_id="v-1",
            technician_id="nt-1",
            installed_on=may.date(),
        ),
        at=may + timedelta(hours=1),
    )

    fees = await service_fees(client, "net-9", "2026-05")
    assert fees["o-before"][0] == "65.00" and "net-9@v1" in fees["o-before"][1]
    assert fees["o-after"][0] == "70.00" and "net-9@v2" in fees["o-after"][1]
    # v2 has no installation rate: the policy default, saying so
    assert fees["o-install"][0] == "80.00"
    assert "policy default (rate card net-9@v2 has no installation rate)" in fees["o-install"][1]


async def test_bil_12_a_network_without_a_card_is_still_paid_the_policy_default(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await create(client)  # net-9's card does not apply to net-1
    await network_order(runtime, "o-1", "net-1")

    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))

    fees = await service_fees(client, "net-1", "2026-04")
    assert fees["o-1"][0] == format(runtime.app.state.policy.network_repair_fee, "f")
    assert fees["o-1"][1].endswith("policy default")


async def service_fee_items(
    client: httpx.AsyncClient, network: str, month: str
) -> list[dict[str, Any]]:
    statement = await client.get(f"/v1/settlements/{network}/{month}")
    assert statement.status_code == 200, statement.text
    items: list[dict[str, Any]] = statement.json()["items"]
    return [i for i in items if i["kind"] == "service_fee"]


async def test_bil_12_work_heard_before_the_order_is_priced_once_its_product_line_is_known(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    # Intake's consumer lags: billing hears the assignment and the repair before OrderCreated.
    await create(client)
    later = T0 + timedelta(days=3)
    await create(
        client,
        {
            "effective_from": later.isoformat(),
            "rates": [{"product_line": "water_heater", "kind": "repair", "amount": "70.00"}],
        },
    )
    await assigned_to_network(runtime, "o-1", "net-9")
    done_at = T0 + timedelta(hours=1)
    repair = await send(runtime, repaired("o-1"), at=done_at)

    # not priced at the card's `*` rate for want of the line: nothing owed yet
    assert await service_fee_items(client, "net-9", "2026-04") == []
    pending = (await client.get("/v1/orders/o-1/charge")).json()["pending_network_fees"]
    assert [(f["fee_id"], f["network_id"], f["kind"]) for f in pending] == [
        (str(repair.id), "net-9", "repair")
    ]

    clock.now = later + timedelta(days=1)  # the order is heard after v2 took effect
    await send(runtime, order_created("o-1"), at=clock.now)

    items = await service_fee_items(client, "net-9", "2026-04")
    assert len(items) == 1
    assert items[0]["order_id"] == "o-1" and items[0]["amount"] == "65.00"
    assert "rate card net-9@v1 (water_heater repair)" in items[0]["description"]
    assert datetime.fromisoformat(items[0]["occurred_at"]) == done_at
    assert items[0]["item_id"] == str(repair.id)
    assert (await client.get("/v1/orders/o-1/charge")).json()["pending_network_fees"] == []

    # the repair redelivered, the order heard again: still one item
    await runtime.handle_event(repair)
    await send(runtime, order_created("o-1"), at=clock.now + timedelta(minutes=1))
    assert len(await service_fee_items(client, "net-9", "2026-04")) == 1
    assert await service_fee_items(client, "net-9", "2026-05") == []


async def test_bil_12_work_heard_before_the_order_is_priced_by_a_quote_requests_line(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await create(client)
    await assigned_to_network(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))
    assert await service_fee_items(client, "net-9", "2026-04") == []

    await send(
        runtime,
        QuoteRequested(
            order_id="o-1",
            visit_id="v-1",
            request_id="req-1",
            items=[fee("W02")],
            product_line="water_heater",
        ),
        at=T0 + timedelta(hours=2),
    )

    items = await service_fee_items(client, "net-9", "2026-04")
    assert [(i["amount"], i["order_id"]) for i in items] == [("65.00", "o-1")]
