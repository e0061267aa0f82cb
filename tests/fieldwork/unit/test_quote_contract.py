"""What fieldwork tells billing about the work (QuoteRequested, QuoteAccepted, CustomerSignedOff)
and what billing needs from it (BIL-2..BIL-6, BIL-9): pure domain and the request schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.billing import QuoteLine
from contracts.common import WarrantyStatus, WorkItem, WorkItemKind
from contracts.fieldwork import CustomerSignedOff, QuoteAccepted, QuoteRequested
from fieldwork.adapters.report import ReportLine, ServiceReport, find_cjk_font
from fieldwork.adapters.report import render_service_report as render
from fieldwork.domain.commands import VisitAction, WorkItemIn
from fieldwork.domain.exceptions import RuleViolation
from fieldwork.domain.policy import DEFAULT_KIT, FieldworkPolicy
from fieldwork.domain.visit import DoorOutcome, EvidenceKind, NextStep, Visit, VisitState

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ACTION: TypeAdapter[Any] = TypeAdapter(VisitAction)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def inside(status: WarrantyStatus) -> Visit:
    visit = Visit(
        visit_id="v-1",
        order_id="o-1",
        technician_id="tech-7",
        created_at=T0,
        warranty_status=status,
    )
    visit.depart(at=at(0), eta=at(30), kit_checked=DEFAULT_KIT, policy=FieldworkPolicy())
    visit.arrive(at=at(30))
    visit.record_door_outcome(
        at=at(31), outcome=DoorOutcome.CUSTOMER_PRESENT, next_step=NextStep.PROCEED, id_shown=True
    )
    return visit


def fee(code: str, **kw: Any) -> WorkItem:
    return WorkItem(kind=WorkItemKind.FEE, fee_code=code, description=code, **kw)


def issue(visit: Visit, total: str, *, quote_id: str = "q-1") -> None:
    assert visit.quote is not None
    visit.quote_issued(
        quote_id=quote_id,
        request_id=visit.quote.request_id,
        lines=[
            QuoteLine(
                kind=WorkItemKind.FEE,
                fee_code="W01",
                description="W01",
                unit_price=Decimal(total),
                amount=Decimal(total),
                rule_id="BIL-1",
            )
        ],
        total=Decimal(total),
        schedule_version="water_heater@v1",
    )


def signature(visit: Visit, ref: str = "sig") -> str:
    visit.add_evidence(at=at(1), ref=ref, kind=EvidenceKind.SIGNATURE, content_type="x", size=1)
    return ref


def accepted(total: str = "220.90") -> Visit:
    visit = inside(WarrantyStatus.OUT_OF_WARRANTY)
    visit.diagnose(at=at(40), cause="c", work_items=[fee("W01")])
    issue(visit, total)
    visit.accept_quote(at=at(42), quote_id="q-1", signature_ref=signature(visit, "consent"))
    visit.complete_repair(at=at(70), tested=False, sure_fixed=True)
    return visit


def test_bil_2_5_quote_requested_carries_card_terms_installation_date_and_product_line() -> None:
    visit = inside(WarrantyStatus.OUT_OF_WARRANTY)

    visit.diagnose(
        at=at(40),
        cause="c",
        work_items=[fee("W01", warranty_card_price=Decimal("15.00"))],
        warranty_card_amount=Decimal("50.00"),
        installed_on=date(2025, 12, 1),
        product_line="water_heater",
    )

    request = visit.events[-1]
    assert isinstance(request, QuoteRequested)
    assert request.warranty_card_amount == Decimal("50.00")
    assert request.installed_on == date(2025, 12, 1)
    assert request.product_line == "water_heater"
    assert request.items[0].warranty_card_price == Decimal("15.00")


def test_bil_3_every_item_goes_to_billing_with_the_time_it_is_handled() -> None:
    visit = inside(WarrantyStatus.OUT_OF_WARRANTY)

    visit.diagnose(at=at(40), cause="c", work_items=[fee("W01"), fee("W02", handled_at=at(75))])

    request = visit.events[-1]
    assert isinstance(request, QuoteRequested)
    assert [i.handled_at for i in request.items] == [at(40), at(75)]


def test_bil_1_in_warranty_work_items_are_quoted_free_without_waiting_for_consent() -> None:
    visit = inside(WarrantyStatus.IN_WARRANTY)

    visit.diagnose(at=at(40), cause="c", work_items=[fee("W01")])

    assert isinstance(visit.events[-1], QuoteRequested)
    assert visit.state is VisitState.DIAGNOSING and not visit.chargeable
    issue(visit, "0.00")
    visit.start_repair(at=at(45))
    assert visit.amount_charged == Decimal("0.00")


def test_bil_6_an_upgrade_or_work_the_warranty_excludes_is_chargeable_in_warranty() -> None:
    for item in (
        WorkItem(kind=WorkItemKind.PART, part_no="P-UP", description="升级", upgrade=True),
        fee("W09", covered_by_warranty=False),
    ):
        visit = inside(WarrantyStatus.IN_WARRANTY)
        visit.diagnose(at=at(40), cause="c", work_items=[item])
        assert visit.state is VisitState.AWAITING_CONSENT, item


def test_fld_4_quote_accepted_names_billings_quote() -> None:
    visit = accepted()

    consent = next(e for e in visit.events if isinstance(e, QuoteAccepted))
    assert consent.quote_id == "q-1" and consent.signature_ref == "consent"


def test_bil_9_the_customer_signs_for_the_accepted_quotes_total() -> None:
    visit = accepted("220.90")
    ref = signature(visit)

    with pytest.raises(RuleViolation) as wrong:
        visit.sign_off(at=at(71), signed=True, signature_ref=ref, amount_acknowledged=Decimal(200))
    assert wrong.value.rule == "BIL-9"
    assert wrong.value.extensions["amount_charged"] == "220.90"

    visit.sign_off(at=at(71), signed=True, signature_ref=ref)
    signed = visit.events[-1]
    assert isinstance(signed, CustomerSignedOff)
    assert signed.amount_acknowledged == Decimal("220.90")


def test_bil_9_a_refusal_to_sign_acknowledges_no_amount() -> None:
    visit = accepted()

    with pytest.raises(RuleViolation, match="refuses"):
        visit.sign_off(at=at(71), signed=False, amount_acknowledged=Decimal("220.90"))
    visit.sign_off(at=at(71), signed=False)

    signed = visit.events[-1]
    assert isinstance(signed, CustomerSignedOff) and signed.amount_acknowledged is None


def test_bil_9_a_waiver_changes_the_amount_to_sign_for() -> None:
    visit = accepted("220.90")
    assert visit.charge_waived(quote_id="q-1", new_total=Decimal("200.90"))

    visit.sign_off(at=at(71), signed=True, signature_ref=signature(visit))

    signed = visit.events[-1]
    assert isinstance(signed, CustomerSignedOff)
    assert signed.amount_acknowledged == Decimal("200.90")


@pytest.mark.parametrize(
    "item",
    [
        {"kind": "fee", "description": "x"},
        {"kind": "part", "description": "x"},
        {"kind": "material", "description": "x"},
        {"kind": "fee", "fee_code": "W", "description": "x", "stock_price": "1.00"},
        {"kind": "material", "part_no": "M", "description": "x", "stock_price": "0"},
        {"kind": "material", "part_no": "M", "description": "x", "stock_price": 1.5},
        {"kind": "part", "part_no": "P", "description": "x", "warranty_card_price": "-1"},
        {"kind": "part", "part_no": "P", "description": "x", "warranty_card_price": "1.005"},
        {"kind": "fee", "fee_code": "W", "description": "x", "trade_in": True},
        {"kind": "fee", "fee_code": "W", "description": "x", "handled_at": "2026-03-02T09:00"},
        {"kind": "fee", "fee_code": "W", "description": "x", "price": "1.00"},
    ],
)
def test_bil_4_work_items_are_checked_before_they_reach_billing(item: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WorkItemIn.model_validate(item)


def test_money_in_actions_is_a_decimal_string_never_a_float() -> None:
    for action in (
        {"type": "sign_off", "signed": True, "amount_acknowledged": 220.9},
        {"type": "diagnose", "cause": "c", "warranty_card_amount": 50.5},
        {"type": "report_damage", "description": "d", "estimated_cost": 1.5},
    ):
        with pytest.raises(ValidationError, match="never a float"):
            ACTION.validate_python(action)
    ok = ACTION.validate_python({"type": "diagnose", "cause": "c", "warranty_card_amount": "50.5"})
    assert ok.warranty_card_amount == Decimal("50.5")


@pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font installed")
def test_fld_12_a_signature_upload_that_does_not_decode_does_not_break_the_report() -> None:
    font = find_cjk_font()
    assert font is not None
    report = ServiceReport(
        order_id="o-1",
        visit_id="v-1",
        customer="王芳",
        address="—",
        product="—",
        technician="tech-7",
        arrived_at="—",
        ended_at="—",
        on_site="—",
        outcome="已完成",
        fault="—",
        cause="—",
        remedy="—",
        tested="—",
        charges=[ReportLine(description="W01", quantity="1", amount="60.00", rule="BIL-1")],
        total="60.00",
        signature_image=b"\x89PNG\r\n\x1a\n" + b"\x00" * 16,
    )

    assert render(report, font=font).startswith(b"%PDF")
