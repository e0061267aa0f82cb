"""Fieldwork's command handlers, the handler of events seen on the bus, and the periodic sweep."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import structlog

from contracts.billing import (
    ChargeWaived,
    OrderRetentionExpired,
    QuoteIssued,
    QuoteRefused,
    QuoteReinstated,
    QuoteVoided,
)
from contracts.envelope import EventEnvelope
from contracts.intake import (
    OrderCancelled,
    OrderCreated,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
)
from contracts.registry import parse_data
from contracts.scheduling import (
    AppointmentConfirmed,
    AppointmentRescheduled,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    RevisitBooked,
    RevisitReason,
)
from fieldwork.adapters.repository import AppliedClientAction
from fieldwork.adapters.storage import EvidenceStore, evidence_key
from fieldwork.domain import commands as c
from fieldwork.domain.coordination import CoordinationTicket, unfinished_reason
from fieldwork.domain.evidence import check_upload
from fieldwork.domain.exceptions import (
    FieldworkError,
    InvalidInput,
    LoanerNotFound,
    LoanerUnavailable,
    PersonalDataErased,
    RuleViolation,
    TakeBackNotFound,
    TicketNotFound,
    VisitNotFound,
)
from fieldwork.domain.model import (
    EVENTS_OF_INTEREST,
    OrderContext,
    RecordedEvent,
    summarise,
)
from fieldwork.domain.policy import FieldworkPolicy
from fieldwork.domain.visit import ON_SITE, Evidence, QuoteStatus, Visit, VisitState
from fieldwork.domain.workshop import Loaner, LoanerState, TakeBack, loaner_serial
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
UowFactory = Callable[[], FieldworkUnitOfWork]


# -- visits --------------------------------------------------------------------------------------


async def load_visit(
    uow: FieldworkUnitOfWork, visit_id: str, actor: c.Actor, *, for_update: bool = False
) -> Visit:
    """The visit, if the actor may see it: a technician sees only their own, a partner key only
    its network's (else 404, the same as a missing visit)."""
    visit = await uow.visits.get(visit_id, for_update=for_update)
    if visit is None or not actor.may_see(
        technician_id=visit.technician_id, network_id=visit.network_id
    ):
        raise VisitNotFound(visit_id)
    return visit


async def _apply(
    visit: Visit,
    action: Any,
    *,
    at: datetime,
    uow: FieldworkUnitOfWork,
    policy: FieldworkPolicy,
    tz: tzinfo,
) -> None:
    """Apply one action to the visit, with its side effects on loaners and take-backs."""
    # BIL-11 before anything else: an erased order takes no command, cancelled or not.
    visit.refuse_if_erased(action.type)
    context = await uow.orders.get(visit.order_id)
    cancelled = context is not None and context.cancelled
    if cancelled and not isinstance(action, c.ReportDamage) and visit.stopped_by_cancellation(at):
        # Every service stops work on a cancelled order (SCH-12): a visit still open on one
        # (made before late assignments were called off) takes no action, but what was logged
        # offline before the cancellation. Damage is still recorded (FLD-13), and a visit over
        # keeps the records its state allows.
        raise _stopped_by_cancellation(visit, at=at)
    match action:
        case c.Depart():
            lent = await _loaner_lent(uow, visit.order_id)
            loaner = None
            # The loaner lent for this order is at the customer's, not boarded (FLD-6).
            if action.loaner_serial is not None and action.loaner_serial != lent:
                loaner = await uow.loaners.get(action.loaner_serial)
                if loaner is None:
                    raise LoanerUnavailable(
                        f"No loaner with serial {action.loaner_serial} in the inventory.",
                        serial=action.loaner_serial,
                    )
            visit.depart(
                at=at,
                eta=action.eta,
                kit_checked=action.kit_checked,
                policy=policy,
                loaner_serial=action.loaner_serial,
                position=action.position,
                loaner_lent=lent,
            )
            if loaner is not None:
                loaner.board(
                    order_id=visit.order_id,
                    visit_id=visit.visit_id,
                    at=at,
                    product_line=context.known_product_line if context else None,
                )
                await uow.loaners.save(loaner)
        case c.Arrive():
            visit.arrive(at=at, position=action.position)
        case c.LogAttempt():
            visit.log_attempt(at=at, kind=action.kind, reached=action.reached, detail=action.detail)
        case c.RecordDoorOutcome():
            visit.record_door_outcome(
                at=at,
                outcome=action.outcome,
                next_step=action.next_step,
                id_shown=action.id_shown,
                customer_consent=action.customer_consent,
                detail=action.detail,
            )
        case c.RecordNotHome():
            visit.record_not_home(
                at=at,
                policy=policy,
                note=action.note,
                note_photo_ref=action.note_photo_ref,
                neighbours_asked=action.neighbours_asked,
            )
        case c.Diagnose():
            visit.diagnose(
                at=at,
                cause=action.cause,
                fault_code=action.fault_code,
                parts=action.parts,
                work_items=[item.to_contract() for item in action.work_items],
                chargeable=action.chargeable,
                unknown_fault=action.unknown_fault,
                take_back_needed=action.take_back_needed,
                warranty_status=action.warranty_status,
                warranty_card_amount=action.warranty_card_amount,
                installed_on=action.installed_on or (context.installed_on if context else None),
                product_line=context.product_line if context else None,
                rework_free=policy.rework_free,
                today=at.astimezone(tz).date(),
                policy=policy,
                # BIL-5: the purchase date bounds the date the technician gives; intake's own
                # pair (an installation before the purchase, overridden at verification, INT-2)
                # is intake's to correct and does not stop the diagnosis.
                purchased_on=context.purchase_date if context and action.installed_on else None,
            )
        case c.AcceptQuote():
            visit.accept_quote(at=at, quote_id=action.quote_id, signature_ref=action.signature_ref)
        case c.DeclineQuote():
            visit.decline_quote(
                at=at,
                quote_id=action.quote_id,
                reason=action.reason,
                discount_requested=action.discount_requested,
            )
        case c.StartRepair():
            visit.start_repair(at=at)
        case c.RecordWork():
            visit.record_work(at=at, description=action.description, parts=action.parts)
        case c.ReportMissingPart():
            visit.missing_part(
                at=at,
                option=action.option,
                parts=action.parts,
                detail=action.detail,
                next_visit_agreed=action.next_visit_agreed,
            )
        case c.Resume():
            visit.resume(at=at)
        case c.Escalate():
            visit.escalate(
                at=at,
                description=action.description,
                fault_code=action.fault_code,
                desk=action.desk,
            )
        case c.RefuseTakeBack():
            visit.refuse_take_back(at=at)
        case c.TakeUnitBack():
            await _take_back(
                visit,
                action,
                at=at,
                uow=uow,
                today=at.astimezone(tz).date(),
                product_line=context.known_product_line if context else None,
                policy=policy,
            )
        case c.StartTest():
            visit.start_test(at=at)
        case c.Reexamine():
            visit.reexamine(at=at)
        case c.CompleteRepair():
            visit.complete_repair(
                at=at,
                tested=action.tested,
                sure_fixed=action.sure_fixed,
                latent_faults_fixed=action.latent_faults_fixed,
                parts=action.parts,
                cause=action.cause,
                remedy=action.remedy,
            )
        case c.CompleteInstallation():
            # FLD-10/BIL-5: the business days of the completion (an offline one's occurred_at)
            # and of the arrival bound the installation date.
            visit.complete_installation(
                at=at,
                today=at.astimezone(tz).date(),
                arrived_on=visit.arrived_at.astimezone(tz).date() if visit.arrived_at else None,
                installed_on=action.installed_on,
                purchased_on=context.purchase_date if context else None,
                photo_refs=action.photo_refs,
                barcodes=action.barcodes,
                policy=policy,
                substandard_conditions=action.substandard_conditions,
                conditions_signature_ref=action.conditions_signature_ref,
            )
        case c.Fail():
            visit.fail(
                at=at,
                reason=action.reason,
                detail=action.detail,
                next_visit_agreed=action.next_visit_agreed,
            )
        case c.RequestCentreDecision():
            visit.request_centre_decision(
                at=at,
                kind=action.kind,
                reason=action.reason,
                amount_claimed=action.amount_claimed,
                meets_return_conditions=action.meets_return_conditions,
            )
        case c.ReportDamage():
            visit.report_damage(
                at=at,
                description=action.description,
                estimated_cost=action.estimated_cost,
                photo_refs=action.photo_refs,
            )
        case c.ReportSafetyIncident():
            visit.safety_incident(
                at=at,
                kind=action.kind,
                description=action.description,
                technician_safe=action.technician_safe,
                leave_site=action.leave_site,
            )
        case c.SignOffVisit():
            visit.sign_off(
                at=at,
                signed=action.signed,
                signature_ref=action.signature_ref,
                repair_quality=action.repair_quality,
                service_attitude=action.service_attitude,
                amount_acknowledged=action.amount_acknowledged,
                comments=action.comments,
            )
        case c.CompleteReport():
            visit.complete_report(at=at, cause=action.cause, remedy=action.remedy)
        case _:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown action {type(action).__name__}")
    await _reclaim_unused_loaner(visit, at=at, uow=uow)


