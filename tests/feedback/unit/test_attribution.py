"""Who work on an order counts against, on the pure domain (FBK-1, FBK-3, FBK-4, FBK-8, FBK-11):
each visit is its holder's as scheduling said, in order, whatever fieldwork said meanwhile; it is
the holder's who had it when it was carried out, whichever topic is read first, and its call-backs
follow; a network that handed the order back holds nothing more; the call-back after phone
guidance is the centre's, not a technician's. The calendar is a fake of the port: every hour is
working time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeVar

import pytest
from feedback_support import CALENDAR, apply

from contracts.base import EventData
from contracts.common import AssigneeKind, TimeWindow
from contracts.feedback import FollowUpScores
from contracts.fieldwork import RepairCompleted, TechnicianArrived, VisitClosed, VisitOutcome
from contracts.intake import OrderResolvedRemotely
from contracts.scheduling import (
    AppointmentConfirmed,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    ReturnReason,
    RevisitBooked,
    RevisitReason,
)
from feedback.domain.callbacks import CallBackTask, Survey
from feedback.domain.case import CENTRE, Case, Reaction, ReattributeVisit, ScheduleCallBack
from feedback.domain.figures import UNASSIGNED, Figures, GroupBy, compute
from feedback.domain.policy import FeedbackPolicy

T = TypeVar("T")
POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
NETWORK = "net-7"
IN_HOUSE = "tech-c"


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


# -- scheduling's events -------------------------------------------------------------------------


def to_network(visit_id: str = "v-1", technician_id: str | None = None) -> OrderAssigned:
    """The visit auto-assigned to the partner network (its own technician, when named)."""
    return OrderAssigned(
        order_id="o-1",
        visit_id=visit_id,
        assignee_kind=AssigneeKind.NETWORK,
        network_id=NETWORK,
        technician_id=technician_id,
        assigned_by="auto",
    )


def handed_back(
    reason: ReturnReason = ReturnReason.CANNOT_STAFF, visit_id: str = "v-1"
) -> OrderReturnedToCentre:
    """The network hands the order back to the centre (SCH-1)."""
    return OrderReturnedToCentre(
        order_id="o-1", visit_id=visit_id, reason=reason, returned_by=NETWORK, network_id=NETWORK
    )


def to_in_house(
    visit_id: str = "v-1",
    technician_id: str = IN_HOUSE,
    *,
    reassigned: bool = False,
) -> OrderAssigned | OrderReassigned:
    """A dispatcher places the visit with one of the centre's own technicians (no network)."""
    if reassigned:
        return OrderReassigned(
            order_id="o-1",
            visit_id=visit_id,
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id=technician_id,
            previous_assignee_kind=AssigneeKind.NETWORK,
            previous_network_id=NETWORK,
            reassigned_by="dispatcher-1",
        )
    return OrderAssigned(
        order_id="o-1",
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician_id,
        assigned_by="dispatcher-1",
    )


# -- fieldwork's events (they name the technician, never the network) ----------------------------


def repair_visit(
    visit_id: str = "v-1", technician_id: str = IN_HOUSE, outcome: VisitOutcome | None = None
) -> list[EventData]:
    """Arrived, repaired (tested, sure) and left: a completed repair, unless ``outcome``."""
    done = outcome or VisitOutcome.COMPLETED
    events: list[EventData] = [
        TechnicianArrived(
            order_id="o-1", visit_id=visit_id, technician_id=technician_id, arrived_at=hours(2)
        )
    ]
    if done is VisitOutcome.COMPLETED:
        events.append(
            RepairCompleted(
                order_id="o-1",
                visit_id=visit_id,
                technician_id=technician_id,
                tested=True,
                sure_fixed=True,
                on_site_minutes=40,
            )
        )
    events.append(
        VisitClosed(
            order_id="o-1",
            visit_id=visit_id,
            technician_id=technician_id,
            outcome=done,
            closed_at=hours(3),
        )
    )
    return events


def interleavings(first: Sequence[T], second: Sequence[T]) -> Iterator[list[T]]:
    """Every merge of two topics' events that keeps each topic's own order."""
    if not first or not second:
        yield [*first, *second]
        return
    for rest in interleavings(first[1:], second):
        yield [first[0], *rest]
    for rest in interleavings(first, second[1:]):
        yield [second[0], *rest]


