"""Applying an event reads each row it changes once (issue 9: statements are a third of a
consumer's CPU per event). The session's identity map holds rows weakly, so the repositories keep
the rows read under the order's lock for the rest of the transaction: the event's later reads and
its saves do not read them again."""

from __future__ import annotations

import httpx
from support.statements import selects_by_table

from contracts.common import AssigneeKind, TimeWindow
from contracts.envelope import EventEnvelope
from contracts.scheduling import AppointmentConfirmed, OrderAssigned
from servicekit.runtime import ServiceRuntime

from ..conftest import T0, order


async def test_a_new_order_and_its_assignment_read_the_context_and_the_visit_once(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    with selects_by_table(runtime.engine) as selects:
        await order(runtime, "o-1", visit_id="v-1", technician_id="tech-7")

    # OrderCreated: the context (absent, then inserted) and the order's visits; OrderAssigned:
    # the context and the visit (absent, then inserted). No read before a save, none after.
    assert selects["fieldwork_order"] == 2
    assert selects["fieldwork_visit"] == 2
    visit = (await admin.get("/v1/visits/v-1")).json()
    assert (visit["order_id"], visit["technician_id"], visit["state"]) == (
        "o-1",
        "tech-7",
        "scheduled",
    )
    async with runtime.app.state.uow_factory() as uow:
        context = await uow.orders.get("o-1")
    assert context is not None
    assert (context.customer_name, context.product_line) == ("王芳", "water_heater")


async def test_a_visit_changed_twice_in_one_event_is_read_once_and_keeps_both_changes(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", visit_id="v-1", technician_id="tech-7")
    window = TimeWindow(start=T0.replace(hour=6), end=T0.replace(hour=8))

    with selects_by_table(runtime.engine) as selects:
        await runtime.handle_event(
            EventEnvelope.wrap(
                OrderAssigned(
                    order_id="o-1",
                    visit_id="v-1",
                    assignee_kind=AssigneeKind.TECHNICIAN,
                    technician_id="tech-9",
                    assigned_by="dispatcher-1",
                ),
                time=T0,
            )
        )
        await runtime.handle_event(
            EventEnvelope.wrap(
                AppointmentConfirmed(
                    order_id="o-1", visit_id="v-1", technician_id="tech-9", window=window
                ),
                time=T0,
            )
        )

    assert selects["fieldwork_visit"] == 2  # one locked read per event
    assert selects["fieldwork_order"] == 2
    visit = (await admin.get("/v1/visits/v-1")).json()
    assert visit["technician_id"] == "tech-9"
    assert TimeWindow.model_validate(visit["window"]) == window
