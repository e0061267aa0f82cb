"""Fieldwork reads a date only as ``YYYY-MM-DD`` and a moment only as ISO 8601 with its offset: a
number is not a Unix timestamp (a promised return date of 0 was 1 January 1970, FLD-6), on the
REST route of one action and in the offline app's batch alike."""

from __future__ import annotations

from datetime import timedelta

import httpx

from fieldwork.domain.policy import DEFAULT_KIT
from servicekit.runtime import ServiceRuntime

from ..conftest import Clock, act, offline_item, ok, on_site, order, take_back_action, upload

PROMISED = 1773100800  # 2026-03-10 as a Unix timestamp


def _fields(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return sorted(e["field"] for e in answer.json()["errors"])


async def test_fld_1_fld_4_fld_6_fld_10_action_dates_and_times_sent_as_numbers_are_422_naming_them(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    eta = int((clock.now + timedelta(minutes=30)).timestamp())
    departed = await act(admin, "v-1", type="depart", eta=eta, kit_checked=list(DEFAULT_KIT))
    assert _fields(departed) == ["action.depart.eta"]
    await on_site(admin, clock, "v-1")
    item = {"kind": "fee", "description": "上门费", "fee_code": "CALL", "handled_at": 0}
    diagnosed = await act(
        admin, "v-1", type="diagnose", cause="主板故障", work_items=[item], installed_on=PROMISED
    )
    assert _fields(diagnosed) == [
        "action.diagnose.installed_on",
        "action.diagnose.work_items.0.handled_at",
    ]
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    photo = await upload(admin, "v-1", "photo")
    taken = await act(admin, "v-1", **take_back_action(photo, PROMISED))
    assert _fields(taken) == ["action.take_back.promised_return_date"]
    installed = await act(admin, "v-1", type="complete_installation", installed_on="1772409600")
    assert _fields(installed) == ["action.complete_installation.installed_on"]

    batch = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                {
                    **offline_item("c-1", clock.now, type="arrive"),
                    "occurred_at": clock.now.timestamp(),
                },
                offline_item("c-2", clock.now, **take_back_action(photo, PROMISED)),
            ]
        },
    )
    assert _fields(batch) == [
        "actions.0.occurred_at",
        "actions.1.action.take_back.promised_return_date",
    ]
    contact = await admin.post(
        "/v1/coordination-tickets/t-1/contacts", json={"by": "lead", "note": "打过电话", "at": 0}
    )
    assert _fields(contact) == ["at"]
    assert (await admin.get("/v1/take-backs/R-1")).status_code == 404


async def test_fld_6_iso_dates_and_moments_with_their_offset_are_taken(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    item = {
        "kind": "fee",
        "description": "上门费",
        "fee_code": "CALL",
        "handled_at": (clock.now + timedelta(minutes=5)).astimezone().isoformat(),
    }
    await ok(
        admin, "v-1", type="diagnose", cause="主板故障", work_items=[item], take_back_needed=True
    )
    photo = await upload(admin, "v-1", "photo")
    await ok(admin, "v-1", **take_back_action(photo, "2026-03-10"))
    taken = (await admin.get("/v1/take-backs/R-1")).json()
    assert taken["promised_return_date"] == "2026-03-10"