def case_after(events: Sequence[EventData]) -> tuple[Case, list[Reaction]]:
    case = Case(order_id="o-1")
    reactions: list[Reaction] = []
    for i, event in enumerate(events):
        reactions += apply(case, event, hours(i * 0.1))
    return case, reactions


# -- the network that handed the order back (FBK-3, FBK-4, FBK-8, FBK-11) -------------------------


@pytest.mark.parametrize("reassigned", [False, True], ids=["assigned", "reassigned"])
@pytest.mark.parametrize(
    "handed",
    [
        [handed_back(ReturnReason.CANNOT_STAFF)],
        [handed_back(ReturnReason.OTHER)],
        [],
    ],
    ids=["rejected", "accepted_then_returned", "moved_by_the_dispatcher"],
)
def test_fbk_3_a_visit_a_network_gave_back_and_an_in_house_technician_did_is_the_centres(
    handed: list[EventData], reassigned: bool
) -> None:
    case, reactions = case_after(
        [to_network(), *handed, to_in_house(reassigned=reassigned), *repair_visit()]
    )

    [call_back] = [r for r in reactions if isinstance(r, ScheduleCallBack)]
    assert (call_back.rule, call_back.visit_id, call_back.technician_id) == (
        "FBK-3",
        "v-1",
        IN_HOUSE,
    )
    assert case.attribution("v-1") == (IN_HOUSE, CENTRE)
    assert case.visits["v-1"].network_id is None
    assert (case.network, case.technician_id) == (CENTRE, IN_HOUSE)


@pytest.mark.parametrize(
    "events",
    list(interleavings([to_network(), handed_back(), to_in_house()], repair_visit())),
)
def test_fbk_3_the_centres_visit_stays_the_centres_however_fieldwork_interleaves_with_scheduling(
    events: list[EventData],
) -> None:
    case, _ = case_after(events)

    assert case.attribution("v-1") == (IN_HOUSE, CENTRE)


@pytest.mark.parametrize(
    "events",
    list(interleavings([to_network(technician_id="t-n")], repair_visit(technician_id="t-n"))),
)
def test_fbk_3_fieldwork_events_which_name_no_network_never_take_the_visit_from_its_network(
    events: list[EventData],
) -> None:
    case, _ = case_after(events)

    assert case.attribution("v-1") == ("t-n", NETWORK)


@pytest.mark.parametrize("return_first", [False, True], ids=["in_order", "return_seen_first"])
def test_fbk_11_a_network_trip_nobody_answered_stays_the_networks_after_the_order_goes_back(
    return_first: bool,
) -> None:
    not_home = repair_visit(technician_id="t-n", outcome=VisitOutcome.CUSTOMER_NOT_HOME)
    returned = handed_back(ReturnReason.CUSTOMER_NOT_HOME)
    trip = [returned, *not_home] if return_first else [*not_home, returned]
    case, _ = case_after(
        [
            to_network(technician_id="t-n"),
            *trip,
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.CUSTOMER_NOT_HOME,
            ),
            to_in_house("v-2"),
            *repair_visit("v-2"),
        ]
    )

    assert case.attribution("v-1") == ("t-n", NETWORK)
    assert case.attribution("v-2") == (IN_HOUSE, CENTRE)


def figures_of(case: Case, tasks: Sequence[CallBackTask], group_by: GroupBy) -> dict[str, Figures]:
    rows = compute(
        cases=[case],
        tasks=tasks,
        complaints=[],
        findings=[],
        start=START - timedelta(days=1),
        end=START + timedelta(days=2),
        group_by=group_by,
        policy=POLICY,
    )
    return {f.key: f for f in rows}


def test_fbk_11_each_visit_counts_for_its_own_network_not_the_orders_latest_holder() -> None:
    case, _ = case_after(
        [
            to_in_house("v-1"),
            *repair_visit("v-1", outcome=VisitOutcome.UNFINISHED),
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.WORK_UNFINISHED,
            ),
            to_network("v-2", technician_id="t-n"),
            *repair_visit("v-2", technician_id="t-n"),
        ]
    )

    rows = figures_of(case, [], GroupBy.NETWORK)

    assert (rows[CENTRE].visits, rows[CENTRE].repairs) == (1, 0)
    assert (rows[NETWORK].visits, rows[NETWORK].repairs) == (1, 1)


# -- the call-back after phone guidance (FBK-1, FBK-6, FBK-11) -----------------------------------


