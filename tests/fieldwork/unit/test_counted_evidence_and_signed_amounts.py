"""What the customer signs for when nothing is charged (BIL-9), and installation evidence counted
once per photo and barcode (FLD-10)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.common import WarrantyStatus
from contracts.fieldwork import CustomerSignedOff, InstallationCompleted
from fieldwork.domain.exceptions import RuleViolation
from fieldwork.domain.policy import FieldworkPolicy
from fieldwork.domain.visit import EvidenceKind, Visit, VisitState
from tests.fieldwork.unit.test_visit import DAY, at, inside, installing, quoted, upload

# -- BIL-9: nothing charged, nothing to sign for --------------------------------------------------


def repaired_free() -> Visit:
    """In-warranty work, nothing quoted: the visit charges nothing."""
    visit = inside(warranty_status=WarrantyStatus.IN_WARRANTY)
    visit.diagnose(at=at(40), cause="点火针松动")
    visit.start_repair(at=at(41))
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)
    assert visit.amount_charged is None
    return visit


def declined() -> Visit:
    """Out-of-warranty work quoted at 80 and declined: the visit charges nothing (BIL-1)."""
    visit = quoted()
    visit.decline_quote(at=at(42), quote_id="q-1", reason="太贵")
    assert visit.state is VisitState.DECLINED and visit.amount_charged is None
    return visit


@pytest.mark.parametrize("visit_of", [repaired_free, declined])
def test_bil_9_an_amount_signed_for_on_a_visit_that_charges_nothing_is_refused(
    visit_of: object,
) -> None:
    visit = visit_of()  # type: ignore[operator]
    signature = upload(visit, EvidenceKind.SIGNATURE, "sheet")

    with pytest.raises(RuleViolation) as refused:
        visit.sign_off(
            at=at(71), signed=True, signature_ref=signature, amount_acknowledged=Decimal("80")
        )

    assert refused.value.rule == "BIL-9"
    assert refused.value.extensions["amount_charged"] == "0.00"
    assert visit.signed_off is None


@pytest.mark.parametrize("visit_of", [repaired_free, declined])
def test_bil_9_a_visit_that_charges_nothing_is_signed_for_zero_or_no_amount(
    visit_of: object,
) -> None:
    visit = visit_of()  # type: ignore[operator]
    visit.sign_off(
        at=at(71),
        signed=True,
        signature_ref=upload(visit, EvidenceKind.SIGNATURE, "sheet"),
        amount_acknowledged=Decimal("0"),
    )
    signed = visit.events[-1]
    assert isinstance(signed, CustomerSignedOff) and signed.amount_acknowledged == Decimal("0")

    other = visit_of()  # type: ignore[operator]
    other.sign_off(
        at=at(71), signed=True, signature_ref=upload(other, EvidenceKind.SIGNATURE, "sheet")
    )
    signed = other.events[-1]
    assert isinstance(signed, CustomerSignedOff) and signed.amount_acknowledged is None


# -- FLD-10: each photo and barcode counts once ----------------------------------------------------

TWO_OF_EACH = FieldworkPolicy(installation_min_photos=2, installation_min_barcodes=2)


def test_fld_10_the_same_photo_named_twice_is_one_photo_of_the_result() -> None:
    visit = installing()
    photo = upload(visit, EvidenceKind.PHOTO, "p1")

    with pytest.raises(RuleViolation, match="photo") as refused:
        visit.complete_installation(
            at=at(90),
            today=DAY,
            arrived_on=DAY,
            photo_refs=[photo, photo],
            barcodes=["6901", "6902"],
            policy=TWO_OF_EACH,
        )

    assert refused.value.rule == "FLD-10" and visit.state is not VisitState.COMPLETED


def test_fld_10_the_same_barcode_scanned_twice_is_one_scan() -> None:
    visit = installing()
    photos = [upload(visit, EvidenceKind.PHOTO, "p1"), upload(visit, EvidenceKind.PHOTO, "p2")]

    with pytest.raises(RuleViolation, match="barcode") as refused:
        visit.complete_installation(
            at=at(90),
            today=DAY,
            arrived_on=DAY,
            photo_refs=photos,
            barcodes=["6901", " 6901 "],
            policy=TWO_OF_EACH,
        )

    assert refused.value.rule == "FLD-10" and visit.state is not VisitState.COMPLETED


def test_fld_10_an_installation_records_each_photo_and_barcode_once() -> None:
    visit = installing()
    photos = [upload(visit, EvidenceKind.PHOTO, "p1"), upload(visit, EvidenceKind.PHOTO, "p2")]

    visit.complete_installation(
        at=at(90),
        today=DAY,
        arrived_on=DAY,
        photo_refs=[photos[0], photos[1], photos[0]],
        barcodes=["6901", "6902", "6901"],
        policy=TWO_OF_EACH,
    )

    done = visit.events[-2]
    assert isinstance(done, InstallationCompleted)
    assert (done.photo_refs, done.barcodes) == (photos, ["6901", "6902"])
    assert visit.installation is not None and visit.installation.photo_refs == photos
