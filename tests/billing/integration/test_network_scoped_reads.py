"""What a partner network reads of an order it holds concerns its own network only (SCH-12,
BIL-12): the customer's charge and balance are shared by whoever holds the order, so every
payment is listed with its amount and receipt, but another network's identity (its id, its
people) and its fees are not the new holder's to read. The centre keeps the full view. The
list of fees waiting for a product line is selected per network in the database, each order
dated by that network's own earliest waiting work."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from support.statements import statements_sent

from billing.adapters.tables import PendingNetworkFeeRow
from billing.domain.account import AccountState, PendingNetworkFee
from contracts.scheduling import OrderReassigned
from servicekit.db import table_of
from servicekit.migrations import upgrade
from servicekit.paging import encode_cursor
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import key, order_created, publish, send, waived
from .test_holders import CASH, _held_by_technician_of, _placed_with_technician
from .test_rate_cards import PENDING, assigned_to_network, refused, repaired
from .test_waiver_ids import _billing, store_accounts


def _moved_to_network(order_id: str, network: str, previous: str) -> OrderReassigned:
    """The revisit v-2 given by the centre to ``network``'s technician ``<network>-tech``."""
    return _placed_with_technician(
        order_id, network, visit_id="v-2", previous_network=previous, reassigned_by="disp-1"
    )


