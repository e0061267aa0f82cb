"""A quote billing voided (QuoteVoided) or put back in force (QuoteReinstated) on the visit: shown
voided with when, why and the answer it had, charging nothing, answered no more (BIL-1, FLD-4,
BIL-9) (pure domain)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from contracts.billing import QuoteVoidReason
from contracts.fieldwork import RepairFailureReason, VisitClosed
from fieldwork.domain.exceptions import RuleViolation
from fieldwork.domain.visit import (
    EvidenceKind,
    MissingPartOption,
    QuoteStatus,
    Visit,
    VisitState,
)

from .test_visit import at, quoted, upload


def accepted() -> Visit:
    """Quote q-1 (80.00) accepted at minute 45; the visit is repairing."""
    visit = quoted()
    visit.accept_quote(
        at=at(45), quote_id="q-1", signature_ref=upload(visit, EvidenceKind.SIGNATURE, "sig-1")
    )
    return visit


def void(
    visit: Visit,
    *,
    reason: QuoteVoidReason = QuoteVoidReason.ORDER_CANCELLED,
    answer: QuoteStatus = QuoteStatus.ACCEPTED,
    when: datetime | None = None,
    declined_quote_id: str | None = None,
) -> bool:
    return visit.quote_voided(
        quote_id="q-1",
        reason=reason,
        at=when or at(50),
        answer=answer,
        declined_quote_id=declined_quote_id,
    )


def closed(visit: Visit) -> VisitClosed:
    [event] = [e for e in visit.events if isinstance(e, VisitClosed)]
    return event


def test_fld_4_bil_1_a_quote_voided_after_the_visit_ended_shows_voided_free() -> None:
    visit = accepted()
    visit.missing_part(at=at(60), option=MissingPartOption.REBOOK, next_visit_agreed=True)
    assert visit.amount_charged == Decimal("80.00") and closed(visit).paid_work is True

    assert void(
        visit,
        reason=QuoteVoidReason.DECLINED_AT_LATER_VISIT,
        when=at(2000),
        declined_quote_id="q-2",
    )

    quote = visit.quote
    assert quote is not None and quote.status is QuoteStatus.VOIDED
    assert quote.void is not None
    assert (quote.void.reason, quote.void.at, quote.void.answer) == (
        QuoteVoidReason.DECLINED_AT_LATER_VISIT,
        at(2000),
        QuoteStatus.ACCEPTED,
    )
    assert quote.void.declined_quote_id == "q-2"
    assert visit.charged_quote is None and visit.amount_charged == Decimal("0.00")
    assert visit.state is VisitState.REBOOK


def test_bil_9_the_customer_signs_for_nothing_on_a_voided_quote() -> None:
    visit = accepted()
    visit.missing_part(at=at(60), option=MissingPartOption.REBOOK)
    void(visit, reason=QuoteVoidReason.DECLINED_AT_LATER_VISIT, when=at(2000))
    signature = upload(visit, EvidenceKind.SIGNATURE, "sig-2")

    with pytest.raises(RuleViolation) as refused:
        visit.sign_off(
            at=at(2001), signed=True, signature_ref=signature, amount_acknowledged=Decimal("80")
        )
    assert refused.value.rule == "BIL-9"

    visit.sign_off(at=at(2001), signed=True, signature_ref=signature)
    assert visit.signed_off is not None
    assert visit.signed_off.amount_acknowledged == Decimal("0.00")


def test_fld_4_a_visit_ending_after_its_quote_was_voided_closes_without_paid_work() -> None:
    visit = accepted()
    void(visit)

    visit.fail(at=at(60), reason=RepairFailureReason.OTHER)

    assert closed(visit).paid_work is False


@pytest.mark.parametrize("action", ["accept", "decline", "decline_naming_it"])
def test_fld_4_a_voided_quote_can_be_neither_accepted_nor_declined(action: str) -> None:
    visit = quoted()
    signature = upload(visit, EvidenceKind.SIGNATURE, "sig-1")
    void(visit, answer=QuoteStatus.ISSUED)

    with pytest.raises(RuleViolation) as refused:
        if action == "accept":
            visit.accept_quote(at=at(55), quote_id="q-1", signature_ref=signature)
        else:
            quote_id = "q-1" if action == "decline_naming_it" else None
            visit.decline_quote(at=at(55), quote_id=quote_id, reason="太贵")

    assert refused.value.rule == "FLD-4"
    assert "q-1 was voided" in str(refused.value) and "order was cancelled" in str(refused.value)
    assert refused.value.extensions["void_reason"] == "order_cancelled"
    assert refused.value.extensions["voided_at"] == at(50).isoformat()
    assert visit.state is VisitState.AWAITING_CONSENT
    assert visit.quote is not None and visit.quote.status is QuoteStatus.VOIDED


def test_fld_4_paid_work_on_a_voided_quote_is_refused_naming_the_void() -> None:
    visit = accepted()
    void(visit)

    with pytest.raises(RuleViolation) as refused:
        visit.complete_repair(at=at(60), tested=False, sure_fixed=True)

    assert refused.value.rule == "FLD-4" and "voided" in str(refused.value)
    assert visit.state is VisitState.REPAIRING


def test_fld_4_a_void_heard_twice_changes_nothing() -> None:
    visit = accepted()
    assert void(visit) is True
    before = visit.model_dump()

    assert void(visit) is False
    assert void(visit, answer=QuoteStatus.ISSUED) is False  # the answer is the one given here

    assert visit.model_dump() == before


def test_bil_1_a_reinstated_quote_is_back_to_its_answer_and_charged() -> None:
    visit = accepted()
    void(visit)

    assert visit.quote_reinstated(quote_id="q-1") is True
    assert visit.quote_reinstated(quote_id="q-1") is False

    quote = visit.quote
    assert quote is not None and (quote.status, quote.void) == (QuoteStatus.ACCEPTED, None)
    assert visit.amount_charged == Decimal("80.00")
    visit.complete_repair(at=at(60), tested=False, sure_fixed=True)
    assert closed(visit).paid_work is True


def test_fld_4_a_reinstated_issued_quote_can_be_answered_again() -> None:
    visit = quoted()
    void(visit, answer=QuoteStatus.ISSUED)
    visit.quote_reinstated(quote_id="q-1")

    visit.accept_quote(
        at=at(55), quote_id="q-1", signature_ref=upload(visit, EvidenceKind.SIGNATURE, "sig-1")
    )

    assert visit.state is VisitState.REPAIRING


def test_fld_4_a_declined_quote_or_another_visits_is_not_voided_here() -> None:
    visit = quoted()
    visit.decline_quote(at=at(50), quote_id="q-1", reason="太贵")

    assert void(visit, answer=QuoteStatus.ISSUED) is False
    assert visit.quote is not None and visit.quote.status is QuoteStatus.DECLINED
    other = accepted()
    assert (
        other.quote_voided(
            quote_id="q-9",
            reason=QuoteVoidReason.ORDER_CANCELLED,
            at=at(50),
            answer=QuoteStatus.ACCEPTED,
        )
        is False
    )
    assert other.quote_reinstated(quote_id="q-1") is False
