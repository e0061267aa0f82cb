"""BIL-5: the purchase-date bound is on the installation date the technician gives at the
diagnosis, not on intake's own pair of dates: an order dispatched with intake's installation date
before its purchase date (flagged, then overridden by the centre, INT-2) is still diagnosed, and
a technician's date before the order's purchase date is refused with the way out named."""

from __future__ import annotations

from datetime import date

import httpx

from servicekit.runtime import ServiceRuntime

from ..conftest import Clock, act, on_site, order

BOUGHT = date(2025, 6, 1)
INSTALLED = date(2025, 3, 1)  # intake's: before the purchase


async def _order_with_intake_dates(runtime: ServiceRuntime) -> None:
    await order(runtime, "o-1", purchase_date=BOUGHT, installation_date=INSTALLED)


def _diagnosis(**extra: str) -> dict[str, object]:
    return {
        "type": "diagnose",
        "cause": "点火针老化",
        "work_items": [{"kind": "fee", "fee_code": "SET", "description": "软件调整"}],
        **extra,
    }


async def test_bil_5_intakes_installation_date_before_its_purchase_date_does_not_block_diagnosis(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await _order_with_intake_dates(runtime)
    await on_site(admin, clock, "v-1")

    diagnosed = await act(admin, "v-1", **_diagnosis())

    assert diagnosed.status_code == 200, diagnosed.text


async def test_bil_5_a_technicians_installation_date_before_the_purchase_is_refused_with_a_way_out(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await _order_with_intake_dates(runtime)
    await on_site(admin, clock, "v-1")

    refused = await act(admin, "v-1", **_diagnosis(installed_on="2025-05-31"))

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["rule"], problem["field"]) == ("BIL-5", "installed_on")
    assert "leave installed_on out" in problem["detail"]
    assert (await act(admin, "v-1", **_diagnosis(installed_on="2025-06-01"))).status_code == 200
