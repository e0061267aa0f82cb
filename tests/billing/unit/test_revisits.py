"""Quotes across visits and supplements: what a revisit's answer does to the quote an unfinished
visit accepted (BIL-1, FLD-4), waivers that outlive the quote they were approved on (BIL-8), and
a signature per visit for what that visit charged (BIL-9)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.account import AccountState, BillingAccount, QuoteRequest, QuoteStatus
from billing.domain.exceptions import NotAllowed
from contracts.billing import (
    ChargeWaived,
    PaymentMethod,
    QuoteIssued,
    QuoteReinstated,
    QuoteVoided,
    QuoteVoidReason,
)
from contracts.common import PartLine, WorkItem, WorkItemKind

from .test_account import (
    IGNITER,
    NOW,
    POLICY,
    REPAIR,
    SCHEDULE,
    SHANGHAI,
    _quote_on,
    accepted_account,
)

DECLINED_AT = NOW + timedelta(days=2)
TWO_IGNITERS = WorkItem(
    kind=WorkItemKind.PART, description="igniter", part_no="P-IGN", quantity=Decimal(2)
)
SEALANT = WorkItem(  # not on the schedule: 10.00 + 30 % = 13.00 (BIL-4)
    kind=WorkItemKind.MATERIAL, description="sealant", stock_price=Decimal("10.00")
)


def _pay(account: BillingAccount, amount: str, receipt: str = "R1") -> None:
    account.collect(
        method=PaymentMethod.CASH,
        amount=Decimal(amount),
        collected_by="t-1",
        receipt_number=receipt,
        now=NOW,
    )


def _waive(account: BillingAccount, amount: str) -> None:
    account.waive(amount=Decimal(amount), approved_by="disp-1", reason="goodwill", now=NOW)


# --- BIL-1 / FLD-4: a job declined at a revisit ---------------------------------------------


def test_bil_1_fld_4_a_job_declined_at_a_revisit_voids_the_quote_of_the_unfinished_visit() -> None:
    account = accepted_account()  # v-1: 170.00 accepted, the part was missing: rebooked
    again = _quote_on(account, "v-2", REPAIR, IGNITER)

    account.quote_answered(again, accepted=False, discount_requested=False, at=DECLINED_AT)

    first, second = account.state.quotes
    assert (first.status, first.voided_from, first.voided_at) == (
        QuoteStatus.VOIDED,
        QuoteStatus.ACCEPTED,
        DECLINED_AT,
    )
    assert second.status is QuoteStatus.DECLINED
    assert account.accepted_quote is None
    assert (account.charge, account.balance) == (Decimal("0"), Decimal("0"))
    with pytest.raises(NotAllowed):
        account.check_payment(Decimal("170.00"))


def test_bil_1_bil_8_money_paid_for_a_job_declined_at_the_revisit_is_a_refund_due() -> None:
    account = accepted_account()
    _pay(account, "170.00")
    again = _quote_on(account, "v-2", REPAIR, IGNITER)

    account.quote_answered(again, accepted=False, discount_requested=False, at=DECLINED_AT)

    assert (account.charge, account.paid, account.refund_due) == (
        Decimal("0"),
        Decimal("170.00"),
        Decimal("170.00"),
    )
    account.check_refund(Decimal("170.00"), "disp-1", "job declined at the revisit")


def test_bil_1_the_same_job_accepted_again_at_the_revisit_is_charged_once() -> None:
    account = accepted_account()
    first = account.state.quotes[0].quote_id
    again = _quote_on(account, "v-2", REPAIR, IGNITER)

    account.quote_answered(again, accepted=True, discount_requested=False, at=DECLINED_AT)

    assert [(q.status, q.superseded_by) for q in account.state.quotes] == [
        (QuoteStatus.SUPERSEDED, again),
        (QuoteStatus.ACCEPTED, None),
    ]
    assert account.charge == Decimal("170.00")
    assert first not in [q.quote_id for q in account.accepted_quotes]


def test_fld_4_a_supplement_declined_on_the_same_visit_leaves_the_accepted_quote_charged() -> None:
    account = accepted_account()
    supplement = _quote_on(account, "v-1", REPAIR, TWO_IGNITERS)

    account.quote_answered(supplement, accepted=False, discount_requested=False, at=DECLINED_AT)

    assert [q.status for q in account.state.quotes] == [QuoteStatus.ACCEPTED, QuoteStatus.DECLINED]
    assert account.charge == Decimal("170.00")


def test_bil_1_work_completed_on_the_first_visit_stays_charged_when_the_revisit_is_declined() -> (
    None
):
    account = accepted_account()
    account.work_completed("repair", visit_id="v-1", at=NOW)
    other_job = _quote_on(account, "v-2", REPAIR)

    account.quote_answered(other_job, accepted=False, discount_requested=False, at=DECLINED_AT)

    assert account.state.quotes[0].status is QuoteStatus.ACCEPTED
    assert account.charge == Decimal("170.00")


def test_bil_1_a_late_report_that_the_first_visit_completed_its_work_restores_its_charge() -> None:
    account = accepted_account()
    again = _quote_on(account, "v-2", REPAIR, IGNITER)
    account.quote_answered(again, accepted=False, discount_requested=False, at=DECLINED_AT)
    assert account.charge == 0

    account.work_completed("repair", visit_id="v-1", at=NOW + timedelta(hours=1))

    first = account.state.quotes[0]
    assert (first.status, first.voided_from, first.voided_at) == (QuoteStatus.ACCEPTED, None, None)
    assert account.charge == Decimal("170.00")


# --- BIL-8: a waiver outlives the quote it was approved on -----------------------------------


def test_bil_8_a_waiver_goes_on_applying_to_the_supplement_accepted_in_its_quotes_place() -> None:
    account = accepted_account()  # 170.00
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")
    supplement = _quote_on(account, "v-1", REPAIR, TWO_IGNITERS)  # 290.00: one more igniter
    account.events.clear()

    account.quote_answered(supplement, accepted=True, discount_requested=False, at=DECLINED_AT)

    assert [q.status for q in account.state.quotes] == [
        QuoteStatus.SUPERSEDED,
        QuoteStatus.ACCEPTED,
    ]
    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.carried_from, waiver.amount, waiver.new_total) == (
        supplement,
        first,
        Decimal("30.00"),
        Decimal("260.00"),
    )
    assert (account.waived, account.charge) == (Decimal("30.00"), Decimal("260.00"))
    # fieldwork shows the supplement's total after the waiver at sign-off (BIL-9)
    [event] = account.events
    assert isinstance(event, ChargeWaived)
    assert (event.quote_id, event.amount_waived, event.new_total, event.approved_by) == (
        supplement,
        Decimal("30.00"),
        Decimal("260.00"),
        "disp-1",
    )


def test_bil_8_bil_9_a_supplement_is_issued_at_its_price_after_the_waiver_it_will_carry() -> None:
    account = accepted_account()  # 170.00
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")  # the customer is charged 140.00
    account.events.clear()

    # re-examined: the supplement repeats the quote's items and adds a material, 183.00
    supplement = _quote_on(account, "v-1", REPAIR, IGNITER, SEALANT)

    [issued] = account.events
    assert isinstance(issued, QuoteIssued)
    assert issued.total == Decimal("153.00")  # what the customer consents to (FLD-4)
    assert sum(line.amount for line in issued.lines) == issued.total
    waiver_line = issued.lines[-1]
    assert (waiver_line.rule_id, waiver_line.amount) == ("BIL-8", Decimal("-30.00"))
    assert waiver_line.note is not None and first in waiver_line.note
    quote = account.quote(supplement)
    assert quote is not None
    assert (quote.total, quote.waived_at_issue) == (Decimal("153.00"), Decimal("30.00"))
    # not accepted yet: the waiver stays with the quote it was approved on
    assert [w.quote_id for w in account.state.waivers] == [first]
    assert account.charge == Decimal("140.00")


def test_bil_8_bil_9_the_supplement_accepted_carries_the_waiver_without_deducting_it_twice() -> (
    None
):
    account = accepted_account()  # 170.00
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")
    supplement = _quote_on(account, "v-1", REPAIR, IGNITER, SEALANT)  # issued at 153.00
    account.events.clear()

    account.quote_answered(supplement, accepted=True, discount_requested=False, at=DECLINED_AT)

    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.carried_from, waiver.amount, waiver.new_total) == (
        supplement,
        first,
        Decimal("30.00"),
        Decimal("153.00"),
    )
    assert (account.quoted, account.waived, account.charge) == (
        Decimal("183.00"),
        Decimal("30.00"),
        Decimal("153.00"),
    )
    [carried] = account.events
    assert isinstance(carried, ChargeWaived)
    assert (carried.quote_id, carried.amount_waived, carried.new_total) == (
        supplement,
        Decimal("30.00"),
        Decimal("153.00"),
    )
    assert carried.carried_from_quote_id == first
    issued = account.quote(supplement)
    assert issued is not None and carried.new_total == issued.total  # as issued: no race
    # fieldwork signs for the total it holds from QuoteIssued, whether or not ChargeWaived came
    signed = account.sign(
        amount=Decimal("153.00"),
        parts=[PartLine(part_no="P-IGN", name="igniter")],
        signature_ref="s-1",
        now=NOW,
        strict=True,
        visit_id="v-1",
    )
    assert signed.matches_charge


def test_bil_8_a_supplement_declined_leaves_the_waiver_on_the_quote_it_was_approved_on() -> None:
    account = accepted_account()  # 170.00
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")
    supplement = _quote_on(account, "v-1", REPAIR, IGNITER, SEALANT)

    account.quote_answered(supplement, accepted=False, discount_requested=False, at=DECLINED_AT)

    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.carried_from, waiver.amount) == (first, None, Decimal("30.00"))
    assert [q.status for q in account.state.quotes] == [QuoteStatus.ACCEPTED, QuoteStatus.DECLINED]
    assert account.charge == Decimal("140.00")


def test_bil_8_a_supplement_is_never_issued_below_zero_by_the_waiver_it_carries() -> None:
    account = accepted_account()  # 170.00
    _waive(account, "100.00")

    cheaper = _quote_on(account, "v-1", REPAIR)  # 50.00

    quote = account.quote(cheaper)
    assert quote is not None
    assert (quote.total, quote.waived_at_issue) == (Decimal("0.00"), Decimal("50.00"))
    account.quote_answered(cheaper, accepted=True, discount_requested=False, at=DECLINED_AT)
    [waiver] = account.state.waivers
    assert (waiver.amount, waiver.approved_amount, waiver.new_total) == (
        Decimal("50.00"),
        Decimal("100.00"),
        Decimal("0.00"),
    )
    assert account.charge == Decimal("0.00")


def test_bil_8_a_waiver_approved_after_the_supplement_was_issued_is_carried_on_acceptance() -> None:
    account = accepted_account()  # 170.00
    _waive(account, "30.00")
    supplement = _quote_on(account, "v-1", REPAIR, IGNITER, SEALANT)  # issued at 153.00
    _waive(account, "20.00")  # approved on the quote still accepted
    account.events.clear()

    account.quote_answered(supplement, accepted=True, discount_requested=False, at=DECLINED_AT)

    assert account.charge == Decimal("133.00")
    assert [(e.amount_waived, e.new_total) for e in account.events] == [  # type: ignore[attr-defined]
        (Decimal("30.00"), Decimal("153.00")),
        (Decimal("20.00"), Decimal("133.00")),
    ]


def test_bil_8_a_waiver_carried_to_a_smaller_quote_never_takes_it_below_zero() -> None:
    account = accepted_account()  # 170.00
    _waive(account, "100.00")
    cheaper = _quote_on(account, "v-2", REPAIR)  # the revisit quotes only the repair: 50.00

    account.quote_answered(cheaper, accepted=True, discount_requested=False, at=DECLINED_AT)

    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.amount, waiver.approved_amount) == (
        cheaper,
        Decimal("50.00"),
        Decimal("100.00"),
    )
    assert account.charge == Decimal("0")


def test_bil_8_a_waiver_beyond_the_latest_quote_comes_off_the_earlier_visits_quote() -> None:
    account = accepted_account([REPAIR])  # v-1: 50.00, done
    account.work_completed("repair", visit_id="v-1", at=NOW)
    second = _quote_on(account, "v-2", IGNITER)  # v-2: 120.00
    account.quote_answered(second, accepted=True, discount_requested=False)
    account.events.clear()

    _waive(account, "150.00")

    totals = [(e.quote_id, e.amount_waived, e.new_total) for e in account.events]
    first = account.state.quotes[0].quote_id
    assert all(isinstance(e, ChargeWaived) for e in account.events)
    assert totals == [
        (second, Decimal("120.00"), Decimal("0.00")),
        (first, Decimal("30.00"), Decimal("20.00")),
    ]
    assert account.charge == Decimal("20.00")
    assert (account.visit_charge("v-1"), account.visit_charge("v-2")) == (
        Decimal("20.00"),
        Decimal("0.00"),
    )


# --- FLD-4 / BIL-8 / BIL-9: the quote in force changes between a supplement's issue and its
# acceptance: the customer is charged at most the price issued, which they consented to.


def _quote_as(account: BillingAccount, request_id: str, visit_id: str, *items: WorkItem) -> str:
    """Like ``_quote_on``, with its own request id: several quotes of one visit."""
    account.request_quote(
        QuoteRequest(request_id=request_id, visit_id=visit_id, items=list(items), requested_at=NOW)
    )
    [quote] = account.price_pending(
        schedules={"water_heater": SCHEDULE}, policy=POLICY, now=NOW, tz=SHANGHAI
    )
    return quote.quote_id


def test_fld_4_bil_8_a_supplement_accepted_before_a_completion_heard_first_supersedes() -> None:
    account = accepted_account()  # v-1: 170.00
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")
    supplement = _quote_on(account, "v-1", REPAIR, IGNITER, SEALANT)  # issued at 153.00
    # the visit's completion is heard before the acceptance that came before it
    account.work_completed("repair", visit_id="v-1", at=DECLINED_AT + timedelta(hours=1))

    account.quote_answered(supplement, accepted=True, discount_requested=False, at=DECLINED_AT)

    assert [(q.status, q.superseded_by) for q in account.state.quotes] == [
        (QuoteStatus.SUPERSEDED, supplement),
        (QuoteStatus.ACCEPTED, None),
    ]
    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.carried_from) == (supplement, first)
    assert (account.charge, account.visit_charge("v-1"), account.held) == (
        Decimal("153.00"),
        Decimal("153.00"),
        Decimal("0"),
    )


def test_fld_4_bil_8_a_quote_whose_waiver_stays_on_a_completed_quote_is_charged_as_issued() -> None:
    account = accepted_account()  # v-1: 170.00
    first = account.state.quotes[0].quote_id
    _waive(account, "30.00")  # v-1 charges 140.00
    again = _quote_on(account, "v-2", REPAIR, IGNITER)  # issued at 140.00: 170.00 - 30.00
    # a late report: v-1 completed its work before the revisit's quote was accepted
    account.work_completed("repair", visit_id="v-1", at=NOW + timedelta(hours=1))
    account.events.clear()

    account.quote_answered(again, accepted=True, discount_requested=False, at=DECLINED_AT)

    # v-1's work was done: its quote stays charged with the waiver approved on it
    assert [q.status for q in account.state.quotes] == [QuoteStatus.ACCEPTED] * 2
    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.carried_from) == (first, None)
    assert not [e for e in account.events if isinstance(e, ChargeWaived)]
    # v-2 charges what the customer consented to, not the schedule's 170.00 (FLD-4, BIL-9)
    assert (account.visit_charge("v-1"), account.visit_charge("v-2")) == (
        Decimal("140.00"),
        Decimal("140.00"),
    )
    quote = account.quote(again)
    assert quote is not None and quote.held_at_issue == Decimal("30.00")
    assert (account.charge, account.held) == (Decimal("280.00"), Decimal("30.00"))
    signed = account.sign(
        amount=Decimal("140.00"),
        parts=[],
        signature_ref="s-2",
        now=DECLINED_AT,
        strict=True,
        visit_id="v-2",
    )
    assert signed.matches_charge
    # a waiver the centre approves later comes off what is charged, not off what is held
    _waive(account, "10.00")
    assert (account.visit_charge("v-2"), account.charge) == (Decimal("130.00"), Decimal("270.00"))


def test_bil_8_a_supplement_accepted_after_its_waiver_shrank_elsewhere_is_charged_as_issued() -> (
    None
):
    account = accepted_account()  # v-1: 170.00
    _waive(account, "100.00")  # 70.00
    supplement = _quote_as(account, "r-1b", "v-1", REPAIR, IGNITER, SEALANT)  # 183.00 - 100.00
    smaller = _quote_as(account, "r-1c", "v-1", REPAIR)  # 50.00, issued at 0.00
    account.quote_answered(smaller, accepted=True, discount_requested=False, at=DECLINED_AT)
    [waiver] = account.state.waivers
    assert (waiver.amount, waiver.approved_amount) == (Decimal("50.00"), Decimal("100.00"))
    account.events.clear()

    later = DECLINED_AT + timedelta(minutes=5)
    account.quote_answered(supplement, accepted=True, discount_requested=False, at=later)

    # the whole approval is carried again: the supplement charges its 83.00 as issued
    [waiver] = account.state.waivers
    assert (waiver.quote_id, waiver.amount, waiver.approved_amount) == (
        supplement,
        Decimal("100.00"),
        None,
    )
    assert (account.charge, account.held) == (Decimal("83.00"), Decimal("0"))
    [carried] = account.events
    assert isinstance(carried, ChargeWaived)
    assert (carried.amount_waived, carried.new_total) == (Decimal("100.00"), Decimal("83.00"))


# --- BIL-9: a signature per visit -------------------------------------------------------------


def test_bil_9_each_visit_is_signed_for_what_that_visit_charged() -> None:
    account = accepted_account()  # v-1: 170.00, done and paid
    account.work_completed("repair", visit_id="v-1", at=NOW)
    _pay(account, "170.00")
    first = account.sign(
        amount=Decimal("170.00"),
        parts=[],
        signature_ref="s-1",
        now=NOW,
        strict=False,
        visit_id="v-1",
    )
    revisit = _quote_on(account, "v-2", REPAIR)  # dissatisfied: a revisit, 50.00
    account.quote_answered(revisit, accepted=True, discount_requested=False)

    second = account.sign(
        amount=Decimal("50.00"),
        parts=[],
        signature_ref="s-2",
        now=NOW + timedelta(days=3),
        strict=False,
        visit_id="v-2",
    )

    assert account.charge == Decimal("220.00")
    assert first.matches_charge and second.matches_charge
    assert [(s.visit_id, s.amount, s.charged) for s in account.state.signatures] == [
        ("v-1", Decimal("170.00"), Decimal("170.00")),
        ("v-2", Decimal("50.00"), Decimal("50.00")),
    ]
    assert account.signature is second
    with pytest.raises(NotAllowed) as refused:
        account.sign(
            amount=Decimal("220.00"),
            parts=[PartLine(part_no="P-IGN", name="igniter")],
            signature_ref="s-3",
            now=NOW,
            strict=True,
            visit_id="v-2",
        )
    assert refused.value.extensions == {"charge": "50.00", "parts": {}}


def test_bil_9_a_visit_is_signed_for_its_quote_after_the_waiver_it_carries() -> None:
    account = accepted_account()
    _waive(account, "30.00")
    supplement = _quote_on(account, "v-1", REPAIR, TWO_IGNITERS)
    account.quote_answered(supplement, accepted=True, discount_requested=False)

    signed = account.sign(
        amount=Decimal("260.00"),
        parts=[PartLine(part_no="P-IGN", name="igniter", quantity=Decimal(2))],
        signature_ref="s-1",
        now=NOW,
        strict=True,
        visit_id="v-1",
    )

    assert signed.matches_charge and signed.charged == Decimal("260.00")


def test_bil_9_signing_a_visit_again_keeps_its_latest_signature_only() -> None:
    account = accepted_account()
    for amount in ("1.00", "170.00"):
        account.sign(
            amount=Decimal(amount),
            parts=[],
            signature_ref="s",
            now=NOW,
            strict=False,
            visit_id="v-1",
        )
    [signature] = account.state.signatures
    assert signature.amount == Decimal("170.00") and signature.matches_charge


def test_bil_9_an_account_stored_with_one_signature_loads_it_as_the_only_one() -> None:
    stored = {
        "signature": {
            "amount": "170.00",
            "parts": [],
            "signature_ref": "s-1",
            "signed_at": NOW.isoformat(),
            "matches_charge": True,
        }
    }

    state = AccountState.model_validate(stored)

    [signature] = state.signatures
    assert (signature.visit_id, signature.amount) == (None, Decimal("170.00"))
    assert state.signature is signature
    assert "signature" not in state.model_dump(mode="json")
    assert AccountState.model_validate({"signature": None}).signatures == []


def test_bil_11_anonymising_removes_the_signature_images_of_every_visit() -> None:
    account = accepted_account()
    for visit_id in ("v-1", "v-2"):
        account.sign(
            amount=Decimal("0"),
            parts=[],
            signature_ref=f"s-{visit_id}",
            now=NOW,
            strict=False,
            visit_id=visit_id,
        )

    account.anonymise(NOW)

    assert [s.signature_ref for s in account.state.signatures] == [None, None]


def test_bil_1_fld_4_the_quote_voided_by_a_decline_at_the_revisit_is_announced() -> None:
    account = accepted_account()
    first = account.state.quotes[0].quote_id
    again = _quote_on(account, "v-2", REPAIR, IGNITER)

    account.quote_answered(again, accepted=False, discount_requested=False, at=DECLINED_AT)
    account.work_completed("repair", visit_id="v-1", at=NOW + timedelta(hours=1))

    announced = [e for e in account.events if isinstance(e, QuoteVoided | QuoteReinstated)]
    assert announced == [
        QuoteVoided(
            order_id="o-1",
            visit_id="v-1",
            quote_id=first,
            answer="accepted",
            reason=QuoteVoidReason.DECLINED_AT_LATER_VISIT,
            voided_at=DECLINED_AT,
            declined_quote_id=again,
        ),
        QuoteReinstated(order_id="o-1", visit_id="v-1", quote_id=first, status="accepted"),
    ]
