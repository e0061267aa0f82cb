"""BIL-11 in the domain: what of an order is personal, and how visits, take-backs, the order
context and the order file's summaries read once erased."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.common import GeoPoint, WarrantyStatus
from contracts.fieldwork import SignOff
from contracts.privacy import ERASED
from fieldwork.domain.exceptions import PersonalDataErased
from fieldwork.domain.model import OrderContext
from fieldwork.domain.privacy import erase_summary
from fieldwork.domain.visit import (
    Attempt,
    AttemptKind,
    DoorOutcome,
    DoorRecord,
    Evidence,
    EvidenceKind,
    Handover,
    Incident,
    Installation,
    NextStep,
    SignOffRecord,
    Visit,
    VisitState,
)
from fieldwork.domain.workshop import Progress, TakeBack

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=400)
NAME, PHONE = "王芳", "+8613800138000"


def upload(ref: str, kind: EvidenceKind) -> Evidence:
    return Evidence(ref=ref, kind=kind, content_type="image/png", size=10, at=T0)


def signed_installation() -> Visit:
    """A completed installation with everything personal a visit can hold."""
    return Visit(
        visit_id="v-1",
        order_id="o-1",
        technician_id="tech-7",
        created_at=T0,
        state=VisitState.COMPLETED,
        warranty_status=WarrantyStatus.IN_WARRANTY,
        arrived_at=T0,
        ended_at=T0 + timedelta(hours=1),
        position=GeoPoint(lat=39.9, lon=116.4),
        attempts=[Attempt(kind=AttemptKind.PHONE, at=T0, reached=True, detail=f"打{PHONE}")],
        door=[
            DoorRecord(
                outcome=DoorOutcome.CUSTOMER_PRESENT,
                next_step=NextStep.PROCEED,
                at=T0,
                id_shown=True,
                detail=f"{NAME}开门",
            )
        ],
        evidence=[
            upload("v-1/photo.png", EvidenceKind.PHOTO),
            upload("v-1/barcode.png", EvidenceKind.BARCODE),
            upload("v-1/conditions.png", EvidenceKind.SIGNATURE),
            upload("v-1/signature.png", EvidenceKind.SIGNATURE),
        ],
        installation=Installation(
            installed_on=date(2026, 3, 2),
            photo_refs=["v-1/photo.png"],
            barcodes=["6901234567892"],
            substandard_conditions=["low_water_pressure"],
            conditions_signature_ref="v-1/conditions.png",
        ),
        incidents=[Incident(kind="damage", description=f"{NAME}家地板划痕", at=T0)],
        signed_off=SignOffRecord(
            sign_off=SignOff.SIGNED,
            signature_ref="v-1/signature.png",
            amount_acknowledged=Decimal("0.00"),
            comments=f"{NAME}满意",
            at=T0,
        ),
    )


def test_bil_11_erasing_a_visit_returns_its_personal_uploads_and_keeps_barcodes_and_facts() -> None:
    visit = signed_installation()

    refs = visit.erase_personal_data(at=LATER)

    assert sorted(refs) == ["v-1/conditions.png", "v-1/photo.png", "v-1/signature.png"]
    assert [e.ref for e in visit.evidence] == ["v-1/barcode.png"]
    assert visit.position is None
    assert visit.attempts[0].detail == ERASED and visit.door[0].detail == ERASED
    assert visit.incidents[0].description == ERASED
    assert visit.installation is not None
    assert (
        visit.installation.photo_refs == [] and visit.installation.conditions_signature_ref is None
    )
    assert visit.installation.barcodes == ["6901234567892"]
    assert visit.signed_off is not None
    assert visit.signed_off.signature_ref is None and visit.signed_off.comments == ERASED
    assert visit.signed_off.sign_off is SignOff.SIGNED
    assert visit.signed_off.amount_acknowledged == Decimal("0.00")
    assert visit.state is VisitState.COMPLETED and visit.technician_id == "tech-7"
    assert visit.anonymised_at == LATER
    dumped = visit.model_dump_json()
    assert NAME not in dumped and PHONE not in dumped


def test_bil_11_erasing_a_visit_again_changes_nothing() -> None:
    visit = signed_installation()
    visit.erase_personal_data(at=LATER)
    erased = visit.model_dump()

    assert visit.erase_personal_data(at=LATER + timedelta(days=1)) == []
    assert visit.model_dump() == erased


def test_bil_11_an_erased_visit_takes_no_more_actions_or_uploads_personal_data_erased() -> None:
    visit = signed_installation()
    visit.erase_personal_data(at=LATER)

    with pytest.raises(PersonalDataErased) as upload_refused:
        visit.add_evidence(
            at=LATER, ref="v-1/new.png", kind=EvidenceKind.SIGNATURE, content_type="x", size=1
        )
    with pytest.raises(PersonalDataErased) as report_refused:
        visit.complete_report(at=LATER, cause="x")

    for refused, action in ((upload_refused, "upload"), (report_refused, "complete_report")):
        assert refused.value.action == action and f"'{action}'" in str(refused.value)
        assert refused.value.anonymised_at == LATER and "BIL-11" in str(refused.value)
        assert refused.value.extensions == {"anonymised_at": LATER.isoformat()}
    assert [e.ref for e in visit.evidence] == ["v-1/barcode.png"]


def test_bil_11_an_offline_arrival_gives_an_erased_visit_back_to_no_one() -> None:
    visit = signed_installation()
    visit.state, visit.ended_at, visit.technician_id = VisitState.SCHEDULED, None, "tech-8"
    visit.handovers.append(
        Handover(technician_id="tech-7", network_id=None, at=T0, handed_to="tech-8")
    )
    visit.erase_personal_data(at=LATER)

    assert not visit.reclaim_for_arrival("tech-7", arrived_at=T0 - timedelta(hours=1), now=LATER)
    assert visit.technician_id == "tech-8"


def test_bil_11_the_order_context_forgets_the_customer_and_keeps_the_first_erasure_time() -> None:
    context = OrderContext(
        order_id="o-1",
        customer_name=NAME,
        customer_phone=PHONE,
        address="西四路100号",
        fault="漏水",
    )

    context.erase_personal_data(at=LATER)
    context.erase_personal_data(at=LATER + timedelta(days=1))

    assert (context.customer_name, context.customer_phone, context.address) == (None, None, None)
    assert context.fault == "漏水" and context.anonymised_at == LATER


def test_bil_11_workshop_notes_are_erased_and_the_take_back_kept() -> None:
    take_back = TakeBack(
        receipt_number="R-1",
        order_id="o-1",
        visit_id="v-1",
        promised_return_date=date(2026, 3, 9),
        taken_at=T0,
        unit_serial="SN-1",
        progress=[Progress(at=T0, stage="received", note=f"{NAME}来电催"), Progress(T0, "fixed")],
    )

    take_back.erase_personal_data()

    assert [(p.stage, p.note) for p in take_back.progress] == [
        ("received", ERASED),
        ("fixed", None),
    ]
    assert take_back.unit_serial == "SN-1"


def test_bil_11_summaries_keep_codes_and_erase_the_customer_and_free_text() -> None:
    created = {
        "customer.name": NAME,
        "customer.contact_person": NAME,
        "requests": f"请先打{PHONE}",
        "product.line": "water_heater",
        "emergency": False,
    }
    voided = {"quote_id": "q-1", "reason": "order_cancelled"}

    assert erase_summary("OrderCreated", created) == {
        "customer.name": ERASED,
        "customer.contact_person": ERASED,
        "requests": ERASED,
        "product.line": "water_heater",
        "emergency": False,
    }
    assert erase_summary("QuoteVoided", voided) == voided
    assert erase_summary("OrderCancelled", {"reason": f"{NAME}搬家"}) == {"reason": ERASED}
