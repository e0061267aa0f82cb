"""Concurrent changes on PostgreSQL (READ COMMITTED): each test holds one transaction open at its
commit, with whatever locks it took, while a second one (another replica's sweep, a REST command,
the consumer) runs against the same rows (see ``support.races``); then it checks that neither
change was lost and that nothing was drawn, flagged or published twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from feedback_support import (
    MONDAY,
    Harness,
    assigned,
    closed,
    created,
    local,
    receipt,
    scores,
)
from support import races

from contracts.base import EventData
from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.envelope import EventEnvelope
from contracts.feedback import FollowUpScores
from contracts.fieldwork import VisitOutcome
from contracts.intake import OrderCancelled
from feedback.domain import commands
from feedback.domain.exceptions import IllegalTransition, SamplingAlreadyRun
from feedback.service_layer import handlers
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork

T = TypeVar("T")

THURSDAY = MONDAY + timedelta(days=3)

pytestmark = races.postgres_only


async def race(
    harness: Harness,
    first: Callable[[FeedbackUnitOfWork], Coroutine[Any, Any, Any]],
    second: Callable[[], Coroutine[Any, Any, T]],
) -> tuple[T, bool]:
    """Run ``first`` on a unit of work held at its commit, start ``second`` meanwhile, let
    ``first`` commit once ``second`` waits on a lock or is done (see ``support.races``);
    ``second``'s result and whether it had to wait."""
    engine = harness.runtime.engine
    _, result, waited = await races.race_held_at_commit(engine, _uow(harness), first, second)
    return result, waited


async def refused(call: Awaitable[Any], error: type[Exception]) -> Exception:
    """The error ``call`` fails with, which must be an ``error``."""
    with pytest.raises(error) as caught:
        await call
    return caught.value


def _uow(harness: Harness) -> FeedbackUnitOfWork:
    return FeedbackUnitOfWork(harness.runtime.session_factory)


def _deps(harness: Harness) -> dict[str, Any]:
    state = harness.runtime.app.state
    return {"clock": harness.clock, "policy": state.policy, "calendar": state.calendar}


def _consume(
    harness: Harness, payload: EventData, at: datetime | None = None
) -> Callable[[FeedbackUnitOfWork], Coroutine[Any, Any, None]]:
    """The consumer applying ``payload``, which happened ``at`` (default: now), as
    ``record_event`` does, on the unit of work given."""
    envelope = EventEnvelope.wrap(payload, time=at or harness.clock())

    async def consume(uow: FeedbackUnitOfWork) -> None:
        await handlers.record_event(envelope, uow=uow, **_deps(harness))

    return consume


def _cancelled(order_id: str) -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason="moved away", cancelled_by="agent-1")


async def _fbk_4_tasks(harness: Harness, order_id: str) -> list[dict[str, Any]]:
    return [t for t in await harness.tasks(order_id) if t["reason_rule"] == "FBK-4"]


# -- the consumer -------------------------------------------------------------------------------


async def test_the_first_two_events_of_an_order_applied_at_once_both_reach_its_case(
    harness: Harness,
) -> None:
    # Two topics' partitions of one order may be consumed by two replicas at once.
    _, waited = await race(
        harness,
        _consume(harness, created("o-new")),
        lambda: _consume(harness, assigned("o-new", "v-1", "tech-3"))(_uow(harness)),
    )

    async with _uow(harness) as uow:
        case = await uow.cases.get("o-new")
    assert case is not None
    assert case.product_line is not None  # from OrderCreated
    assert case.technician_id == "tech-3"  # from OrderAssigned
    assert waited  # for the first one's new case


# -- the sweep: sampling draw (FBK-4) ------------------------------------------------------------