async def _paid_by_two_networks(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> tuple[dict[str, str], str, str]:
    """o-1: net-1's technician took 50.00, then the centre gave the order to net-2, whose
    technician took 20.00; net-2's key, and the two payment ids."""
    await publish(client)
    _, net_1_tech = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    first = await client.post("/v1/orders/o-1/payments", json=CASH, headers=net_1_tech)
    assert first.status_code == 201, first.text
    await send(runtime, _moved_to_network("o-1", "net-2", "net-1"))
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")
    net_2_tech = await key(runtime, "technician", technician_id="net-2-tech")
    second = await client.post(
        "/v1/orders/o-1/payments", json={"method": "cash", "amount": "20.00"}, headers=net_2_tech
    )
    assert second.status_code == 201, second.text
    return net_2, first.json()["payment"]["payment_id"], second.json()["payment"]["payment_id"]


async def test_sch_12_bil_12_a_partner_sees_an_earlier_holders_payment_but_not_who_took_it(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    net_2, earlier, own = await _paid_by_two_networks(runtime, client)

    charge = await client.get("/v1/orders/o-1/charge", headers=net_2)

    assert charge.status_code == 200, charge.text
    body = charge.json()
    payments = {p["payment_id"]: p for p in body["payments"]}
    # the customer's balance is shared: both payments count, with their receipts
    assert (payments[earlier]["amount"], payments[own]["amount"]) == ("50.00", "20.00")
    assert payments[earlier]["receipt_number"]
    assert body["summary"]["paid"] == "70.00"
    # another network's identity is not the holder's to read
    assert payments[earlier]["network_id"] is None
    assert payments[earlier]["by"] is None
    assert payments[earlier]["another_network"] is True
    assert "net-1" not in charge.text
    # its own payment, in full
    assert (payments[own]["network_id"], payments[own]["by"]) == ("net-2", "net-2-tech")
    assert payments[own]["another_network"] is False


async def test_sch_12_a_partner_reading_an_earlier_holders_payment_sees_no_network(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    net_2, earlier, _ = await _paid_by_two_networks(runtime, client)

    read = await client.get(f"/v1/orders/o-1/payments/{earlier}", headers=net_2)

    assert read.status_code == 200, read.text
    payment = read.json()["payment"]
    assert (payment["amount"], payment["network_id"], payment["by"]) == ("50.00", None, None)
    assert "net-1" not in read.text


async def test_sch_12_the_centre_sees_every_networks_payments_in_full(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    _, earlier, own = await _paid_by_two_networks(runtime, client)

    body = (await client.get("/v1/orders/o-1/charge")).json()

    payments = {p["payment_id"]: (p["network_id"], p["by"]) for p in body["payments"]}
    assert payments == {earlier: ("net-1", "net-1-tech"), own: ("net-2", "net-2-tech")}
    assert not any(p["another_network"] for p in body["payments"])


async def _fees_of_two_networks(runtime: ServiceRuntime) -> None:
    """o-1, its product line not known: net-1 repaired on v-1 at T0+1h, then the centre gave
    the revisit v-2 to net-2, which repaired at T0+5h; both fees wait for the line."""
    await assigned_to_network(runtime, "o-1", "net-1")
    await send(runtime, repaired("o-1"), at=T0 + timedelta(hours=1))
    await send(runtime, _moved_to_network("o-1", "net-2", "net-1"))
    revisit = repaired("o-1").model_copy(update={"visit_id": "v-2", "technician_id": "net-2-tech"})
    await send(runtime, revisit, at=T0 + timedelta(hours=5))


async def test_bil_12_a_partner_sees_only_its_own_networks_pending_fees_on_the_charge(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _fees_of_two_networks(runtime)
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")

    charge = await client.get("/v1/orders/o-1/charge", headers=net_2)
    centre = (await client.get("/v1/orders/o-1/charge")).json()

    assert charge.status_code == 200, charge.text
    assert [f["network_id"] for f in charge.json()["pending_network_fees"]] == ["net-2"]
    assert "net-1" not in charge.text
    assert sorted(f["network_id"] for f in centre["pending_network_fees"]) == ["net-1", "net-2"]


def _since(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["pending_since"])


async def test_bil_12_pending_since_is_the_listed_networks_earliest_waiting_work(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _fees_of_two_networks(runtime)
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")

    as_partner = (await client.get(PENDING, headers=net_2)).json()
    by_centre = (await client.get(PENDING, params={"network_id": "net-2"})).json()
    whole = (await client.get(PENDING)).json()

    for listed in (as_partner, by_centre):
        assert [i["order_id"] for i in listed["items"]] == ["o-1"]
        assert _since(listed["items"][0]) == T0 + timedelta(hours=5)
        assert [f["network_id"] for f in listed["items"][0]["fees"]] == ["net-2"]
    # the whole list: the order's earliest waiting work of any network
    assert _since(whole["items"][0]) == T0 + timedelta(hours=1)


async def test_bil_12_one_networks_pending_fees_page_in_its_own_work_order(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # o-1: net-1's work at 1h, net-2's at 5h; o-2: net-2's work at 3h. net-2's list is o-2
    # (3h) then o-1 (5h), however early net-1 worked on o-1.
    await _fees_of_two_networks(runtime)
    await assigned_to_network(runtime, "o-2", "net-2")
    await send(runtime, repaired("o-2"), at=T0 + timedelta(hours=3))

    first = (await client.get(PENDING, params={"network_id": "net-2", "limit": 1})).json()
    rest = (
        await client.get(PENDING, params={"network_id": "net-2", "cursor": first["next_cursor"]})
    ).json()

    assert [i["order_id"] for i in first["items"]] == ["o-2"]
    assert ([i["order_id"] for i in rest["items"]], rest["next_cursor"]) == (["o-1"], None)
    assert _since(rest["items"][0]) == T0 + timedelta(hours=5)


async def test_bil_12_a_cursor_of_a_networks_list_from_before_it_was_dated_per_network_is_422(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # A cursor given before the list was dated by the network's own work holds a place in
    # another order: paging on from it could repeat or skip orders.
    await _fees_of_two_networks(runtime)
    stale = encode_cursor("pending-network-fees:work-done", T0, "o-0", n="net-2")

    errors = refused(await client.get(PENDING, params={"network_id": "net-2", "cursor": stale}))

    assert [e["field"] for e in errors["errors"]] == ["cursor"]


async def test_bil_12_migration_0012_lists_each_networks_fees_waiting_before_it(
    database_url: str,
) -> None:
    migrations = importlib.import_module("billing.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0010")

    def waiting(fee_id: str, network: str, hours: int) -> dict[str, Any]:
        fee = PendingNetworkFee(
            fee_id=fee_id,
            network_id=network,
            kind="repair",
            visit_id=f"v-{fee_id}",
            occurred_at=T0 + timedelta(hours=hours),
        )
        return fee.model_dump(mode="json")

    await store_accounts(
        database_url,
        {
            "o-1": {"pending_network_fees": [waiting("1", "net-1", 1), waiting("2", "net-2", 5)]},
            "o-none": {},
        },
        version=1,
    )
    await upgrade(migrations, database_url)

    async with _billing(database_url) as billing:
        listed = await billing.get(PENDING, params={"network_id": "net-2"})
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert [i["order_id"] for i in items] == ["o-1"]
        assert _since(items[0]) == T0 + timedelta(hours=5)
        assert [f["fee_id"] for f in items[0]["fees"]] == ["2"]
        assert [i["order_id"] for i in (await billing.get(PENDING)).json()["items"]] == ["o-1"]


async def _listed_by_network(runtime: ServiceRuntime) -> set[tuple[str, str]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                table_of(PendingNetworkFeeRow).c.order_id,
                table_of(PendingNetworkFeeRow).c.network_id,
            )
        )
        return {(order_id, network) for order_id, network in rows}


async def test_bil_12_an_order_leaves_each_networks_list_once_its_line_prices_the_fees(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _fees_of_two_networks(runtime)
    assert await _listed_by_network(runtime) == {("o-1", "net-1"), ("o-1", "net-2")}

    await send(runtime, order_created("o-1"), at=T0 + timedelta(hours=6))

    assert await _listed_by_network(runtime) == set()
    listed = (await client.get(PENDING, params={"network_id": "net-2"})).json()
    assert listed == {"items": [], "next_cursor": None}


async def test_sch_12_a_partner_networks_technician_sees_no_other_networks_identity_either(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    _, earlier, own = await _paid_by_two_networks(runtime, client)
    net_2_tech = await key(runtime, "technician", technician_id="net-2-tech")

    charge = await client.get("/v1/orders/o-1/charge", headers=net_2_tech)

    assert charge.status_code == 200, charge.text
    payments = {p["payment_id"]: p for p in charge.json()["payments"]}
    assert (payments[earlier]["amount"], payments[earlier]["by"]) == ("50.00", None)
    assert payments[own]["by"] == "net-2-tech"
    assert "net-1" not in charge.text


async def test_sch_12_bil_12_a_refund_of_another_networks_money_hides_who_and_why(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # net-1's technician took the whole charge; the order went to net-2; the centre waived
    # 30.00 of it and paid that back by phone (not by net-1's people): the refund pays back
    # net-1's money, as its statement shows, so why (about net-1's work) is not net-2's to read.
    await publish(client)
    _, net_1_tech = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    paid = await client.post(
        "/v1/orders/o-1/payments", json={"method": "mobile", "amount": "170.00"}, headers=net_1_tech
    )
    assert paid.status_code == 201, paid.text
    await send(runtime, _moved_to_network("o-1", "net-2", "net-1"))
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")
    dispatcher = await key(runtime, "dispatcher")
    await waived(client, dispatcher, "30.00", "多收了 30 元")
    refund = {
        "method": "mobile",
        "amount": "30.00",
        "refunded_by": "finance-desk",
        "reason": "net-1 师傅多收了 30 元",
    }
    refunded = await client.post("/v1/orders/o-1/refunds", json=refund, headers=dispatcher)
    assert refunded.status_code == 201, refunded.text
    refund_id = refunded.json()["payment"]["payment_id"]

    charge = await client.get("/v1/orders/o-1/charge", headers=net_2)
    read = await client.get(f"/v1/orders/o-1/refunds/{refund_id}", headers=net_2)
    centre = (await client.get(f"/v1/orders/o-1/refunds/{refund_id}")).json()["payment"]

    assert charge.status_code == 200, charge.text
    listed = {p["payment_id"]: p for p in charge.json()["payments"]}[refund_id]
    assert (listed["amount"], listed["by"], listed["reason"]) == ("30.00", None, None)
    assert listed["another_network"] is True
    assert "net-1" not in charge.text
    assert read.status_code == 200, read.text
    assert (read.json()["payment"]["by"], read.json()["payment"]["reason"]) == (None, None)
    assert "net-1" not in read.text
    assert (centre["by"], centre["reason"]) == ("finance-desk", refund["reason"])


async def _pending_fee_statements_saving(
    runtime: ServiceRuntime, change: Callable[[AccountState], None]
) -> list[str]:
    """The statements on pending-fee rows sent saving o-1 after ``change`` to its state."""
    with statements_sent(runtime.engine) as sent:
        async with runtime.app.state.uow_factory() as uow:
            account = await uow.accounts.get("o-1")
            change(account.state)
            await uow.accounts.save(account)
            await uow.commit()
    return [s for s in sent if "billing_pending_network_fee" in s]


async def test_bil_12_saving_an_order_whose_waiting_fees_did_not_change_writes_no_fee_rows(
    runtime: ServiceRuntime,
) -> None:
    await _fees_of_two_networks(runtime)

    def note(state: AccountState) -> None:
        state.work_done.append("note")  # a change of the order, not of its fees

    assert await _pending_fee_statements_saving(runtime, note) == []
    assert await _listed_by_network(runtime) == {("o-1", "net-1"), ("o-1", "net-2")}


async def test_bil_12_only_the_networks_whose_waiting_fees_changed_are_rewritten(
    runtime: ServiceRuntime,
) -> None:
    await _fees_of_two_networks(runtime)

    def without_net_1(state: AccountState) -> None:
        state.pending_network_fees = [
            f for f in state.pending_network_fees if f.network_id != "net-1"
        ]

    written = await _pending_fee_statements_saving(runtime, without_net_1)
    assert len(written) == 1 and written[0].lstrip().upper().startswith("DELETE"), written
    assert await _listed_by_network(runtime) == {("o-1", "net-2")}


async def _waived_after_moving_to_net_2(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> tuple[dict[str, str], str]:
    """o-1's quote was net-1's visit v-1, on which net-1's technician took 50.00; the centre
    gave the order to net-2 (whose technician took 20.00), then waived 30.00 of net-1's quote
    saying why (about net-1's technician); net-2's key and the waiver id."""
    net_2, _, _ = await _paid_by_two_networks(runtime, client)
    dispatcher = await key(runtime, "dispatcher")
    answer = await waived(client, dispatcher, "30.00", "net-1 的 张师傅 多收了 30 元")
    return net_2, answer.json()["waivers"][0]["waiver_id"]


async def test_bil_8_sch_12_a_partner_sees_a_waiver_of_another_networks_work_but_not_why(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    net_2, waiver_id = await _waived_after_moving_to_net_2(runtime, client)

    charge = await client.get("/v1/orders/o-1/charge", headers=net_2)
    read = await client.get(f"/v1/orders/o-1/waivers/{waiver_id}", headers=net_2)

    assert charge.status_code == 200, charge.text
    body = charge.json()
    # the waiver reduces the customer's charge: the holder sees it exists and how much
    assert [(w["waiver_id"], w["amount"]) for w in body["waivers"]] == [(waiver_id, "30.00")]
    assert body["summary"]["waived"] == "30.00"
    listed = body["waivers"][0]
    assert (listed["approved_by"], listed["reason"], listed["another_network"]) == (
        None,
        None,
        True,
    )
    assert "net-1" not in charge.text and "张师傅" not in charge.text
    assert read.status_code == 200, read.text
    waiver = read.json()
    assert (waiver["approved_by"], waiver["reason"], waiver["another_network"]) == (
        None,
        None,
        True,
    )
    assert [p["amount"] for p in waiver["portions"]] == ["30.00"]
    assert "net-1" not in read.text and "张师傅" not in read.text


async def test_bil_8_the_centre_reads_every_waiver_in_full(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    _, waiver_id = await _waived_after_moving_to_net_2(runtime, client)

    charge = (await client.get("/v1/orders/o-1/charge")).json()
    read = (await client.get(f"/v1/orders/o-1/waivers/{waiver_id}")).json()

    listed = charge["waivers"][0]
    assert (listed["reason"], listed["another_network"]) == ("net-1 的 张师傅 多收了 30 元", False)
    assert listed["approved_by"]
    assert (read["reason"], read["another_network"]) == ("net-1 的 张师傅 多收了 30 元", False)


async def test_bil_8_a_partner_reads_in_full_a_waiver_of_its_own_work_granted_while_it_held_it(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await publish(client)
    net_1, _ = await _held_by_technician_of(runtime, client, "o-1", "net-1")
    dispatcher = await key(runtime, "dispatcher")
    answer = await waived(client, dispatcher, "20.00", "老客户优惠")
    waiver_id = answer.json()["waivers"][0]["waiver_id"]

    listed = (await client.get("/v1/orders/o-1/charge", headers=net_1)).json()["waivers"][0]
    read = (await client.get(f"/v1/orders/o-1/waivers/{waiver_id}", headers=net_1)).json()

    assert (listed["reason"], listed["another_network"]) == ("老客户优惠", False)
    assert (read["reason"], read["another_network"]) == ("老客户优惠", False)


async def test_bil_8_sch_12_a_waiver_granted_while_another_network_held_the_order_hides_why(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # net-1 holds o-1 (its visit v-1); the centre waives while net-1 holds it; the order then
    # goes to net-2, which sees the waiver's amount but not why.
    await publish(client)
    await _held_by_technician_of(runtime, client, "o-1", "net-1")
    dispatcher = await key(runtime, "dispatcher")
    await waived(client, dispatcher, "20.00", "net-1 迟到 20 分钟")
    await send(runtime, _moved_to_network("o-1", "net-2", "net-1"))
    net_2 = await key(runtime, "partner", network_id="net-2", name="net-2-partner")

    charge = await client.get("/v1/orders/o-1/charge", headers=net_2)

    assert charge.status_code == 200, charge.text
    listed = charge.json()["waivers"][0]
    assert (listed["amount"], listed["reason"], listed["another_network"]) == ("20.00", None, True)
    assert "net-1" not in charge.text