def _stopped_by_cancellation(visit: Visit, *, at: datetime) -> RuleViolation:
    cancelled_at = visit.order_cancelled_at
    if cancelled_at is None:
        return RuleViolation(
            "SCH-12",
            f"Order {visit.order_id} was cancelled: no more work is done on its visits",
            order_id=visit.order_id,
            state=visit.state.value,
        )
    return RuleViolation(
        "SCH-12",
        f"Order {visit.order_id} was cancelled at {cancelled_at.isoformat()}, before this "
        f"action of {at.isoformat()}: no more work is done on its visits",
        order_id=visit.order_id,
        state=visit.state.value,
        cancelled_at=cancelled_at.isoformat(),
    )


async def _reclaim_unused_loaner(visit: Visit, *, at: datetime, uow: FieldworkUnitOfWork) -> None:
    """A loaner boarded and not lent (none was, or another one) goes back to the inventory with
    the technician at the end of the visit (FLD-6); one boarded since for another visit stays
    there."""
    unused = visit.unused_loaner
    if unused is None:
        return
    loaner = await uow.loaners.get(unused)
    if (
        loaner is not None
        and loaner.state is LoanerState.ON_BOARD
        and loaner.visit_id == visit.visit_id
    ):
        loaner.reclaim(at=at)
        await uow.loaners.save(loaner)


async def _loaner_lent(uow: FieldworkUnitOfWork, order_id: str) -> str | None:
    """The loaner lent to the order's customer with a unit taken to the workshop and not
    collected yet (FLD-6): while their unit is there, and after it came back without the
    loaner being collected."""
    for take_back in await uow.take_backs.for_order(order_id):
        serial = take_back.loaner_out
        if serial is None:
            continue
        loaner = await uow.loaners.get(serial)
        if loaner is not None and loaner.lent_to(order_id):
            return serial
    return None


async def _take_back(
    visit: Visit,
    action: c.TakeUnitBack,
    *,
    at: datetime,
    uow: FieldworkUnitOfWork,
    today: date,
    product_line: str | None,
    policy: FieldworkPolicy,
) -> None:
    if await uow.take_backs.get(action.receipt_number) is not None:
        raise RuleViolation(
            "FLD-6", f"Receipt number {action.receipt_number} is already used", field="receipt"
        )
    lent = await _loaner_lent(uow, visit.order_id)
    serial = action.loaner_serial or visit.loaner_serial
    if serial == lent:
        serial = None  # FLD-6: the customer keeps the loaner they already have for the order
    loaner: Loaner | None = None
    if serial is not None:
        loaner = await uow.loaners.get(serial)
        if loaner is None:
            raise LoanerUnavailable(f"No loaner with serial {serial} in the inventory.")
        loaner.lend(
            order_id=visit.order_id,
            receipt_number=action.receipt_number,
            due_back=action.promised_return_date,
            at=at,
            product_line=product_line,
        )
    visit.take_unit_back(
        at=at,
        receipt_number=action.receipt_number,
        appearance=action.appearance,
        photo_refs=action.photo_refs,
        promised_return_date=action.promised_return_date,
        today=today,
        latest_return=today + timedelta(days=policy.take_back_return_max_days),
        unit_serial=action.unit_serial,
        loaner_serial=serial,
        loaner_lent=lent,
    )
    if loaner is not None:
        await uow.loaners.save(loaner)
    await uow.take_backs.save(
        TakeBack(
            receipt_number=action.receipt_number,
            order_id=visit.order_id,
            visit_id=visit.visit_id,
            promised_return_date=action.promised_return_date,
            taken_at=at,
            unit_serial=action.unit_serial,
            appearance=action.appearance,
            loaner_serial=serial,
        )
    )


async def _earlier_seconds(uow: FieldworkUnitOfWork, visit: Visit) -> int:
    others = await uow.visits.for_order(visit.order_id)
    return sum(v.on_site_seconds for v in others if v.visit_id != visit.visit_id)


async def act_on_visit(
    cmd: c.ActOnVisit,
    *,
    uow: FieldworkUnitOfWork,
    clock: Clock,
    policy: FieldworkPolicy,
    tz: tzinfo,
) -> Visit:
    """Apply one technician action to a visit and stage its events (FLD-1..FLD-14)."""
    async with uow:
        visit = await load_visit(uow, cmd.visit_id, cmd.actor, for_update=True)
        visit.earlier_visits_seconds = await _earlier_seconds(uow, visit)
        at = cmd.at or clock()
        if cmd.at is None and visit.last_action_at is not None:
            # FLD-11: an action sent now comes after every one already applied, though one
            # synced from a phone whose clock runs ahead (within the skew the batch allows) is
            # dated after now: it takes that time, so the visit's times stay in order (no
            # arrival before its departure, no completion before its arrival).
            at = max(at, visit.last_action_at)
        await _apply(visit, cmd.action, at=at, uow=uow, policy=policy, tz=tz)
        uow.track(visit)
        await uow.visits.save(visit, now=clock())
        await uow.commit()
        return visit


