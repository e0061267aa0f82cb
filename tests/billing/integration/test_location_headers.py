"""A fee schedule version published with 201 Created is answered with its ``Location``, where GET
reads it back (BIL-1), also when a retry with the same ``Idempotency-Key`` is answered from the
first."""

from __future__ import annotations

import httpx

from .test_billing_api import SCHEDULE


async def test_bil_1_a_published_schedule_version_is_located_where_get_reads_it(
    client: httpx.AsyncClient,
) -> None:
    once = {"Idempotency-Key": "publish-1"}
    url = "/v1/fee-schedules/water_heater/versions"
    published = await client.post(url, json=SCHEDULE, headers=once)
    retried = await client.post(url, json=SCHEDULE, headers=once)

    assert published.status_code == 201, published.text
    location = published.headers["location"]
    assert location == "/v1/fee-schedules/water_heater/versions/1"
    assert retried.status_code == 201 and retried.headers["location"] == location
    read = await client.get(location)
    assert read.status_code == 200, read.text
    assert read.json()["version"] == 1
