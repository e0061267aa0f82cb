"""What fieldwork creates with 201 Created is answered with its ``Location``, where GET reads it
back (also when a retry with the same ``Idempotency-Key`` is answered from the first): evidence
uploaded to a visit (FLD-10) and loaners added to the inventory (FLD-6). Whoever may not see the
visit or the inventory gets what reading them gives: 404 for another's visit, 403 for a role
that cannot list loaners."""

from __future__ import annotations

import httpx

from servicekit.runtime import ServiceRuntime

from ..conftest import PNG, order
from .test_order_changes import technician
from .test_retention import expiry


async def _upload(client: httpx.AsyncClient, visit_id: str, key: str) -> httpx.Response:
    return await client.post(
        f"/v1/visits/{visit_id}/evidence",
        params={"kind": "photo"},
        content=PNG,
        headers={"Content-Type": "image/png", "Idempotency-Key": key},
    )


async def test_fld_10_uploaded_evidence_is_located_where_get_reads_its_metadata(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", visit_id="v-1", technician_id="tech-7")
    async with await technician(runtime, "tech-7") as own:
        uploaded = await _upload(own, "v-1", "photo-1")
        retried = await _upload(own, "v-1", "photo-1")
        assert uploaded.status_code == 201, uploaded.text
        body = uploaded.json()
        location = uploaded.headers["location"]
        assert location == f"/v1/visits/v-1/evidence/{body['evidence_id']}"
        assert body["ref"] == f"v-1/{body['evidence_id']}.png"
        assert retried.status_code == 201 and retried.headers["location"] == location
        read = await own.get(location)
    assert read.status_code == 200, read.text
    assert read.json() == body
    # the centre reads what it reads the visit of
    assert (await admin.get(location)).json() == body


async def test_fld_10_unknown_evidence_answers_404_problem_json(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", visit_id="v-1")
    await order(runtime, "o-2", visit_id="v-2")
    uploaded = await _upload(admin, "v-1", "photo-1")
    evidence_id = uploaded.json()["evidence_id"]

    for url in (
        "/v1/visits/v-1/evidence/no-such-evidence",
        f"/v1/visits/v-2/evidence/{evidence_id}",  # another visit's evidence is not this one's
        f"/v1/visits/v-none/evidence/{evidence_id}",
    ):
        missing = await admin.get(url)
        assert missing.status_code == 404, (url, missing.text)
        assert missing.headers["content-type"].startswith("application/problem+json")


async def test_fld_10_another_technicians_evidence_answers_like_missing_evidence(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", visit_id="v-1", technician_id="tech-7")
    location = (await _upload(admin, "v-1", "photo-1")).headers["location"]
    evidence_id = location.rsplit("/", 1)[1]

    async with await technician(runtime, "tech-8") as other:
        theirs = await other.get(location)
        missing = await other.get("/v1/visits/v-none/evidence/" + evidence_id)
        visit = await other.get("/v1/visits/v-1")

    assert theirs.status_code == visit.status_code == 404, theirs.text
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert theirs.json()["detail"] == missing.json()["detail"].replace("v-none", "v-1")


async def test_fld_6_an_added_loaner_is_located_where_get_reads_it(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    body = {"serial": "L 1", "product_line": "water_heater"}
    once = {"Idempotency-Key": "loaner-1"}
    added = await admin.post("/v1/loaners", json=body, headers=once)
    retried = await admin.post("/v1/loaners", json=body, headers=once)

    assert added.status_code == 201, added.text
    location = added.headers["location"]
    assert location == "/v1/loaners/L%201"
    assert retried.status_code == 201 and retried.headers["location"] == location
    read = await admin.get(location)
    assert read.status_code == 200, read.text
    assert read.json() == added.json()
    assert read.json()["state"] == "available"


async def test_fld_6_an_unknown_loaner_answers_404_problem_json(
    admin: httpx.AsyncClient,
) -> None:
    missing = await admin.get("/v1/loaners/L-none")

    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["detail"] == "No loaner with serial L-none."


async def test_fld_6_a_technician_reads_no_loaner_as_they_list_none(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    added = await admin.post("/v1/loaners", json={"serial": "L1", "product_line": "water_heater"})
    assert added.status_code == 201, added.text

    async with await technician(runtime, "tech-7") as tech:
        listed = await tech.get("/v1/loaners")
        read = await tech.get(added.headers["location"])

    assert listed.status_code == read.status_code == 403, read.text
    assert read.headers["content-type"].startswith("application/problem+json")


async def test_bil_11_an_upload_erased_past_retention_is_gone_and_a_barcode_scan_stays(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", visit_id="v-1")
    photo = (await _upload(admin, "v-1", "photo-1")).headers["location"]
    scanned = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "barcode"},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    barcode = scanned.headers["location"]

    await runtime.handle_event(expiry("o-1"))

    erased = await admin.get(photo)
    assert erased.status_code == 404, erased.text
    assert erased.headers["content-type"].startswith("application/problem+json")
    kept = await admin.get(barcode)
    assert kept.status_code == 200 and kept.json() == scanned.json()