async def apply_offline_batch(
    cmd: c.ApplyOfflineBatch,
    *,
    uow_factory: UowFactory,
    clock: Clock,
    policy: FieldworkPolicy,
    tz: tzinfo,
) -> list[dict[str, Any]]:
    """Apply actions recorded offline in the order they happened, each once.

    A replayed client id gets the stored result (``duplicate``); one reused for a different
    action is refused. An action dated before its visit existed is refused (FLD-11, SCH-7), as is
    one older than the latest one already applied to its visit (out of order), or one after a
    refused action of the same visit in the batch. Each applied action commits on its own, with its
    client id, so a retried batch applies only what is missing. Each action's events are
    published with the time it happened, not the sync's.

    A visit the order's cancellation called off as not started takes the actions logged before
    the cancellation, as they happened (the technician was there, SCH-12, SCH-7, BIL-1), and
    refuses those after it; once the batch is
    applied it ends as the cancellation would have ended it, unless it ended before.
    """
    if len(cmd.actions) > policy.offline_max_batch:
        raise RuleViolation(
            "offline",
            f"A batch may carry at most {policy.offline_max_batch} actions",
            max_actions=policy.offline_max_batch,
        )
    now = clock()
    clock_skew = timedelta(seconds=policy.offline_clock_skew_seconds)
    before_assignment = clock_skew + timedelta(minutes=policy.offline_before_assignment_minutes)
    horizon = now + clock_skew
    earliest = now - timedelta(days=policy.offline_max_age_days)
    await _reclaim_for_offline_arrivals(
        cmd,
        uow_factory=uow_factory,
        now=now,
        oldest=earliest,
        horizon=horizon,
        before_assignment=before_assignment,
    )
    ordered = sorted(enumerate(cmd.actions), key=lambda pair: (pair[1].occurred_at, pair[0]))
    results: dict[int, dict[str, Any]] = {}
    blocked: dict[str, str] = {}
    seen: dict[str, AppliedClientAction] = {}
    scope = cmd.actor.scope
    for index, item in ordered:
        base = {
            "client_id": item.client_id,
            "visit_id": item.visit_id,
            "type": item.action.type,
            "occurred_at": item.occurred_at.isoformat(),
        }
        fingerprint = item.fingerprint()
        if item.client_id in seen:
            results[index] = _replayed(seen[item.client_id], fingerprint, base)
            continue
        async with uow_factory() as uow:
            stored = await uow.client_actions.get(scope, item.client_id)
        if stored is not None:
            results[index] = _replayed(stored, fingerprint, base)
            continue
        if item.occurred_at > horizon:
            results[index] = {**base, "status": "refused", "reason": "occurred_at is in the future"}
            continue
        if item.occurred_at < earliest:
            # FLD-11: a date years back is a client fault, not a fact: it would date arrivals
            # and on-site times absurdly.
            results[index] = {
                **base,
                "status": "refused",
                "reason": f"occurred_at is more than {policy.offline_max_age_days} days ago",
                "problem": {"rule": "offline", "earliest": earliest.isoformat()},
            }
            continue
        if item.visit_id in blocked:
            results[index] = {
                **base,
                "status": "refused",
                "reason": f"an earlier action of this visit (client id {blocked[item.visit_id]}) "
                "was refused; later ones are not applied",
            }
            continue
        try:
            async with uow_factory() as uow:
                visit = await load_visit(uow, item.visit_id, cmd.actor, for_update=True)
                # A retried batch running at the same time may have applied it while this one
                # waited for the visit's lock.
                stored = await uow.client_actions.get(scope, item.client_id)
                if stored is not None:
                    results[index] = _replayed(stored, fingerprint, base)
                    continue
                visit.refuse_if_erased(item.action.type)
                visit.check_existed_at(item.occurred_at, allowance=before_assignment)
                if visit.last_action_at is not None and item.occurred_at < visit.last_action_at:
                    raise RuleViolation(
                        "offline",
                        f"Out of order: the visit already has an action at "
                        f"{visit.last_action_at.isoformat()}, after this one",
                        last_action_at=visit.last_action_at.isoformat(),
                    )
                if visit.reopen_before_cancellation(at=item.occurred_at):
                    log.info(
                        "fieldwork.visit_reopened_for_offline_action",
                        order_id=visit.order_id,
                        visit_id=visit.visit_id,
                        occurred_at=item.occurred_at.isoformat(),
                        cancelled_at=str(visit.order_cancelled_at),
                    )
                visit.earlier_visits_seconds = await _earlier_seconds(uow, visit)
                # Facts synced late: their envelopes carry the time they happened, not the sync
                # time, so the other services place them where they happened (a cancellation
                # published before the sync comes after work completed before it, BIL-1).
                uow.occurred_at = item.occurred_at
                await _apply(visit, item.action, at=item.occurred_at, uow=uow, policy=policy, tz=tz)
                result = {**base, "status": "applied", "visit_state": visit.state.value}
                uow.track(visit)
                await uow.visits.save(visit, now=now)
                await uow.client_actions.add(
                    scope=scope,
                    client_id=item.client_id,
                    visit_id=item.visit_id,
                    occurred_at=item.occurred_at,
                    result=result,
                    fingerprint=fingerprint,
                )
                await uow.commit()
        except FieldworkError as exc:
            if not isinstance(exc, PersonalDataErased):
                # An erased visit refuses each of its actions for that, each named (BIL-11),
                # not as following a refused one.
                blocked[item.visit_id] = item.client_id
            results[index] = {
                **base,
                "status": "refused",
                "reason": str(exc),
                "problem": _problem_of(exc),
            }
            continue
        seen[item.client_id] = AppliedClientAction(result=result, fingerprint=fingerprint)
        results[index] = result
    await _end_at_cancellation(
        {item.visit_id for item in cmd.actions}, uow_factory=uow_factory, now=now
    )
    return [results[i] for i in range(len(cmd.actions))]


def _problem_of(exc: FieldworkError) -> dict[str, Any]:
    """The members of the problem document the REST route answers for ``exc`` that a refused
    batch item carries: its extensions, with the problem's type and title for an erased order
    (BIL-11), told apart that way as in intake and scheduling rather than by a rule."""
    if isinstance(exc, PersonalDataErased):
        return {"type": exc.problem_type, "title": exc.title, **exc.extensions}
    return dict(exc.extensions)


def _replayed(
    stored: AppliedClientAction, fingerprint: str, base: dict[str, Any]
) -> dict[str, Any]:
    """A client id already applied: the same action again is a replay (``duplicate``, with the
    first result); another action under it is refused, never taken for the first (as an
    Idempotency-Key reused with another body). One stored without a fingerprint is a replay."""
    if stored.fingerprint is None or stored.fingerprint == fingerprint:
        return {**stored.result, "status": "duplicate"}
    return {
        **base,
        "status": "refused",
        "reason": f"client_id {base['client_id']} reused for a different action: it was applied "
        f"to {stored.result.get('type')} of visit {stored.result.get('visit_id')} at "
        f"{stored.result.get('occurred_at')}",
        "problem": {"rule": "offline", "client_id": base["client_id"]},
    }


