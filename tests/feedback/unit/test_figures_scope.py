"""Quality figures scoped to one network, on the pure domain (FBK-11): each network's figures,
its own row or its technicians' rows, count only the work done for it (the visits it held, the
call-backs about them, the complaints and conduct findings naming it), even for an order another
network revisited and a technician who worked for both; the unscoped figures are unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedback_support import CALENDAR, apply

from contracts.base import EventData
from contracts.common import AssigneeKind, Channel
from contracts.feedback import FollowUpScores, Grade
from contracts.fieldwork import RepairCompleted, TechnicianArrived, VisitClosed, VisitOutcome
from contracts.scheduling import OrderAssigned, RevisitBooked, RevisitReason
from feedback.domain.callbacks import CallBackTask, Survey
from feedback.domain.case import Case, ScheduleCallBack
from feedback.domain.complaints import Complaint
from feedback.domain.figures import Figures, GroupBy, compute
from feedback.domain.findings import ConductFinding
from feedback.domain.policy import FeedbackPolicy

POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MOVER = "t-move"


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


def to_network(visit_id: str, network_id: str, technician_id: str = MOVER) -> OrderAssigned:
    return OrderAssigned(
        order_id="o-1",
        visit_id=visit_id,
        assignee_kind=AssigneeKind.NETWORK,
        network_id=network_id,
        technician_id=technician_id,
        assigned_by="auto",
    )


def visit(visit_id: str, *, at: float, outcome: VisitOutcome) -> list[EventData]:
    """Arrived an hour before ``at`` and left at ``at``, repaired when completed."""
    events: list[EventData] = [
        TechnicianArrived(
            order_id="o-1", visit_id=visit_id, technician_id=MOVER, arrived_at=hours(at - 1)
        )
    ]
    if outcome is VisitOutcome.COMPLETED:
        events.append(
            RepairCompleted(
                order_id="o-1",
                visit_id=visit_id,
                technician_id=MOVER,
                tested=True,
                sure_fixed=True,
                on_site_minutes=40,
            )
        )
    events.append(
        VisitClosed(
            order_id="o-1",
            visit_id=visit_id,
            technician_id=MOVER,
            outcome=outcome,
            closed_at=hours(at),
        )
    )
    return events


def revisited_by_another_network() -> tuple[Case, CallBackTask]:
    """net-1's t-move leaves v-1 unfinished; the revisit v-2 goes to net-2, which t-move has
    joined meanwhile, and is completed; its call-back is answered, satisfied."""
    case = Case(order_id="o-1")
    events: list[EventData] = [
        to_network("v-1", "net-1"),
        *visit("v-1", at=2, outcome=VisitOutcome.UNFINISHED),
        RevisitBooked(
            order_id="o-1",
            visit_id="v-2",
            previous_visit_id="v-1",
            reason=RevisitReason.WORK_UNFINISHED,
        ),
        to_network("v-2", "net-2"),
        *visit("v-2", at=6, outcome=VisitOutcome.COMPLETED),
    ]
    reactions = [r for i, e in enumerate(events) for r in apply(case, e, hours(i * 0.1))]
    [after_v2] = [r for r in reactions if isinstance(r, ScheduleCallBack) and r.visit_id == "v-2"]
    task = CallBackTask.schedule(
        order_id="o-1",
        rule=after_v2.rule,
        now=after_v2.not_before,
        not_before=after_v2.not_before,
        due_at=after_v2.due_at,
        dedupe_key=after_v2.dedupe_key,
        visit_id="v-2",
        technician_id=MOVER,
        network_id="net-2",
    )
    task.record(
        by="ann",
        now=task.not_before,
        reached=True,
        survey=Survey(
            problem_solved=True,
            satisfied=True,
            scores=FollowUpScores(service_attitude=9, professional_ability=8),
        ),
        policy=POLICY,
        calendar=CALENDAR,
    )
    return case, task


def complaint_against(network_id: str) -> Complaint:
    return Complaint.file(
        order_id="o-1",
        channel=Channel.HOTLINE,
        description="没修好",
        level=1,
        staff_fault_class="B",
        taken_by="agent-1",
        confirmed_by_customer=True,
        now=hours(3),
        technician_id=MOVER,
        network_id=network_id,
        policy=POLICY,
        calendar=CALENDAR,
    )


def confirmed_finding(network_id: str) -> ConductFinding:
    finding = ConductFinding.raise_(
        order_id="o-1",
        task_id="t-1",
        aspect="dress",
        grade=Grade.POOR,
        now=hours(8),
        technician_id=MOVER,
        network_id=network_id,
    )
    finding.decide(confirmed=True, by="lead", note=None, now=hours(9))
    return finding


def figures(group_by: GroupBy, network_id: str | None = None) -> dict[str, Figures]:
    case, task = revisited_by_another_network()
    rows = compute(
        cases=[case],
        tasks=[task],
        complaints=[complaint_against("net-1")],
        findings=[confirmed_finding("net-2")],
        start=START - timedelta(days=1),
        end=START + timedelta(days=2),
        group_by=group_by,
        policy=POLICY,
        network_id=network_id,
    )
    return {f.key: f for f in rows}


def counted(f: Figures) -> tuple[object, ...]:
    return (
        f.arrivals,
        f.first_visits,
        f.fixed_first_time,
        f.visits,
        f.repeat_visits,
        f.repairs,
        f.repairs_passed,
        f.repairs_surveyed,
        f.attitude_scores,
        f.confirmed_conduct,
        f.complaints_by_class,
    )


def test_fbk_11_each_network_counts_only_its_own_work_of_a_technician_who_worked_for_both() -> None:
    net_1 = figures(GroupBy.TECHNICIAN, "net-1")
    net_2 = figures(GroupBy.TECHNICIAN, "net-2")

    assert list(net_1) == list(net_2) == [MOVER]  # no `all` in a network's figures
    first, revisit = net_1[MOVER], net_2[MOVER]
    # net-1: the unfinished first visit and the complaint naming net-1, nothing of net-2's revisit
    assert (first.arrivals, first.visits, first.repeat_visits) == (1, 1, 0)
    assert (first.first_visits, first.fixed_first_time) == (1, 0)
    assert (first.repairs, first.surveys, first.confirmed_conduct) == (0, 0, 0)
    assert first.complaints_by_class["B"] == 1
    # net-2: the completed revisit, its call-back and the finding naming net-2; not the first visit
    assert (revisit.arrivals, revisit.visits, revisit.repeat_visits) == (1, 1, 1)
    assert revisit.first_visits == 0
    assert (revisit.repairs, revisit.repairs_surveyed, revisit.attitude_scores) == (1, 1, [9])
    assert revisit.confirmed_conduct == 1
    assert sum(revisit.complaints_by_class.values()) == 0


def test_fbk_11_a_networks_scoped_figures_are_its_row_of_the_by_network_figures() -> None:
    by_network = figures(GroupBy.NETWORK)

    for network in ("net-1", "net-2"):
        [own] = figures(GroupBy.NETWORK, network).values()
        [technician] = figures(GroupBy.TECHNICIAN, network).values()
        assert own.key == network
        assert counted(own) == counted(by_network[network]) == counted(technician)
    [nothing] = figures(GroupBy.NETWORK, "net-9").values()
    assert nothing.key == "net-9" and counted(nothing) == counted(Figures(key="net-9"))


def test_fbk_11_unscoped_the_technician_counts_all_their_work_and_the_total_follows() -> None:
    everyone = figures(GroupBy.TECHNICIAN)

    assert list(everyone) == [MOVER, "all"]
    mover = everyone[MOVER]
    assert (mover.visits, mover.first_visits, mover.repeat_visits, mover.repairs) == (2, 1, 1, 1)
    assert (mover.surveys, mover.confirmed_conduct) == (1, 1)
    assert sum(mover.complaints_by_class.values()) == 1
    assert counted(everyone["all"]) == counted(mover)
