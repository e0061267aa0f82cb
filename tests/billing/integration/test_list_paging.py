"""Billing's growing lists page like every other list of the platform, on SQLite and PostgreSQL:
`limit` (the policy's `list_page_default` when not given, cut to its `list_page_max`) and an
opaque `cursor` bound to its list; each row exactly once in a stable order; a bad cursor is a
422 problem. A fee schedule's versions come newest first (by version number); a cash ledger's
entries in booking order (time, then id) with the cash on hand over all of them (BIL-10); a
network's monthly settlement lines by order (then time, id) with the totals over the whole month
(BIL-12)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billing.adapters.repository import CashRepository
from billing.domain.cash import CashEntry, CashEntryKind, CashLedger
from billing.domain.reports import SettlementItem, SettlementKind
from servicekit.paging import encode_cursor
from servicekit.runtime import ServiceRuntime

from ..conftest import T0
from .test_billing_api import SCHEDULE, publish

#: Amounts whose float sums are not exact (0.1 + 0.2 != 0.3): the totals must still be.
AMOUNTS = ["0.10", "0.20", "12.34", "0.70", "5000.01", "99.99", "0.05"]


async def _pages(
    client: httpx.AsyncClient, path: str, items: str, **params: Any
) -> list[dict[str, Any]]:
    """Every page of the list ``items`` of ``path``, following ``next_cursor`` to the end."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert items in body and "next_cursor" in body, body
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move on"