async def test_fbk_4_two_replicas_drawing_the_days_sample_at_once_draw_it_once(
    harness: Harness,
) -> None:
    await harness.emit(created("o-own"))  # own brand: sampled at 100 %
    await harness.completed_visit("o-own", "v-own", "tech-0", at=local(MONDAY, 10))
    harness.clock.set(local(THURSDAY, 8, 30))

    async def draw(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.run_sampling(commands.RunSampling(), uow=uow, **_deps(harness))

    error, waited = await race(
        harness, draw, lambda: refused(draw(_uow(harness)), SamplingAlreadyRun)
    )

    assert isinstance(error, SamplingAlreadyRun)
    assert len(await _fbk_4_tasks(harness, "o-own")) == 1
    scheduled = [s for s in await harness.staged("FollowUpScheduled") if s.reason_rule == "FBK-4"]
    assert len(scheduled) == 1
    assert waited  # for the first draw of the day, which it then found


async def test_fbk_4_work_after_a_cancellation_heard_during_the_draw_gets_no_call_back(
    harness: Harness,
) -> None:
    await harness.emit(created("o-own"))
    await harness.completed_visit("o-own", "v-own", "tech-0", at=local(MONDAY, 10))
    harness.clock.set(local(THURSDAY, 8, 30))

    # Work done after the cancellation is not followed up (work done before it would be).
    drawn, _ = await race(
        harness,
        _consume(harness, _cancelled("o-own"), at=local(MONDAY, 9, 30)),
        lambda: handlers.run_sampling(commands.RunSampling(), uow=_uow(harness), **_deps(harness)),
    )

    assert [t["status"] for t in await _fbk_4_tasks(harness, "o-own")] in ([], ["cancelled"])
    assert drawn.picks == []


# -- the sweep: missing sheets (FBK-8), issues (FBK-12), complaint states (FBK-10) ---------------


async def test_fbk_8_two_replicas_flag_a_sheet_never_returned_once(harness: Harness) -> None:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10), sign=False)
    harness.clock.set(local(MONDAY, 10) + timedelta(hours=25))
    state = harness.runtime.app.state

    async def flag(uow: FeedbackUnitOfWork) -> int:
        return await handlers.flag_missing_sheets(uow=uow, clock=harness.clock, policy=state.policy)

    flagged, _ = await race(harness, flag, lambda: flag(_uow(harness)))

    assert flagged == 0
    assert len(await harness.staged("FraudSuspected")) == 1
    assert await flag(_uow(harness)) == 0


async def _open_issue(harness: Harness) -> str:
    harness.clock.set(local(MONDAY, 16))
    await harness.emit(
        closed("o-1", "v-1", "tech-1", local(MONDAY, 16), outcome=VisitOutcome.UNFINISHED)
    )
    [issue] = (await harness.client.get("/v1/issues")).json()["items"]
    harness.clock.set(local(MONDAY + timedelta(days=2), 16))  # due for the company level
    return str(issue["issue_id"])


def _escalate(harness: Harness) -> Callable[[FeedbackUnitOfWork], Coroutine[Any, Any, int]]:
    async def escalate(uow: FeedbackUnitOfWork) -> int:
        return await handlers.escalate_issues(uow=uow, clock=harness.clock)

    return escalate


async def _company_escalations(harness: Harness) -> list[Any]:
    return [e for e in await harness.staged("IssueEscalated") if e.level == "company"]


async def test_fbk_12_two_replicas_escalate_an_issue_to_the_company_once(
    harness: Harness,
) -> None:
    await _open_issue(harness)
    escalate = _escalate(harness)

    escalated, _ = await race(harness, escalate, lambda: escalate(_uow(harness)))

    assert escalated == 0
    assert len(await _company_escalations(harness)) == 1


