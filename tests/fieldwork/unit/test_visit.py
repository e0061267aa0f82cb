"""The visit state machine and the on-site rules FLD-1..FLD-15 (pure domain)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from PIL import Image

from contracts.billing import QuoteLine
from contracts.common import PartLine, TimeWindow, WarrantyStatus, WorkItem, WorkItemKind
from contracts.fieldwork import (
    CentreDecisionKind,
    CentreDecisionRequested,
    CoordinationCheckDue,
    CoordinationTicketOpened,
    CustomerNotHome,
    CustomerSignedOff,
    DamageReported,
    FaultEscalated,
    InstallationCompleted,
    QuoteRequested,
    RepairCompleted,
    RepairFailed,
    RepairFailureReason,
    SafetyIncident,
    SafetyIncidentKind,
    SignOff,
    TechnicianArrived,
    UnitReturned,
    UnitReturnOverdue,
    VisitClosed,
    VisitOutcome,
    WorkshopProgressRecorded,
)
from fieldwork.domain.coordination import CoordinationTicket, unfinished_reason
from fieldwork.domain.evidence import check_upload, image_dimensions
from fieldwork.domain.exceptions import (
    IllegalTransition,
    LoanerUnavailable,
    RuleViolation,
    UploadRefused,
    UploadTooLarge,
)
from fieldwork.domain.policy import DEFAULT_KIT, FieldworkPolicy
from fieldwork.domain.visit import (
    AttemptKind,
    DoorOutcome,
    EvidenceKind,
    MissingPartOption,
    NextStep,
    QuoteStatus,
    Visit,
    VisitState,
)
from fieldwork.domain.workshop import Loaner, LoanerState, TakeBack

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DAY = date(2026, 3, 2)  # T0's business day in Shanghai
POLICY = FieldworkPolicy()
PART = PartLine(part_no="P-1", name="点火针")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_visit(**kw: object) -> Visit:
    fields: dict[str, object] = {
        "visit_id": "v-1",
        "order_id": "o-1",
        "technician_id": "tech-7",
        "created_at": T0,
        "warranty_status": WarrantyStatus.IN_WARRANTY,
    }
    fields.update(kw)
    return Visit.model_validate(fields)


def departed(**kw: object) -> Visit:
    visit = new_visit(**kw)
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)
    return visit


def arrived(**kw: object) -> Visit:
    visit = departed(**kw)
    visit.arrive(at=at(30))
    return visit


def inside(**kw: object) -> Visit:
    visit = arrived(**kw)
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    return visit


def installing() -> Visit:
    """Inside for an installation job, with its kit (FLD-1, FLD-10)."""
    visit = new_visit(job_type="installation")
    kit = POLICY.kit_for("installation", loaner_required=False)
    visit.depart(at=at(0), eta=at(30), kit_checked=kit, policy=POLICY)
    visit.arrive(at=at(30))
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    return visit


def knock_through_the_wait(
    visit: Visit, *, start: float = 30, policy: FieldworkPolicy = POLICY
) -> float:
    """FLD-2: a knock logged in every knock interval of the wait from minute ``start``; the
    minute the wait ends."""
    step = policy.door_knock_interval_seconds / 60
    end = start + policy.not_home_after_minutes
    minute = start
    while minute < end:
        visit.log_attempt(at=at(minute), kind=AttemptKind.DOOR)
        minute += step
    return end


def upload(visit: Visit, kind: EvidenceKind, ref: str) -> str:
    visit.add_evidence(at=at(1), ref=ref, kind=kind, content_type="image/png", size=10)
    return ref


def take_unit_back(
    visit: Visit, *, minute: float = 50, photo: str = "p1", loaner_serial: str | None = None
) -> None:
    """Take the unit back at ``minute`` under receipt R-1, photographed (``photo`` uploaded),
    its return promised for 9 March."""
    visit.take_unit_back(
        at=at(minute),
        receipt_number="R-1",
        appearance="外观完好",
        photo_refs=[upload(visit, EvidenceKind.PHOTO, photo)],
        promised_return_date=date(2026, 3, 9),
        today=date(2026, 3, 2),
        loaner_serial=loaner_serial,
    )


def quoted(**kw: object) -> Visit:
    visit = inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY, **kw)
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])
    assert visit.quote is not None
    visit.quote_issued(
        quote_id="q-1",
        request_id=visit.quote.request_id,
        lines=[
            QuoteLine(
                kind=WorkItemKind.PART,
                description="点火针",
                unit_price=Decimal("80.00"),
                amount=Decimal("80.00"),
                rule_id="BIL-1",
            )
        ],
        total=Decimal("80.00"),
        schedule_version="2026-01",
    )
    return visit


def types(visit: Visit) -> list[str]:
    return [type(e).__name__ for e in visit.events]


# -- the state machine ---------------------------------------------------------------------------


def test_an_illegal_transition_is_refused_with_the_allowed_actions() -> None:
    visit = new_visit()

    with pytest.raises(IllegalTransition) as refused:
        visit.arrive(at=at(0))

    assert refused.value.extensions["state"] == "scheduled"
    assert refused.value.extensions["allowed"] == ["depart"]
    assert visit.state is VisitState.SCHEDULED and visit.events == []


def test_a_visit_runs_from_departure_to_completion_publishing_each_step() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])
    visit.start_repair(at=at(45))
    visit.start_test(at=at(70))
    visit.complete_repair(at=at(80), tested=True, sure_fixed=True, remedy="更换点火针")

    assert visit.state is VisitState.COMPLETED
    assert types(visit) == [
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
    ]


# -- FLD-1 ---------------------------------------------------------------------------------------


def test_fld_1_departure_needs_the_job_types_kit_checked() -> None:
    visit = new_visit(job_type="gas_appliance")

    with pytest.raises(RuleViolation) as refused:
        visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)

    assert refused.value.rule == "FLD-1"
    assert refused.value.extensions["missing"] == ["gas_leak_detector"]
    visit.depart(
        at=at(0), eta=at(30), kit_checked=[*DEFAULT_KIT, "gas_leak_detector"], policy=POLICY
    )
    assert visit.state is VisitState.DEPARTED
    assert visit.events[0].kit_checked is True  # type: ignore[attr-defined]


def test_fld_1_a_take_back_likely_order_needs_a_loaner_in_the_kit() -> None:
    visit = new_visit(loaner_required=True)

    with pytest.raises(RuleViolation) as refused:
        visit.depart(at=at(0), eta=at(30), kit_checked=[*DEFAULT_KIT, "loaner"], policy=POLICY)

    assert refused.value.extensions["missing"] == ["loaner"]
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY, loaner_serial="L1")
    assert visit.events[0].loaner_on_board is True  # type: ignore[attr-defined]


# -- FLD-2 / FLD-3 -------------------------------------------------------------------------------


def test_fld_2_not_home_is_refused_earlier_than_5_minutes_after_arrival() -> None:
    visit = arrived()
    visit.log_attempt(at=at(31), kind=AttemptKind.PHONE)

    with pytest.raises(RuleViolation) as refused:
        visit.record_not_home(at=at(34.9), policy=POLICY, note="请回电")

    assert refused.value.rule == "FLD-2"
    assert refused.value.extensions["earliest_at"] == at(35).isoformat()


def test_fld_2_not_home_is_refused_without_a_phone_attempt() -> None:
    visit = arrived()
    knock_through_the_wait(visit)

    with pytest.raises(RuleViolation, match="Phone the customer"):
        visit.record_not_home(at=at(40), policy=POLICY, note="请回电")


def test_fld_2_not_home_needs_a_note_and_stores_it() -> None:
    visit = arrived()
    visit.log_attempt(at=at(knock_through_the_wait(visit)), kind=AttemptKind.PHONE)
    with pytest.raises(RuleViolation, match="note"):
        visit.record_not_home(at=at(36), policy=POLICY)

    visit.record_not_home(at=at(36), policy=POLICY, note="师傅已上门，请致电 400-000")

    assert visit.state is VisitState.NOT_HOME
    assert visit.not_home_note == "师傅已上门，请致电 400-000"
    event = visit.events[-2]
    assert isinstance(event, CustomerNotHome)
    assert (event.waited_minutes, event.phoned, event.note_left) == (6, True, True)
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.outcome is VisitOutcome.CUSTOMER_NOT_HOME


def test_fld_2_not_home_is_refused_after_one_phone_call_and_no_knocking() -> None:
    visit = arrived()
    visit.log_attempt(at=at(35), kind=AttemptKind.PHONE)

    with pytest.raises(RuleViolation) as refused:
        visit.record_not_home(at=at(36), policy=POLICY, note="请回电")

    assert refused.value.rule == "FLD-2" and "Knock again" in str(refused.value)
    # One silent stretch: the whole wait from the arrival.
    assert refused.value.extensions["unknocked_from"] == [at(30).isoformat()]
    assert refused.value.extensions["knock_interval_seconds"] == POLICY.door_knock_interval_seconds
    assert visit.state is VisitState.ARRIVED


def test_fld_2_not_home_is_refused_when_one_knock_interval_of_the_wait_has_no_knock() -> None:
    visit = arrived()
    knock_through_the_wait(visit)
    skipped = at(32)
    visit.attempts = [a for a in visit.attempts if a.at != skipped]
    visit.log_attempt(at=at(35), kind=AttemptKind.PHONE)

    with pytest.raises(RuleViolation) as refused:
        visit.record_not_home(at=at(36), policy=POLICY, note="请回电")

    # Silent from the knock before the one skipped (FLD-2: the spacing of the knocks counts).
    interval = timedelta(seconds=POLICY.door_knock_interval_seconds)
    assert refused.value.extensions["unknocked_from"] == [(skipped - interval).isoformat()]


def test_fld_2_after_a_gap_in_the_knocking_the_wait_starts_again() -> None:
    visit = arrived()
    visit.log_attempt(at=at(30), kind=AttemptKind.DOOR)
    restart = 33.0
    visit.log_attempt(at=at(restart - 1), kind=AttemptKind.PHONE)  # before the knocking's end
    knocked_until = knock_through_the_wait(visit, start=restart)

    with pytest.raises(RuleViolation, match="Phone the customer") as refused:
        visit.record_not_home(at=at(knocked_until), policy=POLICY, note="请回电")
    assert refused.value.extensions["phone_from"] == at(knocked_until).isoformat()

    visit.log_attempt(at=at(knocked_until), kind=AttemptKind.PHONE)
    visit.record_not_home(at=at(knocked_until + 1), policy=POLICY, note="请回电")
    assert visit.state is VisitState.NOT_HOME


def test_fld_2_the_call_comes_after_the_knocking_and_must_not_have_reached_the_customer() -> None:
    visit = arrived()
    visit.log_attempt(at=at(30), kind=AttemptKind.PHONE)
    knocked_until = knock_through_the_wait(visit)
    visit.log_attempt(at=at(knocked_until), kind=AttemptKind.PHONE, reached=True)

    with pytest.raises(RuleViolation, match="Phone the customer"):
        visit.record_not_home(at=at(knocked_until + 1), policy=POLICY, note="请回电")

    visit.log_attempt(at=at(knocked_until + 1), kind=AttemptKind.PHONE)
    visit.record_not_home(at=at(knocked_until + 2), policy=POLICY, note="请回电")
    assert visit.state is VisitState.NOT_HOME


def test_fld_2_the_knock_interval_and_the_wait_come_from_the_policy() -> None:
    sparse = FieldworkPolicy(
        door_knock_interval_seconds=POLICY.door_knock_interval_seconds * 3,
        not_home_after_minutes=POLICY.not_home_after_minutes,
    )
    knocks = -(-sparse.not_home_after_minutes * 60 // sparse.door_knock_interval_seconds)
    visit = arrived()
    knocked_until = knock_through_the_wait(visit, policy=sparse)
    visit.log_attempt(at=at(knocked_until), kind=AttemptKind.PHONE)
    assert len(visit.attempts) == knocks + 1

    with pytest.raises(RuleViolation, match=f"every {POLICY.door_knock_interval_seconds} s"):
        visit.record_not_home(at=at(knocked_until), policy=POLICY, note="请回电")
    visit.record_not_home(at=at(knocked_until), policy=sparse, note="请回电")

    assert visit.state is VisitState.NOT_HOME


def test_fld_3_a_housekeeper_who_cannot_reach_the_customer_means_rebook() -> None:
    visit = arrived()

    with pytest.raises(RuleViolation, match="rebook"):
        visit.record_door_outcome(
            at=at(32),
            outcome=DoorOutcome.SOMEONE_ELSE_UNCONFIRMED,
            next_step=NextStep.PROCEED,
            id_shown=True,
        )
    visit.record_door_outcome(
        at=at(32),
        outcome=DoorOutcome.SOMEONE_ELSE_UNCONFIRMED,
        next_step=NextStep.REBOOK,
        id_shown=True,
    )

    assert visit.state is VisitState.REBOOK
    event = visit.events[-2]
    assert isinstance(event, CustomerNotHome) and event.someone_else_home is True


def test_fld_3_waiting_needs_consent_and_going_in_needs_the_id_shown() -> None:
    visit = arrived()
    with pytest.raises(RuleViolation, match="consent"):
        visit.record_door_outcome(
            at=at(32), outcome=DoorOutcome.POWER_CUT, next_step=NextStep.WAIT, id_shown=True
        )
    visit.record_door_outcome(
        at=at(32),
        outcome=DoorOutcome.POWER_CUT,
        next_step=NextStep.WAIT,
        id_shown=True,
        customer_consent=True,
    )
    assert visit.state is VisitState.ARRIVED
    with pytest.raises(RuleViolation, match="ID"):
        visit.record_door_outcome(
            at=at(50),
            outcome=DoorOutcome.CUSTOMER_PRESENT,
            next_step=NextStep.PROCEED,
            id_shown=False,
        )


# -- FLD-4 ---------------------------------------------------------------------------------------


def test_fld_4_out_of_warranty_asks_for_a_quote_and_refuses_repair_without_consent() -> None:
    visit = inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY)
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])

    assert visit.state is VisitState.AWAITING_CONSENT
    assert isinstance(visit.events[-1], QuoteRequested)
    for attempt in (
        lambda: visit.start_repair(at=at(41)),
        lambda: visit.complete_repair(at=at(41), tested=False, sure_fixed=True),
        lambda: visit.record_work(at=at(41), description="换针"),
    ):
        with pytest.raises(RuleViolation) as refused:
            attempt()
        assert refused.value.rule == "FLD-4"


def test_fld_4_consent_needs_the_issued_quote_and_the_signature() -> None:
    visit = inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY)
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])
    with pytest.raises(RuleViolation, match="not issued"):
        visit.accept_quote(at=at(41), quote_id="q-1", signature_ref="sig")

    visit = quoted()
    with pytest.raises(RuleViolation, match="signature_ref"):
        visit.accept_quote(at=at(41), quote_id="q-1", signature_ref="not-uploaded")
    visit.accept_quote(
        at=at(41), quote_id="q-1", signature_ref=upload(visit, EvidenceKind.SIGNATURE, "s")
    )
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)

    assert visit.state is VisitState.COMPLETED
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.paid_work is True


def test_fld_4_declined_ends_the_visit_declined() -> None:
    visit = quoted()

    visit.decline_quote(at=at(42), quote_id="q-1", reason="太贵", discount_requested=True)

    assert visit.state is VisitState.DECLINED
    assert types(visit)[-2:] == ["QuoteDeclined", "VisitClosed"]
    with pytest.raises(IllegalTransition):
        visit.start_repair(at=at(43))


def awaiting_quote() -> Visit:
    """Chargeable work diagnosed; billing has not issued the quote (no schedule, or down)."""
    visit = inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY)
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])
    assert visit.state is VisitState.AWAITING_CONSENT
    return visit


def test_fld_4_the_customer_may_decline_while_billings_quote_is_still_awaited() -> None:
    visit = awaiting_quote()
    assert "decline_quote" in visit.allowed_actions()

    visit.decline_quote(at=at(55), reason="不等了，不修")

    assert visit.state is VisitState.DECLINED
    assert visit.quote is not None and visit.quote.status is QuoteStatus.DECLINED
    assert visit.quote.decline_reason == "不等了，不修"
    # QuoteDeclined needs a quote id there is none of: VisitClosed tells scheduling/feedback.
    assert "QuoteDeclined" not in types(visit)
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.outcome is VisitOutcome.DECLINED
    assert closed.paid_work is False
    late = visit.quote_issued(
        quote_id="q-1",
        request_id=visit.quote.request_id,
        lines=[],
        total=Decimal("80.00"),
        schedule_version="2026-01",
    )
    assert late is False and visit.quote.quote_id is None
    with pytest.raises(IllegalTransition):
        visit.start_repair(at=at(56))


def test_fld_4_a_decline_before_the_quote_names_no_quote_and_asks_no_discount() -> None:
    visit = awaiting_quote()

    with pytest.raises(RuleViolation, match="not issued") as unknown:
        visit.decline_quote(at=at(55), quote_id="q-1")
    with pytest.raises(RuleViolation) as discount:
        visit.decline_quote(at=at(55), discount_requested=True)

    assert unknown.value.rule == "FLD-4" and discount.value.rule == "BIL-8"
    assert visit.state is VisitState.AWAITING_CONSENT and "VisitClosed" not in types(visit)


def test_fld_4_declining_without_naming_the_issued_quote_declines_that_quote() -> None:
    visit = quoted()

    visit.decline_quote(at=at(42))

    assert types(visit)[-2:] == ["QuoteDeclined", "VisitClosed"]
    assert visit.events[-2].quote_id == "q-1"  # type: ignore[attr-defined]


def test_fld_4_fld_5_a_visit_awaiting_the_quote_can_end_unfinished_and_be_rebooked() -> None:
    failed = awaiting_quote()
    assert {"fail", "missing_part"} <= set(failed.allowed_actions())

    failed.fail(at=at(60), reason=RepairFailureReason.NEEDS_SECOND_VISIT, detail="收费标准未发布")

    assert failed.state is VisitState.FAILED
    assert types(failed)[-2:] == ["RepairFailed", "VisitClosed"]
    assert failed.events[-1].outcome is VisitOutcome.UNFINISHED  # type: ignore[attr-defined]

    rebooked = awaiting_quote()
    rebooked.missing_part(at=at(60), option=MissingPartOption.REBOOK, parts=[PART])

    assert rebooked.state is VisitState.REBOOK
    event = rebooked.events[-2]
    assert isinstance(event, RepairFailed) and event.reason is RepairFailureReason.MISSING_PART


def test_fld_5_a_part_fetched_while_awaiting_the_quote_returns_to_awaiting_consent() -> None:
    visit = awaiting_quote()

    visit.missing_part(at=at(45), option=MissingPartOption.FETCH, parts=[PART])
    visit.resume(at=at(70))

    assert visit.state is VisitState.AWAITING_CONSENT
    with pytest.raises(RuleViolation) as refused:
        visit.start_repair(at=at(71))
    assert refused.value.rule == "FLD-4"


def test_fld_4_fld_6_no_take_back_of_chargeable_work_before_consent() -> None:
    visit = awaiting_quote()

    with pytest.raises(IllegalTransition):
        take_unit_back(visit, minute=60, photo="p")


def test_fld_4_work_marked_chargeable_in_warranty_goes_to_billing_as_not_covered() -> None:
    visit = inside(warranty_status=WarrantyStatus.IN_WARRANTY)

    visit.diagnose(
        at=at(40),
        cause="人为损坏",
        parts=[PART, PART.model_copy(update={"covered_by_warranty": True})],
        chargeable=True,
    )

    request = visit.events[-1]
    assert isinstance(request, QuoteRequested)
    assert [i.covered_by_warranty for i in request.items] == [False, True]
    assert visit.state is VisitState.AWAITING_CONSENT


# -- FLD-5 ---------------------------------------------------------------------------------------


def test_fld_5_fetching_a_part_pauses_the_visit_and_the_time_still_counts() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.start_repair(at=at(41))
    visit.missing_part(at=at(45), option=MissingPartOption.FETCH, parts=[PART])

    assert visit.state is VisitState.PAUSED
    with pytest.raises(IllegalTransition):
        visit.record_work(at=at(50), description="x")
    visit.resume(at=at(75))
    visit.complete_repair(at=at(90), tested=False, sure_fixed=True)

    assert visit.on_site_seconds == 60 * 60


def test_fld_5_rebooking_for_a_missing_part_is_a_repair_failed_with_the_reason() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")

    visit.missing_part(at=at(45), option=MissingPartOption.REBOOK, parts=[PART], detail="缺件")

    assert visit.state is VisitState.REBOOK
    failed = visit.events[-2]
    assert isinstance(failed, RepairFailed)
    assert failed.reason is RepairFailureReason.MISSING_PART and failed.parts_needed == [PART]


# -- FLD-6 ---------------------------------------------------------------------------------------


def test_fld_6_take_back_records_appearance_photos_receipt_and_loaner() -> None:
    visit = inside()
    visit.loaner_required = True  # the order asked for one after departure
    visit.diagnose(at=at(40), cause="主板故障", take_back_needed=True)
    with pytest.raises(RuleViolation, match="Photograph"):
        visit.take_unit_back(
            at=at(50),
            receipt_number="R-1",
            appearance="外观完好",
            photo_refs=[],
            promised_return_date=date(2026, 3, 9),
            today=date(2026, 3, 2),
        )
    with pytest.raises(RuleViolation, match="loaner"):
        visit.take_unit_back(
            at=at(50),
            receipt_number="R-1",
            appearance="外观完好",
            photo_refs=[upload(visit, EvidenceKind.PHOTO, "p1")],
            promised_return_date=date(2026, 3, 9),
            today=date(2026, 3, 2),
        )

    visit.take_unit_back(
        at=at(50),
        receipt_number="R-1",
        appearance="外观完好",
        photo_refs=["p1"],
        promised_return_date=date(2026, 3, 9),
        today=date(2026, 3, 2),
        loaner_serial="L1",
    )

    assert visit.state is VisitState.TAKEN_BACK
    assert types(visit)[-2:] == ["UnitTakenBack", "VisitClosed"]


def test_fld_6_a_customer_refusing_take_back_gets_an_on_site_repair_with_part_serials() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.refuse_take_back(at=at(41))
    visit.start_repair(at=at(42))
    visit.record_work(at=at(50), description="换件", parts=[PART])

    with pytest.raises(RuleViolation) as refused:
        visit.complete_repair(at=at(60), tested=False, sure_fixed=True)
    assert refused.value.rule == "FLD-6"

    visit.work[-1] = visit.work[-1].model_copy(
        update={"parts": [PART.model_copy(update={"serial": "SN-9"})]}
    )
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)
    assert visit.state is VisitState.COMPLETED


def test_fld_6_loaner_inventory_boards_lends_and_reclaims() -> None:
    loaner = Loaner(serial="L1", product_line="water_heater")
    loaner.board(order_id="o-1", visit_id="v-1", at=at(0))
    with pytest.raises(LoanerUnavailable):
        loaner.board(order_id="o-2", visit_id="v-2", at=at(1))
    with pytest.raises(LoanerUnavailable):
        loaner.lend(order_id="o-2", receipt_number="R", due_back=date(2026, 3, 9), at=at(1))
    loaner.lend(order_id="o-1", receipt_number="R", due_back=date(2026, 3, 9), at=at(1))
    assert loaner.state is LoanerState.LENT
    loaner.reclaim(at=at(2))
    assert loaner.state is LoanerState.AVAILABLE and loaner.order_id is None


def _take_back(loaner_serial: str | None = None) -> TakeBack:
    return TakeBack(
        receipt_number="R-1",
        order_id="o-1",
        visit_id="v-1",
        promised_return_date=date(2026, 3, 9),
        taken_at=T0,
        loaner_serial=loaner_serial,
    )


def test_fld_6_a_unit_not_back_by_its_date_raises_one_overdue_event() -> None:
    tb = _take_back(loaner_serial="L1")

    assert tb.check_overdue(now=T0, today=date(2026, 3, 9)) is False
    assert tb.check_overdue(now=T0, today=date(2026, 3, 10)) is True
    assert tb.check_overdue(now=T0, today=date(2026, 3, 11)) is False
    assert [type(e) for e in tb.events] == [UnitReturnOverdue]
    tb.return_unit(at=T0, today=date(2026, 3, 12), loaner_recovered=True)
    returned = tb.events[-1]
    assert isinstance(returned, UnitReturned)
    assert (returned.on_time, returned.loaner_recovered) == (False, True)


def test_fld_6_each_workshop_step_is_published_until_the_unit_is_back() -> None:
    tb = _take_back()
    tb.record_progress(at=T0, stage="received")
    tb.record_progress(at=T0, stage="waiting_for_part", note="主板缺货")
    assert [(e.stage, e.note) for e in tb.events if isinstance(e, WorkshopProgressRecorded)] == [
        ("received", None),
        ("waiting_for_part", "主板缺货"),
    ]
    tb.return_unit(at=T0, today=date(2026, 3, 8))
    with pytest.raises(RuleViolation):
        tb.record_progress(at=T0, stage="repaired")


# -- FLD-7 / FLD-8 -------------------------------------------------------------------------------


def test_fld_7_an_unknown_fault_is_escalated_before_failing_for_it() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="未知", unknown_fault=True)
    with pytest.raises(RuleViolation) as refused:
        visit.fail(at=at(41), reason=RepairFailureReason.UNKNOWN_FAULT)
    assert refused.value.rule == "FLD-7"

    visit.escalate(at=at(42), description="E9 不在故障表", fault_code="E9", desk="technical_desk")
    visit.fail(at=at(60), reason=RepairFailureReason.UNKNOWN_FAULT)

    assert isinstance(visit.events[-3], FaultEscalated)
    assert visit.state is VisitState.FAILED


def test_fld_8_return_exchange_and_compensation_go_to_the_centre() -> None:
    visit = inside()

    request = visit.request_centre_decision(
        at=at(40), kind=CentreDecisionKind.EXCHANGE, reason="三次维修仍有故障"
    )

    assert request.status == "sent_to_centre"
    event = visit.events[-1]
    assert isinstance(event, CentreDecisionRequested) and event.kind is CentreDecisionKind.EXCHANGE
    assert visit.state is VisitState.DIAGNOSING


# -- FLD-9 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tested", "sure"), [(False, True), (True, False), (True, True)])
def test_fld_9_repair_completed_says_whether_tested_and_sure_fixed(
    tested: bool, sure: bool
) -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.start_repair(at=at(41))
    if tested:
        visit.start_test(at=at(50))

    visit.complete_repair(at=at(60), tested=tested, sure_fixed=sure, latent_faults_fixed=["漏水"])

    done = visit.events[-2]
    assert isinstance(done, RepairCompleted)
    assert (done.tested, done.sure_fixed, done.latent_faults_fixed) == (tested, sure, ["漏水"])


def test_fld_9_tested_needs_a_test_run_and_a_failed_test_is_reexamined() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.start_repair(at=at(41))
    with pytest.raises(RuleViolation) as refused:
        visit.complete_repair(at=at(60), tested=True, sure_fixed=True)
    assert refused.value.rule == "FLD-9"
    visit.start_test(at=at(50))
    visit.reexamine(at=at(55))
    assert visit.state is VisitState.DIAGNOSING


# -- FLD-10 --------------------------------------------------------------------------------------


def test_fld_10_installation_needs_a_photo_and_the_barcode() -> None:
    visit = installing()
    with pytest.raises(RuleViolation, match="photo"):
        visit.complete_installation(
            at=at(90),
            today=DAY,
            arrived_on=DAY,
            photo_refs=[],
            barcodes=["690123"],
            policy=POLICY,
        )
    photo = upload(visit, EvidenceKind.PHOTO, "p1")
    with pytest.raises(RuleViolation, match="barcode"):
        visit.complete_installation(
            at=at(90),
            today=DAY,
            arrived_on=DAY,
            photo_refs=[photo],
            barcodes=[" "],
            policy=POLICY,
        )
    visit.complete_installation(
        at=at(90),
        today=DAY,
        arrived_on=DAY,
        photo_refs=[photo],
        barcodes=["690123"],
        policy=POLICY,
    )
    done = visit.events[-2]
    assert isinstance(done, InstallationCompleted) and done.barcodes == ["690123"]


def test_fld_10_a_substandard_condition_needs_the_customers_signature() -> None:
    visit = installing()
    photo = upload(visit, EvidenceKind.PHOTO, "p1")
    with pytest.raises(RuleViolation, match="signature"):
        visit.complete_installation(
            at=at(90),
            today=DAY,
            arrived_on=DAY,
            photo_refs=[photo],
            barcodes=["6901"],
            substandard_conditions=["水压低"],
            policy=POLICY,
        )
    signature = upload(visit, EvidenceKind.SIGNATURE, "s1")
    visit.complete_installation(
        at=at(90),
        today=DAY,
        arrived_on=DAY,
        photo_refs=[photo],
        barcodes=["6901"],
        substandard_conditions=["水压低"],
        conditions_signature_ref=signature,
        policy=POLICY,
    )
    done = visit.events[-2]
    assert isinstance(done, InstallationCompleted) and done.conditions_signed_by_customer


def complete_installation_on(visit: Visit, **dates: date | None) -> None:
    photo = upload(visit, EvidenceKind.PHOTO, "p1")
    visit.complete_installation(
        at=at(90), photo_refs=[photo], barcodes=["6901"], policy=POLICY, **dates
    )


def test_fld_10_bil_5_an_installation_is_installed_on_the_day_of_completion_by_default() -> None:
    visit = installing()

    complete_installation_on(visit, today=DAY, arrived_on=DAY)

    done = visit.events[-2]
    assert isinstance(done, InstallationCompleted) and done.installed_on == DAY
    assert visit.installation is not None and visit.installation.installed_on == DAY


@pytest.mark.parametrize(
    ("installed_on", "limit"),
    [
        (DAY + timedelta(days=3), "after the day of completion"),
        (date(2025, 10, 15), "before the visit's arrival"),
    ],
)
def test_fld_10_bil_5_an_installation_date_outside_the_visit_is_refused(
    installed_on: date, limit: str
) -> None:
    visit = installing()

    with pytest.raises(RuleViolation, match=limit) as refused:
        complete_installation_on(visit, today=DAY, arrived_on=DAY, installed_on=installed_on)

    assert refused.value.rule == "FLD-10"
    assert refused.value.extensions["field"] == "installed_on"
    assert visit.state is not VisitState.COMPLETED and visit.installation is None
    assert "InstallationCompleted" not in types(visit)


def test_fld_10_bil_5_an_installation_over_midnight_may_be_dated_either_day() -> None:
    for installed_on in (DAY - timedelta(days=1), DAY):
        visit = installing()
        complete_installation_on(
            visit, today=DAY, arrived_on=DAY - timedelta(days=1), installed_on=installed_on
        )
        assert visit.installation is not None
        assert visit.installation.installed_on == installed_on


def test_fld_10_bil_5_an_installation_date_before_the_purchase_date_is_refused() -> None:
    visit = installing()

    with pytest.raises(RuleViolation, match="purchase date") as refused:
        complete_installation_on(
            visit,
            today=DAY,
            arrived_on=DAY - timedelta(days=1),
            installed_on=DAY - timedelta(days=1),
            purchased_on=DAY,
        )

    assert refused.value.rule == "FLD-10"
    assert refused.value.extensions["earliest"] == DAY.isoformat()
    complete_installation_on(visit, today=DAY, arrived_on=DAY - timedelta(days=1), purchased_on=DAY)
    assert visit.installation is not None and visit.installation.installed_on == DAY


def test_fld_10_uploads_are_checked_for_type_and_size() -> None:
    assert check_upload(content_type="image/png", data=PNG, policy=POLICY) == "png"
    with pytest.raises(UploadRefused):
        check_upload(content_type="application/pdf", data=b"%PDF-1.4", policy=POLICY)
    with pytest.raises(UploadRefused, match="not a image/jpeg"):
        check_upload(content_type="image/jpeg", data=PNG, policy=POLICY)
    small = FieldworkPolicy(upload_max_bytes=10)
    with pytest.raises(UploadTooLarge):
        check_upload(content_type="image/png", data=PNG, policy=small)


# -- FLD-11 --------------------------------------------------------------------------------------


def test_fld_11_on_site_time_is_unrounded_and_adds_up_over_visits() -> None:
    visit = inside()
    visit.earlier_visits_seconds = 47 * 60 + 13
    visit.diagnose(at=at(40), cause="c")
    visit.start_repair(at=at(41))
    visit.complete_repair(at=at(30 + 22.5), tested=False, sure_fixed=True)

    done, closed = visit.events[-2], visit.events[-1]
    assert isinstance(done, RepairCompleted) and isinstance(closed, VisitClosed)
    assert done.on_site_seconds == 22 * 60 + 30
    assert closed.service_seconds_total == 22 * 60 + 30 + 47 * 60 + 13
    assert closed.service_minutes_total == 69


# -- FLD-12 --------------------------------------------------------------------------------------


def test_fld_12_completion_never_needs_a_signature_and_refusing_to_sign_is_recorded() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="")
    visit.start_repair(at=at(41))
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)
    assert visit.state is VisitState.COMPLETED

    visit.sign_off(at=at(61), signed=False, repair_quality=None, service_attitude=None)
    signed = visit.events[-1]
    assert isinstance(signed, CustomerSignedOff) and signed.sign_off is SignOff.REFUSED
    visit.complete_report(at=at(200), cause="点火针老化", remedy="更换点火针")
    assert (visit.cause, visit.remedy) == ("点火针老化", "更换点火针")


def test_fld_12_a_signed_sign_off_needs_the_signature_image() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.start_repair(at=at(41))
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)
    with pytest.raises(RuleViolation):
        visit.sign_off(at=at(61), signed=True)
    visit.sign_off(at=at(61), signed=True, signature_ref=upload(visit, EvidenceKind.SIGNATURE, "s"))
    with pytest.raises(RuleViolation, match="already"):
        visit.sign_off(at=at(62), signed=False)


# -- FLD-13 / FLD-14 -----------------------------------------------------------------------------


def test_fld_13_damage_is_reported_for_the_centre() -> None:
    visit = inside()
    visit.report_damage(at=at(45), description="地板划痕", estimated_cost=Decimal("200"))
    event = visit.events[-1]
    assert isinstance(event, DamageReported) and event.estimated_cost == Decimal("200")


def test_fld_14_a_safety_incident_hands_over_to_the_centre_and_ends_the_visit() -> None:
    visit = inside()
    visit.safety_incident(at=at(45), kind=SafetyIncidentKind.DETAINED, description="不让离开")
    assert isinstance(visit.events[-2], SafetyIncident)
    assert visit.state is VisitState.ABORTED
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.outcome is VisitOutcome.ABORTED


# -- FLD-15 --------------------------------------------------------------------------------------


def test_fld_15_an_order_not_finished_the_same_day_needs_a_coordination_ticket() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.missing_part(at=at(45), option=MissingPartOption.REBOOK)
    day = {visit.visit_id: date(2026, 3, 2)}

    same_day = unfinished_reason([visit], today=date(2026, 3, 2), day_of=day, policy=POLICY)
    next_day = unfinished_reason([visit], today=date(2026, 3, 3), day_of=day, policy=POLICY)
    public = unfinished_reason(
        [visit], today=date(2026, 3, 3), day_of=day, policy=POLICY, public_area=True
    )

    assert same_day is None and public is None
    assert next_day is not None and "2026-03-02" in next_day


def test_fld_15_a_completed_order_needs_no_ticket() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    visit.start_repair(at=at(41))
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)

    reason = unfinished_reason(
        [visit], today=date(2026, 3, 9), day_of={"v-1": date(2026, 3, 2)}, policy=POLICY
    )
    assert reason is None


def repairing_on(day: float, **kw: object) -> Visit:
    """A visit that arrives ``day`` days after T0 (at 09:30 in Shanghai) and starts the repair."""
    start = T0 + timedelta(days=day)
    visit = new_visit(created_at=start, **kw)
    visit.depart(
        at=start, eta=start + timedelta(minutes=30), kit_checked=DEFAULT_KIT, policy=POLICY
    )
    visit.arrive(at=start + timedelta(minutes=30))
    visit.record_door_outcome(
        at=start + timedelta(minutes=31),
        outcome=DoorOutcome.CUSTOMER_PRESENT,
        next_step=NextStep.PROCEED,
        id_shown=True,
    )
    visit.diagnose(at=start + timedelta(minutes=40), cause="c")
    visit.start_repair(at=start + timedelta(minutes=41))
    return visit


def rebooked_on(day: float, **kw: object) -> Visit:
    """A visit that arrives ``day`` days after T0 and ends with a missing part, rebooked."""
    visit = repairing_on(day, **kw)
    end = T0 + timedelta(days=day, minutes=45)
    visit.missing_part(at=end, option=MissingPartOption.REBOOK)
    return visit


def completed_on(day: float, **kw: object) -> Visit:
    """A visit that arrives ``day`` days after T0 and completes the repair (FLD-9)."""
    visit = repairing_on(day, **kw)
    end = T0 + timedelta(days=day, minutes=90)
    visit.complete_repair(at=end, tested=False, sure_fixed=True)
    return visit


def test_fld_15_fbk_7_an_unfinished_revisit_after_a_completed_visit_needs_a_ticket() -> None:
    first = completed_on(0)
    revisit = rebooked_on(0.25, visit_id="v-2", previous_visit_id="v-1")  # 15:00 the same day
    day = {"v-1": DAY, "v-2": DAY}

    same_day = unfinished_reason([first, revisit], today=DAY, day_of=day, policy=POLICY)
    next_day = unfinished_reason(
        [first, revisit], today=DAY + timedelta(days=1), day_of=day, policy=POLICY
    )

    assert same_day is None
    assert next_day == "not finished since 2026-03-02 (last visit v-2: rebook)"


def test_fld_15_the_reopened_works_clock_starts_at_the_revisits_first_arrival() -> None:
    first = completed_on(0)
    revisit = rebooked_on(5, visit_id="v-2", previous_visit_id="v-1")
    again = rebooked_on(6, visit_id="v-3", previous_visit_id="v-2")
    visits = [first, revisit, again]
    day = {"v-1": DAY, "v-2": DAY + timedelta(days=5), "v-3": DAY + timedelta(days=6)}

    def reason(today: int, *, public_area: bool = False) -> str | None:
        return unfinished_reason(
            visits,
            today=DAY + timedelta(days=today),
            day_of=day,
            policy=POLICY,
            public_area=public_area,
        )

    assert reason(5) is None
    assert reason(6) == "not finished since 2026-03-07 (last visit v-3: rebook)"
    assert reason(8, public_area=True) is None
    assert reason(9, public_area=True) is not None


def test_fld_15_a_revisit_booked_after_the_completion_reopens_the_work_without_a_link() -> None:
    first = completed_on(0)
    revisit = rebooked_on(1, visit_id="v-2")

    reason = unfinished_reason(
        [first, revisit],
        today=DAY + timedelta(days=2),
        day_of={"v-1": DAY, "v-2": DAY + timedelta(days=1)},
        policy=POLICY,
    )

    assert reason is not None and "2026-03-03" in reason


def test_fld_15_work_finished_by_a_later_visit_needs_no_ticket() -> None:
    rebooked = rebooked_on(0)
    finished = completed_on(1, visit_id="v-2", previous_visit_id="v-1")
    revisit = new_visit(visit_id="v-3", previous_visit_id="v-2", created_at=T0 + timedelta(days=2))
    day = {"v-1": DAY, "v-2": DAY + timedelta(days=1)}

    for visits in ([rebooked, finished], [rebooked, finished, revisit]):
        reason = unfinished_reason(visits, today=DAY + timedelta(days=9), day_of=day, policy=POLICY)
        assert reason is None


def test_fld_15_tickets_have_an_owner_a_dated_log_and_twice_monthly_checks() -> None:
    ticket = CoordinationTicket.open(
        order_id="o-1", reason="r", now=T0, today=date(2026, 3, 3), policy=POLICY
    )
    assert isinstance(ticket.events[0], CoordinationTicketOpened)
    assert ticket.owner == "team_lead" and ticket.next_check_due == date(2026, 3, 18)
    ticket.log_contact(at=at(60), by="agent-1", channel="phone", note="约周六")
    ticket.log_contact(at=at(10), by="agent-1", channel="phone", note="未接")
    assert [c.note for c in ticket.contacts] == ["未接", "约周六"]

    assert ticket.check_due(today=date(2026, 3, 17)) is False
    assert ticket.check_due(today=date(2026, 3, 18)) is True
    assert ticket.check_due(today=date(2026, 3, 19)) is False
    assert isinstance(ticket.events[-1], CoordinationCheckDue)
    ticket.check(at=T0, today=date(2026, 3, 19), by="lead", policy=POLICY)
    assert ticket.next_check_due == date(2026, 4, 3)


# -- audit: loaners, completion by job type, supplementary quotes, door, incidents, uploads -------


def test_fld_6_a_loaner_boarded_and_not_the_one_lent_goes_back_at_the_end() -> None:
    visit = new_visit(loaner_required=True)
    kit = POLICY.kit_for("default", loaner_required=True)
    visit.depart(at=at(0), eta=at(30), kit_checked=kit, policy=POLICY, loaner_serial="L1")
    visit.arrive(at=at(30))
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    visit.diagnose(at=at(40), cause="主板故障", take_back_needed=True)
    assert visit.unused_loaner is None  # not over yet

    take_unit_back(visit, loaner_serial="L2")

    assert visit.take_back is not None and visit.take_back.loaner_serial == "L2"
    assert visit.unused_loaner == "L1"


def test_fld_6_the_loaner_lent_is_not_unused() -> None:
    visit = new_visit(loaner_required=True)
    kit = POLICY.kit_for("default", loaner_required=True)
    visit.depart(at=at(0), eta=at(30), kit_checked=kit, policy=POLICY, loaner_serial="L1")
    visit.arrive(at=at(30))
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    visit.diagnose(at=at(40), cause="主板故障", take_back_needed=True)
    take_unit_back(visit)
    assert visit.take_back is not None and visit.take_back.loaner_serial == "L1"
    assert visit.unused_loaner is None


def test_fld_1_fld_6_the_unit_return_visit_needs_no_other_loaner() -> None:
    visit = new_visit(loaner_required=True, unit_return=True)

    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)

    assert visit.state is VisitState.DEPARTED and visit.loaner_serial is None


def test_fld_1_fld_6_a_revisit_while_the_orders_loaner_is_lent_needs_no_other() -> None:
    refused = new_visit(loaner_required=True)
    with pytest.raises(RuleViolation, match="loaner"):
        refused.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)

    visit = new_visit(loaner_required=True)
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY, loaner_lent="L1")
    assert visit.state is VisitState.DEPARTED

    named = new_visit(loaner_required=True)
    named.depart(
        at=at(0),
        eta=at(30),
        kit_checked=[*DEFAULT_KIT, "loaner"],
        policy=POLICY,
        loaner_serial="L1",
        loaner_lent="L1",
    )
    # The lent loaner is at the customer's: not on board, nothing to bring back.
    assert named.loaner_serial is None


def test_fld_6_a_take_back_while_the_orders_loaner_is_lent_needs_no_other() -> None:
    visit = inside(loaner_required=True, unit_return=True)
    visit.diagnose(at=at(40), cause="还没修好", take_back_needed=True)
    photo = upload(visit, EvidenceKind.PHOTO, "p1")

    visit.take_unit_back(
        at=at(50),
        receipt_number="R-2",
        appearance="外观完好",
        photo_refs=[photo],
        promised_return_date=date(2026, 3, 9),
        today=date(2026, 3, 2),
        loaner_serial="L1",
        loaner_lent="L1",
    )

    # The customer keeps L1: it is not lent again with this take-back.
    assert visit.take_back is not None and visit.take_back.loaner_serial is None


def test_fld_10_an_installation_cannot_be_completed_as_a_repair() -> None:
    visit = installing()
    visit.diagnose(at=at(40), cause="新装")
    visit.start_repair(at=at(41))
    assert "complete_repair" not in visit.allowed_actions()
    assert "complete_installation" in visit.allowed_actions()

    with pytest.raises(RuleViolation) as refused:
        visit.complete_repair(at=at(60), tested=False, sure_fixed=True)

    assert refused.value.rule == "FLD-10"
    assert refused.value.extensions["instead"] == "complete_installation"
    assert visit.state is VisitState.REPAIRING and "RepairCompleted" not in types(visit)


def test_fld_10_a_repair_cannot_be_completed_as_an_installation() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")
    photo = upload(visit, EvidenceKind.PHOTO, "p1")
    assert "complete_installation" not in visit.allowed_actions()

    with pytest.raises(RuleViolation) as refused:
        visit.complete_installation(
            at=at(60),
            today=DAY,
            arrived_on=DAY,
            photo_refs=[photo],
            barcodes=["6901"],
            policy=POLICY,
        )

    assert refused.value.rule == "FLD-10"
    assert "InstallationCompleted" not in types(visit)


VALVE = PartLine(part_no="P-2", name="比例阀")


def accepted_then_more_found() -> Visit:
    """FLD-4: the customer accepted q-1 (80), the test failed and the re-diagnosis found a valve
    to replace too: a supplementary quote is requested."""
    visit = quoted()
    visit.accept_quote(
        at=at(41), quote_id="q-1", signature_ref=upload(visit, EvidenceKind.SIGNATURE, "s")
    )
    visit.record_work(at=at(45), description="换点火针", parts=[PART])
    visit.start_test(at=at(50))
    visit.reexamine(at=at(52))
    visit.diagnose(at=at(55), cause="比例阀也坏了", parts=[VALVE])
    return visit


def _issue(visit: Visit, quote_id: str, total: str) -> None:
    assert visit.quote is not None
    visit.quote_issued(
        quote_id=quote_id,
        request_id=visit.quote.request_id,
        lines=[
            QuoteLine(
                kind=WorkItemKind.PART,
                description="合计",
                unit_price=Decimal(total),
                amount=Decimal(total),
                rule_id="BIL-1",
            )
        ],
        total=Decimal(total),
        schedule_version="2026-01",
    )


def test_fld_4_bil_9_a_supplement_repeats_the_accepted_items_and_keeps_the_charge() -> None:
    visit = accepted_then_more_found()

    assert visit.state is VisitState.AWAITING_CONSENT
    request = visit.events[-1]
    # Billing replaces the visit's accepted quote with one accepted later: the supplement
    # carries the accepted items too, so accepted it is charged in full.
    assert isinstance(request, QuoteRequested)
    assert [i.part_no for i in request.items] == ["P-1", "P-2"]
    assert visit.consented_quote is not None and visit.consented_quote.quote_id == "q-1"
    assert visit.amount_charged == Decimal("80.00")


def test_fld_4_bil_9_declining_the_supplement_returns_to_the_work_on_the_accepted_quote() -> None:
    visit = accepted_then_more_found()
    _issue(visit, "q-2", "130.00")

    visit.decline_quote(at=at(57), reason="阀先不换")

    assert visit.state is VisitState.REPAIRING
    assert types(visit)[-1] == "QuoteDeclined" and "VisitClosed" not in types(visit)
    assert visit.quote is not None and visit.quote.quote_id == "q-1"
    assert visit.quote.status is QuoteStatus.ACCEPTED
    assert [q.quote_id for q in visit.declined_supplements] == ["q-2"]
    assert visit.amount_charged == Decimal("80.00")

    visit.complete_repair(at=at(70), tested=False, sure_fixed=True)
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.outcome is VisitOutcome.COMPLETED
    assert closed.paid_work is True
    signature = upload(visit, EvidenceKind.SIGNATURE, "s2")
    with pytest.raises(RuleViolation) as refused:
        visit.sign_off(
            at=at(71), signed=True, signature_ref=signature, amount_acknowledged=Decimal("1")
        )
    assert refused.value.rule == "BIL-9"
    visit.sign_off(
        at=at(71), signed=True, signature_ref=signature, amount_acknowledged=Decimal("80.00")
    )


def test_fld_4_an_accepted_supplement_becomes_the_charge() -> None:
    visit = accepted_then_more_found()
    _issue(visit, "q-2", "130.00")

    with pytest.raises(RuleViolation, match="consent to quote q-1"):
        visit.accept_quote(at=at(57), quote_id="q-2", signature_ref="s")  # the first one's
    signature = upload(visit, EvidenceKind.SIGNATURE, "s-supplement")
    visit.accept_quote(at=at(57), quote_id="q-2", signature_ref=signature)

    assert visit.state is VisitState.REPAIRING and visit.consented_quote is None
    assert visit.amount_charged == Decimal("130.00")


def test_fld_4_bil_9_ending_before_the_supplement_is_answered_charges_the_accepted() -> None:
    visit = accepted_then_more_found()

    visit.fail(at=at(60), reason=RepairFailureReason.NEEDS_SECOND_VISIT)

    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.paid_work is True
    assert visit.amount_charged == Decimal("80.00")


def test_fld_4_a_re_diagnosis_with_no_new_work_keeps_the_accepted_quote() -> None:
    visit = quoted()
    visit.accept_quote(
        at=at(41), quote_id="q-1", signature_ref=upload(visit, EvidenceKind.SIGNATURE, "s")
    )
    visit.start_test(at=at(50))
    visit.reexamine(at=at(52))

    visit.diagnose(at=at(55), cause="点火针没装好")

    assert visit.state is VisitState.DIAGNOSING and types(visit)[-1] == "DiagnosisRecorded"
    visit.start_repair(at=at(56))
    assert visit.amount_charged == Decimal("80.00")


def test_fld_2_fld_3_customer_out_needs_someone_who_said_so() -> None:
    visit = arrived()
    with pytest.raises(RuleViolation) as refused:
        visit.record_door_outcome(
            at=at(31), outcome=DoorOutcome.CUSTOMER_OUT, next_step=NextStep.REBOOK, id_shown=False
        )
    assert refused.value.rule == "FLD-2" and refused.value.extensions["instead"] == "not_home"
    visit.log_attempt(at=at(31), kind=AttemptKind.DOOR)  # nobody answered
    with pytest.raises(RuleViolation):
        visit.record_door_outcome(
            at=at(32), outcome=DoorOutcome.CUSTOMER_OUT, next_step=NextStep.REBOOK, id_shown=False
        )
    assert visit.state is VisitState.ARRIVED and visit.events[-1].event_type != "CustomerNotHome"

    visit.log_attempt(at=at(33), kind=AttemptKind.PHONE, reached=True, detail="客户在外地")
    visit.record_door_outcome(
        at=at(34), outcome=DoorOutcome.CUSTOMER_OUT, next_step=NextStep.REBOOK, id_shown=False
    )

    assert visit.state is VisitState.REBOOK
    assert isinstance(visit.events[-2], CustomerNotHome) and visit.events[-2].phoned


def test_fld_14_a_safety_incident_after_the_end_is_recorded_without_ending_it_again() -> None:
    visit = quoted()
    visit.decline_quote(at=at(42), reason="太贵")
    closed = len([e for e in visit.events if isinstance(e, VisitClosed)])

    visit.safety_incident(at=at(43), kind=SafetyIncidentKind.DETAINED, description="锁门不让走")

    assert isinstance(visit.events[-1], SafetyIncident)
    assert visit.state is VisitState.DECLINED
    assert len([e for e in visit.events if isinstance(e, VisitClosed)]) == closed


def test_fld_15_a_declined_order_needs_no_ticket() -> None:
    visit = quoted()
    visit.decline_quote(at=at(42), reason="太贵")

    reason = unfinished_reason(
        [visit], today=date(2026, 3, 9), day_of={"v-1": date(2026, 3, 2)}, policy=POLICY
    )
    assert reason is None


def _png_header(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\x00" * 4


def _jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc2\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return b"\xff\xd8" + app0 + sof + b"\x03" + b"\x00" * 9


def _webp_header(width: int, height: int) -> bytes:
    vp8x = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return (
        b"RIFF" + (30).to_bytes(4, "little") + b"WEBP" + b"VP8X" + (10).to_bytes(4, "little") + vp8x
    )


@pytest.mark.parametrize(
    ("content_type", "header"),
    [("image/png", _png_header), ("image/jpeg", _jpeg_header), ("image/webp", _webp_header)],
)
def test_fld_10_an_image_over_the_pixel_limit_is_refused_from_its_header(
    content_type: str, header: Callable[[int, int], bytes]
) -> None:
    assert POLICY.upload_max_pixels == 25_000_000
    assert check_upload(content_type=content_type, data=header(5000, 5000), policy=POLICY)
    with pytest.raises(UploadTooLarge) as refused:
        check_upload(content_type=content_type, data=header(20000, 20000), policy=POLICY)
    assert refused.value.extensions["max_pixels"] == 25_000_000


def test_fld_10_the_pixel_limit_comes_from_the_policy_and_reads_real_images() -> None:
    image = io.BytesIO()
    Image.new("RGB", (40, 30)).save(image, "JPEG")
    data = image.getvalue()
    assert image_dimensions(data) == (40, 30)
    assert check_upload(content_type="image/jpeg", data=data, policy=POLICY) == "jpg"
    with pytest.raises(UploadTooLarge):
        check_upload(
            content_type="image/jpeg", data=data, policy=FieldworkPolicy(upload_max_pixels=1000)
        )


# -- the order changes under the visit (SCH-3, SCH-6, SCH-12, INT-4) -------------------------------


def test_sch_12_a_cancellation_on_site_ends_the_visit_aborted_with_its_on_site_time() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="电机轴承损坏", parts=[PART])
    visit.earlier_visits_seconds = 600

    assert visit.cancel(at=at(50)) is True

    assert visit.state is VisitState.ABORTED and visit.ended_at == at(50)
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed)
    assert closed.outcome is VisitOutcome.ABORTED and closed.closed_at == at(50)
    assert closed.on_site_seconds == 20 * 60
    assert closed.service_seconds_total == 20 * 60 + 600
    assert visit.allowed_actions() == ["report_damage"]


def test_sch_12_a_cancellation_heard_after_later_actions_ends_the_visit_at_the_last_one() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c")

    visit.cancel(at=at(35))

    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed) and closed.closed_at == at(40)
    assert closed.on_site_seconds == 10 * 60


def test_sch_12_a_cancellation_while_fetching_a_part_counts_the_pause_to_the_end() -> None:
    visit = inside()
    visit.diagnose(at=at(40), cause="c", parts=[PART])
    visit.missing_part(at=at(45), option=MissingPartOption.FETCH, parts=[PART])

    visit.cancel(at=at(75))

    assert visit.pauses[-1].ended_at == at(75)
    assert visit.on_site_seconds == 45 * 60


def test_sch_12_a_cancellation_en_route_calls_the_trip_off_without_closing_a_visit() -> None:
    visit = departed()

    assert visit.cancel(at=at(10)) is True

    assert visit.state is VisitState.CANCELLED and visit.on_site_seconds == 0
    assert types(visit) == ["TechnicianDeparted"]
    assert visit.allowed_actions() == []


def test_sch_12_a_visit_over_is_not_cancelled_again() -> None:
    visit = inside()
    visit.safety_incident(at=at(40), kind=SafetyIncidentKind.ABUSE, description="辱骂")
    before = list(visit.events)

    assert visit.cancel(at=at(50)) is False
    assert visit.events == before and visit.ended_at == at(40)


def called_off_by_the_cancellation(visit: Visit, minutes: float) -> Visit:
    """The order's cancellation at minute ``minutes`` called the visit off, its technician not
    known to be at the door (SCH-12)."""
    assert visit.cancel(at=at(minutes), order_cancelled=True) is True
    assert visit.state is VisitState.CANCELLED
    return visit


def test_sch_12_sch_7_an_arrival_logged_before_the_cancellation_reopens_the_visit_called_off() -> (
    None
):
    visit = called_off_by_the_cancellation(departed(), 50)

    assert visit.reopen_before_cancellation(at=at(30)) is True
    assert visit.state is VisitState.DEPARTED and visit.ended_at is None
    visit.arrive(at=at(30))
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    visit.diagnose(at=at(40), cause="电机轴承损坏")
    assert visit.end_at_cancellation() is True

    assert visit.state is VisitState.ABORTED and visit.ended_at == at(50)
    arrived, closed = visit.events[1], visit.events[-1]
    assert isinstance(arrived, TechnicianArrived) and arrived.arrived_at == at(30)
    assert isinstance(closed, VisitClosed)
    assert closed.outcome is VisitOutcome.ABORTED and closed.closed_at == at(50)
    assert closed.on_site_seconds == 20 * 60
    assert visit.end_at_cancellation() is False
    assert visit.reopen_before_cancellation(at=at(45)) is False


def test_sch_12_an_action_logged_after_the_cancellation_is_stopped_and_reopens_nothing() -> None:
    visit = called_off_by_the_cancellation(departed(), 50)

    assert visit.reopen_before_cancellation(at=at(50)) is False
    assert visit.stopped_by_cancellation(at(50)) is True
    assert visit.reopen_before_cancellation(at=at(30)) is True
    assert visit.stopped_by_cancellation(at(49)) is False
    assert visit.stopped_by_cancellation(at(55)) is True


def test_sch_12_bil_1_a_repair_completed_before_the_cancellation_keeps_its_completion() -> None:
    visit = called_off_by_the_cancellation(new_visit(), 90)
    signature = upload(visit, EvidenceKind.SIGNATURE, "sig-1")

    assert visit.reopen_before_cancellation(at=at(0)) is True
    assert visit.state is VisitState.SCHEDULED
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)
    visit.arrive(at=at(30))
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    visit.diagnose(at=at(40), cause="点火针老化")
    visit.start_repair(at=at(41))
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)

    assert visit.end_at_cancellation() is False
    assert visit.state is VisitState.COMPLETED and visit.ended_at == at(60)
    closed = visit.events[-1]
    assert isinstance(closed, VisitClosed)
    assert closed.outcome is VisitOutcome.COMPLETED and closed.closed_at == at(60)
    # The sheet signed after the cancellation is still the record of work done before it.
    assert visit.stopped_by_cancellation(at(95)) is False
    visit.sign_off(at=at(95), signed=True, signature_ref=signature)
    assert types(visit).count("VisitClosed") == 1


def test_sch_12_a_trip_logged_before_the_cancellation_is_called_off_again_without_closing() -> None:
    visit = called_off_by_the_cancellation(new_visit(), 20)

    assert visit.reopen_before_cancellation(at=at(0)) is True
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)
    assert visit.end_at_cancellation() is True

    assert visit.state is VisitState.CANCELLED and visit.ended_at == at(20)
    assert types(visit) == ["TechnicianDeparted"]


def test_sch_12_a_visit_known_on_site_stays_aborted_at_the_cancellation() -> None:
    visit = inside()

    assert visit.cancel(at=at(50), order_cancelled=True) is True

    assert visit.state is VisitState.ABORTED
    assert visit.reopen_before_cancellation(at=at(40)) is False
    assert visit.stopped_by_cancellation(at(40)) is False  # over: its state decides
    assert visit.end_at_cancellation() is False


def test_int_4_a_visit_called_off_by_a_phone_resolution_is_not_reopened() -> None:
    visit = departed()
    assert visit.cancel(at=at(50)) is True

    assert visit.reopen_before_cancellation(at=at(30)) is False
    with pytest.raises(IllegalTransition):
        upload(visit, EvidenceKind.PHOTO, "p-1")


def test_sch_12_the_same_cancellation_heard_again_later_keeps_its_time() -> None:
    visit = called_off_by_the_cancellation(departed(), 50)
    visit.reopen_before_cancellation(at=at(30))
    visit.arrive(at=at(30))

    assert visit.cancel(at=at(70), order_cancelled=True) is True

    assert visit.state is VisitState.ABORTED and visit.ended_at == at(50)


def test_sch_12_an_in_house_visit_nobody_holds_cannot_be_departed() -> None:
    visit = new_visit(technician_id=None)

    with pytest.raises(RuleViolation) as refused:
        visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)

    assert refused.value.rule == "SCH-12"
    assert visit.state is VisitState.SCHEDULED and visit.events == []


def test_sch_8_a_visit_handed_back_before_departure_loses_its_technician() -> None:
    visit = new_visit()

    assert visit.reassign(None, at=T0) is True

    assert visit.technician_id is None and visit.network_id is None
    with pytest.raises(RuleViolation):
        visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY)


def test_sch_6_a_trip_reassigned_on_the_way_is_called_off_and_handed_to_the_new_technician() -> (
    None
):
    visit = departed()

    assert visit.reassign("tech-9", at=at(12), reason="stuck in traffic") is True

    assert visit.state is VisitState.SCHEDULED and visit.technician_id == "tech-9"
    assert visit.departed_at is None and visit.eta is None and visit.kit_checked == []
    [trip] = visit.trips_called_off
    assert (trip.technician_id, trip.departed_at, trip.eta) == ("tech-7", at(0), at(30))
    assert (trip.called_off_at, trip.reason, trip.handed_to) == (
        at(12),
        "stuck in traffic",
        "tech-9",
    )
    # the new technician departs with their own kit and arrives; the trip stays on record
    visit.depart(at=at(15), eta=at(40), kit_checked=DEFAULT_KIT, policy=POLICY)
    visit.arrive(at=at(40))
    assert visit.state is VisitState.ARRIVED and visit.departed_at == at(15)
    assert types(visit) == ["TechnicianDeparted", "TechnicianDeparted", "TechnicianArrived"]
    assert visit.events[1].technician_id == "tech-9"
    assert len(visit.trips_called_off) == 1


def test_sch_10_a_trip_returned_to_the_centre_on_the_way_is_called_off_and_unheld() -> None:
    visit = new_visit(loaner_required=True)
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=POLICY, loaner_serial="L-1")

    assert visit.reassign(None, at=at(12), reason="customer_postponed") is True

    assert visit.state is VisitState.SCHEDULED and visit.technician_id is None
    [trip] = visit.trips_called_off
    assert trip.handed_to is None and trip.loaner_serial == "L-1" and visit.loaner_serial is None
    with pytest.raises(RuleViolation) as refused:  # nobody holds it until placed again
        visit.arrive(at=at(30))
    assert refused.value.rule == "SCH-12"


def test_sch_8_a_technician_on_site_keeps_the_visit_when_a_move_reaches_it_late() -> None:
    for visit in (arrived(), inside()):
        state = visit.state

        assert visit.reassign("tech-9", at=at(35)) is False
        assert visit.reassign(None, at=at(36)) is False

        assert visit.state is state and visit.technician_id == "tech-7"
        assert visit.trips_called_off == []


def test_sch_8_a_move_to_the_technician_already_on_the_way_changes_nothing() -> None:
    visit = departed()

    assert visit.reassign("tech-7", at=at(12)) is False

    assert visit.state is VisitState.DEPARTED and visit.trips_called_off == []
    assert visit.departed_at == at(0)


def test_sch_6_a_rescheduled_appointment_moves_the_window_until_the_technician_arrives() -> None:
    first = TimeWindow(start=at(60), end=at(180))
    later = TimeWindow(start=at(24 * 60), end=at(26 * 60))
    scheduled, en_route, there = new_visit(window=first), departed(window=first), inside()
    there.window = first

    assert scheduled.reschedule(later) is True and scheduled.window == later
    assert en_route.reschedule(later) is True and en_route.window == later
    assert there.reschedule(later) is False and there.window == first


def _rework(**kw: object) -> Visit:
    visit = inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY, rework=True, **kw)
    visit.events.clear()
    return visit


def test_fbk_7_a_rework_visit_is_free_by_default_without_items_or_consent() -> None:
    visit = _rework()
    visit.diagnose(at=at(35), cause="点火器接触不良", rework_free=True)
    assert visit.state is VisitState.DIAGNOSING and visit.chargeable is False
    assert not any(isinstance(e, QuoteRequested) for e in visit.events)


def test_fbk_7_parts_listed_on_a_rework_visit_are_quoted_free_for_the_record() -> None:
    visit = _rework()
    listed = [WorkItem(kind=WorkItemKind.PART, part_no="P-1", description="点火针")]
    visit.diagnose(at=at(35), cause="点火器再次损坏", work_items=listed, rework_free=True)
    [request] = [e for e in visit.events if isinstance(e, QuoteRequested)]
    assert [i.covered_by_warranty for i in request.items] == [True]
    assert visit.state is VisitState.DIAGNOSING and visit.quote is not None
    assert visit.quote.consent_required is False


def test_fbk_7_new_work_found_on_a_rework_visit_is_still_chargeable() -> None:
    visit = _rework()
    visit.diagnose(at=at(35), cause="另有主板故障", parts=[PART], chargeable=True, rework_free=True)
    assert visit.state is VisitState.AWAITING_CONSENT and visit.chargeable is True
    [request] = [e for e in visit.events if isinstance(e, QuoteRequested)]
    assert [i.covered_by_warranty for i in request.items] == [False]


def test_fbk_7_with_rework_charged_by_policy_the_warranty_decides_as_usual() -> None:
    visit = _rework()
    with pytest.raises(RuleViolation):
        visit.diagnose(at=at(35), cause="点火器接触不良", rework_free=False)
    visit.diagnose(at=at(35), cause="点火器再次损坏", parts=[PART], rework_free=False)
    assert visit.state is VisitState.AWAITING_CONSENT
