"""Intake reads a date only as ``YYYY-MM-DD`` and a moment only as ISO 8601 with its offset: a
number is not a Unix timestamp (a purchase date of 0 was 1 January 1970, INT-2, INT-5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

# The fixture clock is Friday 2025-05-30 10:00 in Shanghai: this window is the next morning.
WINDOW_START = datetime(2025, 5, 31, 1, 0, tzinfo=UTC)
WINDOW_END = datetime(2025, 5, 31, 3, 0, tzinfo=UTC)


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return sorted(e["field"] for e in answer.json()["errors"])


@pytest.mark.parametrize("field", ["purchase_date", "installation_date"])
async def test_int_5_a_product_date_sent_as_a_number_is_a_422_naming_it(
    intake: Any, make_order: Any, field: str
) -> None:
    product = {"line": "water_heater", "model": "JSQ24-12", field: 1735689600}
    created = await intake.admin.post("/v1/orders", json=make_order(product=product))
    assert _fields(created) == [f"product.{field}"]
    assert await intake.order_count() == 0

    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"product": product}
    )
    assert _fields(verified) == [f"product.{field}"]


async def test_int_1_a_preferred_window_sent_as_numbers_is_a_422_naming_its_ends(
    intake: Any, make_order: Any
) -> None:
    window = {"start": WINDOW_START.timestamp(), "end": int(WINDOW_END.timestamp())}
    created = await intake.admin.post("/v1/orders", json=make_order(preferred_windows=[window]))
    assert _fields(created) == ["preferred_windows.0.end", "preferred_windows.0.start"]
    naive = {"start": "2025-05-31T09:00:00", "end": "2025-05-31T11:00:00"}
    created = await intake.admin.post("/v1/orders", json=make_order(preferred_windows=[naive]))
    assert _fields(created) == ["preferred_windows.0.end", "preferred_windows.0.start"]
    assert await intake.order_count() == 0


async def test_the_order_search_and_key_expiry_refuse_a_moment_sent_as_a_number(
    intake: Any,
) -> None:
    search = await intake.admin.get("/v1/orders", params={"created_from": "0"})
    assert _fields(search) == ["created_from"]
    search = await intake.admin.get("/v1/orders", params={"created_to": "1748570400"})
    assert _fields(search) == ["created_to"]
    key = await intake.admin.post(
        "/v1/api-keys", json={"name": "agent 9", "role": "agent", "expires_at": 4102444800}
    )
    assert _fields(key) == ["expires_at"]


async def test_iso_dates_and_moments_with_their_offset_are_taken(
    intake: Any, make_order: Any
) -> None:
    product = {
        "line": "water_heater",
        "model": "JSQ24-12",
        "purchase_date": "2025-03-01",
        "installation_date": "2025-03-02",
    }
    window = {"start": "2025-05-31T09:00:00+08:00", "end": "2025-05-31T03:00:00Z"}
    created = await intake.admin.post(
        "/v1/orders", json=make_order(product=product, preferred_windows=[window])
    )
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["product"]["purchase_date"] == "2025-03-01"
    assert order["product"]["installation_date"] == "2025-03-02"

    found = await intake.admin.get(
        "/v1/orders",
        params={"created_from": "2025-05-30T00:00:00+08:00", "created_to": "2025-05-31T00:00:00Z"},
    )
    assert found.status_code == 200, found.text
    assert [o["id"] for o in found.json()["items"]] == [order["id"]]
    key = await intake.admin.post(
        "/v1/api-keys",
        json={"name": "agent 9", "role": "agent", "expires_at": "2100-01-01T00:00:00+08:00"},
    )
    assert key.status_code == 201, key.text


async def test_a_keys_expiry_is_judged_by_the_services_clock_and_revocation_stamped_by_it(
    intake: Any,
) -> None:
    # The service runs at Friday 2025-05-30 10:00 in Shanghai whatever the wall clock says.
    soon = "2025-06-01T00:00:00+08:00"
    issued = await intake.admin.post(
        "/v1/api-keys", json={"name": "agent 9", "role": "agent", "expires_at": soon}
    )
    assert issued.status_code == 201, issued.text
    past = await intake.admin.post(
        "/v1/api-keys",
        json={"name": "agent 9", "role": "agent", "expires_at": "2025-05-30T09:59:00+08:00"},
    )
    assert _fields(past) == ["expires_at"]
    assert "already past" in past.text

    key_id = issued.json()["key_id"]
    assert (await intake.admin.delete(f"/v1/api-keys/{key_id}")).status_code == 204
    revoked = (await intake.admin.get(f"/v1/api-keys/{key_id}")).json()
    assert revoked["revoked_at"] == "2025-05-30T02:00:00Z"
