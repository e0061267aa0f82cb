"""Who call-backs and their surveys count against, through the event stream and REST (FBK-1,
FBK-3, FBK-4, FBK-6, FBK-8, FBK-11): a network that handed an order back is not charged with the
centre's visit, a visit is its holder's at the time it was carried out whichever topic feedback
reads first, and the call-back after phone guidance rates no technician. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from feedback_support import (
    MONDAY,
    Harness,
    arrived,
    assigned,
    closed,
    created,
    local,
    repaired,
    resolved_remotely,
    revisit_booked,
    scores,
    signed,
)

from contracts.base import EventData
from contracts.common import AssigneeKind, TimeWindow
from contracts.scheduling import (
    AppointmentConfirmed,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    ReturnReason,
)

TUESDAY = MONDAY + timedelta(days=1)
THURSDAY = MONDAY + timedelta(days=3)
NETWORK = "net-7"


def to_network(order_id: str) -> OrderAssigned:
    """Scheduling auto-assigns the order's visit to the partner network, no technician yet."""
    return OrderAssigned(
        order_id=order_id,
        visit_id="v-1",
        assignee_kind=AssigneeKind.NETWORK,
        network_id=NETWORK,
        assigned_by="auto",
    )


def network_hands_back(order_id: str, *, accepted: bool) -> list[EventData]:
    """The network rejects the order (SCH-1), or accepts it, places it with its technician, who
    confirms the appointment, and then hands it back (SCH-3)."""
    if not accepted:
        return [
            OrderReturnedToCentre(
                order_id=order_id,
                visit_id="v-1",
                reason=ReturnReason.CANNOT_STAFF,
                returned_by=NETWORK,
                network_id=NETWORK,
            )
        ]
    return [
        OrderReassigned(
            order_id=order_id,
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="tech-n1",
            network_id=NETWORK,
            previous_assignee_kind=AssigneeKind.NETWORK,
            previous_network_id=NETWORK,
            reassigned_by=f"{NETWORK}-dispatcher",
        ),
        AppointmentConfirmed(
            order_id=order_id,
            visit_id="v-1",
            technician_id="tech-n1",
            window=TimeWindow(start=local(MONDAY, 9), end=local(MONDAY, 10)),
        ),
        OrderReturnedToCentre(
            order_id=order_id,
            visit_id="v-1",
            reason=ReturnReason.CANNOT_ARRIVE_ON_TIME,
            returned_by="tech-n1",
            technician_id="tech-n1",
            network_id=NETWORK,
        ),
    ]


async def figures(harness: Harness, by: str, day: Any = MONDAY) -> dict[str, dict[str, Any]]:
    response = await harness.client.get(
        "/v1/quality-figures",
        params={"start": day.isoformat(), "end": day.isoformat(), "by": by},
    )
    assert response.status_code == 200, response.text
    return {r["key"]: r for r in response.json()["rows"]}


@pytest.mark.parametrize("accepted", [False, True], ids=["rejected", "accepted_then_returned"])
async def test_fbk_3_a_visit_a_network_handed_back_to_the_centre_is_called_back_as_the_centres(
    harness: Harness, accepted: bool
) -> None:
    ten = local(MONDAY, 10)
    await harness.emit(created("o-back"), local(MONDAY, 7))
    await harness.emit(to_network("o-back"), local(MONDAY, 7))
    for event in network_hands_back("o-back", accepted=accepted):
        await harness.emit(event, local(MONDAY, 7, 30))
    await harness.emit(assigned("o-back", "v-1", "tech-c"), local(MONDAY, 8))
    # fieldwork's events name the technician, never the network
    await harness.emit(arrived("o-back", "v-1", "tech-c", ten - timedelta(hours=1)), ten)
    await harness.emit(repaired("o-back", "v-1", "tech-c"), ten)
    await harness.emit(closed("o-back", "v-1", "tech-c", ten), ten)  # no sheet came back

    [task] = await harness.tasks("o-back")
    assert (task["reason_rule"], task["visit_id"], task["technician_id"]) == (
        "FBK-3",
        "v-1",
        "tech-c",
    )
    assert task["network_id"] == "centre"

    # rule FBK-11: the visit and its survey count for the centre, not the network
    harness.clock.set(local(MONDAY, 14))
    await harness.answer(task["task_id"], reached=True, satisfied=True, scores=scores(9, 9))
    rows = await figures(harness, "network")
    assert NETWORK not in rows
    assert (rows["centre"]["visits"], rows["centre"]["satisfaction"]["surveys"]) == (1, 1)

    # rule FBK-8: the sheet never returned is the centre's to reconcile, not the network's
    harness.clock.set(ten + timedelta(hours=25))
    assert (await harness.runtime.app.state.sweep())["sheets_flagged"] == 1
    [fraud] = await harness.staged("FraudSuspected")
    assert (fraud.signal, fraud.network_id) == ("sheet_not_returned", "centre")
    for network, sheets in ((NETWORK, []), ("centre", ["v-1"])):
        report = await harness.client.get(
            f"/v1/networks/{network}/reconciliation", params={"day": TUESDAY.isoformat()}
        )
        assert report.status_code == 200, report.text
        assert [s["visit_id"] for s in report.json()["sheets_outstanding"]] == sheets

    # rule FBK-4: sampled under the centre too
    harness.clock.set(local(THURSDAY, 8, 30))
    assert (await harness.runtime.app.state.sweep())["sampled"] == 1
    [pick] = (await harness.client.get("/v1/call-backs", params={"rule": "FBK-4"})).json()["items"]
    assert (pick["visit_id"], pick["technician_id"], pick["network_id"]) == (
        "v-1",
        "tech-c",
        "centre",
    )