async def _end_at_cancellation(
    visit_ids: set[str], *, uow_factory: UowFactory, now: datetime
) -> None:
    """After the batch: a visit reopened for actions logged before its order's cancellation ends
    as the cancellation ended it, at its time (SCH-12, FLD-11): aborted if still on site, called
    off if not at the door; one that ended before keeps its end. Also ends one that a batch
    broken off left open, when the app retries it."""
    async with uow_factory() as uow:
        visits = [await uow.visits.get(visit_id) for visit_id in sorted(visit_ids)]
    reopened = [
        v.visit_id for v in visits if v is not None and v.order_cancelled_at and not v.ended
    ]
    for visit_id in reopened:
        async with uow_factory() as uow:
            visit = await uow.visits.get(visit_id, for_update=True)
            if visit is None or visit.order_cancelled_at is None:
                continue
            cancelled_at = visit.order_cancelled_at
            visit.earlier_visits_seconds = await _earlier_seconds(uow, visit)
            if not visit.end_at_cancellation():
                continue
            uow.occurred_at = cancelled_at
            uow.track(visit)
            await _reclaim_unused_loaner(visit, at=cancelled_at, uow=uow)
            await uow.visits.save(visit, now=now)
            await uow.commit()
            log.info(
                "fieldwork.visit_ended_at_cancellation",
                order_id=visit.order_id,
                visit_id=visit_id,
                state=visit.state.value,
                cancelled_at=cancelled_at.isoformat(),
            )


async def _reclaim_for_offline_arrivals(
    cmd: c.ApplyOfflineBatch,
    *,
    uow_factory: UowFactory,
    now: datetime,
    oldest: datetime,
    horizon: datetime,
    before_assignment: timedelta,
) -> None:
    """Before the batch is applied: a visit that left the technician (reassigned, returned to
    the centre) after the arrival they logged offline goes back to them, so the batch applies
    (on site wins, SCH-6, SCH-8). Not for an arrival dated before the visit existed: the batch
    refuses it (FLD-11)."""
    technician_id = cmd.actor.technician_id
    if not cmd.actor.restricted or technician_id is None:
        return
    arrivals: dict[str, datetime] = {}
    departures: dict[str, datetime] = {}
    for item in cmd.actions:
        if not oldest <= item.occurred_at <= horizon:
            continue
        found = arrivals if item.action.type == "arrive" else departures
        if item.action.type in ("arrive", "depart"):
            earliest = found.get(item.visit_id)
            found[item.visit_id] = min(earliest or item.occurred_at, item.occurred_at)
    for visit_id, arrived_at in arrivals.items():
        async with uow_factory() as uow:
            visit = await uow.visits.get(visit_id, for_update=True)
            if visit is None or not visit.existed_at(arrived_at, allowance=before_assignment):
                continue
            holder = visit.technician_id
            if visit.reclaim_for_arrival(
                technician_id,
                arrived_at=arrived_at,
                now=now,
                departed_at=departures.get(visit_id),
            ):
                await uow.visits.save(visit, now=now)
                await uow.commit()
                log.info(
                    "fieldwork.visit_reclaimed_by_offline_arrival",
                    order_id=visit.order_id,
                    visit_id=visit_id,
                    technician_id=technician_id,
                    from_technician_id=holder,
                    arrived_at=arrived_at.isoformat(),
                )


async def upload_evidence(
    cmd: c.UploadEvidence,
    *,
    uow: FieldworkUnitOfWork,
    clock: Clock,
    policy: FieldworkPolicy,
    store: EvidenceStore,
) -> Evidence:
    """Validate an image (type and size, FLD-10), store it and attach it to the visit."""
    extension = check_upload(content_type=cmd.content_type, data=cmd.data, policy=policy)
    async with uow:
        visit = await load_visit(uow, cmd.visit_id, cmd.actor, for_update=True)
        key = evidence_key(visit.visit_id, str(uuid.uuid4()), extension)
        item = visit.add_evidence(
            at=clock(),
            ref=key,
            kind=cmd.kind,
            content_type=cmd.content_type.split(";", 1)[0].strip().lower(),
            size=len(cmd.data),
        )
        await store.put(key, cmd.data)
        try:
            await uow.visits.save(visit, now=clock())
            await uow.commit()
        except BaseException:
            # No row names the file: erasure (BIL-11) would never find it. Remove it.
            try:
                await store.delete(key)
            except Exception:
                log.exception("fieldwork.evidence_orphaned", visit_id=visit.visit_id, ref=key)
            raise
        return item


# -- loaners and take-backs (FLD-6) ---------------------------------------------------------------


async def register_loaner(cmd: c.RegisterLoaner, *, uow: FieldworkUnitOfWork) -> Loaner:
    """Add a unit to the loaner inventory."""
    serial = loaner_serial(cmd.serial)
    async with uow:
        if await uow.loaners.get(serial) is not None:
            raise LoanerUnavailable(f"Loaner {serial} is already in the inventory.")
        loaner = Loaner(serial=serial, product_line=cmd.product_line, condition=cmd.condition)
        await uow.loaners.save(loaner)
        await uow.commit()
        return loaner


async def record_workshop_progress(
    cmd: c.RecordWorkshopProgress, *, uow: FieldworkUnitOfWork, clock: Clock
) -> TakeBack:
    """A step of the workshop repair of a taken-back unit."""
    async with uow:
        take_back = await uow.take_backs.get(cmd.receipt_number)
        if take_back is None:
            raise TakeBackNotFound(cmd.receipt_number)
        await _refuse_if_erased(uow, take_back.order_id, "record_workshop_progress")
        take_back.record_progress(at=clock(), stage=cmd.stage, note=cmd.note)
        uow.track(take_back)
        await uow.take_backs.save(take_back)
        await uow.commit()
        return take_back


async def return_unit(
    cmd: c.ReturnUnit, *, uow: FieldworkUnitOfWork, clock: Clock, tz: tzinfo
) -> TakeBack:
    """The unit is back with the customer (UnitReturned), on the visit named (one of the
    order's that the caller holds, FLD-6). The loaner lent with it goes back in stock when the
    return says it was collected; one the customer kept stays lent to the order.

    Taken even once the order's personal data was erased (BIL-11): the unit is the customer's
    and must go back, and the return records none (ids, times, flags; the erased workshop
    notes stay erased), so the take-back can be closed and the overdue sweep stops chasing it.
    ``loaner_condition`` describes the centre's loaner, not the customer: it is kept as given,
    as when the loaner is collected on its own."""
    async with uow:
        take_back = await uow.take_backs.get(cmd.receipt_number)
        if take_back is None:
            raise TakeBackNotFound(cmd.receipt_number)
        if cmd.actor.restricted or cmd.actor.partner:
            # A technician returns units of orders they have a visit for, a partner key units
            # of orders its network holds a visit of.
            visits = await uow.visits.for_order(take_back.order_id)
            if not any(
                cmd.actor.may_see(technician_id=v.technician_id, network_id=v.network_id)
                for v in visits
            ):
                raise TakeBackNotFound(cmd.receipt_number)
        # No BIL-11 refusal here, unlike the workshop's other commands: see the docstring.
        visit = await _returning_visit(cmd, take_back=take_back, uow=uow)
        now = clock()
        serial = take_back.loaner_out
        loaner = await uow.loaners.get(serial) if serial else None
        collected = take_back.return_unit(
            at=now,
            today=now.astimezone(tz).date(),
            repaired=cmd.repaired,
            visit=visit,
            loaner_recovered=cmd.loaner_recovered,
        )
        if loaner is not None and collected:
            loaner.collect(order_id=take_back.order_id, at=now, condition=cmd.loaner_condition)
            await uow.loaners.save(loaner)
        elif loaner is not None:
            log.warning(
                "fieldwork.loaner_kept_by_customer",
                order_id=take_back.order_id,
                receipt_number=take_back.receipt_number,
                serial=loaner.serial,
            )
        uow.track(take_back)
        await uow.take_backs.save(take_back)
        await uow.commit()
        return take_back


