"""A search range that ends before it starts, and a key binding that would do nothing, are
refused (422 naming the fields) rather than answered as if they meant something."""

from __future__ import annotations

from typing import Any

import pytest


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return sorted(e["field"] for e in answer.json()["errors"])


@pytest.mark.parametrize(
    ("created_from", "created_to"),
    [
        ("2025-05-31T00:00:00+08:00", "2025-05-30T00:00:00+08:00"),
        # the same moment in two offsets: [from, to) holds nothing
        ("2025-05-30T08:00:00+08:00", "2025-05-30T00:00:00Z"),
    ],
)
async def test_an_order_search_ending_before_it_starts_is_a_422_naming_both_ends(
    intake: Any, make_order: Any, created_from: str, created_to: str
) -> None:
    created = await intake.admin.post("/v1/orders", json=make_order())
    assert created.status_code == 201, created.text

    found = await intake.admin.get(
        "/v1/orders", params={"created_from": created_from, "created_to": created_to}
    )

    assert _fields(found) == ["created_from", "created_to"]


async def test_an_order_search_over_a_range_that_starts_before_it_ends_is_answered(
    intake: Any, make_order: Any
) -> None:
    created = await intake.admin.post("/v1/orders", json=make_order())
    found = await intake.admin.get(
        "/v1/orders",
        params={
            "created_from": "2025-05-30T09:59:59+08:00",
            "created_to": "2025-05-30T10:00:01+08:00",
        },
    )
    assert found.status_code == 200, found.text
    assert [o["id"] for o in found.json()["items"]] == [created.json()["id"]]


@pytest.mark.parametrize("role", ["agent", "dispatcher", "admin"])
@pytest.mark.parametrize("binding", ["network_id", "technician_id"])
async def test_a_centre_key_bound_to_a_network_or_technician_is_refused_naming_the_binding(
    intake: Any, role: str, binding: str
) -> None:
    # Only a partner key is scoped by its network, only a technician key by its technician:
    # the binding would restrict nothing, so an admin issuing it would be misled.
    refused = await intake.admin.post(
        "/v1/api-keys", json={"name": "k", "role": role, binding: "x-1"}
    )

    assert _fields(refused) == [binding]
    assert (await intake.admin.get("/v1/api-keys")).json() == []


async def test_a_partner_key_bound_to_a_technician_is_refused_naming_technician_id(
    intake: Any,
) -> None:
    refused = await intake.admin.post(
        "/v1/api-keys",
        json={"name": "网点", "role": "partner", "network_id": "n1", "technician_id": "t1"},
    )

    assert _fields(refused) == ["technician_id"]


async def test_partner_and_technician_keys_keep_their_bindings(intake: Any) -> None:
    partner = await intake.admin.post(
        "/v1/api-keys", json={"name": "网点", "role": "partner", "network_id": "n1"}
    )
    # a technician of a partner network may carry their network as well
    technician = await intake.admin.post(
        "/v1/api-keys",
        json={"name": "t1", "role": "technician", "technician_id": "t1", "network_id": "n1"},
    )
    centre = await intake.admin.post(
        "/v1/api-keys", json={"name": "a", "role": "agent", "network_id": None}
    )

    assert partner.status_code == 201, partner.text
    assert technician.status_code == 201, technician.text
    assert technician.json()["network_id"] == "n1"
    assert centre.status_code == 201, centre.text
