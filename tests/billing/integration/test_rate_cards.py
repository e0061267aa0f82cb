"""Network rate cards over the API and in the monthly settlement (BIL-12), on SQLite and
PostgreSQL: versions published like fee schedules (BIL-1), each in force from its
`effective_from`; a completed repair or installation is owed to the network at the rate of the
version in force when the work was done, for the order's product line, else the card's `*`
rate, else the policy's flat fee."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billing.domain.account import PendingNetworkFee
from billing.domain.reports import SettlementItem, SettlementKind
from contracts.common import AssigneeKind, Product
from contracts.fieldwork import InstallationCompleted, QuoteRequested, RepairCompleted
from contracts.intake import OrderVerified
from contracts.scheduling import OrderAssigned
from servicekit.migrations import upgrade
from servicekit.paging import decode_cursor, encode_cursor
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock
from .test_billing_api import SCHEDULE, fee, key, order_created, publish, send
from .test_waiver_ids import _billing, store_accounts

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


# --- a product line learnt or corrected after the fee was recorded ------------------------------

LINE_CARD = {
    "rates": [
        {"product_line": "water_heater", "kind": "repair", "amount": "65.00"},
        {"product_line": "boiler", "kind": "repair", "amount": "80.00"},
        {"product_line": "*", "kind": "repair", "amount": "55.00"},
    ]
}


def corrected_line(order_id: str, line: str) -> OrderVerified:
    """The centre corrects the order's product (INT-2)."""
    return OrderVerified(
        order_id=order_id,
        verified=["product"],
        product=Product(line=line, model="X1"),
        verified_by="agent-1",
    )


async def test_bil12_a_corrected_product_line_reprices_the_fee_by_an_adjustment_in_the_open_month(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await create(client, LINE_CARD)
    await network_order(runtime, "o-1", "net-9")
    repair = await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))
    april = await client.get("/v1/settlements/net-9/2026-04")
    assert april.json()["service_fees_owed"] == "65.00"
    clock.now = T0 + timedelta(days=5)  # April's statement is over: May is open

    await send(runtime, corrected_line("o-1", "boiler"), at=clock.now)

    # April, settled with the network, is not rewritten
    assert (await client.get("/v1/settlements/net-9/2026-04")).json() == april.json()
    may = await service_fee_items(client, "net-9", "2026-05")
    assert [(i["order_id"], i["amount"]) for i in may] == [("o-1", "15.00")]
    assert datetime.fromisoformat(may[0]["occurred_at"]) == clock.now
    note = may[0]["description"]
    assert "water_heater" in note and "boiler" in note and "net-9@v1" in note
    assert str(repair.id) in note
    assert (await client.get("/v1/settlements/net-9/2026-05")).json()["service_fees_owed"] == (
        "15.00"
    )

    # the same line heard again (a second verification, a redelivery): no second adjustment
    again = await send(
        runtime, corrected_line("o-1", "boiler"), at=clock.now + timedelta(minutes=1)
    )
    await runtime.handle_event(again)
    assert len(await service_fee_items(client, "net-9", "2026-05")) == 1

    # corrected back: the network is owed the water heater's rate again
    await send(runtime, corrected_line("o-1", "water_heater"), at=clock.now + timedelta(hours=1))
    amounts = sorted(i["amount"] for i in await service_fee_items(client, "net-9", "2026-05"))
    assert amounts == ["-15.00", "15.00"]


async def test_bil12_a_line_change_is_priced_by_the_version_in_force_when_the_work_was_done(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await create(client, LINE_CARD)
    await create(
        client,
        {
            "effective_from": (T0 + timedelta(days=2)).isoformat(),
            "rates": [{"product_line": "boiler", "kind": "repair", "amount": "99.00"}],
        },
    )
    await network_order(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))
    clock.now = T0 + timedelta(days=5)  # v2 is in force now, not when the work was done

    await send(runtime, corrected_line("o-1", "boiler"), at=clock.now)

    may = await service_fee_items(client, "net-9", "2026-05")
    assert [i["amount"] for i in may] == ["15.00"]
    assert "net-9@v1" in may[0]["description"] and "net-9@v2" not in may[0]["description"]


