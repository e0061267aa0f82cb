"""A complaint filed with 201 Created is answered with its ``Location``, where GET reads it back
(FBK-9), also when a retry with the same ``Idempotency-Key`` is answered from the first."""

from __future__ import annotations

from feedback_support import Harness


async def test_fbk_9_a_filed_complaint_is_located_where_get_reads_it(harness: Harness) -> None:
    body = {"channel": "hotline", "description": "客服态度差", "confirmed_by_customer": True}
    once = {"Idempotency-Key": "complaint-1"}
    filed = await harness.client.post("/v1/complaints", json=body, headers=once)
    retried = await harness.client.post("/v1/complaints", json=body, headers=once)

    assert filed.status_code == 201, filed.text
    location = filed.headers["location"]
    assert location == f"/v1/complaints/{filed.json()['complaint_id']}"
    assert retried.status_code == 201 and retried.headers["location"] == location
    read = await harness.client.get(location)
    assert read.status_code == 200, read.text
    assert read.json()["complaint_id"] == filed.json()["complaint_id"]
