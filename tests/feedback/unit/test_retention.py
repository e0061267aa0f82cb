"""Erasing an order's personal data once its retention is over (BIL-11), on the pure domain: the
case, its file's summaries, call-backs, complaints, findings and issues. The calendar is a fake
of the port: every hour is working time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feedback_support import CALENDAR, apply, created, resolved_remotely

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import Channel
from contracts.feedback import FollowUpScores
from contracts.intake import DuplicateLinked
from contracts.privacy import ERASED
from feedback.domain.callbacks import CallBackTask, Survey, TaskStatus
from feedback.domain.case import Case, EraseOrder, ScheduleCallBack
from feedback.domain.complaints import RETENTION_ENDED, Complaint
from feedback.domain.exceptions import IllegalTransition
from feedback.domain.findings import OpenIssueRecord
from feedback.domain.policy import BusinessType, ComplaintStage, FeedbackPolicy
from feedback.domain.privacy import erase_summary

POLICY = FeedbackPolicy()
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LATER = START + timedelta(days=400)


def expired(order_id: str = "o-1") -> OrderRetentionExpired:
    return OrderRetentionExpired(
        order_id=order_id,
        retention_class=RetentionClass.FREE,
        ended_at=START,
        expired_at=LATER,
    )


def report(words: str) -> DuplicateLinked:
    return DuplicateLinked(
        order_id="o-1",
        reported_at=START,
        channel=Channel.HOTLINE,
        caller_phone="+8613800138000",
        fault_description=words,
        escalated_to_emergency=True,
    )


def test_bil_11_the_case_erases_what_the_customer_said_and_keeps_the_sampling_class() -> None:
    case = Case(order_id="o-1")
    apply(case, created("o-1", line="water_heater", fault="王芳说打不着火"), START)
    apply(case, report("王芳家燃气泄漏"), START)
    visit = case.visit("v-1")
    assert case.business_type(visit, POLICY) is BusinessType.GAS_LEAK_REPAIR

    reactions = apply(case, expired(), LATER)

    assert reactions == [EraseOrder()]
    assert case.anonymised_at == LATER
    assert (case.fault_description, case.further_reports) == (ERASED, [ERASED])
    assert case.business_type(visit, POLICY) is BusinessType.GAS_LEAK_REPAIR


def test_bil_11_an_event_after_erasure_brings_no_text_back_and_starts_no_call_back() -> None:
    case = Case(order_id="o-1")
    apply(case, created("o-1", fault="王芳说打不着火"), START)
    apply(case, expired(), LATER)

    apply(case, created("o-1", fault="王芳说打不着火"), LATER + timedelta(days=1))
    apply(case, report("王芳又打电话"), LATER + timedelta(days=1))
    reactions = apply(case, resolved_remotely("o-1"), LATER + timedelta(days=2))

    assert (case.fault_description, case.further_reports) == (ERASED, [ERASED])
    assert not [r for r in reactions if isinstance(r, ScheduleCallBack)]
    assert case.anonymised_at == LATER  # heard again, it keeps the first time


def test_bil_11_file_summaries_lose_the_customers_values_and_keep_the_rest() -> None:
    created_summary = {
        "customer.name": "王芳",
        "customer.organisation": "王家",
        "fault.description": "王芳说打不着火",
        "fault.code": "E1",
        "channel": "hotline",
    }
    assert erase_summary("OrderCreated", created_summary) == {
        "customer.name": ERASED,
        "customer.organisation": None,
        "fault.description": ERASED,
        "fault.code": "E1",
        "channel": "hotline",
    }
    assert erase_summary("OrderCancelled", {"reason": "王芳不修了"}) == {"reason": ERASED}
    assert erase_summary("RevisitBooked", {"reason": "missing_part"}) == {"reason": "missing_part"}
    signed = {"signature_ref": "sig.png", "comments": "好", "sign_off": "signed"}
    erased = erase_summary("CustomerSignedOff", signed)
    assert erased == {"signature_ref": None, "comments": ERASED, "sign_off": "signed"}
    assert erase_summary("CustomerSignedOff", erased) == erased


def test_bil_11_an_open_call_back_is_cancelled_and_a_surveys_comments_erased() -> None:
    open_task = CallBackTask.schedule(
        order_id="o-1", rule="FBK-3", now=START, not_before=START, due_at=START, dedupe_key="k-1"
    )
    done = CallBackTask.schedule(
        order_id="o-1", rule="FBK-3", now=START, not_before=START, due_at=START, dedupe_key="k-2"
    )
    done.status = TaskStatus.DONE
    done.survey = Survey(
        problem_solved=True,
        satisfied=True,
        scores=FollowUpScores(service_attitude=9, professional_ability=8, comments="王芳很满意"),
    )

    assert open_task.erase_personal_data(reason="retention over", now=LATER)
    assert done.erase_personal_data(reason="retention over", now=LATER)

    assert (open_task.status, open_task.cancel_reason) == (TaskStatus.CANCELLED, "retention over")
    assert done.status is TaskStatus.DONE
    assert done.survey.scores.comments == ERASED
    assert done.survey.scores.service_attitude == 9
    assert not done.erase_personal_data(reason="retention over", now=LATER)


def test_bil_11_a_complaint_keeps_its_classes_and_stages_and_loses_its_texts() -> None:
    complaint = Complaint.file(
        order_id="o-1",
        channel=Channel.HOTLINE,
        description="王芳投诉 13800138000",
        level=1,
        staff_fault_class="C",
        taken_by="agent-1",
        confirmed_by_customer=True,
        now=START,
        technician_id="tech-1",
        network_id="net-1",
        policy=POLICY,
        calendar=CALENDAR,
    )
    complaint.advance(
        ComplaintStage.DISPATCHED,
        owner="lead-1",
        now=START,
        note="王芳已联系",
        policy=POLICY,
        calendar=CALENDAR,
    )

    assert complaint.erase_personal_data(LATER)

    assert complaint.description == ERASED
    assert [s.note for s in complaint.stages] == [None, ERASED]
    assert (complaint.stage, complaint.staff_fault_class, complaint.technician_id) == (
        ComplaintStage.DISPATCHED,
        "C",
        "tech-1",
    )
    assert complaint.anonymised_at == LATER
    assert not complaint.erase_personal_data(LATER + timedelta(days=1))
    assert complaint.anonymised_at == LATER


def test_bil_11_an_open_complaint_is_closed_as_retention_ended_with_no_fault_finding() -> None:
    complaint = Complaint.file(
        order_id="o-1",
        channel=Channel.HOTLINE,
        description="王芳投诉",
        level=1,
        staff_fault_class="C",
        taken_by="agent-1",
        confirmed_by_customer=True,
        now=START,
        technician_id="tech-1",
        network_id="net-1",
        policy=POLICY,
        calendar=CALENDAR,
    )
    complaint.advance(
        ComplaintStage.DISPATCHED,
        owner="lead-1",
        now=START,
        note=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    complaint.events.clear()

    assert complaint.end_at_retention(LATER)

    assert (complaint.stage, complaint.closed_without_finding) == (
        ComplaintStage.CLOSED,
        RETENTION_ENDED,
    )
    assert (complaint.current.owner, complaint.current.entered_at) == ("feedback", LATER)
    assert complaint.stages[-2].left_at == LATER
    assert complaint.overdue_check_at is None
    # no finding was made: no closure, no ComplaintClosed, not cleared, still counted as class C
    assert (complaint.closure, complaint.events, complaint.cleared) == (None, [], False)
    assert (complaint.staff_fault_class, complaint.technician_id, complaint.network) == (
        "C",
        "tech-1",
        "net-1",
    )
    with pytest.raises(IllegalTransition):
        complaint.reopen(
            reason="还是漏水", by="agent-1", now=LATER, policy=POLICY, calendar=CALENDAR
        )
    with pytest.raises(IllegalTransition):
        complaint.escalate(now=LATER, policy=POLICY, calendar=CALENDAR)
    assert not complaint.end_at_retention(LATER + timedelta(days=1))
    assert len(complaint.stages) == 3


def test_bil_11_a_closed_complaint_keeps_its_closure_at_retention_end() -> None:
    complaint = Complaint.file(
        order_id="o-1",
        channel=Channel.HOTLINE,
        description="王芳投诉",
        level=1,
        staff_fault_class=None,
        taken_by="agent-1",
        confirmed_by_customer=True,
        now=START,
        technician_id=None,
        network_id=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    for stage in list(ComplaintStage)[1:-1]:
        complaint.advance(
            stage, owner="lead-1", now=START, note=None, policy=POLICY, calendar=CALENDAR
        )
    complaint.close(
        cause="路堵",
        owner="lead-1",
        preventive_action="plan routes",
        at_fault=False,
        staff_fault_class=None,
        summary=None,
        compensation=None,
        now=START,
    )

    assert not complaint.end_at_retention(LATER)

    assert complaint.closed_without_finding is None
    assert complaint.closure is not None and complaint.cleared


def test_bil_11_an_open_issue_is_resolved_and_a_resolution_erased() -> None:
    issue = OpenIssueRecord.open(
        order_id="o-1",
        reason="customer dissatisfied at sign-off",
        now=START,
        dedupe_key="o-1:v-1",
        visit_id="v-1",
        technician_id="tech-1",
        network_id="net-1",
        policy=POLICY,
        calendar=CALENDAR,
    )
    solved = OpenIssueRecord.open(
        order_id="o-1",
        reason="visit ended unfinished",
        now=START,
        dedupe_key="o-1:v-2",
        visit_id="v-2",
        technician_id="tech-1",
        network_id="net-1",
        policy=POLICY,
        calendar=CALENDAR,
    )
    solved.resolve("called 王芳 back", START)

    assert issue.erase_personal_data(reason="retention over", now=LATER)
    assert solved.erase_personal_data(reason="retention over", now=LATER)

    assert (issue.resolved_at, issue.resolution) == (LATER, "retention over")
    assert (solved.resolved_at, solved.resolution) == (START, ERASED)
    assert issue.reason == "customer dissatisfied at sign-off"
    assert not solved.erase_personal_data(reason="retention over", now=LATER)
    assert not issue.erase_personal_data(reason="retention over", now=LATER)
