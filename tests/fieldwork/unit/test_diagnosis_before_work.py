"""FLD-4: work on a unit not known to be in warranty starts from the diagnosis, which asks the
customer's consent to the quote when the work is chargeable; skipping it does not skip the
consent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.common import WarrantyStatus
from fieldwork.domain.exceptions import RuleViolation
from fieldwork.domain.visit import EvidenceKind, Visit, VisitState
from tests.fieldwork.unit.test_visit import DAY, PART, POLICY, at, inside, installing, upload


@pytest.mark.parametrize("status", [WarrantyStatus.OUT_OF_WARRANTY, WarrantyStatus.UNKNOWN])
def test_fld_4_no_repair_starts_before_the_diagnosis_out_of_warranty(
    status: WarrantyStatus,
) -> None:
    visit = inside(warranty_status=status)

    with pytest.raises(RuleViolation) as refused:
        visit.start_repair(at=at(41))

    assert refused.value.rule == "FLD-4"
    assert refused.value.extensions["instead"] == "diagnose"
    assert visit.state is VisitState.DIAGNOSING and visit.events[-1].event_type != "RepairCompleted"
    assert "start_repair" in visit.allowed_actions()  # possible once diagnosed


def test_fld_4_out_of_warranty_the_diagnosis_leads_to_the_quote_then_the_work() -> None:
    visit = inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY)
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])

    assert visit.state is VisitState.AWAITING_CONSENT


def test_fld_4_work_found_free_on_site_is_done_after_its_diagnosis() -> None:
    visit = inside(warranty_status=WarrantyStatus.UNKNOWN)
    visit.diagnose(at=at(40), cause="插头松动", chargeable=False)

    visit.start_repair(at=at(41))

    assert visit.state is VisitState.REPAIRING


def in_warranty() -> Visit:
    return inside(warranty_status=WarrantyStatus.IN_WARRANTY)


def unit_return() -> Visit:
    return inside(warranty_status=WarrantyStatus.OUT_OF_WARRANTY, unit_return=True)


@pytest.mark.parametrize("visit_of", [in_warranty, unit_return])
def test_fld_4_free_work_may_start_without_a_diagnosis(visit_of: Callable[[], Visit]) -> None:
    visit = visit_of()

    visit.start_repair(at=at(41))

    assert visit.state is VisitState.REPAIRING


def test_fld_10_an_installation_is_completed_without_a_diagnosis() -> None:
    visit = installing()
    visit.warranty_status = WarrantyStatus.UNKNOWN

    visit.complete_installation(
        at=at(90),
        today=DAY,
        arrived_on=DAY,
        photo_refs=[upload(visit, EvidenceKind.PHOTO, "p1")],
        barcodes=["6901"],
        policy=POLICY,
    )

    assert visit.state is VisitState.COMPLETED and visit.diagnosis is None
