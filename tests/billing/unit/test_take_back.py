"""A unit taken to the workshop under an accepted quote (FLD-6): returned repaired, that quote's
work is done, so a later visit's quote neither voids nor replaces it (BIL-1, FLD-4)."""

from __future__ import annotations

from datetime import timedelta

from billing.domain.account import QuoteStatus
from contracts.billing import QuoteVoided

from .test_account import IGNITER, NOW, REPAIR, _quote_on, accepted_account

RETURNED_AT = NOW + timedelta(days=5)


def test_bil_1_fld_6_a_later_decline_leaves_the_quote_of_a_unit_returned_repaired_charged() -> None:
    account = accepted_account()  # v-1: 170.00 accepted, the unit then taken back
    account.unit_taken_back(visit_id="v-1", receipt_number="TB-1")
    account.unit_returned(receipt_number="TB-1", repaired=True, at=RETURNED_AT)
    other = _quote_on(account, "v-2", REPAIR)

    account.quote_answered(other, accepted=False, discount_requested=False, at=RETURNED_AT)

    assert [q.status for q in account.state.quotes] == [QuoteStatus.ACCEPTED, QuoteStatus.DECLINED]
    assert account.charge == account.state.quotes[0].total
    assert not any(isinstance(e, QuoteVoided) for e in account.events)


def test_bil_1_fld_6_a_later_acceptance_adds_to_the_quote_of_a_unit_returned_repaired() -> None:
    account = accepted_account()
    first = account.state.quotes[0]
    account.unit_taken_back(visit_id="v-1", receipt_number="TB-1")
    account.unit_returned(receipt_number="TB-1", repaired=True, at=RETURNED_AT)
    other = _quote_on(account, "v-2", IGNITER)

    account.quote_answered(
        other, accepted=True, discount_requested=False, at=RETURNED_AT + timedelta(minutes=5)
    )

    assert [q.status for q in account.state.quotes] == [QuoteStatus.ACCEPTED, QuoteStatus.ACCEPTED]
    assert account.charge == first.total + account.state.quotes[1].total


def test_bil_1_fld_6_a_unit_returned_unrepaired_did_not_do_the_quotes_work() -> None:
    account = accepted_account()
    account.unit_taken_back(visit_id="v-1", receipt_number="TB-1")
    account.unit_returned(receipt_number="TB-1", repaired=False, at=RETURNED_AT)
    other = _quote_on(account, "v-2", REPAIR)

    account.quote_answered(other, accepted=False, discount_requested=False, at=RETURNED_AT)

    assert account.state.quotes[0].status is QuoteStatus.VOIDED
