"""SCH-12 / FLD-2 / SCH-10: a visit report crossing the order's cancellation (two services, two
topics: either may arrive first) is applied without error and sends nobody out again; it is
never an event that fails for ever (and is dead-lettered)."""

from __future__ import annotations

from typing import Any

import pytest
from scheduling_support import Harness, created, local

from contracts.fieldwork import CustomerNotHome, RepairFailed, RepairFailureReason
from contracts.intake import OrderCancelled


def _report(kind: str, visit_id: str) -> Any:
    common = {"order_id": "o1", "visit_id": visit_id, "technician_id": "t1"}
    if kind == "not_home":
        return CustomerNotHome(**common, arrived_at=local(10), waited_minutes=6, phoned=True)
    return RepairFailed(**common, reason=RepairFailureReason.MISSING_PART)


@pytest.mark.parametrize("kind", ["not_home", "failed"])
async def test_fld_2_sch_10_a_visit_report_after_the_cancellation_books_no_next_visit(
    harness: Harness, kind: str
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    visit_id = (await harness.order("o1"))["visit_id"]
    await harness.feed(OrderCancelled(order_id="o1", reason="fixed", cancelled_by="agent-1"))

    await harness.feed(_report(kind, visit_id))

    order = await harness.order("o1")
    assert order["status"] == "cancelled" and order["visit_id"] == visit_id
    assert await harness.published("RevisitBooked") == []