async def test_fbk_3_a_visit_a_dispatcher_moves_from_a_network_to_the_centre_is_the_centres(
    harness: Harness,
) -> None:
    ten = local(MONDAY, 10)
    await harness.emit(to_network("o-moved"), local(MONDAY, 7))
    await harness.emit(
        OrderReassigned(
            order_id="o-moved",
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="tech-c",
            previous_assignee_kind=AssigneeKind.NETWORK,
            previous_network_id=NETWORK,
            reassigned_by="dispatcher-1",
        ),
        local(MONDAY, 8),
    )
    await harness.emit(repaired("o-moved", "v-1", "tech-c"), ten)
    await harness.emit(closed("o-moved", "v-1", "tech-c", ten), ten)

    [task] = await harness.tasks("o-moved")
    assert (task["technician_id"], task["network_id"]) == ("tech-c", "centre")


async def test_fbk_3_fieldwork_events_seen_before_scheduling_leave_the_visit_its_network(
    harness: Harness,
) -> None:
    ten = local(MONDAY, 10)
    # fieldwork's topic is read ahead of scheduling's: the technician is on site before
    # feedback hears whom the visit was assigned to
    await harness.emit(arrived("o-net", "v-1", "tech-n1", ten - timedelta(hours=1)), ten)
    await harness.emit(assigned("o-net", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 8))
    await harness.emit(repaired("o-net", "v-1", "tech-n1"), ten)
    await harness.emit(closed("o-net", "v-1", "tech-n1", ten), ten)

    [task] = await harness.tasks("o-net")
    assert (task["technician_id"], task["network_id"]) == ("tech-n1", NETWORK)


async def test_fbk_1_the_call_back_after_phone_guidance_counts_against_no_technician(
    harness: Harness,
) -> None:
    await harness.emit(created("o-phone"), local(MONDAY, 9))
    await harness.emit(assigned("o-phone", "v-1", "tech-p11"), local(MONDAY, 9))
    await harness.emit(resolved_remotely("o-phone", at=local(MONDAY, 9, 30)), local(MONDAY, 9, 30))

    [guidance] = await harness.tasks("o-phone")
    assert guidance["reason_rule"] == "FBK-1"
    assert (guidance["visit_id"], guidance["technician_id"]) == (None, None)
    assert guidance["network_id"] == "centre"
    [scheduled] = await harness.staged("FollowUpScheduled")
    assert scheduled.technician_id is None

    harness.clock.set(local(MONDAY, 11, 30))
    await harness.answer(
        guidance["task_id"],
        reached=True,
        problem_solved=False,
        scores=scores(8, 6, dress="poor"),
    )

    # the centre's guidance is credited to no technician, and so is the call-back's result
    [completed] = await harness.staged("FollowUpCompleted")
    assert completed.technician_id is None
    # rule FBK-7 / INT-4: the guidance failed, so a revisit is requested...
    [revisit] = await harness.staged("RevisitRequested")
    assert revisit.task_id == guidance["task_id"]
    # ...but what the call-back raised is the centre's, not the technician's (FBK-6, FBK-12)
    [issue] = (await harness.client.get("/v1/issues")).json()["items"]
    assert (issue["visit_id"], issue["technician_id"], issue["network_id"]) == (
        None,
        None,
        "centre",
    )
    [finding] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    assert (finding["aspect"], finding["technician_id"]) == ("dress", None)

    await harness.emit(revisit_booked("o-phone", "v-2", "v-1", "tech-p11"), local(MONDAY, 12))
    await harness.completed_visit("o-phone", "v-2", "tech-p11", at=local(MONDAY, 15))
    harness.clock.set(local(MONDAY, 16))
    [after] = [t for t in await harness.tasks("o-phone") if t["reason_rule"] == "FBK-3"]
    assert after["technician_id"] == "tech-p11"
    await harness.answer(after["task_id"], reached=True, satisfied=True, scores=scores(9, 9))

    by_technician = await figures(harness, "technician")
    tech = by_technician["tech-p11"]
    # rule FBK-6/FBK-11: only the survey of the visit the technician did
    assert tech["satisfaction"] == {
        "surveys": 1,
        "service_attitude": 9.0,
        "professional_ability": 9.0,
        "overall": 9.0,
    }
    assert tech["call_back_coverage"]["surveyed"] == 1
    # the phone guidance's survey is among those rated for no technician, and in the total
    assert by_technician["unassigned"]["satisfaction"]["surveys"] == 1
    assert by_technician["unassigned"]["satisfaction"]["service_attitude"] == 8.0
    assert by_technician["all"]["satisfaction"]["surveys"] == 2
    by_network = await figures(harness, "network")
    assert by_network["centre"]["satisfaction"]["surveys"] == 2


