"""Loaner serials are trimmed and never blank wherever one is taken (FLD-6); an upload whose
transaction fails leaves no file behind that erasure could never find (FLD-10, BIL-11); any
visit id can take evidence (FLD-10), through the API against a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
import pytest

from fieldwork.domain.policy import DEFAULT_KIT
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from servicekit.runtime import ServiceRuntime

from ..conftest import PNG, Clock, on_site, order, upload

LOANER_KIT = [*DEFAULT_KIT, "loaner"]


async def loaner_states(client: httpx.AsyncClient) -> dict[str, str]:
    return {x["serial"]: x["state"] for x in (await client.get("/v1/loaners")).json()["items"]}


async def register(client: httpx.AsyncClient, serial: str) -> httpx.Response:
    return await client.post("/v1/loaners", json={"serial": serial, "product_line": "water_heater"})


def stored_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]


# -- FLD-6: loaner serials ------------------------------------------------------------------------


async def test_fld_6_a_registered_serial_is_trimmed_so_the_same_unit_is_not_two_loaners(
    admin: httpx.AsyncClient,
) -> None:
    first = await register(admin, " L1 ")
    assert first.status_code == 201, first.text
    assert first.json()["serial"] == "L1"
    assert first.headers["location"].endswith("/v1/loaners/L1")

    again = await register(admin, "L1")

    assert again.status_code == 409, again.text
    assert await loaner_states(admin) == {"L1": "available"}


@pytest.mark.parametrize("serial", ["", "   ", "\t\n"])
async def test_fld_6_a_blank_serial_is_refused_at_registration(
    admin: httpx.AsyncClient, serial: str
) -> None:
    response = await register(admin, serial)

    assert response.status_code == 422, response.text
    assert await loaner_states(admin) == {}


async def test_fld_6_lend_take_back_and_collect_trim_the_loaner_serial(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", loaner_required=True)
    assert (await register(admin, "L1")).status_code == 201
    assert (await register(admin, "L2")).status_code == 201

    await on_site(admin, clock, "v-1", kit=LOANER_KIT, loaner_serial=" L1 ")
    assert await loaner_states(admin) == {"L1": "on_board", "L2": "available"}

    diagnosed = await admin.post(
        "/v1/visits/v-1/actions",
        json={"action": {"type": "diagnose", "cause": "主板故障", "take_back_needed": True}},
    )
    assert diagnosed.status_code == 200, diagnosed.text
    photo = await upload(admin, "v-1", "photo")
    taken = await admin.post(
        "/v1/visits/v-1/actions",
        json={
            "action": {
                "type": "take_back",
                "receipt_number": "R-1",
                "appearance": "外观完好",
                "photo_refs": [photo],
                "promised_return_date": "2026-03-10",
                "loaner_serial": "L2\t",
            }
        },
    )
    assert taken.status_code == 200, taken.text
    assert (await admin.get("/v1/take-backs/R-1")).json()["loaner_serial"] == "L2"
    assert await loaner_states(admin) == {"L1": "available", "L2": "lent"}

    returned = await admin.post(
        "/v1/take-backs/R-1/return", json={"repaired": True, "loaner_recovered": False}
    )
    assert returned.status_code == 200, returned.text
    collected = await admin.post(f"/v1/loaners/{quote(' L2 ', safe='')}/collect", json={})

    assert collected.status_code == 200, collected.text
    assert await loaner_states(admin) == {"L1": "available", "L2": "available"}


async def test_fld_6_a_blank_loaner_serial_is_refused_when_lending_and_collecting(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", loaner_required=True)

    departed = await admin.post(
        "/v1/visits/v-1/actions",
        json={
            "action": {
                "type": "depart",
                "eta": clock.now.isoformat(),
                "kit_checked": LOANER_KIT,
                "loaner_serial": "   ",
            }
        },
    )
    collected = await admin.post(f"/v1/loaners/{quote('   ', safe='')}/collect", json={})

    assert departed.status_code == 422, departed.text
    assert collected.status_code == 422, collected.text


# -- FLD-10, BIL-11: evidence storage -------------------------------------------------------------


async def test_fld_10_bil_11_an_upload_whose_transaction_fails_leaves_no_file(
    runtime: ServiceRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await order(runtime, "o-1")

    async def failing_commit(self: FieldworkUnitOfWork) -> NoReturn:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(FieldworkUnitOfWork, "commit", failing_commit)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app, raise_app_exceptions=False),
        base_url="http://fieldwork",
        headers={"Authorization": "Bearer test-admin-key-0123456789"},
    ) as client:
        response = await client.post(
            "/v1/visits/v-1/evidence",
            params={"kind": "photo"},
            content=PNG,
            headers={"Content-Type": "image/png"},
        )

    assert response.status_code == 500
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    "visit_id",
    ["v 1:ä", "访" * 200, "v..1", "访问-1"],
    ids=["space-colon-umlaut", "200-cjk-chars", "dot-dot-inside", "cjk"],
)
async def test_fld_10_any_visit_id_takes_evidence(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, tmp_path: Path, visit_id: str
) -> None:
    await order(runtime, "o-1", visit_id=visit_id)
    path = quote(visit_id, safe="")

    response = await admin.post(
        f"/v1/visits/{path}/evidence",
        params={"kind": "photo"},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )

    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    read = await admin.get(f"/v1/visits/{path}/evidence/{body['evidence_id']}")
    assert read.status_code == 200, read.text
    [stored] = stored_files(tmp_path)
    assert stored.read_bytes() == PNG
    assert (tmp_path / "evidence") in stored.parents
