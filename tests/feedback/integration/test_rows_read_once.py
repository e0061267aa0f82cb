"""Applying an event reads each row it changes once (issue 9: statements are a third of a
consumer's CPU per event). The session's identity map holds rows weakly, so the case repository
keeps a case and its visits read under the case's lock for the rest of the transaction: saving
them does not read them again, and a visit not among them is known to be new. A case opened for
an order's first event is inserted returning its row, kept the same way: it is not read again, and
it has no visits to read."""

from __future__ import annotations

from feedback_support import MONDAY, Harness, arrived, assigned, created, local
from support.statements import selects_by_table, statements_sent

from feedback.domain.case import Case

MONDAY_0930 = local(MONDAY, 9, 30)


async def _case(harness: Harness, order_id: str) -> Case:
    async with harness.runtime.app.state.uow_factory() as uow:
        case = await uow.cases.get(order_id)
    assert case is not None
    return case


async def test_a_new_order_and_its_assignment_read_the_case_and_its_visits_once(
    harness: Harness,
) -> None:
    engine = harness.runtime.engine
    with selects_by_table(engine) as on_created, statements_sent(engine) as sent_on_created:
        await harness.emit(created("o-1"))
    with selects_by_table(engine) as on_assigned:
        await harness.emit(assigned("o-1", "v-1", "tech-7"))

    # A new case: locked read (absent), then inserted returning the row, which is the
    # transaction's own till it ends; a case just opened has no visits to read.
    assert (on_created["feedback_case"], on_created["feedback_visit"]) == (1, 0)
    # the inbox claim, the case read and opened, the event on the order's file, the case saved
    assert len(sent_on_created) == 5
    # The case and its visits under the lock; the new visit is inserted without a read.
    assert (on_assigned["feedback_case"], on_assigned["feedback_visit"]) == (1, 1)
    case = await _case(harness, "o-1")
    assert case.technician_id == "tech-7"
    assert case.visits["v-1"].technician_id == "tech-7"


async def test_a_visit_saved_after_a_locked_read_keeps_what_each_event_changed(
    harness: Harness,
) -> None:
    await harness.emit(created("o-1"))
    await harness.emit(assigned("o-1", "v-1", "tech-7"))

    with selects_by_table(harness.runtime.engine) as selects:
        await harness.emit(arrived("o-1", "v-1", "tech-7", MONDAY_0930))

    assert (selects["feedback_case"], selects["feedback_visit"]) == (1, 1)
    visit = (await _case(harness, "o-1")).visits["v-1"]
    assert (visit.technician_id, visit.arrived_at) == ("tech-7", MONDAY_0930)
