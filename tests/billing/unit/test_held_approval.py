"""The centre approves what a quote held at issue (BIL-8): a late report kept a waiver on an
earlier quote, so part of what the revisit's quote deducted at issue is covered by no waiver.
It is not charged all the same (FLD-4, BIL-9); approved, it becomes a waiver of its own, with
who approved it, why and when, and the charge does not change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.account import BillingAccount, QuoteStatus, Waiver
from billing.domain.exceptions import (
    ChargeItemNotFound,
    InvalidAmount,
    NotAllowed,
    PersonalDataErased,
)
from contracts.billing import ChargeWaived

from .test_account import IGNITER, NOW, REPAIR, _quote_on, accepted_account
from .test_revisits import DECLINED_AT, SEALANT, _quote_as, _waive

APPROVED_AT = DECLINED_AT + timedelta(days=1)


def held_account() -> tuple[BillingAccount, str, str]:
    """v-1 accepted at 170.00 with a 30.00 waiver; v-2's quote issued at 140.00 carrying it;
    a late report shows v-1 completed before v-2's quote was accepted, so the waiver stays on
    v-1 and v-2 holds 30.00 at issue. Returns the account and the two quotes."""
    account = accepted_account()
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")
    again = _quote_on(account, "v-2", REPAIR, IGNITER)
    account.work_completed("repair", visit_id="v-1", at=NOW + timedelta(hours=1))
    account.quote_answered(again, accepted=True, discount_requested=False, at=DECLINED_AT)
    account.events.clear()
    return account, first, again


def _approve(account: BillingAccount, quote_id: str, reason: str = "late report") -> Waiver:
    return account.approve_held(quote_id, approved_by="disp-2", reason=reason, now=APPROVED_AT)


def test_bil_8_the_centre_approves_what_a_quote_held_as_a_waiver_of_its_own() -> None:
    account, first, again = held_account()
    assert (account.held, account.held_unapproved_since) == (Decimal("30.00"), DECLINED_AT)

    waiver = _approve(account, again)

    earlier = account.state.waivers[0]
    assert waiver.waiver_id != earlier.waiver_id
    assert (waiver.quote_id, waiver.amount, waiver.approved_by, waiver.reason, waiver.at) == (
        again,
        Decimal("30.00"),
        "disp-2",
        "late report",
        APPROVED_AT,
    )
    assert (waiver.carried_from, waiver.approves_held, waiver.new_total) == (
        None,
        True,
        Decimal("140.00"),
    )
    quote = account.quote(again)
    assert quote is not None
    assert (quote.held_at_issue, quote.held_waiver_id) == (Decimal("0"), waiver.waiver_id)
    # the charge does not change: never above the price issued, and now an approved reduction
    assert (account.charge, account.visit_charge("v-2"), account.visit_charge("v-1")) == (
        Decimal("280.00"),
        Decimal("140.00"),
        Decimal("140.00"),
    )
    assert (account.quoted, account.waived, account.held) == (
        Decimal("340.00"),
        Decimal("60.00"),
        Decimal("0"),
    )
    assert account.held_unapproved_since is None
    [published] = account.events
    assert isinstance(published, ChargeWaived)
    assert (published.quote_id, published.amount_waived, published.new_total) == (
        again,
        Decimal("30.00"),
        Decimal("140.00"),
    )
    assert (published.approved_by, published.carried_from_quote_id) == ("disp-2", None)
    assert first != again


def test_bil_8_a_held_amount_is_approved_once() -> None:
    account, _, again = held_account()
    waiver = _approve(account, again)
    account.events.clear()

    with pytest.raises(NotAllowed) as refused:
        _approve(account, again)

    assert waiver.waiver_id in str(refused.value)
    assert refused.value.extensions["waiver_id"] == waiver.waiver_id
    assert account.events == []
    assert len(account.state.waivers) == 2


def test_bil_8_a_quote_holding_nothing_or_unknown_has_nothing_to_approve() -> None:
    account, first, _ = held_account()

    with pytest.raises(NotAllowed):
        _approve(account, first)
    with pytest.raises(ChargeItemNotFound):
        _approve(account, "no-such-quote")
    assert account.events == []


def test_bil_8_a_held_amount_of_a_quote_no_longer_charged_is_not_approved() -> None:
    account, _, again = held_account()
    account.cancelled(at=DECLINED_AT + timedelta(hours=1))  # v-2's work not done: voided
    quote = account.quote(again)
    assert quote is not None and quote.status is QuoteStatus.VOIDED
    assert account.held_unapproved_since is None

    with pytest.raises(NotAllowed):
        _approve(account, again)


def test_bil_8_an_approval_says_why() -> None:
    account, _, again = held_account()

    with pytest.raises(InvalidAmount):
        _approve(account, again, reason="   ")
    assert account.held == Decimal("30.00")


def test_bil_8_bil_11_an_erased_order_takes_no_approval() -> None:
    account, _, again = held_account()
    account.anonymise(APPROVED_AT)
    account.events.clear()

    with pytest.raises(PersonalDataErased) as refused:
        _approve(account, again)

    assert refused.value.extensions == {"anonymised_at": APPROVED_AT.isoformat()}
    assert account.held == Decimal("30.00")
    assert account.events == []


def test_bil_8_an_approved_reduction_is_not_held_again_when_the_acceptance_is_heard_again() -> None:
    account, _, again = held_account()
    _approve(account, again)

    account.quote_answered(again, accepted=True, discount_requested=False, at=DECLINED_AT)

    assert (account.charge, account.held, account.waived) == (
        Decimal("280.00"),
        Decimal("0"),
        Decimal("60.00"),
    )


def test_bil_8_a_quote_accepted_in_place_of_one_whose_held_amount_was_approved_carries_it() -> None:
    account, _, again = held_account()
    waiver = _approve(account, again)
    # v-2's work is not done: a supplement on v-2 replaces its quote once accepted
    supplement = _quote_as(account, "r-v-2b", "v-2", REPAIR, IGNITER, SEALANT)  # 183.00 - 30.00
    account.quote_answered(
        supplement, accepted=True, discount_requested=False, at=DECLINED_AT + timedelta(hours=1)
    )

    assert waiver.quote_id == supplement and waiver.carried_from == again
    assert (account.visit_charge("v-2"), account.held) == (Decimal("153.00"), Decimal("0"))
    assert account.held_unapproved_since is None
