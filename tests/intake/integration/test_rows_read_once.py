"""What applying another service's event reads (issue 9: statements are a third of a consumer's
CPU per event, and intake hears about ten events per order): the order under its lock, its whole
timeline (the status is derived again from it in story order, ``model.in_story_order``), and its
SLA clocks only when the event can stop one (INT-3, INT-7, ``model.CLOCK_STOPPING_EVENTS``); the
rows read are kept for the save, which reads nothing again. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from support.statements import selects_by_table

from contracts.common import AssigneeKind, TimeWindow
from contracts.fieldwork import TechnicianArrived, TechnicianDeparted
from contracts.scheduling import AppointmentConfirmed, OrderAssigned

from .conftest import Intake


def _assigned(order_id: str) -> OrderAssigned:
    return OrderAssigned(
        order_id=order_id,
        visit_id="v-1",
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id="t-1",
        assigned_by="d-1",
    )


def _departed(intake: Intake, order_id: str) -> TechnicianDeparted:
    return TechnicianDeparted(
        order_id=order_id,
        visit_id="v-1",
        technician_id="t-1",
        eta=intake.clock() + timedelta(hours=1),
    )


def _reads(selects: dict[str, int]) -> tuple[int, int, int]:
    return selects["orders"], selects["order_timeline"], selects["sla_clock"]


async def _order(intake: Intake, order_id: str) -> dict[str, Any]:
    response = await intake.admin.get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_int_3_an_assignment_reads_the_order_its_timeline_and_its_clocks_once(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    intake.clock.advance(minutes=10)

    with selects_by_table(intake.runtime.engine) as selects:
        await intake.deliver(_assigned(order_id))

    assert _reads(selects) == (1, 1, 1)
    order = await _order(intake, order_id)
    assert order["status"] == "assigned"
    stopped = {
        c["clock"]: c["stopped_at"] and datetime.fromisoformat(c["stopped_at"])
        for c in order["sla_clocks"]
    }
    assert stopped == {"handover": intake.clock(), "reply": None}


async def test_int_3_an_event_that_stops_no_clock_reads_no_clock_and_leaves_the_clocks_as_they_are(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    intake.clock.advance(minutes=10)
    await intake.deliver(_assigned(order_id))
    clocks = (await _order(intake, order_id))["sla_clocks"]
    intake.clock.advance(minutes=10)

    with selects_by_table(intake.runtime.engine) as selects:
        await intake.deliver(_departed(intake, order_id))

    assert _reads(selects) == (1, 1, 0)
    order = await _order(intake, order_id)
    assert order["status"] == "en_route"
    assert order["sla_clocks"] == clocks
    assert [e["type"] for e in order["timeline"]] == [
        "OrderCreated",
        "OrderAssigned",
        "TechnicianDeparted",
    ]


async def test_int_3_a_reply_heard_after_an_event_that_read_no_clock_still_stops_its_clock(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    intake.clock.advance(minutes=10)
    await intake.deliver(_assigned(order_id))
    intake.clock.advance(minutes=10)
    await intake.deliver(_departed(intake, order_id))
    intake.clock.advance(minutes=10)
    window = TimeWindow(
        start=intake.clock() + timedelta(hours=1), end=intake.clock() + timedelta(hours=3)
    )

    with selects_by_table(intake.runtime.engine) as selects:
        await intake.deliver(
            AppointmentConfirmed(
                order_id=order_id, visit_id="v-1", technician_id="t-1", window=window
            )
        )

    assert _reads(selects) == (1, 1, 1)
    order = await _order(intake, order_id)
    stopped = {c["clock"]: c["stopped_at"] is not None for c in order["sla_clocks"]}
    assert stopped == {"handover": True, "reply": True}


async def test_fld_2_a_departure_heard_late_sorts_in_before_the_arrival_it_preceded(
    intake: Intake, make_order: Any
) -> None:
    # The whole timeline is read per event: a late event that stops no clock (and reads none)
    # still sorts in among the others, and the status is derived from all of them.
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    intake.clock.advance(minutes=10)
    await intake.deliver(_assigned(order_id))
    departed_at = intake.clock() + timedelta(minutes=5)
    intake.clock.advance(minutes=30)
    await intake.deliver(
        TechnicianArrived(
            order_id=order_id, visit_id="v-1", technician_id="t-1", arrived_at=intake.clock()
        )
    )
    intake.clock.advance(minutes=10)

    with selects_by_table(intake.runtime.engine) as selects:
        await intake.deliver(_departed(intake, order_id), at=departed_at)

    assert _reads(selects) == (1, 1, 0)
    order = await _order(intake, order_id)
    assert [e["type"] for e in order["timeline"]] == [
        "OrderCreated",
        "OrderAssigned",
        "TechnicianDeparted",
        "TechnicianArrived",
    ]
    assert order["status"] == "on_site"
    assert all(c["stopped_at"] is not None for c in order["sla_clocks"])


async def test_int_3_an_order_read_without_its_clocks_reads_them_when_asked_again(
    intake: Intake, make_order: Any
) -> None:
    order_id = (await intake.admin.post("/v1/orders", json=make_order())).json()["id"]
    intake.clock.advance(minutes=10)
    await intake.deliver(_assigned(order_id))
    stored = (await _order(intake, order_id))["sla_clocks"]

    async with intake.runtime.app.state.uow_factory() as uow:
        with selects_by_table(intake.runtime.engine) as selects:
            without = await uow.orders.get(order_id, for_update=True, clocks=False)
            assert without is not None and without.clocks == {}
            again = await uow.orders.get(order_id, for_update=True)

    assert again is without
    assert _reads(selects) == (1, 1, 1)
    assert {c.value: t.stopped_at is not None for c, t in again.clocks.items()} == {
        c["clock"]: c["stopped_at"] is not None for c in stored
    }
