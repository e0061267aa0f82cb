"""The settlement statement takes only an id a network can have, as the rate-card routes do
(BIL-12): any other is a 422 problem, not an empty statement."""

from __future__ import annotations

import httpx
import pytest

from servicekit.runtime import ServiceRuntime


@pytest.mark.parametrize("network_id", ["n" * 300, "n" * 65, '网点"1'])
@pytest.mark.parametrize("format", ["json", "csv"])
async def test_bil_12_a_statement_of_an_id_no_network_can_have_is_a_422_problem(
    runtime: ServiceRuntime, client: httpx.AsyncClient, network_id: str, format: str
) -> None:
    response = await client.get(f"/v1/settlements/{network_id}/2026-04", params={"format": format})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_bil_12_a_statement_of_an_id_of_64_network_characters_is_read(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    network_id = "net-9:a.b_" + "c" * 54

    response = await client.get(f"/v1/settlements/{network_id}/2026-04")

    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