# -- a holder heard after the visit (FBK-3, FBK-6, FBK-8, FBK-11) ---------------------------------


def moved_to_the_centre(order_id: str) -> OrderReassigned:
    """A dispatcher moves the visit from the network's technician to the centre's own."""
    return OrderReassigned(
        order_id=order_id,
        visit_id="v-1",
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id="tech-c",
        previous_assignee_kind=AssigneeKind.NETWORK,
        previous_technician_id="tech-n1",
        previous_network_id=NETWORK,
        reassigned_by="dispatcher-1",
    )


async def visit_done(harness: Harness, order_id: str, technician_id: str) -> None:
    """Fieldwork's topic: the technician arrived at 9, repaired and left at 10 (no sheet)."""
    ten = local(MONDAY, 10)
    await harness.emit(arrived(order_id, "v-1", technician_id, local(MONDAY, 9)), local(MONDAY, 9))
    await harness.emit(repaired(order_id, "v-1", technician_id), ten)
    await harness.emit(closed(order_id, "v-1", technician_id, ten), ten)


async def reconciled(harness: Harness, network: str) -> dict[str, Any]:
    report = await harness.client.get(
        f"/v1/networks/{network}/reconciliation", params={"day": MONDAY.isoformat()}
    )
    assert report.status_code == 200, report.text
    return dict(report.json())


@pytest.mark.parametrize("answered_first", [False, True], ids=["open", "already_answered"])
async def test_fbk_3_a_reassignment_heard_after_the_visit_moves_its_call_back_and_what_it_raised(
    harness: Harness, answered_first: bool
) -> None:
    await harness.emit(created("o-late"), local(MONDAY, 7))
    await harness.emit(assigned("o-late", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 7))
    # fieldwork's topic is read ahead of scheduling's: the reassignment of 8:00 comes last
    await visit_done(harness, "o-late", "tech-c")
    [task] = await harness.tasks("o-late")
    assert (task["technician_id"], task["network_id"]) == ("tech-c", NETWORK)
    harness.clock.set(local(MONDAY, 11))
    answer = {
        "reached": True,
        "satisfied": False,
        "scores": scores(7, 5, dress="poor", fee_charged=True, fee_amount="80"),
    }
    if answered_first:
        await harness.answer(task["task_id"], **answer)

    moved = moved_to_the_centre("o-late")
    envelope = await harness.emit(moved, local(MONDAY, 8))
    await harness.runtime.handle_event(envelope)  # heard twice
    if not answered_first:
        await harness.answer(task["task_id"], **answer)

    [after] = await harness.tasks("o-late")
    assert (after["technician_id"], after["network_id"]) == ("tech-c", "centre")
    # the customer's answers stay as they were given
    assert after["status"] == "done"
    assert after["survey"]["satisfied"] is False
    assert after["survey"]["scores"]["professional_ability"] == 5
    # rule FBK-6: the poor dress answer is followed up against whoever did the visit
    [finding] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    assert (finding["technician_id"], finding["network_id"]) == ("tech-c", "centre")
    # rule FBK-8/FBK-12: the fee billing does not know and the dissatisfied customer are the
    # centre's to reconcile, not the network's
    [fraud] = (await harness.client.get("/v1/fraud-suspicions")).json()["items"]
    assert (fraud["signal"], fraud["network_id"]) == ("fee_mismatch", "centre")
    issues = (await harness.client.get("/v1/issues", params={"order_id": "o-late"})).json()
    assert {(i["visit_id"], i["network_id"]) for i in issues["items"]} == {("v-1", "centre")}
    network_report = await reconciled(harness, NETWORK)
    assert (network_report["call_backs_completed"], network_report["fraud_suspicions"]) == (0, [])
    assert network_report["open_issues"] == []
    centre_report = await reconciled(harness, "centre")
    assert (centre_report["call_backs_completed"], centre_report["customers_dissatisfied"]) == (
        1,
        1,
    )
    assert len(centre_report["fraud_suspicions"]) == 1
    # rule FBK-11: the visit and its survey count for the centre
    rows = await figures(harness, "network")
    assert NETWORK not in rows
    assert (rows["centre"]["visits"], rows["centre"]["satisfaction"]["surveys"]) == (1, 1)
    by_technician = await figures(harness, "technician")
    assert by_technician["tech-c"]["satisfaction"]["surveys"] == 1


