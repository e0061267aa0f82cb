"""A technician registered with 201 Created is answered with its ``Location``, where GET reads it
back (SCH-1), also when a retry with the same ``Idempotency-Key`` is answered from the first."""

from __future__ import annotations

from scheduling_support import Harness, technician_body


async def test_sch_1_a_registered_technician_is_located_where_get_reads_it(
    harness: Harness,
) -> None:
    once = {"Idempotency-Key": "register-t1"}
    created = await harness.client.post("/v1/technicians", json=technician_body("t1"), headers=once)
    retried = await harness.client.post("/v1/technicians", json=technician_body("t1"), headers=once)

    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/technicians/t1"
    assert retried.status_code == 201 and retried.headers["location"] == "/v1/technicians/t1"
    read = await harness.client.get(created.headers["location"])
    assert read.status_code == 200, read.text
    assert read.json()["technician_id"] == "t1"