async def test_fbk_12_an_issue_resolved_while_the_sweep_runs_is_not_escalated(
    harness: Harness,
) -> None:
    issue_id = await _open_issue(harness)

    async def resolve(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.resolve_issue(
            commands.ResolveIssue(issue_id=issue_id, resolution="part fitted"),
            uow=uow,
            clock=harness.clock,
        )

    escalated, waited = await race(harness, resolve, lambda: _escalate(harness)(_uow(harness)))

    assert escalated == 0
    assert await _escalate(harness)(_uow(harness)) == 0
    assert await _company_escalations(harness) == []
    async with _uow(harness) as uow:
        issue = await uow.issues.get(issue_id)
    assert issue is not None and issue.resolved_at is not None
    assert not waited  # the sweep skips what a command holds


async def _overdue_complaint(harness: Harness) -> str:
    harness.clock.set(local(MONDAY, 9))
    filed = await harness.client.post(
        "/v1/complaints",
        json={"channel": "hotline", "description": "技师态度差", "confirmed_by_customer": True},
    )
    assert filed.status_code == 201, filed.text
    harness.clock.set(local(MONDAY, 11))  # accepting it had 1 working hour
    return str(filed.json()["complaint_id"])


def _report_overdue(harness: Harness) -> Callable[[FeedbackUnitOfWork], Coroutine[Any, Any, int]]:
    async def report(uow: FeedbackUnitOfWork) -> int:
        # one batch: one transaction, on the unit of work the race holds
        return await handlers.report_overdue_complaints(
            uow_factory=lambda: uow, clock=harness.clock
        )

    return report


async def test_fbk_10_two_replicas_report_an_overdue_complaint_state_once(
    harness: Harness,
) -> None:
    await _overdue_complaint(harness)
    report = _report_overdue(harness)

    reported, _ = await race(harness, report, lambda: report(_uow(harness)))

    assert reported == 0
    assert len(await harness.staged("ComplaintStageOverdue")) == 1


async def test_fbk_10_a_complaint_step_taken_while_the_sweep_reports_it_overdue_is_kept(
    harness: Harness,
) -> None:
    complaint_id = await _overdue_complaint(harness)
    url = f"/v1/complaints/{complaint_id}"

    step, waited = await race(
        harness,
        _report_overdue(harness),
        lambda: harness.client.post(f"{url}/advance", json={"to": "dispatched", "owner": "net-9"}),
    )

    assert step.status_code == 200, step.text
    stored = (await harness.client.get(url)).json()
    assert stored["stage"] == "dispatched"
    assert len(await harness.staged("ComplaintStageOverdue")) == 1
    assert await _report_overdue(harness)(_uow(harness)) == 0  # the step was not reported again
    assert waited


# -- REST commands on complaints, findings and call-backs -----------------------------------------


async def test_fbk_9_a_complaint_escalated_while_it_is_advanced_keeps_both_changes(
    harness: Harness,
) -> None:
    complaint_id = await _overdue_complaint(harness)
    url = f"/v1/complaints/{complaint_id}"

    async def escalate(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.escalate_complaint(
            commands.EscalateComplaint(complaint_id=complaint_id), uow=uow, **_deps(harness)
        )

    step, waited = await race(
        harness,
        escalate,
        lambda: harness.client.post(f"{url}/advance", json={"to": "dispatched", "owner": "net-9"}),
    )

    assert step.status_code == 200, step.text
    stored = (await harness.client.get(url)).json()
    assert (stored["stage"], stored["level"]) == ("dispatched", 2)
    assert waited


async def test_fbk_6_a_finding_confirmed_and_dismissed_at_once_is_decided_once(
    harness: Harness,
) -> None:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))
    [task] = await harness.due()
    await harness.answer(task["task_id"], reached=True, satisfied=True, scores=scores(dress="poor"))
    [finding] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    finding_id = finding["finding_id"]

    async def confirm(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.decide_finding(
            commands.DecideFinding(finding_id=finding_id, confirmed=True, by="lead-1"),
            uow=uow,
            clock=harness.clock,
        )

    dismissal, waited = await race(
        harness,
        confirm,
        lambda: harness.client.post(
            f"/v1/conduct-findings/{finding_id}/dismiss", json={"note": "traffic jam"}
        ),
    )

    assert dismissal.status_code == 409, dismissal.text
    [stored] = (await harness.client.get("/v1/conduct-findings")).json()["items"]
    assert stored["status"] == "confirmed"
    assert waited


async def _due_call_back(harness: Harness) -> str:
    await harness.completed_visit("o-1", "v-1", "tech-1", at=local(MONDAY, 10))
    harness.clock.set(local(MONDAY, 14))
    [task] = await harness.due()
    return str(task["task_id"])


async def test_two_agents_claiming_a_call_back_at_once_one_is_refused(harness: Harness) -> None:
    task_id = await _due_call_back(harness)
    bob = await harness.key("agent", name="bob")

    async def ann_claims(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.claim_call_back(
            commands.ClaimCallBack(task_id=task_id, agent="ann"),
            uow=uow,
            clock=harness.clock,
            policy=harness.runtime.app.state.policy,
        )

    bobs, waited = await race(
        harness,
        ann_claims,
        lambda: harness.client.post(f"/v1/call-backs/{task_id}/claim", headers=bob),
    )

    assert bobs.status_code == 409, bobs.text
    [stored] = await harness.tasks("o-1")
    assert stored["claimed_by"] == "ann"
    assert waited


def _dissatisfied(task_id: str, agent: str) -> commands.RecordCallBack:
    return commands.RecordCallBack(
        task_id=task_id,
        agent=agent,
        reached=True,
        satisfied=False,
        scores=FollowUpScores.model_validate(scores(3, 3)),
    )


async def test_fbk_7_an_outcome_recorded_twice_at_once_requests_one_revisit(
    harness: Harness,
) -> None:
    task_id = await _due_call_back(harness)

    async def record(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.record_call_back(
            _dissatisfied(task_id, "ann"), uow=uow, **_deps(harness)
        )

    await race(harness, record, lambda: refused(record(_uow(harness)), IllegalTransition))

    assert len(await harness.staged("FollowUpCompleted")) == 1
    assert len(await harness.staged("RevisitRequested")) == 1


async def test_fbk_5_a_call_back_answered_while_its_order_is_cancelled_is_not_recorded(
    harness: Harness,
) -> None:
    task_id = await _due_call_back(harness)

    # cancelled before the visit's work was done: its call-back is no longer needed
    outcome, waited = await race(
        harness,
        _consume(harness, _cancelled("o-1"), at=local(MONDAY, 9, 30)),
        lambda: harness.client.post(
            f"/v1/call-backs/{task_id}/outcome",
            json={"reached": True, "satisfied": True, "scores": scores()},
        ),
    )

    assert outcome.status_code == 409, outcome.text
    [stored] = await harness.tasks("o-1")
    assert stored["status"] == "cancelled"
    assert await harness.staged("FollowUpCompleted") == []
    assert waited


async def test_bil_11_a_complaint_filed_while_its_order_is_erased_is_refused(
    harness: Harness,
) -> None:
    await harness.emit(created("o-1"))
    now = harness.clock()
    expired = OrderRetentionExpired(
        order_id="o-1",
        retention_class=RetentionClass.FREE,
        ended_at=now - timedelta(days=366),
        expired_at=now,
    )

    # The erasure locked the case and erased the complaints it found; one filed meanwhile must
    # not escape it with the customer's words about an erased order.
    filed, waited = await race(
        harness,
        _consume(harness, expired),
        lambda: harness.client.post(
            "/v1/complaints",
            json={
                "channel": "hotline",
                "description": "王芳：技师态度差",
                "confirmed_by_customer": True,
                "order_id": "o-1",
            },
        ),
    )

    assert filed.status_code == 409, filed.text
    assert filed.json()["type"].endswith("/personal-data-erased")
    listed = await harness.client.get("/v1/complaints", params={"order_id": "o-1"})
    assert listed.json()["items"] == []
    assert waited


async def test_fbk_7_an_event_applied_while_a_call_back_is_recorded_keeps_both_changes(
    harness: Harness,
) -> None:
    task_id = await _due_call_back(harness)

    async def record(uow: FeedbackUnitOfWork) -> Any:
        return await handlers.record_call_back(
            _dissatisfied(task_id, "ann"), uow=uow, **_deps(harness)
        )

    _, waited = await race(
        harness, record, lambda: harness.emit(receipt("o-1", "120.00"), harness.clock())
    )

    async with _uow(harness) as uow:
        case = await uow.cases.get("o-1")
    assert case is not None
    assert list(case.receipts) == ["R-o-1"]  # the consumer's change
    assert len(case.chains) == 1  # the call-back's revisit chain (FBK-7)
    assert waited