def answered(task: CallBackTask, attitude: int, ability: int, *, solved: bool) -> CallBackTask:
    task.record(
        by="ann",
        now=task.not_before,
        reached=True,
        survey=Survey(
            problem_solved=solved,
            satisfied=solved,
            scores=FollowUpScores(service_attitude=attitude, professional_ability=ability),
        ),
        policy=POLICY,
        calendar=CALENDAR,
    )
    return task


def task_for(
    case: Case, reaction: ScheduleCallBack, *, technician_id: str | None, network_id: str
) -> CallBackTask:
    return CallBackTask.schedule(
        order_id=case.order_id,
        rule=reaction.rule,
        now=reaction.not_before,
        not_before=reaction.not_before,
        due_at=reaction.due_at,
        dedupe_key=reaction.dedupe_key,
        visit_id=reaction.visit_id,
        technician_id=technician_id,
        network_id=network_id,
    )


def resolved_by_phone_after(assignment: EventData) -> tuple[Case, CallBackTask]:
    """Assigned, resolved by phone (INT-4) before anyone went; the FBK-1 call-back is made."""
    case = Case(order_id="o-1")
    apply(case, assignment, hours(0))
    [reaction] = apply(case, OrderResolvedRemotely(order_id="o-1", guidance="g"), hours(0.5))
    assert isinstance(reaction, ScheduleCallBack) and reaction.rule == "FBK-1"
    assert reaction.technician_id is None
    return case, task_for(case, reaction, technician_id=None, network_id=CENTRE)


def repaired_after_the_guidance_failed(case: Case) -> CallBackTask:
    """Revisit v-2 by the same technician, its FBK-3 call-back made."""
    apply(
        case,
        RevisitBooked(
            order_id="o-1",
            visit_id="v-2",
            previous_visit_id="v-1",
            reason=RevisitReason.CUSTOMER_DISSATISFIED,
        ),
        hours(4),
    )
    apply(case, to_in_house("v-2", "tech-p11"), hours(4))
    reactions: list[Reaction] = []
    for event in repair_visit("v-2", "tech-p11"):
        reactions += apply(case, event, hours(5))
    [fbk_3] = [r for r in reactions if isinstance(r, ScheduleCallBack)]
    return task_for(case, fbk_3, technician_id="tech-p11", network_id=CENTRE)


@pytest.mark.parametrize(
    "stored_technician", [None, "tech-p11"], ids=["as_now_stored", "stored_before_the_fix"]
)
def test_fbk_1_the_phone_guidance_survey_never_counts_for_the_technician_first_assigned(
    stored_technician: str | None,
) -> None:
    case, guidance = resolved_by_phone_after(to_in_house("v-1", "tech-p11"))
    guidance.technician_id = stored_technician
    answered(guidance, 8, 6, solved=False)
    visit = answered(repaired_after_the_guidance_failed(case), 9, 9, solved=True)

    rows = figures_of(case, [guidance, visit], GroupBy.TECHNICIAN)

    tech = rows["tech-p11"]
    assert (tech.surveys, tech.attitude, tech.ability) == (1, 9.0, 9.0)
    assert (tech.repairs, tech.repairs_surveyed) == (1, 1)
    # rule FBK-1: the centre's phone guidance shows among the surveys no technician is rated for
    assert (rows[UNASSIGNED].surveys, rows[UNASSIGNED].attitude) == (1, 8.0)
    assert rows["all"].surveys == 2


def test_fbk_1_the_phone_guidance_survey_is_the_centres_not_the_network_first_assigned() -> None:
    case, guidance = resolved_by_phone_after(to_network("v-1", technician_id="t-n"))
    guidance.network_id = NETWORK  # as stored before the fix
    answered(guidance, 8, 6, solved=False)

    rows = figures_of(case, [guidance], GroupBy.NETWORK)

    assert (rows[CENTRE].surveys, rows[CENTRE].ability) == (1, 6.0)
    assert NETWORK not in rows


def test_fbk_11_the_phone_guidance_survey_is_no_survey_of_the_repair_that_followed() -> None:
    case, guidance = resolved_by_phone_after(to_in_house("v-1", "tech-p11"))
    answered(guidance, 8, 6, solved=False)
    repaired_after_the_guidance_failed(case)  # its call-back not made yet

    rows = figures_of(case, [guidance], GroupBy.TECHNICIAN)

    assert (rows["tech-p11"].repairs, rows["tech-p11"].repairs_surveyed) == (1, 0)
    assert rows["tech-p11"].surveys == 0