def _refused_cursor(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "cursor" in {e["field"] for e in response.json()["errors"]}


# -- fee schedule versions (BIL-1) ---------------------------------------------------------------


async def test_bil_1_schedule_versions_come_in_pages_newest_first_each_once(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(7):
        await publish(client, SCHEDULE)
    path = "/v1/fee-schedules/water_heater/versions"

    pages = await _pages(client, path, "items", limit=3)
    whole = (await client.get(path)).json()

    assert [[v["version"] for v in p["items"]] for p in pages] == [[7, 6, 5], [4, 3, 2], [1]]
    assert set(pages[0]) == {"items", "next_cursor"}
    assert [v["version"] for v in whole["items"]] == [7, 6, 5, 4, 3, 2, 1]
    assert whole["next_cursor"] is None
    assert whole["items"][0]["label"] == "water_heater@v7"
    unknown = await client.get("/v1/fee-schedules/gas_stove/versions")
    assert unknown.status_code == 404, unknown.text


async def test_bil_1_a_bad_or_foreign_cursor_of_the_versions_is_a_422_problem(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await publish(client, SCHEDULE)
    path = "/v1/fee-schedules/water_heater/versions"
    await _book(
        runtime, "t-1", [_entry(n, CashEntryKind.COLLECTED, "1.00", T0, "t-1") for n in range(2)]
    )
    ledger_cursor = (await client.get("/v1/cash/t-1", params={"limit": 1})).json()["next_cursor"]
    versions_cursor = (await client.get(path, params={"limit": 1})).json()["next_cursor"]
    assert ledger_cursor and versions_cursor

    for bad in ("not-a-cursor", "eyJzIjogMX0", ledger_cursor, "x" * 501):
        _refused_cursor(await client.get(path, params={"cursor": bad}))
    _refused_cursor(await client.get("/v1/cash/t-1", params={"cursor": versions_cursor}))


# -- cash ledger (BIL-10) ------------------------------------------------------------------------


async def _book(runtime: ServiceRuntime, holder_id: str, entries: list[CashEntry]) -> None:
    async with runtime.app.state.uow_factory() as uow:
        ledger = await uow.cash.lock_or_open(holder_id)
        ledger.new_entries.extend(entries)
        await uow.cash.save(ledger)
        await uow.commit()


def _entry(n: int, kind: CashEntryKind, amount: str, at: datetime, holder: str) -> CashEntry:
    return CashEntry(
        entry_id=f"e-{n:02d}",
        holder_id=holder,
        kind=kind,
        amount=Decimal(amount),
        at=at,
        order_id=f"o-{n}" if kind is not CashEntryKind.REMITTED else None,
    )


async def test_bil_10_cash_entries_come_in_pages_in_booking_order_and_the_balance_covers_all(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    # Collections booked in an order their ids do not follow, two at the same moment (then by
    # id); a refund and a remittance that settle the oldest cash; another holder's cash.
    start = T0 - timedelta(days=5)
    times = [3, 0, 5, 1, 6, 2, 4]
    entries = [
        _entry(n, CashEntryKind.COLLECTED, AMOUNTS[n], start + timedelta(hours=times[n]), "t-1")
        for n in range(7)
    ]
    entries.append(_entry(7, CashEntryKind.COLLECTED, "1.00", start + timedelta(hours=4), "t-1"))
    entries.append(_entry(8, CashEntryKind.REFUNDED, "0.25", start + timedelta(hours=7), "t-1"))
    entries.append(_entry(9, CashEntryKind.REMITTED, "0.30", start + timedelta(hours=8), "t-1"))
    await _book(runtime, "t-1", entries)
    await _book(runtime, "t-2", [_entry(10, CashEntryKind.COLLECTED, "7.00", start, "t-2")])
    everything = CashLedger(holder_id="t-1", entries=entries)
    held = everything.held()

    pages = await _pages(client, "/v1/cash/t-1", "entries", limit=3)

    ids = [e["entry_id"] for p in pages for e in p["entries"]]
    assert ids == [e.entry_id for e in everything.entries]
    assert ids == ["e-01", "e-03", "e-05", "e-00", "e-06", "e-07", "e-02", "e-04", "e-08", "e-09"]
    assert [len(p["entries"]) for p in pages] == [3, 3, 3, 1]
    on_hand = sum((Decimal(a) for a in AMOUNTS), Decimal("1.00")) - Decimal("0.55")
    for page in pages:
        assert set(page) == {"holder_id", "cash_on_hand", "held_since", "entries", "next_cursor"}
        assert Decimal(page["cash_on_hand"]) == on_hand == everything.on_hand
        assert page["cash_on_hand"] == format(on_hand, "f")
        assert datetime.fromisoformat(page["held_since"]) == held[0].at


async def test_bil_10_the_ledger_read_sums_in_the_database_without_loading_every_entry(
    runtime: ServiceRuntime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _book(
        runtime,
        "t-1",
        [
            _entry(n, CashEntryKind.COLLECTED, "10.00", T0 - timedelta(hours=n), "t-1")
            for n in range(5)
        ],
    )

    async def whole_ledger(self: CashRepository, holder_id: str) -> CashLedger:
        raise AssertionError("the read path loaded the whole ledger")

    monkeypatch.setattr(CashRepository, "get", whole_ledger)
    first = await client.get("/v1/cash/t-1", params={"limit": 2})

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cash_on_hand"] == "50.00" and len(body["entries"]) == 2
    assert body["held_since"] is not None
    assert datetime.fromisoformat(body["held_since"]) == T0 - timedelta(hours=4)
    nobody = (await client.get("/v1/cash/nobody")).json()
    assert nobody == {
        "holder_id": "nobody",
        "cash_on_hand": "0.00",
        "held_since": None,
        "entries": [],
        "next_cursor": None,
    }


async def test_bil_10_a_remittance_answers_the_first_page_of_the_ledger(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    await _book(
        runtime,
        "t-1",
        [
            _entry(n, CashEntryKind.COLLECTED, "10.00", T0 - timedelta(hours=n + 1), "t-1")
            for n in range(5)
        ],
    )
    runtime.app.state.policy = runtime.app.state.policy.model_copy(update={"list_page_default": 2})

    remitted = await client.post("/v1/cash/t-1/remittances", json={"amount": "15.00"})

    assert remitted.status_code == 201, remitted.text
    body = remitted.json()
    assert body["cash_on_hand"] == "35.00"
    assert [e["entry_id"] for e in body["entries"]] == ["e-04", "e-03"]
    rest = await _pages(client, "/v1/cash/t-1", "entries", cursor=body["next_cursor"])
    assert [e["kind"] for p in rest for e in p["entries"]][-1] == "remitted"
    assert len([e for p in rest for e in p["entries"]]) == 4


async def test_bil_10_a_bad_cursor_of_the_ledger_is_a_422_problem(
    client: httpx.AsyncClient,
) -> None:
    for bad in ("%%%", "eyJzIjogImNhc2g6YXQifQ", "x" * 501):
        _refused_cursor(await client.get("/v1/cash/t-1", params={"cursor": bad}))


async def test_bil10_a_ledger_cursor_of_another_holder_is_a_422_problem(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    for first, holder in ((0, "t-1"), (10, "t-2")):
        await _book(
            runtime,
            holder,
            [
                _entry(
                    first + n, CashEntryKind.COLLECTED, "10.00", T0 - timedelta(hours=n + 1), holder
                )
                for n in range(3)
            ],
        )
    other = (await client.get("/v1/cash/t-2", params={"limit": 1})).json()["next_cursor"]
    assert other is not None

    refused = await client.get("/v1/cash/t-1", params={"cursor": other})

    # t-2's place would silently page t-1's ledger from the wrong entry
    _refused_cursor(refused)
    assert "another holder" in refused.json()["errors"][0]["message"]
    # a cursor an earlier release gave, bound to no holder, is refused too
    unbound = encode_cursor("cash-entries:at", T0 - timedelta(hours=3), "e-02")
    _refused_cursor(await client.get("/v1/cash/t-1", params={"cursor": unbound}))
    # a holder named by 200 Chinese characters still gets cursors a cursor may be
    long_holder = "现" * 200
    await _book(
        runtime,
        long_holder,
        [
            _entry(20 + n, CashEntryKind.COLLECTED, "1.00", T0 - timedelta(hours=n), long_holder)
            for n in range(2)
        ],
    )
    long_cursor = (await client.get(f"/v1/cash/{long_holder}", params={"limit": 1})).json()
    paged_on = await client.get(
        f"/v1/cash/{long_holder}", params={"cursor": long_cursor["next_cursor"]}
    )
    assert paged_on.status_code == 200, paged_on.text
    # its own ledger's cursor still pages on, and so does the remittance's first page
    own = (await client.get("/v1/cash/t-1", params={"limit": 1})).json()["next_cursor"]
    rest = (await client.get("/v1/cash/t-1", params={"cursor": own})).json()
    assert [e["entry_id"] for e in rest["entries"]] == ["e-01", "e-00"]
    runtime.app.state.policy = runtime.app.state.policy.model_copy(update={"list_page_default": 1})
    remitted = await client.post("/v1/cash/t-1/remittances", json={"amount": "5.00"})
    assert remitted.status_code == 201, remitted.text
    after = await client.get("/v1/cash/t-1", params={"cursor": remitted.json()["next_cursor"]})
    assert after.status_code == 200, after.text


# -- network settlements (BIL-12) ----------------------------------------------------------------


async def _settle(runtime: ServiceRuntime, items: list[SettlementItem]) -> None:
    async with runtime.app.state.uow_factory() as uow:
        for item in items:
            await uow.settlements.add(item)
        await uow.commit()


def _item(
    n: int, order: str, kind: SettlementKind, amount: str, at: datetime, network: str = "n-1"
) -> SettlementItem:
    return SettlementItem(
        item_id=f"i-{n:02d}",
        network_id=network,
        order_id=order,
        kind=kind,
        amount=Decimal(amount),
        occurred_at=at,
        description=f"item {n}",
    )


async def test_bil_12_settlement_lines_come_in_pages_by_order_with_the_months_totals(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    april = datetime.fromisoformat("2026-04-10T12:00:00+08:00")
    fee, paid, damage = (
        SettlementKind.SERVICE_FEE,
        SettlementKind.FEE_COLLECTED,
        SettlementKind.COMPENSATION,
    )
    items = [
        _item(0, "o-3", fee, "50.00", april),
        _item(1, "o-1", paid, "0.10", april + timedelta(days=2)),
        _item(2, "o-1", paid, "0.20", april),
        _item(3, "o-2", damage, "12.34", april),
        _item(4, "o-1", paid, "-0.10", april + timedelta(days=3)),
        _item(5, "o-4", fee, "80.00", april),
        _item(6, "o-2", fee, "50.00", april),
        # the first moment of April in Shanghai is April's; the first of May is not
        _item(7, "o-0", paid, "170.00", datetime.fromisoformat("2026-04-01T00:00:00+08:00")),
        _item(8, "o-0", paid, "9.00", datetime.fromisoformat("2026-05-01T00:00:00+08:00")),
        _item(9, "o-1", fee, "50.00", april, network="n-2"),
    ]
    await _settle(runtime, items)
    path = "/v1/settlements/n-1/2026-04"

    pages = await _pages(client, path, "items", limit=2)
    whole = (await client.get(path)).json()

    lines = [(i["order_id"], i["item_id"]) for p in pages for i in p["items"]]
    assert lines == [
        ("o-0", "i-07"),
        ("o-1", "i-02"),
        ("o-1", "i-01"),
        ("o-1", "i-04"),
        ("o-2", "i-03"),
        ("o-2", "i-06"),
        ("o-3", "i-00"),
        ("o-4", "i-05"),
    ]
    assert [len(p["items"]) for p in pages] == [2, 2, 2, 2]
    assert [(i["order_id"], i["item_id"]) for i in whole["items"]] == lines
    for page in [*pages, whole]:
        assert page["fees_collected"] == "170.20"
        assert page["service_fees_owed"] == "180.00"
        assert page["compensation"] == "12.34"
        assert page["net_payable_to_network"] == "-2.54"
        assert page["month"] == "2026-04" and page["network_id"] == "n-1"
    as_csv = await client.get(path, params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert [(r[2], r[3]) for r in rows[1:-4]] == [
        (i["order_id"], i["kind"]) for i in whole["items"]
    ]  # the CSV is the whole month's statement, whatever the page size
    assert rows[-1][3:6] == ["net_payable_to_network", "", "-2.54"]
    paged_csv = await client.get(path, params={"format": "csv", "limit": 2})
    assert paged_csv.status_code == 422, paged_csv.text
    assert paged_csv.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in paged_csv.json()["errors"]} == {"limit"}


async def test_bil_12_a_bad_cursor_of_the_settlement_is_a_422_problem(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    april = datetime.fromisoformat("2026-04-10T12:00:00+08:00")
    await _settle(
        runtime,
        [_item(n, f"o-{n}", SettlementKind.SERVICE_FEE, "50.00", april) for n in range(3)],
    )
    path = "/v1/settlements/n-1/2026-04"
    versions_cursor = (await publish(client), await publish(client))
    assert versions_cursor
    other_list = (
        await client.get("/v1/fee-schedules/water_heater/versions", params={"limit": 1})
    ).json()["next_cursor"]

    for bad in ("garbage", "eyJzIjogInNldHRsZW1lbnQifQ", other_list):
        _refused_cursor(await client.get(path, params={"cursor": bad}))
    cursor = (await client.get(path, params={"limit": 1})).json()["next_cursor"]
    _refused_cursor(await client.get("/v1/cash/t-1", params={"cursor": cursor}))


async def test_bil12_a_settlement_cursor_of_another_network_or_month_is_a_422_problem(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    april = datetime.fromisoformat("2026-04-10T12:00:00+08:00")
    fee = SettlementKind.SERVICE_FEE
    await _settle(
        runtime,
        [
            *(_item(n, f"o-{n}", fee, "50.00", april) for n in range(3)),
            *(_item(10 + n, f"o-{n}", fee, "50.00", april, network="n-2") for n in range(3)),
            *(_item(20 + n, f"o-{n}", fee, "50.00", april + timedelta(days=30)) for n in range(3)),
        ],
    )
    first = {"limit": 1}
    other_network = (await client.get("/v1/settlements/n-2/2026-04", params=first)).json()
    other_month = (await client.get("/v1/settlements/n-1/2026-05", params=first)).json()
    path = "/v1/settlements/n-1/2026-04"

    for foreign in (other_network["next_cursor"], other_month["next_cursor"]):
        assert foreign is not None
        refused = await client.get(path, params={"cursor": foreign})
        _refused_cursor(refused)
        assert "another network or month" in refused.json()["errors"][0]["message"]
    # a cursor an earlier release gave, bound to neither, is refused too
    unbound = encode_cursor("settlement-lines:order", april, "i-00", o="o-0")
    refused = await client.get(path, params={"cursor": unbound})
    _refused_cursor(refused)
    assert "names no network or month" in refused.json()["errors"][0]["message"]
    # its own statement's cursor still pages on
    own = (await client.get(path, params={"limit": 1})).json()["next_cursor"]
    rest = (await client.get(path, params={"cursor": own})).json()
    assert [i["item_id"] for i in rest["items"]] == ["i-01", "i-02"]
