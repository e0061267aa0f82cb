"""A cancelled order's billing account: voided quotes, no more money taken, invoices only for
work done, the refund due (BIL-1, BIL-7, BIL-8), and who is owed the fee for the work (BIL-12).
Events of other services come in any order: decisions follow when things happened."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.account import BillingAccount, QuoteRequest, QuoteStatus
from billing.domain.exceptions import InvalidAmount, NotAllowed, OrderWasCancelled
from contracts.billing import (
    InvoiceDelivery,
    PaymentMethod,
    QuoteIssued,
    QuoteReinstated,
    QuoteVoided,
    QuoteVoidReason,
)
from contracts.common import WarrantyStatus, WorkItem

from .test_account import IGNITER, NOW, POLICY, REPAIR, SCHEDULE, SHANGHAI, accepted_account

CANCELLED_AT = NOW + timedelta(hours=2)


def _pay(account: BillingAccount, amount: str, receipt: str, by: str = "t-1") -> None:
    account.collect(
        method=PaymentMethod.CASH,
        amount=Decimal(amount),
        collected_by=by,
        receipt_number=receipt,
        now=NOW,
    )


def _issued(account: BillingAccount, visit_id: str, *items: WorkItem) -> str:
    account.request_quote(
        QuoteRequest(
            request_id=f"r-{visit_id}", visit_id=visit_id, items=list(items), requested_at=NOW
        )
    )
    [quote] = account.price_pending(
        schedules={"water_heater": SCHEDULE}, policy=POLICY, now=NOW, tz=SHANGHAI
    )
    return quote.quote_id


def test_bil_1_a_cancellation_voids_an_accepted_quote_whose_work_was_never_done() -> None:
    account = accepted_account()  # 170.00 accepted on v-1; the part was missing
    _pay(account, "100.00", "R1")

    account.cancelled(at=CANCELLED_AT)

    [quote] = account.state.quotes
    assert quote.status is QuoteStatus.VOIDED and quote.voided_at == CANCELLED_AT
    assert account.accepted_quote is None
    assert (account.charge, account.paid, account.refund_due) == (
        Decimal("0"),
        Decimal("100.00"),
        Decimal("100.00"),
    )
    assert [p.receipt_number for p in account.state.payments] == ["R1"]  # receipts stay


def test_bil_1_a_quote_never_accepted_is_voided_by_the_cancellation() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    account.learn_warranty(WarrantyStatus.OUT_OF_WARRANTY)
    _issued(account, "v-1", REPAIR)

    account.cancelled(at=CANCELLED_AT)

    assert [q.status for q in account.state.quotes] == [QuoteStatus.VOIDED]


def test_bil_1_a_cancelled_order_takes_no_payment_and_says_why() -> None:
    account = accepted_account()
    _pay(account, "100.00", "R1")
    account.cancelled(at=CANCELLED_AT)

    with pytest.raises(OrderWasCancelled) as refused:
        account.check_payment(Decimal("70.00"))

    assert "cancelled" in str(refused.value)
    assert refused.value.extensions["refund_due"] == "100.00"
    assert refused.value.extensions["allowed"] == ["refunds"]
    with pytest.raises(OrderWasCancelled):
        account.waive(amount=Decimal("10"), approved_by="disp-1", reason="x", now=NOW)


def test_bil_1_work_completed_before_the_cancellation_stays_charged() -> None:
    account = accepted_account()
    _pay(account, "170.00", "R1")
    account.work_completed("repair", visit_id="v-1", at=NOW + timedelta(hours=1))

    account.cancelled(at=CANCELLED_AT)

    assert account.state.quotes[0].status is QuoteStatus.ACCEPTED
    assert (account.charge, account.refund_due) == (Decimal("170.00"), Decimal("0"))


def test_bil_1_work_reported_done_after_the_cancellation_is_not_charged_whatever_came_first() -> (
    None
):
    account = accepted_account()
    # fieldwork's report comes first, though the work was finished after the cancellation
    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT + timedelta(minutes=5))

    account.cancelled(at=CANCELLED_AT)

    assert account.state.quotes[0].status is QuoteStatus.VOIDED
    assert account.charge == 0


def test_bil_1_a_late_report_of_work_done_before_the_cancellation_restores_its_charge() -> None:
    account = accepted_account()
    account.cancelled(at=CANCELLED_AT)
    assert account.charge == 0

    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT - timedelta(minutes=30))

    [quote] = account.state.quotes
    assert (quote.status, quote.voided_at, quote.voided_from) == (QuoteStatus.ACCEPTED, None, None)
    assert account.charge == Decimal("170.00")


def test_bil_1_the_balance_of_work_completed_before_the_cancellation_can_still_be_paid() -> None:
    account = accepted_account()
    _pay(account, "100.00", "R1")
    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT - timedelta(minutes=30))
    account.cancelled(at=CANCELLED_AT)
    assert account.balance == Decimal("70.00")

    with pytest.raises(InvalidAmount):
        account.check_payment(Decimal("80.00"))  # never more than the work done
    _pay(account, "70.00", "R2")

    assert (account.balance, account.refund_due) == (0, 0)
    with pytest.raises(OrderWasCancelled):
        account.check_payment(Decimal("1.00"))


def test_bil_1_an_acceptance_after_the_cancellation_charges_nothing() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    account.learn_warranty(WarrantyStatus.OUT_OF_WARRANTY)
    quote_id = _issued(account, "v-1", REPAIR)
    account.cancelled(at=CANCELLED_AT)

    account.quote_answered(
        quote_id, accepted=True, discount_requested=False, at=CANCELLED_AT + timedelta(minutes=1)
    )

    assert account.state.quotes[0].status is QuoteStatus.VOIDED
    assert account.charge == 0
    with pytest.raises(OrderWasCancelled):
        account.check_payment(Decimal("50.00"))


def test_bil_1_an_acceptance_heard_after_the_cancellation_counts_only_with_its_work_done() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    account.learn_warranty(WarrantyStatus.OUT_OF_WARRANTY)
    quote_id = _issued(account, "v-1", REPAIR)
    account.cancelled(at=CANCELLED_AT)

    account.quote_answered(
        quote_id, accepted=True, discount_requested=False, at=CANCELLED_AT - timedelta(hours=1)
    )
    assert account.state.quotes[0].status is QuoteStatus.VOIDED
    assert account.state.quotes[0].answer is QuoteStatus.ACCEPTED

    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT - timedelta(minutes=20))
    assert account.state.quotes[0].status is QuoteStatus.ACCEPTED
    assert account.charge == Decimal("50.00")


def test_bil_1_a_visit_closed_completed_before_the_cancellation_counts_as_work_done() -> None:
    account = accepted_account()
    account.cancelled(at=CANCELLED_AT)

    account.visit_closed(
        at=CANCELLED_AT - timedelta(minutes=10),
        paid_work=True,
        coordination_ticket=False,
        visit_id="v-1",
        completed=True,
    )

    assert account.charge == Decimal("170.00")


def test_bil_1_quote_requests_waiting_or_arriving_after_a_cancellation_are_never_priced() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    account.request_quote(
        QuoteRequest(request_id="r-1", visit_id="v-1", items=[REPAIR], requested_at=NOW)
    )
    assert account.pending  # no schedule yet

    account.cancelled(at=CANCELLED_AT)
    account.request_quote(
        QuoteRequest(request_id="r-2", visit_id="v-1", items=[REPAIR], requested_at=NOW)
    )
    priced = account.price_pending(
        schedules={"water_heater": SCHEDULE}, policy=POLICY, now=CANCELLED_AT, tz=SHANGHAI
    )

    assert priced == [] and not account.pending
    assert account.state.quotes == []
    assert not any(isinstance(e, QuoteIssued) for e in account.events)


def test_bil_7_a_cancelled_order_invoices_only_money_paid_for_work_done() -> None:
    account = accepted_account([REPAIR])  # v-1: 50.00, done and paid
    account.work_completed("repair", visit_id="v-1", at=NOW)
    _pay(account, "50.00", "R1")
    second = _issued(account, "v-2", IGNITER)  # the revisit: 120.00, part missing
    account.quote_answered(second, accepted=True, discount_requested=False, at=NOW)
    _pay(account, "60.00", "R2")

    account.cancelled(at=CANCELLED_AT)

    assert [q.status for q in account.state.quotes] == [QuoteStatus.ACCEPTED, QuoteStatus.VOIDED]
    assert (account.charge, account.paid, account.refund_due) == (
        Decimal("50.00"),
        Decimal("110.00"),
        Decimal("60.00"),
    )
    assert account.check_invoice() == Decimal("50.00")
    account.issue_invoice(
        number="F1",
        buyer_name=None,
        buyer_tax_id=None,
        delivery=InvoiceDelivery.ON_SITE,
        promised_by=None,
        now=CANCELLED_AT,
        tz=SHANGHAI,
        policy=POLICY,
    )
    with pytest.raises(OrderWasCancelled) as refused:
        account.check_invoice()
    assert isinstance(refused.value, NotAllowed)


def test_bil_8_money_invoiced_before_the_cancellation_is_credited_when_refunded() -> None:
    account = accepted_account()
    _pay(account, "100.00", "R1")
    account.issue_invoice(
        number="F1",
        buyer_name=None,
        buyer_tax_id=None,
        delivery=InvoiceDelivery.ON_SITE,
        promised_by=None,
        now=NOW,
        tz=SHANGHAI,
        policy=POLICY,
    )
    account.cancelled(at=CANCELLED_AT)

    account.refund(
        method=PaymentMethod.CASH,
        amount=account.refund_due,
        refunded_by="t-1",
        approved_by="disp-1",
        reason="order cancelled",
        receipt_number="R2",
        now=CANCELLED_AT,
    )

    assert account.refund_due == 0
    assert [(i.number, amount) for i, amount in account.invoices_to_credit()] == [
        ("F1", Decimal("100.00"))
    ]


def test_bil_12_the_work_is_credited_to_the_network_of_the_technician_who_did_it() -> None:
    account = BillingAccount(order_id="o-1")
    account.assign(network_id="net-a", technician_id="ta-1", visit_id="v-1")
    account.assign(network_id=None, technician_id=None, visit_id="v-2")  # back at the centre
    account.assign(network_id="net-b", technician_id=None, visit_id="v-2")

    assert account.network_id == "net-b"  # who holds the order now
    assert account.network_of(technician_id="ta-1", visit_id="v-1") == "net-a"
    assert account.network_of(technician_id="tb-9", visit_id="v-1") == "net-a"
    assert account.network_of(technician_id="tb-9", visit_id="v-2") == "net-b"
    assert account.network_of(technician_id="tb-9", visit_id="v-7") == "net-b"
    account.assign(network_id=None, technician_id="tc-1", visit_id="v-3")  # the centre's own
    assert account.network_of(technician_id="tc-1", visit_id="v-3") is None


def test_bil_12_cash_taken_counts_for_the_network_of_the_technician_who_took_it() -> None:
    account = accepted_account()
    account.assign(network_id="net-a", technician_id="ta-1", visit_id="v-1")
    account.assign(network_id="net-b", technician_id="tb-1", visit_id="v-2")

    _pay(account, "50.00", "R1", by="ta-1")

    assert account.state.payments[0].network_id == "net-a"


# --- QuoteVoided / QuoteReinstated: fieldwork hears what billing no longer charges ----------


def _void_events(account: BillingAccount) -> list[QuoteVoided | QuoteReinstated]:
    return [e for e in account.events if isinstance(e, QuoteVoided | QuoteReinstated)]


def test_bil_1_a_quote_voided_by_the_cancellation_is_announced_once() -> None:
    account = accepted_account()
    quote = account.state.quotes[0]

    account.cancelled(at=CANCELLED_AT)
    account.cancelled(at=CANCELLED_AT)  # heard twice
    account.visit_closed(at=CANCELLED_AT, paid_work=True, coordination_ticket=False)

    assert _void_events(account) == [
        QuoteVoided(
            order_id="o-1",
            visit_id="v-1",
            quote_id=quote.quote_id,
            answer="accepted",
            reason=QuoteVoidReason.ORDER_CANCELLED,
            voided_at=CANCELLED_AT,
        )
    ]


def test_bil_1_a_quote_never_answered_is_announced_void_as_issued() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    account.learn_warranty(WarrantyStatus.OUT_OF_WARRANTY)
    quote_id = _issued(account, "v-1", REPAIR)

    account.cancelled(at=CANCELLED_AT)

    [voided] = _void_events(account)
    assert isinstance(voided, QuoteVoided)
    assert (voided.quote_id, voided.answer) == (quote_id, "issued")


def test_bil_1_a_late_report_of_work_done_in_time_reinstates_the_announced_quote() -> None:
    account = accepted_account()
    quote_id = account.state.quotes[0].quote_id
    account.cancelled(at=CANCELLED_AT)

    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT - timedelta(minutes=30))
    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT - timedelta(minutes=30))

    assert [type(e).__name__ for e in _void_events(account)] == ["QuoteVoided", "QuoteReinstated"]
    reinstated = _void_events(account)[-1]
    assert reinstated == QuoteReinstated(
        order_id="o-1", visit_id="v-1", quote_id=quote_id, status="accepted"
    )


def test_bil_1_work_done_before_the_cancellation_announces_no_void() -> None:
    account = accepted_account()
    account.work_completed("repair", visit_id="v-1", at=CANCELLED_AT - timedelta(minutes=30))

    account.cancelled(at=CANCELLED_AT)

    assert _void_events(account) == []


def test_bil_1_a_quote_voided_before_it_was_stored_with_its_announcement_is_announced() -> None:
    """Accounts voided before announcements existed tell fieldwork at their next change."""
    account = accepted_account()
    account.cancelled(at=CANCELLED_AT)
    account.state.quotes[0].void_announced = False
    account.events.clear()

    account.cancelled(at=CANCELLED_AT)  # heard again

    assert [type(e).__name__ for e in _void_events(account)] == ["QuoteVoided"]


def test_bil_1_a_decline_given_before_the_cancellation_and_heard_after_ends_the_void() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    account.learn_warranty(WarrantyStatus.OUT_OF_WARRANTY)
    quote_id = _issued(account, "v-1", REPAIR)
    account.cancelled(at=CANCELLED_AT)

    account.quote_answered(
        quote_id,
        accepted=False,
        discount_requested=False,
        at=CANCELLED_AT - timedelta(minutes=5),
    )

    assert account.state.quotes[0].status is QuoteStatus.DECLINED
    assert _void_events(account)[-1] == QuoteReinstated(
        order_id="o-1", visit_id="v-1", quote_id=quote_id, status="declined"
    )