async def test_bil12_a_line_change_that_keeps_the_price_adds_no_adjustment(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await create(client, LINE_CARD)
    await network_order(runtime, "o-1", "net-9")
    await send(runtime, corrected_line("o-1", "washer"), at=T0 + timedelta(minutes=30))
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))  # washer: the * rate

    await send(runtime, corrected_line("o-1", "dryer"), at=T0 + timedelta(hours=2))

    items = await service_fee_items(client, "net-9", "2026-04")
    assert [i["amount"] for i in items] == ["55.00"]


async def test_bil12_a_fee_recorded_in_the_current_month_is_adjusted_in_that_month(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await create(client, LINE_CARD)
    clock.now = T0 + timedelta(days=3)  # 3 May
    await network_order(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=clock.now)

    await send(runtime, corrected_line("o-1", "boiler"), at=clock.now + timedelta(hours=1))

    may = await client.get("/v1/settlements/net-9/2026-05")
    assert sorted(i["amount"] for i in may.json()["items"]) == ["15.00", "65.00"]
    assert may.json()["service_fees_owed"] == "80.00"


async def test_bil12_a_fee_an_earlier_release_recorded_is_repriced_when_the_line_changes(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    # An earlier release priced work heard before the order at the card's `*` rate and kept
    # nothing of it on the order but the settlement item.
    await create(client, LINE_CARD)
    await assigned_to_network(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))
    async with runtime.app.state.uow_factory() as uow:
        account = await uow.accounts.get("o-1")
        assert account is not None and account.state.pending_network_fees
        fee = account.state.pending_network_fees.pop()
        await uow.settlements.add(
            SettlementItem(
                item_id=fee.fee_id,
                network_id="net-9",
                order_id="o-1",
                kind=SettlementKind.SERVICE_FEE,
                amount=Decimal("55.00"),
                occurred_at=fee.occurred_at,
                description="repair fee, visit v-1, rate card net-9@v1 (* repair)",
            )
        )
        await uow.accounts.save(account)
        await uow.commit()
    clock.now = T0 + timedelta(days=5)

    await send(runtime, order_created("o-1"), at=clock.now)
    await send(runtime, order_created("o-1"), at=clock.now + timedelta(minutes=1))

    may = await service_fee_items(client, "net-9", "2026-05")
    assert [i["amount"] for i in may] == ["10.00"]
    assert "water_heater" in may[0]["description"] and fee.fee_id in may[0]["description"]
    april = await service_fee_items(client, "net-9", "2026-04")
    assert [i["amount"] for i in april] == ["55.00"]


# --- work dated ahead of billing's clock ------------------------------------------------------


async def test_bil12_work_dated_ahead_of_billing_is_not_priced_by_a_version_published_after(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    # Fieldwork allows its clock to run a little ahead (offline_clock_skew_seconds): the repair
    # is dated 5 s after billing hears of it, before the order's line is known.
    await create(client, LINE_CARD)
    await assigned_to_network(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(seconds=5))
    # v2 is published right after, in force from 3 s on: after billing heard of the work
    clock.now = T0 + timedelta(seconds=1)
    await create(
        client,
        {
            "effective_from": (T0 + timedelta(seconds=3)).isoformat(),
            "rates": [{"product_line": "water_heater", "kind": "repair", "amount": "70.00"}],
        },
    )
    clock.now = T0 + timedelta(minutes=5)

    await send(runtime, order_created("o-1"), at=clock.now)

    items = await service_fee_items(client, "net-9", "2026-04")
    assert [i["amount"] for i in items] == ["65.00"]
    assert "net-9@v1" in items[0]["description"]
    assert datetime.fromisoformat(items[0]["occurred_at"]) == T0 + timedelta(seconds=5)


# --- cursors bound to their network / product line --------------------------------------------


async def test_bil12_a_rate_card_versions_cursor_of_another_network_is_a_422_problem(
    client: httpx.AsyncClient,
) -> None:
    for network in ("net-9", "net-1"):
        for _ in range(3):
            await create(client, network=network)
    other = (await client.get("/v1/rate-cards/net-1/versions", params={"limit": 1})).json()
    assert other["next_cursor"] is not None

    response = await client.get(
        "/v1/rate-cards/net-9/versions", params={"cursor": other["next_cursor"]}
    )

    errors = refused(response)["errors"]
    assert [e["field"] for e in errors] == ["cursor"]
    assert "another network" in errors[0]["message"]
    # a cursor an earlier release gave, bound to no network, is refused too
    unbound = encode_cursor("rate-card-versions:newest", datetime(1970, 1, 1, tzinfo=UTC), "3")
    response = await client.get("/v1/rate-cards/net-9/versions", params={"cursor": unbound})
    assert "names no network" in refused(response)["errors"][0]["message"]
    # its own network's cursor still pages on
    own = (await client.get("/v1/rate-cards/net-9/versions", params={"limit": 1})).json()
    page = await client.get("/v1/rate-cards/net-9/versions", params={"cursor": own["next_cursor"]})
    assert [v["version"] for v in page.json()["items"]] == [2, 1]


async def test_bil12_a_fee_schedule_versions_cursor_of_another_line_is_a_422_problem(
    client: httpx.AsyncClient,
) -> None:
    for line in ("water_heater", "boiler"):
        for _ in range(3):
            response = await client.post(f"/v1/fee-schedules/{line}/versions", json=SCHEDULE)
            assert response.status_code == 201, response.text
    other = (await client.get("/v1/fee-schedules/boiler/versions", params={"limit": 1})).json()
    assert other["next_cursor"] is not None

    response = await client.get(
        "/v1/fee-schedules/water_heater/versions", params={"cursor": other["next_cursor"]}
    )

    errors = refused(response)["errors"]
    assert [e["field"] for e in errors] == ["cursor"]
    assert "another product line" in errors[0]["message"]
    own = (await client.get("/v1/fee-schedules/water_heater/versions", params={"limit": 1})).json()
    page = await client.get(
        "/v1/fee-schedules/water_heater/versions", params={"cursor": own["next_cursor"]}
    )
    assert [v["version"] for v in page.json()["items"]] == [2, 1]


# --- the fees still waiting for a product line -------------------------------------------------

PENDING = "/v1/pending-network-fees"


async def test_bil12_fees_waiting_for_a_product_line_are_listed_earliest_work_first(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await create(client)
    for order_id, network, hours in (("o-b", "net-9", 3), ("o-a", "net-1", 2), ("o-c", "net-9", 1)):
        await assigned_to_network(runtime, order_id, network)
        await send(runtime, repaired(order_id), at=T0 + timedelta(hours=hours))

    listed = await client.get(PENDING, params={"limit": 2})

    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert [i["order_id"] for i in page["items"]] == ["o-c", "o-a"]
    assert [(f["network_id"], f["kind"]) for f in page["items"][0]["fees"]] == [("net-9", "repair")]
    assert datetime.fromisoformat(page["items"][0]["pending_since"]) == T0 + timedelta(hours=1)
    rest = (await client.get(PENDING, params={"cursor": page["next_cursor"]})).json()
    assert ([i["order_id"] for i in rest["items"]], rest["next_cursor"]) == (["o-b"], None)

    # one network's, in pages of its own
    net9 = (await client.get(PENDING, params={"network_id": "net-9", "limit": 1})).json()
    assert [i["order_id"] for i in net9["items"]] == ["o-c"]
    after = await client.get(PENDING, params={"network_id": "net-9", "cursor": net9["next_cursor"]})
    assert [i["order_id"] for i in after.json()["items"]] == ["o-b"]
    # a cursor of the whole list does not page one network's
    errors = refused(
        await client.get(PENDING, params={"network_id": "net-9", "cursor": page["next_cursor"]})
    )["errors"]
    assert [e["field"] for e in errors] == ["cursor"]

    # priced once the line is known: no longer listed
    await send(runtime, order_created("o-c"), at=T0 + timedelta(hours=4))
    left = (await client.get(PENDING)).json()
    assert [i["order_id"] for i in left["items"]] == ["o-a", "o-b"]


async def test_bil12_a_network_lists_only_its_own_waiting_fees(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    for order_id, network in (("o-1", "net-9"), ("o-2", "net-1")):
        await assigned_to_network(runtime, order_id, network)
        await send(runtime, repaired(order_id), at=T0 + timedelta(hours=1))
    own = await key(runtime, "partner", network_id="net-9")
    technician = await key(runtime, "technician", technician_id="nt-1")

    mine = await client.get(PENDING, headers=own)

    assert [i["order_id"] for i in mine.json()["items"]] == ["o-1"]
    refused(await client.get(PENDING, params={"network_id": "net-1"}, headers=own), 403)
    refused(await client.get(PENDING, headers=technician), 403)
    assert "network_id" in fields(await client.get(PENDING, params={"network_id": "net 9"}))


async def test_bil12_migration_0011_lists_the_fees_waiting_before_it(database_url: str) -> None:
    migrations = importlib.import_module("billing.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0010")
    waiting = PendingNetworkFee(
        fee_id="e-1",
        network_id="net-9",
        kind="repair",
        visit_id="v-1",
        occurred_at=T0 + timedelta(hours=1),
    )
    await store_accounts(
        database_url,
        {
            "o-waiting": {"pending_network_fees": [waiting.model_dump(mode="json")]},
            "o-none": {},
        },
        version=1,
    )

    await upgrade(migrations, database_url)

    async with _billing(database_url) as billing:
        listed = await billing.get(PENDING)
        assert listed.status_code == 200, listed.text
        assert [i["order_id"] for i in listed.json()["items"]] == ["o-waiting"]
        assert listed.json()["items"][0]["fees"][0]["fee_id"] == "e-1"


async def test_bil12_a_networks_pending_fees_cursor_names_none_of_another_networks_orders(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    for order_id, network, hours in (("o-a", "net-9", 1), ("o-b", "net-1", 2), ("o-c", "net-9", 3)):
        await assigned_to_network(runtime, order_id, network)
        await send(runtime, repaired(order_id), at=T0 + timedelta(hours=hours))
    own = await key(runtime, "partner", network_id="net-9")

    first = (await client.get(PENDING, params={"limit": 1}, headers=own)).json()

    assert [i["order_id"] for i in first["items"]] == ["o-a"]
    # the cursor a partner is given is readable: it names no order of another network
    _, after, _ = decode_cursor("pending-network-fees:work-done", first["next_cursor"])
    assert after == "o-a"
    rest = (await client.get(PENDING, params={"cursor": first["next_cursor"]}, headers=own)).json()
    assert ([i["order_id"] for i in rest["items"]], rest["next_cursor"]) == (["o-c"], None)


async def test_bil12_a_partner_key_bound_to_no_network_lists_no_pending_fees(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await assigned_to_network(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))
    unbound = await key(runtime, "partner")

    refused(await client.get(PENDING, headers=unbound), 403)


async def test_bil12_a_corrected_line_reprices_each_networks_fee_on_the_order_by_its_own_card(
    runtime: ServiceRuntime, client: httpx.AsyncClient, clock: Clock
) -> None:
    await create(client, LINE_CARD)
    # net-1's card has no rate for boilers: the policy's flat fee
    await create(
        client,
        {"rates": [{"product_line": "water_heater", "kind": "repair", "amount": "45.00"}]},
        network="net-1",
    )
    await network_order(runtime, "o-1", "net-9")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(minutes=30))
    await send(
        runtime,
        OrderAssigned(
            order_id="o-1",
            visit_id="v-2",
            assignee_kind=AssigneeKind.NETWORK,
            network_id="net-1",
            technician_id="nt-2",
            assigned_by="disp-1",
        ),
    )
    revisit = repaired("o-1").model_copy(update={"visit_id": "v-2", "technician_id": "nt-2"})
    await send(runtime, revisit, at=T0 + timedelta(hours=1))
    clock.now = T0 + timedelta(days=5)

    await send(runtime, corrected_line("o-1", "boiler"), at=clock.now)

    assert [i["amount"] for i in await service_fee_items(client, "net-9", "2026-05")] == ["15.00"]
    assert [i["amount"] for i in await service_fee_items(client, "net-1", "2026-05")] == ["5.00"]
    assert (
        "policy default" in (await service_fee_items(client, "net-1", "2026-05"))[0]["description"]
    )
