"""BIL-5: the purchase-date bound is on the installation date the technician gives at the
diagnosis, not on intake's own pair of dates: an order dispatched with intake's installation date
before its purchase date (flagged, then overridden by the centre, INT-2) is still diagnosed, and
a technician's date before the order's purchase date is refused with the way out named."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from contracts.common import (
    AssigneeKind,
    Channel,
    Customer,
    Fault,
    Product,
    WarrantyStatus,
)
from contracts.envelope import EventEnvelope
from contracts.intake import OrderCreated
from contracts.scheduling import OrderAssigned
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, Clock, act, on_site

BOUGHT = date(2025, 6, 1)
INSTALLED = date(2025, 3, 1)  # intake's: before the purchase


async def _order_with_intake_dates(runtime: ServiceRuntime) -> None:
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderCreated(
                order_id="o-1",
                customer=Customer.model_validate(
                    {
                        "name": "王芳",
                        "phones": ["+8613800138000"],
                        "address": {"detail": "西四路100号"},
                    }
                ),
                product=Product(
                    line="water_heater",
                    model="JSQ24",
                    purchase_date=BOUGHT,
                    installation_date=INSTALLED,
                ),
                fault=Fault(description="热水器打不着火"),
                channel=Channel.HOTLINE,
                warranty_status=WarrantyStatus.IN_WARRANTY,
            ),
            time=T0 - timedelta(days=1),
        )
    )
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderAssigned(
                order_id="o-1",
                visit_id="v-1",
                assignee_kind=AssigneeKind.TECHNICIAN,
                technician_id="tech-7",
                assigned_by="dispatcher-1",
            ),
            time=T0 - timedelta(hours=20),
        )
    )


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
