"""An order taken with 201 Created is answered with its ``Location``, where GET reads it back
(INT-1), also when a retry with the same ``Idempotency-Key`` is answered from the first; a
repeated report (200, INT-8) is located at the order it was linked to."""

from __future__ import annotations

from typing import Any


async def test_int_1_a_taken_order_is_located_where_get_reads_it(
    intake: Any, make_order: Any
) -> None:
    once = {"Idempotency-Key": "order-1"}
    taken = await intake.admin.post("/v1/orders", json=make_order(), headers=once)
    retried = await intake.admin.post("/v1/orders", json=make_order(), headers=once)
    repeated = await intake.admin.post("/v1/orders", json=make_order())

    assert taken.status_code == 201, taken.text
    location = taken.headers["location"]
    assert location == f"/v1/orders/{taken.json()['id']}"
    assert retried.status_code == 201 and retried.headers["location"] == location
    assert repeated.status_code == 200 and repeated.headers["location"] == location
    read = await intake.admin.get(location)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == taken.json()["id"]