@pytest.mark.parametrize(
    "reassignment_first", [False, True], ids=["visit_read_first", "reassignment_read_first"]
)
async def test_fbk_3_a_reassignment_after_the_visit_closed_leaves_the_call_back_where_it_is(
    harness: Harness, reassignment_first: bool
) -> None:
    await harness.emit(created("o-after"), local(MONDAY, 7))
    await harness.emit(assigned("o-after", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 7))
    moved = moved_to_the_centre("o-after")
    if reassignment_first:
        await harness.emit(moved, local(MONDAY, 11))
    await visit_done(harness, "o-after", "tech-n1")
    if not reassignment_first:
        envelope = await harness.emit(moved, local(MONDAY, 11))
        await harness.runtime.handle_event(envelope)  # heard twice

    [task] = await harness.tasks("o-after")
    assert (task["technician_id"], task["network_id"]) == ("tech-n1", NETWORK)
    harness.clock.set(local(MONDAY, 14))
    await harness.answer(task["task_id"], reached=True, satisfied=True, scores=scores(9, 9))
    rows = await figures(harness, "network")
    assert "centre" not in rows
    assert (rows[NETWORK]["visits"], rows[NETWORK]["satisfaction"]["surveys"]) == (1, 1)
    assert (await reconciled(harness, NETWORK))["call_backs_completed"] == 1


@pytest.mark.parametrize(
    "reassignment_first", [False, True], ids=["visit_read_first", "reassignment_read_first"]
)
async def test_fbk_3_fbk_5_the_call_back_result_names_the_technician_of_the_visit_not_the_holder(
    harness: Harness, reassignment_first: bool
) -> None:
    await harness.emit(created("o-named"), local(MONDAY, 7))
    await harness.emit(assigned("o-named", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 7))
    moved = moved_to_the_centre("o-named")  # to tech-c at 11:00, after tech-n1's visit
    if reassignment_first:
        await harness.emit(moved, local(MONDAY, 11))
    await visit_done(harness, "o-named", "tech-n1")
    if not reassignment_first:
        await harness.emit(moved, local(MONDAY, 11))
    [task] = await harness.tasks("o-named")
    harness.clock.set(local(MONDAY, 14))

    await harness.answer(task["task_id"], reached=False)
    harness.clock.set(local(MONDAY, 15))  # the retry is due an hour later
    await harness.answer(task["task_id"], reached=True, satisfied=True, scores=scores(9, 9))

    completed = await harness.staged("FollowUpCompleted")
    assert [(c.reached, c.technician_id) for c in completed] == [
        (False, "tech-n1"),
        (True, "tech-n1"),
    ]


async def test_fbk_5_a_holder_heard_after_the_call_back_result_moves_its_network_not_its_technician(
    harness: Harness,
) -> None:
    """The published result is not corrected, and need not be: a late holder re-credits the
    visit's network only (fieldwork named who went), FollowUpCompleted names the technician
    alone, and scheduling routes it by that technician's own network."""
    await harness.emit(created("o-told"), local(MONDAY, 7))
    await harness.emit(assigned("o-told", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 7))
    await visit_done(harness, "o-told", "tech-c")  # fieldwork's topic read ahead of scheduling's
    [task] = await harness.tasks("o-told")
    harness.clock.set(local(MONDAY, 11))
    await harness.answer(task["task_id"], reached=True, satisfied=True, scores=scores(9, 9))
    [told] = await harness.staged("FollowUpCompleted")
    assert (told.task_id, told.technician_id) == (task["task_id"], "tech-c")
    assert (task["technician_id"], task["network_id"]) == ("tech-c", NETWORK)

    # scheduling's word, read late: the visit went to the centre's tech-x at 8:00
    moved = moved_to_the_centre("o-told").model_copy(update={"technician_id": "tech-x"})
    await harness.emit(moved, local(MONDAY, 8))

    [after] = await harness.tasks("o-told")
    assert (after["technician_id"], after["network_id"]) == (told.technician_id, "centre")
    assert await harness.staged("FollowUpCompleted") == [told]  # nothing republished
    assert await harness.staged("FollowUpRecredited") == []  # nor re-credited: same technician