# -- holders heard out of order with the visit (FBK-3, FBK-4, FBK-8, FBK-11) ---------------------


class Heard(NamedTuple):
    """An event as its topic carries it: its envelope id and time."""

    event_id: str
    event: EventData
    at: datetime


def reassigned_to_in_house(visit_id: str = "v-1") -> OrderReassigned:
    """A dispatcher moves the visit from the network's technician to the centre's own."""
    return OrderReassigned(
        order_id="o-1",
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=IN_HOUSE,
        previous_assignee_kind=AssigneeKind.TECHNICIAN,
        previous_technician_id="t-n",
        previous_network_id=NETWORK,
        reassigned_by="dispatcher-1",
    )


def fieldwork_visit(
    technician_id: str,
    *,
    visit_id: str = "v-1",
    arrived_at: datetime,
    closed_at: datetime,
    outcome: VisitOutcome = VisitOutcome.COMPLETED,
) -> list[Heard]:
    """Fieldwork's topic for one visit: arrived, repaired (when completed) and left."""
    heard = [
        Heard(
            f"arrived-{visit_id}",
            TechnicianArrived(
                order_id="o-1",
                visit_id=visit_id,
                technician_id=technician_id,
                arrived_at=arrived_at,
            ),
            arrived_at,
        )
    ]
    if outcome is VisitOutcome.COMPLETED:
        heard.append(
            Heard(
                f"repaired-{visit_id}",
                RepairCompleted(
                    order_id="o-1",
                    visit_id=visit_id,
                    technician_id=technician_id,
                    tested=True,
                    sure_fixed=True,
                    on_site_minutes=40,
                ),
                closed_at,
            )
        )
    heard.append(
        Heard(
            f"closed-{visit_id}",
            VisitClosed(
                order_id="o-1",
                visit_id=visit_id,
                technician_id=technician_id,
                outcome=outcome,
                closed_at=closed_at,
            ),
            closed_at,
        )
    )
    return heard


class Played(NamedTuple):
    case: Case
    tasks: dict[str, CallBackTask]
    """The call-backs by dedupe key, as the service layer keeps them."""
    reactions: list[Reaction]


def played(heard: Sequence[Heard]) -> Played:
    """Read the events in this order; a call-back is queued under the visit's attribution of the
    moment and moved on every ReattributeVisit, as the service layer does."""
    case = Case(order_id="o-1")
    tasks: dict[str, CallBackTask] = {}
    reactions: list[Reaction] = []
    for event_id, event, at in heard:
        now = case.apply(event, at=at, event_id=event_id, policy=POLICY, calendar=CALENDAR)
        reactions += now
        for reaction in now:
            if isinstance(reaction, ScheduleCallBack) and reaction.dedupe_key not in tasks:
                technician_id, network_id = case.attribution(reaction.visit_id)
                tasks[reaction.dedupe_key] = task_for(
                    case,
                    reaction,
                    technician_id=reaction.technician_id or technician_id,
                    network_id=network_id,
                )
            if isinstance(reaction, ReattributeVisit):
                technician_id, network_id = case.attribution(reaction.visit_id)
                for task in tasks.values():
                    if task.visit_id == reaction.visit_id:
                        task.reattribute(technician_id=technician_id, network_id=network_id)
    return Played(case, tasks, reactions)


def credited(task: CallBackTask) -> tuple[str | None, str | None]:
    return task.technician_id, task.network_id


MOVED_BEFORE_THE_VISIT = [
    Heard("to-network", to_network(technician_id="t-n"), hours(0)),
    Heard("to-in-house", reassigned_to_in_house(), hours(1)),
]
IN_HOUSE_VISIT = fieldwork_visit(IN_HOUSE, arrived_at=hours(2), closed_at=hours(3))


@pytest.mark.parametrize(
    "heard",
    list(interleavings(MOVED_BEFORE_THE_VISIT, IN_HOUSE_VISIT)),
    ids=lambda heard: "-".join(h.event_id for h in heard),
)
def test_fbk_3_the_call_back_is_the_holders_who_had_the_visit_whichever_topic_is_read_first(
    heard: list[Heard],
) -> None:
    case, tasks, _ = played(heard)

    [task] = tasks.values()
    assert (task.reason_rule, task.visit_id) == ("FBK-3", "v-1")
    assert credited(task) == (IN_HOUSE, CENTRE)
    assert case.attribution("v-1") == (IN_HOUSE, CENTRE)