async def _refuse_if_erased(uow: FieldworkUnitOfWork, order_id: str, action: str) -> None:
    """Refuse a command on a take-back of an order whose personal data was erased (BIL-11), as
    its visits refuse theirs (the unit's return excepted: it still goes back, FLD-6)."""
    context = await uow.orders.get(order_id)
    if context is not None:
        context.refuse_if_erased(action)


async def _returning_visit(
    cmd: c.ReturnUnit, *, take_back: TakeBack, uow: FieldworkUnitOfWork
) -> Visit | None:
    """The visit the return names, if the caller may name it: one they hold (the same as any
    visit they can see); whether it fits the take-back is the take-back's to say (FLD-6)."""
    if cmd.visit_id is None:
        return None
    visit = await uow.visits.get(cmd.visit_id)
    if visit is None or not cmd.actor.may_see(
        technician_id=visit.technician_id, network_id=visit.network_id
    ):
        raise InvalidInput(
            "FLD-6",
            f"Visit {cmd.visit_id} is not a visit of order {take_back.order_id} that you hold: "
            f"the unit of receipt {take_back.receipt_number} comes back on one of them",
            field="visit_id",
            visit_id=cmd.visit_id,
            order_id=take_back.order_id,
        )
    return visit


async def collect_loaner(
    cmd: c.CollectLoaner,
    *,
    uow: FieldworkUnitOfWork,
    clock: Clock,
    policy: FieldworkPolicy,
    tz: tzinfo,
) -> Loaner:
    """A loaner the customer kept is collected from them, back in stock (FLD-6); the take-back
    it was lent with records when, and publishes LoanerCollected when the unit was already back
    (late or not)."""
    serial = loaner_serial(cmd.serial)
    async with uow:
        loaner, take_back = await _lock_loaner_and_take_back(uow, serial)
        if cmd.actor.restricted or cmd.actor.partner:
            # Like the unit's return: by whoever holds a visit of the order it was lent for.
            visits = await uow.visits.for_order(loaner.order_id) if loaner.order_id else []
            if not any(
                cmd.actor.may_see(technician_id=v.technician_id, network_id=v.network_id)
                for v in visits
            ):
                raise LoanerNotFound(serial)
        if loaner.state is not LoanerState.LENT or loaner.order_id is None:
            raise LoanerUnavailable(
                f"Loaner {loaner.serial} is {loaner.state.value}: only a lent loaner is "
                "collected from a customer.",
                serial=loaner.serial,
                loaner_state=loaner.state.value,
            )
        now = clock()
        order_id = loaner.order_id
        loaner.collect(order_id=order_id, at=now, condition=cmd.condition)
        await uow.loaners.save(loaner)
        if take_back is not None and take_back.collect_loaner(at=now, policy=policy, tz=tz):
            uow.track(take_back)
            await uow.take_backs.save(take_back)
        await uow.commit()
        log.info("fieldwork.loaner_collected", order_id=order_id, serial=loaner.serial)
        return loaner


async def _lock_loaner_and_take_back(
    uow: FieldworkUnitOfWork, serial: str
) -> tuple[Loaner, TakeBack | None]:
    """The loaner and the take-back it was lent with, both row-locked in the order the unit's
    return locks them (take-back, then loaner), so that a collection and a return of the same
    unit wait for each other rather than deadlock (FLD-6). The loaner is read unlocked first to
    find its take-back, then afresh under the lock: lent again meanwhile, with another unit,
    the new take-back is locked instead."""
    loaner = await uow.loaners.get(serial, for_update=False)
    while loaner is not None:
        receipt = loaner.receipt_number
        take_back = await uow.take_backs.get(receipt) if receipt else None
        loaner = await uow.loaners.get(serial)
        if loaner is not None and loaner.receipt_number == receipt:
            return loaner, take_back
    raise LoanerNotFound(serial)


# -- coordination tickets (FLD-15) ----------------------------------------------------------------


