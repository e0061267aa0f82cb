"""OrderVerified that escalates the order to an emergency (INT-7) or re-derives its loaner
prediction (INT-6), through the consumer handler on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from scheduling_support import DONGYING, Harness, created, local, near, repaired, window
from structlog.testing import capture_logs

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import Fault, Product
from contracts.intake import OrderVerified
from scheduling.service_layer.handlers import (
    HELD_WITHOUT_THE_SKILL,
    NOT_DISPATCHED,
    VERIFIED_AFTER_THE_VISIT,
)

GAS = Fault(description="核实：热水器旁有燃气味", code="gas_leak")


def _escalated(order_id: str, **fields: Any) -> OrderVerified:
    """The verification of ``order_id`` at 10:00 that found a gas leak."""
    return OrderVerified(
        order_id=order_id,
        fault=GAS,
        verified_by="agent-7",
        escalated_to_emergency=True,
        on_site_due_at=local(10) + timedelta(minutes=15),
        **fields,
    )


def _z(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


async def test_int_7_an_order_verified_as_an_emergency_is_placed_at_once_with_the_nearest(
    harness: Harness,
) -> None:
    await harness.add_technician("far", home=near(DONGYING, north_km=15))
    await harness.add_technician("near", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", needs_verification=["fault.description"]))
    assert (await harness.order("o1"))["status"] == "awaiting_verification"
    harness.clock.now = local(10)

    await harness.feed(_escalated("o1", verified=["fault.description"]))

    order = await harness.order("o1")
    assert order["emergency"] is True
    assert order["status"] == "assigned" and order["technician_id"] == "near"
    # INT-7: no appointment negotiated, someone on site within the policy's minutes
    assert order["appointment"]["end"] == _z(local(10) + timedelta(minutes=15))
    assert [e.order_id for e in await harness.published("OrderAssigned")] == ["o1"]


async def test_int_7_an_order_booked_for_later_and_verified_as_an_emergency_is_placed_again(
    harness: Harness,
) -> None:
    await harness.add_technician("far", home=near(DONGYING, north_km=15))
    await harness.add_technician("near", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(16)]))
    booked = await harness.order("o1")
    assert booked["status"] == "assigned" and not booked["emergency"]
    harness.clock.now = local(10)

    await harness.feed(_escalated("o1"))

    order = await harness.order("o1")
    assert order["emergency"] is True and order["status"] == "assigned"
    assert order["appointment"]["end"] == _z(local(10) + timedelta(minutes=15))
    returned = await harness.published("OrderReturnedToCentre")
    assert [r.order_id for r in returned] == ["o1"] and "emergency" in (returned[0].detail or "")
    assert [e.order_id for e in await harness.published("OrderAssigned")] == ["o1", "o1"]


async def test_int_7_an_ordinary_verification_of_a_booked_order_changes_nothing_in_dispatch(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(16)]))
    before = await harness.order("o1")
    await harness.feed(OrderVerified(order_id="o1", fault=Fault(description="打不着火，E1 报警")))
    after = await harness.order("o1")
    assert not after["emergency"]
    assert (after["status"], after["appointment"]) == (before["status"], before["appointment"])
    assert await harness.published("OrderReturnedToCentre") == []


async def test_int_7_bil_11_an_erased_order_verified_as_an_emergency_sends_nobody_out(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(16)]))
    await harness.feed(
        OrderRetentionExpired(
            order_id="o1",
            retention_class=RetentionClass.PAID_WORK,
            ended_at=local(9) - timedelta(days=731),
            expired_at=local(9),
        )
    )
    before = await harness.order("o1")
    harness.clock.now = local(10)

    with capture_logs() as logs:
        await harness.feed(_escalated("o1"))

    after = await harness.order("o1")
    assert not after["emergency"]
    assert (after["status"], after["appointment"]) == (before["status"], before["appointment"])
    assert await harness.published("OrderReturnedToCentre") == []
    [warning] = [line for line in logs if line["event"] == NOT_DISPATCHED]
    assert warning["order_id"] == "o1" and warning["type"] == "fsm.OrderVerified.v1"


async def test_int_6_the_loaner_prediction_follows_the_verification_that_re_derived_it(
    harness: Harness,
) -> None:
    await harness.add_technician("t1", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1"))
    assert (await harness.order("o1"))["loaner_required"] is False
    microwave = Product(line="microwave_oven", model="M1")
    await harness.feed(OrderVerified(order_id="o1", product=microwave, loaner_required=True))
    assert (await harness.order("o1"))["loaner_required"] is True
    # an event from before the prediction was re-derived leaves it as it was
    await harness.feed(OrderVerified(order_id="o1", verified=["customer.address"]))
    assert (await harness.order("o1"))["loaner_required"] is True


async def test_sch_1_the_product_line_corrected_at_verification_decides_the_skill(
    harness: Harness,
) -> None:
    await harness.add_technician("heaters", home=near(DONGYING, north_km=2))
    await harness.add_technician("hobs", home=near(DONGYING, north_km=9), skills=["gas_hob"])
    await harness.feed(created("o1", needs_verification=["product.model"]))
    harness.clock.now = local(10)

    hob = Product(line="gas_hob", model="JZT-2")
    await harness.feed(OrderVerified(order_id="o1", product=hob, verified=["product.model"]))

    order = await harness.order("o1")
    assert order["product_line"] == "gas_hob"
    assert order["status"] == "assigned" and order["technician_id"] == "hobs"


async def test_int_7_sch_1_a_network_holding_an_order_verified_an_emergency_hands_it_back(
    harness: Harness,
) -> None:
    # as for an emergency duplicate (DispatchOrder.escalate_to_emergency): a network holding
    # the order with no time agreed cannot promise the emergency target
    await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]},
    )
    await harness.feed(created("o1", preferred=[window(16)]))
    held = await harness.order("o1")
    assert held["assignee_kind"] == "network" and held["network_id"] == "n1"
    harness.clock.now = local(10)

    await harness.feed(_escalated("o1"))

    order = await harness.order("o1")
    assert order["emergency"] is True and order["network_id"] is None
    [returned] = await harness.published("OrderReturnedToCentre")
    assert returned.network_id == "n1" and "emergency" in (returned.detail or "")


async def _hob_verified_while_heaters_hold_it(harness: Harness, **verified: Any) -> None:
    """o1, booked at 16:00 with technician heaters (no gas_hob skill; hobs has it), then
    verified as a gas hob (``verified``: more of the OrderVerified)."""
    await harness.add_technician("heaters", home=near(DONGYING, north_km=2))
    await harness.add_technician("hobs", home=near(DONGYING, north_km=9), skills=["gas_hob"])
    await harness.feed(created("o1", preferred=[window(16)]))
    assert (await harness.order("o1"))["technician_id"] == "heaters"
    hob = Product(line="gas_hob", model="JZT-2")
    await harness.feed(OrderVerified(order_id="o1", product=hob, **verified))


async def test_sch_1_sch_12_a_line_corrected_past_the_holders_skill_is_left_to_the_dispatcher(
    harness: Harness,
) -> None:
    with capture_logs() as logs:
        await _hob_verified_while_heaters_hold_it(harness)

    order = await harness.order("o1")
    assert order["product_line"] == "gas_hob"
    assert order["status"] == "assigned" and order["technician_id"] == "heaters"
    assert await harness.published("OrderReturnedToCentre") == []
    [warning] = [line for line in logs if line["event"] == HELD_WITHOUT_THE_SKILL]
    assert warning["order_id"] == "o1" and warning["technician_id"] == "heaters"
    assert warning["product_line"] == "gas_hob"


async def _visit_done(harness: Harness) -> str:
    """o1, booked at 16:00 with technician t1, repaired on a visit they reached at 09:00: the
    id of that visit."""
    await harness.add_technician("t1", home=near(DONGYING, north_km=2))
    await harness.feed(created("o1", preferred=[window(16)]))
    await harness.on_site("o1", "t1", at=local(9), position=DONGYING)
    visit_id = str((await harness.order("o1"))["visit_id"])
    await harness.feed(repaired("o1", visit_id=visit_id, technician_id="t1"))
    return visit_id


async def test_int_7_a_verification_heard_after_the_visit_ended_books_no_emergency_revisit(
    harness: Harness,
) -> None:
    # intake verified the order before it heard of the visit (its timeline lagging): the fault
    # it corrected is the one the technician has seen to; it sends nobody out again
    visit_id = await _visit_done(harness)
    assert (await harness.order("o1"))["status"] == "visit_done"
    harness.clock.now = local(10)

    with capture_logs() as logs:
        await harness.feed(_escalated("o1"))

    order = await harness.order("o1")
    assert order["status"] == "visit_done" and order["visit_id"] == visit_id
    assert len(order["visits"]) == 1
    assert [e.order_id for e in await harness.published("OrderAssigned")] == ["o1"]
    [line] = [line for line in logs if line["event"] == VERIFIED_AFTER_THE_VISIT]
    assert line["order_id"] == "o1"


async def test_int_7_a_verification_heard_after_the_visit_ended_still_marks_the_emergency(
    harness: Harness,
) -> None:
    # intake and feedback count the order an emergency: scheduling's reads agree, though
    # nobody is sent out again
    await _visit_done(harness)
    harness.clock.now = local(10)

    await harness.feed(_escalated("o1"))
    # heard again: still no revisit
    await harness.feed(_escalated("o1"))

    order = await harness.order("o1")
    assert order["emergency"] is True
    assert order["status"] == "visit_done" and len(order["visits"]) == 1
    assert [e.order_id for e in await harness.published("OrderAssigned")] == ["o1"]


async def _held_without_the_skill(harness: Harness) -> list[dict[str, Any]]:
    """The order o1's audit entries that tell a dispatcher its holder lacks the skill."""
    audit = (await harness.client.get("/v1/orders/o1/audit")).json()
    return [entry for entry in audit if entry["action"] == "held_without_the_skill"]