def test_fbk_3_a_reassignment_heard_after_the_visit_closed_moves_its_call_back() -> None:
    fieldwork_first = [MOVED_BEFORE_THE_VISIT[0], *IN_HOUSE_VISIT]
    [queued] = played(fieldwork_first).tasks.values()
    assert credited(queued) == (IN_HOUSE, NETWORK)  # all the visit's own events can say

    case, tasks, reactions = played([*fieldwork_first, MOVED_BEFORE_THE_VISIT[1]])

    assert reactions[-1] == ReattributeVisit(visit_id="v-1")
    [task] = tasks.values()
    assert credited(task) == (IN_HOUSE, CENTRE)
    assert case.attribution("v-1") == (IN_HOUSE, CENTRE)


def test_fbk_3_a_hand_back_heard_after_the_visit_takes_it_from_the_network() -> None:
    # the network could not staff the order (SCH-1); the centre's technician went
    scheduling = [
        Heard("to-network", to_network(), hours(0)),
        Heard("handed-back", handed_back(ReturnReason.CANNOT_STAFF), hours(0.5)),
    ]

    case, tasks, _ = played([*IN_HOUSE_VISIT, *scheduling])

    [task] = tasks.values()
    assert credited(task) == (IN_HOUSE, CENTRE)
    assert case.attribution("v-1") == (IN_HOUSE, CENTRE)


NETWORK_VISIT = fieldwork_visit("t-n", arrived_at=hours(2), closed_at=hours(3))


@pytest.mark.parametrize(
    "heard",
    list(
        interleavings(
            [
                Heard("to-network", to_network(technician_id="t-n"), hours(0)),
                Heard("to-in-house", reassigned_to_in_house(), hours(4)),
            ],
            NETWORK_VISIT,
        )
    ),
    ids=lambda heard: "-".join(h.event_id for h in heard),
)
def test_fbk_3_a_reassignment_after_the_visit_closed_leaves_the_visit_and_its_call_back(
    heard: list[Heard],
) -> None:
    case, tasks, _ = played(heard)

    [task] = tasks.values()
    assert credited(task) == ("t-n", NETWORK)
    assert case.attribution("v-1") == ("t-n", NETWORK)
    # the order itself is the centre's now: its next visit will be
    assert (case.technician_id, case.network) == (IN_HOUSE, CENTRE)


def test_fbk_3_a_reassignment_after_the_visit_closed_calls_for_no_move_when_heard_late() -> None:
    case, _, _ = played(
        [Heard("to-network", to_network(technician_id="t-n"), hours(0)), *NETWORK_VISIT]
    )

    late = case.apply(
        reassigned_to_in_house(), at=hours(4), event_id="later", policy=POLICY, calendar=CALENDAR
    )

    assert late == []
    assert case.attribution("v-1") == ("t-n", NETWORK)


@pytest.mark.parametrize(
    "heard",
    list(
        interleavings(
            [
                Heard("to-network", to_network(technician_id="t-n"), hours(0)),
                Heard(
                    "confirmed",
                    AppointmentConfirmed(
                        order_id="o-1",
                        visit_id="v-1",
                        technician_id="t-n",
                        window=TimeWindow(start=hours(2), end=hours(3)),
                    ),
                    hours(0.5),
                ),
                # the network's dispatcher gives the visit to another of its technicians
                Heard(
                    "within-network",
                    OrderReassigned(
                        order_id="o-1",
                        visit_id="v-1",
                        assignee_kind=AssigneeKind.TECHNICIAN,
                        technician_id="t-n2",
                        network_id=NETWORK,
                        previous_assignee_kind=AssigneeKind.TECHNICIAN,
                        previous_technician_id="t-n",
                        previous_network_id=NETWORK,
                        reassigned_by=f"{NETWORK}-dispatcher",
                    ),
                    hours(1),
                ),
            ],
            fieldwork_visit("t-n2", arrived_at=hours(2), closed_at=hours(3)),
        )
    ),
    ids=lambda heard: "-".join(h.event_id for h in heard),
)
def test_fbk_3_the_technician_fieldwork_saw_there_is_credited_whichever_topic_is_read_first(
    heard: list[Heard],
) -> None:
    case, tasks, _ = played(heard)

    [task] = tasks.values()
    assert credited(task) == ("t-n2", NETWORK)
    assert case.attribution("v-1") == ("t-n2", NETWORK)