# -- a result re-credited to another technician (FBK-3, FBK-5, FBK-11) ---------------------------


async def test_fbk_5_fbk_11_a_result_published_then_re_credited_stages_follow_up_recredited(
    harness: Harness,
) -> None:
    """Fieldwork's own word names another technician for the visit after its call-back reached
    the customer: the result already published under tech-n1 is re-credited to tech-n2."""
    await harness.emit(created("o-recredit"), local(MONDAY, 7))
    await harness.emit(
        assigned("o-recredit", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 7)
    )
    await visit_done(harness, "o-recredit", "tech-n1")
    [task] = await harness.tasks("o-recredit")
    harness.clock.set(local(MONDAY, 11))
    await harness.answer(task["task_id"], reached=False)  # rates nobody: never re-credited
    harness.clock.set(local(MONDAY, 12))  # the retry is due an hour later
    await harness.answer(
        task["task_id"], reached=True, satisfied=True, problem_solved=True, scores=scores(9, 8)
    )
    [unreached, told] = await harness.staged("FollowUpCompleted")
    assert (told.reached, told.technician_id) == (True, "tech-n1")

    # the sheet comes back late, signed off by the network's tech-n2, who did the visit
    envelope = await harness.emit(signed("o-recredit", "v-1", "tech-n2"), local(MONDAY, 12))
    await harness.runtime.handle_event(envelope)  # heard twice

    [after] = await harness.tasks("o-recredit")
    assert after["technician_id"] == "tech-n2"
    [recredited] = await harness.staged("FollowUpRecredited")
    assert (
        recredited.order_id,
        recredited.task_id,
        recredited.technician_id,
        recredited.previous_technician_id,
    ) == ("o-recredit", task["task_id"], "tech-n2", "tech-n1")
    assert (recredited.reached, recredited.problem_solved, recredited.satisfied) == (
        True,
        True,
        True,
    )
    assert recredited.scores == told.scores
    assert await harness.staged("FollowUpCompleted") == [unreached, told]  # nothing republished
    by_technician = await figures(harness, "technician")
    assert "tech-n1" not in by_technician
    assert by_technician["tech-n2"]["satisfaction"]["surveys"] == 1


async def _complain(harness: Harness, order_id: str, key: str, **named: str) -> dict[str, Any]:
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "order_id": order_id,
            "channel": "hotline",
            "description": "师傅态度不好",
            "confirmed_by_customer": True,
            "level": 1,
            "staff_fault_class": "C",
            **named,
        },
        headers={"Idempotency-Key": key},
    )
    assert filed.status_code == 201, filed.text
    return dict(filed.json())


async def test_fbk_11_a_complaint_naming_nobody_follows_its_visit_when_the_visit_is_re_credited(
    harness: Harness,
) -> None:
    await harness.emit(created("o-cpl"), local(MONDAY, 7))
    await harness.emit(assigned("o-cpl", "v-1", "tech-n1", network_id=NETWORK), local(MONDAY, 7))
    # fieldwork's topic is read ahead of scheduling's: the reassignment of 8:00 comes last
    await visit_done(harness, "o-cpl", "tech-c")
    harness.clock.set(local(MONDAY, 11))
    by_default = await _complain(harness, "o-cpl", "cpl-default")
    named = await _complain(harness, "o-cpl", "cpl-named", technician_id="tech-n1")
    assert (by_default["technician_id"], by_default["network_id"]) == ("tech-n1", NETWORK)

    await harness.emit(moved_to_the_centre("o-cpl"), local(MONDAY, 8))

    complaints = {
        c["complaint_id"]: (c["technician_id"], c["network_id"])
        for c in (await harness.client.get("/v1/complaints", params={"order_id": "o-cpl"})).json()[
            "items"
        ]
    }
    # rule FBK-11: charged by default, it moves with the visit it was about...
    assert complaints[by_default["complaint_id"]] == ("tech-c", "centre")
    # ...while the technician the customer named stays charged
    assert complaints[named["complaint_id"]] == ("tech-n1", NETWORK)
    rows = await figures(harness, "technician")
    assert sum(rows["tech-c"]["complaints_by_class"].values()) == 1