async def test_sch_1_sch_12_a_line_corrected_past_the_holders_skill_is_audited_on_the_order(
    harness: Harness,
) -> None:
    # the dispatcher reads it on the order, not in the service's logs
    harness.clock.now = local(10)
    await _hob_verified_while_heaters_hold_it(harness, verified_by="agent-7")

    [entry] = await _held_without_the_skill(harness)
    assert entry["actor"] == "agent-7" and entry["at"] == _z(local(10))
    assert entry["detail"] == {"technician_id": "heaters"}
    assert "gas_hob" in entry["reason"] and "SCH-12" in entry["reason"]
    assert (await harness.order("o1"))["technician_id"] == "heaters"


async def test_sch_1_sch_12_a_line_corrected_past_the_holding_networks_lines_is_audited(
    harness: Harness,
) -> None:
    await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["water_heater"], "areas": ["*"]},
    )
    await harness.feed(created("o1", preferred=[window(16)]))
    assert (await harness.order("o1"))["network_id"] == "n1"
    harness.clock.now = local(10)

    hob = Product(line="gas_hob", model="JZT-2")
    with capture_logs() as logs:
        await harness.feed(OrderVerified(order_id="o1", product=hob))

    order = await harness.order("o1")
    assert order["network_id"] == "n1" and order["assignee_kind"] == "network"
    assert await harness.published("OrderReturnedToCentre") == []
    [entry] = await _held_without_the_skill(harness)
    assert entry["actor"] == "intake" and entry["detail"] == {"network_id": "n1"}
    [warning] = [line for line in logs if line["event"] == HELD_WITHOUT_THE_SKILL]
    assert warning["order_id"] == "o1" and warning["network_id"] == "n1"
    assert warning["product_line"] == "gas_hob"


async def test_sch_1_a_line_corrected_within_the_holders_skills_is_not_audited(
    harness: Harness,
) -> None:
    await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "网点", "skills": ["*"], "areas": ["*"]},
    )
    await harness.feed(created("o1", preferred=[window(16)]))
    assert (await harness.order("o1"))["network_id"] == "n1"

    hob = Product(line="gas_hob", model="JZT-2")
    with capture_logs() as logs:
        await harness.feed(OrderVerified(order_id="o1", product=hob))

    assert await _held_without_the_skill(harness) == []
    assert [line for line in logs if line["event"] == HELD_WITHOUT_THE_SKILL] == []