async def _ticket(uow: FieldworkUnitOfWork, ticket_id: str) -> CoordinationTicket:
    ticket = await uow.tickets.get(ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


async def log_ticket_contact(
    cmd: c.LogTicketContact, *, uow: FieldworkUnitOfWork, clock: Clock, policy: FieldworkPolicy
) -> CoordinationTicket:
    """Add a dated contact to the ticket's log; one dated in the future (beyond the clock skew
    the policy allows) or before the order's first visit was assigned (beyond the lead the
    policy allows an assignment entered late, as for the app's offline actions) is refused
    (FLD-15)."""
    async with uow:
        ticket = await _ticket(uow, cmd.ticket_id)
        now = clock()
        skew = timedelta(seconds=policy.offline_clock_skew_seconds)
        visits = await uow.visits.for_order(ticket.order_id)
        # A ticket is opened only for work a visit started; without one, its own opening bounds.
        first = min((v.created_at for v in visits), default=ticket.opened_at)
        # The lead allowed before an assignment, as for the app's offline actions (existed_at).
        before_assignment = skew + timedelta(minutes=policy.offline_before_assignment_minutes)
        ticket.log_contact(
            at=cmd.at or now,
            by=cmd.by,
            channel=cmd.channel,
            note=cmd.note,
            latest=now + skew,
            earliest=first - before_assignment,
        )
        await uow.tickets.save(ticket)
        await uow.commit()
        return ticket


async def check_ticket(
    cmd: c.CheckTicket,
    *,
    uow: FieldworkUnitOfWork,
    clock: Clock,
    policy: FieldworkPolicy,
    tz: tzinfo,
) -> CoordinationTicket:
    """The team lead checked the ticket; the next check is due half a month later."""
    async with uow:
        ticket = await _ticket(uow, cmd.ticket_id)
        now = clock()
        ticket.check(
            at=now, today=now.astimezone(tz).date(), by=cmd.by, policy=policy, note=cmd.note
        )
        await uow.tickets.save(ticket)
        await uow.commit()
        return ticket


async def assign_ticket(cmd: c.AssignTicket, *, uow: FieldworkUnitOfWork) -> CoordinationTicket:
    """Name the ticket's owner."""
    async with uow:
        ticket = await _ticket(uow, cmd.ticket_id)
        ticket.assign(cmd.owner)
        await uow.tickets.save(ticket)
        await uow.commit()
        return ticket


async def close_ticket(
    cmd: c.CloseTicket, *, uow: FieldworkUnitOfWork, clock: Clock
) -> CoordinationTicket:
    """Close the ticket: the work is finished."""
    async with uow:
        ticket = await _ticket(uow, cmd.ticket_id)
        ticket.close(at=clock(), resolution=cmd.resolution)
        await uow.tickets.save(ticket)
        await uow.commit()
        return ticket


async def sweep(
    *, uow_factory: UowFactory, clock: Clock, policy: FieldworkPolicy, tz: tzinfo
) -> dict[str, int]:
    """The periodic job: overdue take-backs and loaners kept past their collect-by day (FLD-6),
    new coordination tickets and due checks (FLD-15). Idempotent and safe in several replicas
    at once: it decides from the locked, fresh rows (or a unique key), so each event is raised
    once."""
    now = clock()
    today = now.astimezone(tz).date()
    # One short transaction per part, so a part's row locks are not held through the others.
    counts = {
        "overdue": await _report_overdue_take_backs(uow_factory, now=now, today=today),
        "loaners_overdue": await _report_overdue_loaners(
            uow_factory, now=now, today=today, policy=policy, tz=tz
        ),
        "tickets_opened": await _open_coordination_tickets(
            uow_factory, now=now, today=today, policy=policy, tz=tz
        ),
        "checks_due": await _report_due_checks(uow_factory, today=today),
    }
    if any(counts.values()):
        log.info("fieldwork.sweep", **counts)
    return counts


async def _report_overdue_take_backs(uow_factory: UowFactory, *, now: datetime, today: date) -> int:
    """UnitReturnOverdue, once per take-back not back by its promised date (FLD-6)."""
    reported = 0
    async with uow_factory() as uow:
        for take_back in await uow.take_backs.lock_overdue_candidates(before=today):
            if take_back.check_overdue(now=now, today=today):
                uow.track(take_back)
                await uow.take_backs.save(take_back)
                reported += 1
        await uow.commit()
    return reported


async def _report_overdue_loaners(
    uow_factory: UowFactory, *, now: datetime, today: date, policy: FieldworkPolicy, tz: tzinfo
) -> int:
    """LoanerCollectionOverdue, once per take-back whose unit came back and whose loaner the
    customer still has after its collect-by day (FLD-6)."""
    # Overdue today: returned on a day before today less the days allowed, in the business zone.
    first_day_in_time = today - timedelta(days=policy.loaner_collect_within_days)
    returned_before = datetime.combine(first_day_in_time, time.min, tzinfo=tz)
    reported = 0
    async with uow_factory() as uow:
        for take_back in await uow.take_backs.lock_kept_loaner_candidates(
            returned_before=returned_before
        ):
            if take_back.check_loaner_overdue(now=now, today=today, policy=policy, tz=tz):
                uow.track(take_back)
                await uow.take_backs.save(take_back)
                reported += 1
        await uow.commit()
    return reported


async def _open_coordination_tickets(
    uow_factory: UowFactory, *, now: datetime, today: date, policy: FieldworkPolicy, tz: tzinfo
) -> int:
    """A coordination ticket for each order not finished in time (FLD-15), once per order."""
    opened = 0
    async with uow_factory() as uow:
        for order_id in await uow.visits.orders_with_arrivals():
            if await uow.tickets.for_order(order_id) is not None:
                continue
            visits = await uow.visits.for_order(order_id)
            context = await uow.orders.get(order_id)
            day_of = {
                v.visit_id: v.arrived_at.astimezone(tz).date()
                for v in visits
                if v.arrived_at is not None
            }
            reason = unfinished_reason(
                visits,
                today=today,
                day_of=day_of,
                policy=policy,
                public_area=bool(context and context.public_area),
            )
            if reason is None or (
                context is not None and (context.cancelled or context.anonymised_at is not None)
            ):
                # BIL-11: nothing is left to coordinate on an erased order, whose visits take
                # no action any more.
                continue
            ticket = CoordinationTicket.open(
                order_id=order_id, reason=reason, now=now, today=today, policy=policy
            )
            # Another replica's sweep may have opened it since the check above.
            if await uow.tickets.add(ticket):
                uow.track(ticket)
                opened += 1
        await uow.commit()
    return opened


async def _report_due_checks(uow_factory: UowFactory, *, today: date) -> int:
    """CoordinationCheckDue, once per due date of an open ticket (FLD-15)."""
    reported = 0
    async with uow_factory() as uow:
        for ticket in await uow.tickets.lock_due_for_check(today=today):
            if ticket.check_due(today=today):
                uow.track(ticket)
                await uow.tickets.save(ticket)
                reported += 1
        await uow.commit()
    return reported


# -- events seen on the bus -----------------------------------------------------------------------


async def record_event(
    envelope: EventEnvelope, *, uow: FieldworkUnitOfWork, store: EvidenceStore, clock: Clock
) -> None:
    """Put an event of interest on its order's file, once (inbox), and apply it to the order's
    context and visits; other events are skipped. OrderRetentionExpired erases the order's
    personal data, and an event heard after that keeps none either (BIL-11)."""
    if envelope.event_name not in EVENTS_OF_INTEREST:
        return  # nothing to apply, so nothing to remember in the inbox either
    async with uow:
        if not await uow.claim_inbox(envelope):
            return
        if await uow.order_files.record(envelope.subject, recorded_event(envelope)):
            log.info("fieldwork.event_recorded", type=envelope.type, subject=envelope.subject)
            await _project(envelope, uow=uow)
            expiry = envelope.event_name == OrderRetentionExpired.event_type
            context = await uow.orders.get(envelope.subject)
            if expiry or (context is not None and context.anonymised_at is not None):
                await erase_order(envelope.subject, uow=uow, store=store, now=clock())
        await uow.commit()


async def erase_order(
    order_id: str, *, uow: FieldworkUnitOfWork, store: EvidenceStore, now: datetime
) -> None:
    """Erase the customer's personal data fieldwork keeps for the order, its retention being
    over (BIL-11): the order context's name, phone and address, the visits' notes and personal
    uploads (the files too), the workshop's notes and the order file's personal fields. Ids,
    times, amounts, outcomes and barcode scans stay. Erasing again changes nothing.

    An order that became a coordination ticket (FLD-15) is kept for good (BIL-11): billing
    announces no expiry for one, so an expiry crossing the ticket's opening is refused, loudly.

    The files go before the transaction commits: a failure keeps the event unhandled (it is
    retried, the references still there), and a commit that fails leaves references to files
    already gone, which the retry erases; a file never outlives its reference."""
    await uow.orders.lock(order_id)
    if (ticket := await uow.tickets.for_order(order_id)) is not None:
        log.warning(
            "fieldwork.retention_refused_for_coordination_ticket",
            order_id=order_id,
            ticket_id=ticket.ticket_id,
        )
        return
    context = await uow.orders.get(order_id) or OrderContext(order_id=order_id)
    first = context.anonymised_at is None
    at = context.anonymised_at or now
    context.erase_personal_data(at=at)
    await uow.orders.save(context)
    refs: list[str] = []
    for visit in await uow.visits.for_order(order_id, for_update=True):
        if first and not visit.ended:
            # Retention counts from the order's end: an open visit is a sign that billing and
            # fieldwork disagree about the order, worth a look, though the expiry stands.
            log.warning(
                "fieldwork.retention_expired_with_open_visit",
                order_id=order_id,
                visit_id=visit.visit_id,
                state=visit.state.value,
            )
        before = visit.model_dump(mode="json")
        refs.extend(visit.erase_personal_data(at=at))
        if visit.model_dump(mode="json") != before:
            await uow.visits.save(visit, now=at)
    for take_back in await uow.take_backs.for_order(order_id):
        take_back.erase_personal_data()
        await uow.take_backs.save(take_back)
    await uow.order_files.scrub_personal_data(order_id)
    for ref in refs:
        await store.delete(ref)
    if first:
        log.info("fieldwork.personal_data_erased", order_id=order_id, files=len(refs))


def recorded_event(envelope: EventEnvelope) -> RecordedEvent:
    """The file entry of an envelope (its data is summarised)."""
    return RecordedEvent(
        event_id=str(envelope.id),
        type=envelope.event_name,
        version=envelope.event_version,
        time=envelope.time,
        source=envelope.source,
        summary=summarise(envelope.data),
    )


def _context_from(context: OrderContext, created: OrderCreated | OrderVerified) -> None:
    customer, product = created.customer, created.product
    if customer is not None:
        address = customer.address
        context.customer_name = customer.name
        context.customer_phone = customer.phones[0] if customer.phones else None
        parts = [address.province, address.city, address.district, address.street, address.detail]
        context.address = "".join(p for p in parts if p)
        context.public_area = address.public_area  # FLD-15
    if product is not None:
        context.product_line = product.line
        context.product_model = product.model
        context.installed_on = product.installation_date or context.installed_on
        context.purchase_date = product.purchase_date or context.purchase_date
    if isinstance(created, OrderCreated):
        context.service_type = created.service_type
        context.warranty_status = created.warranty_status.value
        context.loaner_required = created.loaner_required
        context.fault = created.fault.description
    else:
        if created.warranty_status.value != "unknown":
            context.warranty_status = created.warranty_status.value
        if created.loaner_required is not None:
            # INT-6: intake re-derived the prediction from the verified product and fault (None
            # in events from before it did: OrderCreated's stands)
            context.loaner_required = created.loaner_required
        if created.fault is not None:
            # INT-2: the fault as the centre clarified it, on the service report from now on
            context.fault = created.fault.description


async def _project(envelope: EventEnvelope, *, uow: FieldworkUnitOfWork) -> None:
    """Apply a parsed event of interest to the order context and the visits."""
    data = parse_data(envelope)
    order_id = envelope.subject
    at = envelope.time
    # Visits are locked as they are loaded (REST actions change them concurrently), and the
    # order lock first, as events of one order may be applied by two replicas at once.
    await uow.orders.lock(order_id)
    context = await uow.orders.get(order_id) or OrderContext(order_id=order_id)
    if isinstance(data, OrderCreated | OrderVerified):
        _context_from(context, data)
        await uow.orders.save(context)
        for visit in await uow.visits.for_order(order_id, for_update=True):
            if visit.state is VisitState.SCHEDULED:
                _fit_to_order(visit, context)
                await uow.visits.save(visit, now=at)
        return
    if isinstance(data, OrderCancelled):
        context.cancelled = True
        await uow.orders.save(context)
        visits = await uow.visits.for_order(order_id, for_update=True)
        await _call_off(visits, at=at, uow=uow, order_cancelled=True)
        return
    if isinstance(data, OrderResolvedRemotely):
        # INT-4: no visit goes ahead. Intake resolves by phone only before it hears of a
        # departure, so a visit under way here is intake's view lagging behind it: the trip is
        # called off (on site: ended aborted, VisitClosed published) as a cancellation would,
        # so that every service agrees the order was resolved by phone.
        context.resolved_remotely = True
        await uow.orders.save(context)
        visits = await uow.visits.for_order(order_id, for_update=True)
        for visit in visits:
            if not visit.ended and visit.state is not VisitState.SCHEDULED:
                log.warning(
                    "fieldwork.resolved_remotely_while_under_way",
                    order_id=order_id,
                    visit_id=visit.visit_id,
                    state=visit.state.value,
                )
        await _call_off(visits, at=at, uow=uow)
        return
    if isinstance(data, OrderReopened):
        context.resolved_remotely = False
        await uow.orders.save(context)
        return
    if isinstance(data, OrderAssigned | AppointmentConfirmed | RevisitBooked):
        found = await uow.visits.get(data.visit_id, for_update=True)
        if found is None:
            visit = Visit(
                visit_id=data.visit_id,
                order_id=order_id,
                technician_id=data.technician_id,
                created_at=at,
                previous_visit_id=getattr(data, "previous_visit_id", None),
            )
            _fit_to_order(visit, context)
            if isinstance(data, RevisitBooked):
                await _network_of_revisit(visit, data, uow=uow)
                await _superseded(data, at=at, uow=uow)
                visit.unit_return = data.reason is RevisitReason.UNIT_RETURN
                visit.rework = data.reason is RevisitReason.CUSTOMER_DISSATISFIED
                # Scheduling books a visit for an order closed by phone only once it is open
                # again (reopened, or a dissatisfied call-back), whichever topic is read first.
                if context.resolved_remotely:
                    context.resolved_remotely = False
                    await uow.orders.save(context)
            # Events of different services are not ordered between them: an assignment made
            # before scheduling heard of the cancellation (or of the phone resolution) may come
            # after it. The visit is kept, called off, so no technician goes (SCH-12, INT-4).
            if context.cancelled or context.resolved_remotely:
                visit.cancel(at=at)
        else:
            visit = found
            if data.technician_id and visit.state is VisitState.SCHEDULED:
                visit.technician_id = data.technician_id
            elif isinstance(data, OrderAssigned) and visit.state in ON_SITE:
                await _drop_followers_of(visit, at=at, uow=uow)
        if isinstance(data, OrderAssigned) and visit.state is VisitState.SCHEDULED:
            # The network holding the visit (None for an in-house technician).
            visit.network_id = data.network_id
        window = getattr(data, "window", None) or getattr(data, "appointment", None)
        if window is not None:
            visit.window = window
        await uow.visits.save(visit, now=at)
        return
    if isinstance(data, AppointmentRescheduled):
        moved = await uow.visits.get(data.visit_id, for_update=True)
        if moved is not None and moved.order_id == order_id and moved.reschedule(data.new_window):
            await uow.visits.save(moved, now=at)
        return
    if isinstance(data, OrderReassigned):
        held = await uow.visits.get(data.visit_id, for_update=True)
        # A network placing the order with its own technician keeps the network; a move to an
        # in-house technician (or another network) changes it. A technician on the way has
        # their trip called off (SCH-6).
        if held is not None and held.order_id == order_id:
            reason = f"reassigned by {data.reassigned_by}: {data.reason or 'no reason given'}"
            await _move(held, data.technician_id, data.network_id, at=at, reason=reason, uow=uow)
        return
    if isinstance(data, OrderReturnedToCentre):
        # The holder handing the order back (a network, an in-house technician, a dispatcher
        # cancelling the assignment, a postponement, an emergency placed again) no longer holds
        # its visits not yet at the customer's, so the former technician cannot go on (or arrive
        # at) them (SCH-8, SCH-10, SCH-12). A visit on site stays with its technician.
        reason = f"returned to the centre by {data.returned_by}: {data.reason.value}" + (
            f" ({data.detail})" if data.detail else ""
        )
        for visit in await uow.visits.for_order(order_id, for_update=True):
            if _returned(visit, data):
                await _move(visit, None, None, at=at, reason=reason, uow=uow)
        return
    if isinstance(data, QuoteIssued):
        for visit in await uow.visits.for_order(order_id, for_update=True):
            if data.visit_id not in (None, visit.visit_id):
                continue
            if visit.quote_issued(
                quote_id=data.quote_id,
                request_id=data.request_id,
                lines=data.lines,
                total=data.total,
                schedule_version=data.schedule_version,
            ):
                await uow.visits.save(visit, now=at)
        return
    if isinstance(data, QuoteRefused):
        # FLD-4, BIL-1: no quote will come for the request; the technician sees why and asks
        # again with the work corrected.
        for visit in await uow.visits.for_order(order_id, for_update=True):
            if data.visit_id not in (None, visit.visit_id):
                continue
            if visit.quote_refused(
                request_id=data.request_id, reason=data.reason, at=data.refused_at
            ):
                log.info(
                    "fieldwork.quote_request_refused",
                    order_id=order_id,
                    visit_id=visit.visit_id,
                    request_id=data.request_id,
                    state=visit.state.value,
                )
                await uow.visits.save(visit, now=at)
        return
    if isinstance(data, ChargeWaived):
        for visit in await uow.visits.for_order(order_id, for_update=True):
            if visit.charge_waived(quote_id=data.quote_id, new_total=data.new_total):
                await uow.visits.save(visit, now=at)
        return
    if isinstance(data, QuoteVoided | QuoteReinstated):
        # BIL-1, FLD-4: billing no longer charges the quote (or does again); the visit, over or
        # not, shows it so and charges accordingly.
        for visit in await uow.visits.for_order(order_id, for_update=True):
            if data.visit_id not in (None, visit.visit_id):
                continue
            if isinstance(data, QuoteVoided):
                changed = visit.quote_voided(
                    quote_id=data.quote_id,
                    reason=data.reason,
                    at=data.voided_at,
                    answer=QuoteStatus(data.answer),
                    declined_quote_id=data.declined_quote_id,
                )
            else:
                changed = visit.quote_reinstated(quote_id=data.quote_id)
            if changed:
                log.info(
                    "fieldwork.quote_void_changed",
                    type=envelope.event_name,
                    order_id=order_id,
                    visit_id=visit.visit_id,
                    quote_id=data.quote_id,
                )
                await uow.visits.save(visit, now=at)


async def _call_off(
    visits: list[Visit], *, at: datetime, uow: FieldworkUnitOfWork, order_cancelled: bool = False
) -> None:
    """Cancel the visits not over (SCH-12, INT-4): one on site ends aborted and publishes
    VisitClosed with the order's service time (FLD-11); a loaner boarded goes back to stock.
    ``order_cancelled``: the order's cancellation at ``at``, kept by the visits called off."""
    on_site = {v.visit_id: v.on_site_seconds for v in visits}
    for visit in visits:
        serial = visit.loaner_serial
        visit.earlier_visits_seconds = sum(
            seconds for visit_id, seconds in on_site.items() if visit_id != visit.visit_id
        )
        if not visit.cancel(at=at, order_cancelled=order_cancelled):
            continue
        uow.track(visit)
        await uow.visits.save(visit, now=at)
        loaner = await uow.loaners.get(serial) if serial else None
        if loaner is not None and loaner.state is LoanerState.ON_BOARD:
            loaner.reclaim(at=at)
            await uow.loaners.save(loaner)


async def _move(
    visit: Visit,
    technician_id: str | None,
    network_id: str | None,
    *,
    at: datetime,
    reason: str,
    uow: FieldworkUnitOfWork,
) -> None:
    """Scheduling moved the visit (or took it back): apply it unless the technician is at the
    customer's already (on site wins: scheduling gives it back to them when it hears of the
    arrival). A trip called off on the way puts its boarded loaner back in stock (FLD-1)."""
    serial, trips = visit.loaner_serial, len(visit.trips_called_off)
    if visit.reassign(technician_id, network_id=network_id, at=at, reason=reason):
        await uow.visits.save(visit, now=at)
        if len(visit.trips_called_off) > trips:
            log.info(
                "fieldwork.trip_called_off",
                order_id=visit.order_id,
                visit_id=visit.visit_id,
                technician_id=visit.trips_called_off[-1].technician_id,
                handed_to=technician_id,
            )
            loaner = await uow.loaners.get(serial) if serial else None
            if loaner is not None and loaner.state is LoanerState.ON_BOARD:
                loaner.reclaim(at=at)
                await uow.loaners.save(loaner)
    elif (
        not visit.ended
        and visit.state is not VisitState.SCHEDULED
        and (technician_id != visit.technician_id)
    ):
        log.warning(
            "fieldwork.move_after_arrival_ignored",
            order_id=visit.order_id,
            visit_id=visit.visit_id,
            state=visit.state.value,
            technician_id=visit.technician_id,
            moved_to=technician_id,
            reason=reason,
        )


def _returned(visit: Visit, data: OrderReturnedToCentre) -> bool:
    """Whether the return concerns the visit: the one it names, else the returning holder's."""
    if data.visit_id is not None:
        return visit.visit_id == data.visit_id
    if data.network_id is not None:
        return visit.network_id == data.network_id
    return visit.network_id is None and data.technician_id in (None, visit.technician_id)


async def _network_of_revisit(
    visit: Visit, data: RevisitBooked, *, uow: FieldworkUnitOfWork
) -> None:
    """A revisit by the same technician (or none named yet) stays with the previous visit's
    network; another technician is scheduling's in-house choice until it says otherwise."""
    if data.previous_visit_id is None:
        return
    previous = await uow.visits.get(data.previous_visit_id)
    if previous is None or previous.order_id != visit.order_id:
        return
    if data.technician_id is None or data.technician_id == previous.technician_id:
        visit.network_id = previous.network_id


async def _superseded(data: RevisitBooked, *, at: datetime, uow: FieldworkUnitOfWork) -> None:
    """The next visit replaces one that never started and that nobody holds any more (SCH-10:
    the customer postponed, the order went back to the centre, a trip was called off on the
    way): the old one is called off, not left scheduled for ever. One still held is left to its
    holder: scheduling takes it back (OrderReturnedToCentre) if it is not to go ahead."""
    if data.previous_visit_id is None:
        return
    previous = await uow.visits.get(data.previous_visit_id, for_update=True)
    if previous is None or previous.order_id != data.order_id:
        return
    if previous.state is not VisitState.SCHEDULED or previous.technician_id is not None:
        return
    if previous.cancel(at=at):
        await uow.visits.save(previous, now=at)


async def _drop_followers_of(visit: Visit, *, at: datetime, uow: FieldworkUnitOfWork) -> None:
    """Scheduling gave back a visit whose technician is on site (SCH-10: the postponement that
    superseded it crossed the arrival): the visit booked to follow it, never started and held by
    nobody now, is called off rather than left scheduled for ever."""
    for other in await uow.visits.for_order(visit.order_id, for_update=True):
        if (
            other.previous_visit_id == visit.visit_id
            and other.state is VisitState.SCHEDULED
            and other.technician_id is None
            and other.cancel(at=at)
        ):
            await uow.visits.save(other, now=at)


def _fit_to_order(visit: Visit, context: OrderContext) -> None:
    visit.job_type = context.job_type
    visit.loaner_required = context.loaner_required
    if visit.diagnosis is None:
        visit.warranty_status = type(visit.warranty_status)(context.warranty_status)


COMMAND_HANDLERS: dict[type, Callable[..., Awaitable[Any]]] = {
    c.ActOnVisit: act_on_visit,
    c.ApplyOfflineBatch: apply_offline_batch,
    c.UploadEvidence: upload_evidence,
    c.RegisterLoaner: register_loaner,
    c.RecordWorkshopProgress: record_workshop_progress,
    c.ReturnUnit: return_unit,
    c.CollectLoaner: collect_loaner,
    c.LogTicketContact: log_ticket_contact,
    c.CheckTicket: check_ticket,
    c.AssignTicket: assign_ticket,
    c.CloseTicket: close_ticket,
}