@pytest.mark.parametrize("again", MOVED_BEFORE_THE_VISIT, ids=lambda h: h.event_id)
def test_fbk_3_a_holder_heard_twice_changes_nothing(again: Heard) -> None:
    case, _, _ = played([MOVED_BEFORE_THE_VISIT[0], *IN_HOUSE_VISIT, MOVED_BEFORE_THE_VISIT[1]])

    reactions = case.apply(
        again.event, at=again.at, event_id=again.event_id, policy=POLICY, calendar=CALENDAR
    )

    assert reactions == []
    assert case.attribution("v-1") == (IN_HOUSE, CENTRE)
    assert (case.technician_id, case.network) == (IN_HOUSE, CENTRE)


@pytest.mark.parametrize(
    "heard",
    list(
        interleavings(
            [
                Heard("to-network", to_network(technician_id="t-n"), hours(0)),
                # after the unfinished first visit, the order moves to the centre's technician,
                # who keeps it for the revisit (SCH-10)
                Heard("to-in-house", reassigned_to_in_house(), hours(3.5)),
                Heard(
                    "revisit",
                    RevisitBooked(
                        order_id="o-1",
                        visit_id="v-2",
                        previous_visit_id="v-1",
                        reason=RevisitReason.WORK_UNFINISHED,
                        technician_id=IN_HOUSE,
                    ),
                    hours(4),
                ),
            ],
            [
                *fieldwork_visit(
                    "t-n", arrived_at=hours(2), closed_at=hours(3), outcome=VisitOutcome.UNFINISHED
                ),
                *fieldwork_visit(IN_HOUSE, visit_id="v-2", arrived_at=hours(5), closed_at=hours(6)),
            ],
        )
    ),
    ids=lambda heard: "-".join(h.event_id for h in heard),
)
def test_fbk_11_each_visit_is_its_holders_at_the_time_whichever_topic_is_read_first(
    heard: list[Heard],
) -> None:
    case, tasks, _ = played(heard)

    assert case.attribution("v-1") == ("t-n", NETWORK)
    assert case.attribution("v-2") == (IN_HOUSE, CENTRE)
    assert {t.visit_id: credited(t) for t in tasks.values()} == {
        "v-1": ("t-n", NETWORK),
        "v-2": (IN_HOUSE, CENTRE),
    }
    rows = figures_of(case, [], GroupBy.NETWORK)
    assert (rows[NETWORK].visits, rows[NETWORK].repairs) == (1, 0)
    assert (rows[CENTRE].visits, rows[CENTRE].repairs) == (1, 1)


@pytest.mark.parametrize("status", ["open", "answered"])
def test_fbk_11_a_call_back_follows_the_visits_holder_and_its_answers_stay(status: str) -> None:
    case, tasks, _ = played([MOVED_BEFORE_THE_VISIT[0], *IN_HOUSE_VISIT])
    [task] = tasks.values()
    if status == "answered":
        answered(task, 9, 7, solved=True)
    survey, completed_at = task.survey, task.completed_at

    [move] = case.apply(
        MOVED_BEFORE_THE_VISIT[1].event,
        at=MOVED_BEFORE_THE_VISIT[1].at,
        event_id=MOVED_BEFORE_THE_VISIT[1].event_id,
        policy=POLICY,
        calendar=CALENDAR,
    )
    assert isinstance(move, ReattributeVisit)
    assert task.reattribute(technician_id=IN_HOUSE, network_id=CENTRE)

    assert credited(task) == (IN_HOUSE, CENTRE)
    assert (task.survey, task.completed_at) == (survey, completed_at)
    rows = figures_of(case, [task], GroupBy.NETWORK)
    assert NETWORK not in rows
    assert rows[CENTRE].visits == 1
    assert rows[CENTRE].surveys == (1 if status == "answered" else 0)


def test_fbk_1_the_call_back_after_phone_guidance_never_follows_a_visits_holder() -> None:
    _, guidance = resolved_by_phone_after(to_network("v-1", technician_id="t-n"))

    assert not guidance.reattribute(technician_id="t-n", network_id=NETWORK)
    assert credited(guidance) == (None, CENTRE)
