"""A complaint filed (FBK-9) and a sampling run (FBK-4) created with 201 Created are answered
with their ``Location``, where GET reads them back, also when a retry with the same
``Idempotency-Key`` is answered from the first."""

from __future__ import annotations

from datetime import timedelta

from feedback_support import MONDAY, Harness, created, local

THURSDAY = MONDAY + timedelta(days=3)


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


async def test_fbk_4_a_sampling_run_is_located_where_get_reads_it(harness: Harness) -> None:
    await harness.emit(created("o-own"))
    await harness.completed_visit("o-own", "v-own", "tech-0", at=local(MONDAY, 10))
    harness.clock.set(local(THURSDAY, 9))
    body = {"day": THURSDAY.isoformat()}
    once = {"Idempotency-Key": "sampling-1"}
    ran = await harness.client.post("/v1/sampling/runs", json=body, headers=once)
    retried = await harness.client.post("/v1/sampling/runs", json=body, headers=once)

    assert ran.status_code == 201, ran.text
    location = ran.headers["location"]
    assert location == f"/v1/sampling/runs/{THURSDAY.isoformat()}"
    assert retried.status_code == 201 and retried.headers["location"] == location
    read = await harness.client.get(location)
    assert read.status_code == 200, read.text
    assert read.json() == ran.json()
    assert (read.json()["considered"], read.json()["selected"]) == (1, 1)


async def test_fbk_4_a_day_the_draw_did_not_run_answers_404_problem_json(
    harness: Harness,
) -> None:
    missing = await harness.client.get(f"/v1/sampling/runs/{MONDAY.isoformat()}")
    malformed = await harness.client.get("/v1/sampling/runs/yesterday")

    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert malformed.status_code == 422, malformed.text
    assert malformed.headers["content-type"].startswith("application/problem+json")


async def test_fbk_4_only_whoever_may_run_the_draw_reads_it(harness: Harness) -> None:
    ran = await harness.client.post("/v1/sampling/runs", json={"day": MONDAY.isoformat()})
    assert ran.status_code == 201, ran.text

    for role in ("agent", "dispatcher", "partner"):
        key = await harness.key(role, network_id="net-1" if role == "partner" else None)
        refused_run = await harness.client.post(
            "/v1/sampling/runs", json={"day": MONDAY.isoformat()}, headers=key
        )
        refused_read = await harness.client.get(ran.headers["location"], headers=key)
        assert refused_run.status_code == refused_read.status_code == 403, (role, refused_read.text)
        assert refused_read.headers["content-type"].startswith("application/problem+json")
