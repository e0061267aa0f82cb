"""A quote request billing could not price (QuoteRefused) on the visit: shown refused with
billing's reason, the technician free to diagnose again and send a corrected request; a refused
supplement leaves the accepted quote in force (FLD-4, BIL-1, BIL-9) (pure domain)."""

from __future__ import annotations

from decimal import Decimal

from contracts.fieldwork import QuoteRequested
from fieldwork.domain.visit import EvidenceKind, QuoteStatus, Visit, VisitState

from .test_visit import PART, _issue, accepted_then_more_found, at, inside, upload

REASON = "amounts too large to quote (amount): check the quantities and ask again"


def requested() -> Visit:
    """Out of warranty, diagnosed: a quote request awaits billing and the customer's consent."""
    visit = inside(warranty_status="out_of_warranty")
    visit.diagnose(at=at(40), cause="点火针老化", parts=[PART])
    return visit


def refuse(visit: Visit, request_id: str | None = None, minutes: float = 42) -> bool:
    assert visit.quote is not None
    return visit.quote_refused(
        request_id=request_id or visit.quote.request_id, reason=REASON, at=at(minutes)
    )


def requests(visit: Visit) -> list[QuoteRequested]:
    return [e for e in visit.events if isinstance(e, QuoteRequested)]


def test_fld_4_a_refused_request_shows_refused_with_the_reason_and_can_be_asked_again() -> None:
    visit = requested()
    assert visit.state is VisitState.AWAITING_CONSENT

    assert refuse(visit)

    quote = visit.quote
    assert quote is not None and quote.status is QuoteStatus.REFUSED
    assert quote.refusal is not None
    assert (quote.refusal.reason, quote.refusal.at) == (REASON, at(42))
    assert [q.request_id for q in visit.refused_quotes] == [quote.request_id]
    # back to the diagnosis: nothing to consent to, a corrected request to send
    assert visit.state is VisitState.DIAGNOSING
    assert "diagnose" in visit.allowed_actions()
    assert visit.charged_quote is None

    visit.diagnose(at=at(45), cause="点火针老化", parts=[PART])

    first, again = requests(visit)
    assert again.request_id != first.request_id
    assert visit.quote is not None and visit.quote.status is QuoteStatus.REQUESTED
    assert visit.quote.request_id == again.request_id
    assert visit.state is VisitState.AWAITING_CONSENT
    assert [q.request_id for q in visit.refused_quotes] == [first.request_id]


def test_fld_4_a_refusal_heard_twice_or_of_an_old_request_changes_nothing() -> None:
    visit = requested()
    old = visit.quote.request_id if visit.quote else ""
    assert refuse(visit)
    assert not refuse(visit)  # billing's event delivered again
    visit.diagnose(at=at(45), cause="点火针老化", parts=[PART])

    assert not refuse(visit, request_id=old, minutes=46)

    assert visit.quote is not None and visit.quote.status is QuoteStatus.REQUESTED
    assert visit.state is VisitState.AWAITING_CONSENT
    assert len(visit.refused_quotes) == 1


def test_fld_4_a_refusal_of_a_request_the_customer_already_declined_changes_nothing() -> None:
    visit = requested()
    visit.decline_quote(at=at(41), reason="不修了")

    assert not refuse(visit)

    assert visit.quote is not None and visit.quote.status is QuoteStatus.DECLINED
    assert visit.state is VisitState.DECLINED and visit.refused_quotes == []


def test_fld_4_bil_9_a_refused_supplement_leaves_the_accepted_quote_in_force() -> None:
    visit = accepted_then_more_found()
    supplement = visit.quote.request_id if visit.quote else ""

    assert refuse(visit, minutes=56)

    assert visit.quote is not None and visit.quote.quote_id == "q-1"
    assert visit.quote.status is QuoteStatus.ACCEPTED and visit.consented_quote is None
    assert [(q.request_id, q.status) for q in visit.refused_quotes] == [
        (supplement, QuoteStatus.REFUSED)
    ]
    assert visit.amount_charged == Decimal("80.00")
    assert visit.state is VisitState.DIAGNOSING
    # a corrected supplement repeats the accepted items again; or the work goes on as accepted
    visit.diagnose(at=at(57), cause="比例阀也坏了", parts=[PART])
    assert [i.part_no for i in requests(visit)[-1].items] == ["P-1", "P-1"]
    _issue(visit, "q-2", "160.00")
    visit.accept_quote(
        at=at(58), quote_id="q-2", signature_ref=upload(visit, EvidenceKind.SIGNATURE, "s2")
    )
    assert visit.amount_charged == Decimal("160.00")


def test_fld_4_a_refused_supplement_lets_the_work_go_on_as_accepted() -> None:
    visit = accepted_then_more_found()
    assert refuse(visit, minutes=56)

    visit.start_repair(at=at(57))

    assert visit.state is VisitState.REPAIRING
