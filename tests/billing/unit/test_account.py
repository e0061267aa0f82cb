"""The billing account of an order: charge, waivers, payments, invoices, signature, retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from billing.domain.account import (
    BillingAccount,
    Invoice,
    InvoiceStatus,
    QuoteRequest,
    is_personal,
)
from billing.domain.exceptions import InvalidAmount, InvalidDate, NotAllowed
from billing.domain.policy import BillingPolicy
from billing.domain.schedule import FeeItem, FeeSchedule, PartPrice, ScheduleContent
from contracts.billing import (
    ChargeWaived,
    InvoiceDelivery,
    InvoiceDeliveryOverdue,
    OrderRetentionExpired,
    PaymentCollected,
    PaymentMethod,
    PaymentRefunded,
    QuoteIssued,
    ReceiptIssued,
    RetentionClass,
)
from contracts.common import PartLine, WarrantyStatus, WorkItem, WorkItemKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
POLICY = BillingPolicy()
SCHEDULE = FeeSchedule(
    product_line="water_heater",
    version=1,
    published_at=NOW,
    published_by="ops",
    content=ScheduleContent(
        fees=[FeeItem(fee_code="W02", description="repair", price=Decimal("50.0"))],
        parts=[PartPrice(part_no="P-IGN", name="igniter", price=Decimal("120.0"))],
    ),
)


def accepted_account(total_items: list[WorkItem] | None = None) -> BillingAccount:
    account = BillingAccount(order_id="o-1")
    account.learn_order(
        product_line="water_heater",
        warranty_status=WarrantyStatus.OUT_OF_WARRANTY,
        customer={"name": "王芳", "phones": ["+8613800138000"]},
        installed_on=None,
    )
    account.request_quote(
        QuoteRequest(
            request_id="r-1",
            visit_id="v-1",
            items=total_items
            or [
                WorkItem(kind=WorkItemKind.FEE, description="repair", fee_code="W02"),
                WorkItem(kind=WorkItemKind.PART, description="igniter", part_no="P-IGN"),
            ],
            requested_at=NOW,
        )
    )
    [quote] = account.price_pending(
        schedules={"water_heater": SCHEDULE}, policy=POLICY, now=NOW, tz=SHANGHAI
    )
    account.quote_answered(quote.quote_id, accepted=True, discount_requested=False)
    account.events.clear()
    return account


def _quote_on(account: BillingAccount, visit_id: str, *items: WorkItem) -> str:
    account.request_quote(
        QuoteRequest(
            request_id=f"r-{visit_id}", visit_id=visit_id, items=list(items), requested_at=NOW
        )
    )
    [quote] = account.price_pending(
        schedules={"water_heater": SCHEDULE}, policy=POLICY, now=NOW, tz=SHANGHAI
    )
    return quote.quote_id


REPAIR = WorkItem(kind=WorkItemKind.FEE, description="repair", fee_code="W02")
IGNITER = WorkItem(kind=WorkItemKind.PART, description="igniter", part_no="P-IGN")


def test_bil_1_a_revisit_quoting_another_job_adds_to_the_charge_of_the_completed_one() -> None:
    account = accepted_account([REPAIR])  # v-1: 50.00, done and paid
    account.work_completed("repair", visit_id="v-1")
    account.collect(
        method=PaymentMethod.CASH,
        amount=Decimal("50.00"),
        collected_by="t-1",
        receipt_number="R-1",
        now=NOW,
    )
    second = _quote_on(account, "v-2", IGNITER)  # a new fault on the revisit: 120.00
    account.quote_answered(second, accepted=True, discount_requested=False)
    assert [q.visit_id for q in account.accepted_quotes] == ["v-1", "v-2"]
    assert (account.charge, account.paid, account.balance) == (
        Decimal("170.00"),
        Decimal("50.00"),
        Decimal("120.00"),
    )
    assert account.charged_parts() == {"P-IGN": Decimal(1)}


def test_bil_1_a_revisit_quoting_the_same_unfinished_job_again_replaces_its_quote() -> None:
    account = accepted_account([REPAIR, IGNITER])  # v-1: 170.00, the part was missing
    again = _quote_on(account, "v-2", REPAIR, IGNITER)
    account.quote_answered(again, accepted=True, discount_requested=False)
    assert [q.visit_id for q in account.accepted_quotes] == ["v-2"]
    assert account.charge == Decimal("170.00")


def test_bil_1_a_quote_cites_the_schedule_version_and_each_line_its_rule() -> None:
    account = BillingAccount(order_id="o-1", warranty_status=WarrantyStatus.OUT_OF_WARRANTY)
    account.request_quote(
        QuoteRequest(
            request_id="r-1",
            items=[WorkItem(kind=WorkItemKind.FEE, description="repair", fee_code="W02")],
            product_line="water_heater",
            requested_at=NOW,
        )
    )
    account.price_pending(schedules={"water_heater": SCHEDULE}, policy=POLICY, now=NOW, tz=SHANGHAI)
    [issued] = account.events
    assert isinstance(issued, QuoteIssued)
    assert issued.schedule_version == "water_heater@v1"
    assert issued.request_id == "r-1"
    assert issued.lines[0].rule_id == "BIL-1"
    assert issued.total == Decimal("50.00")


def test_bil_1_a_request_waits_until_the_product_lines_schedule_is_published() -> None:
    account = BillingAccount(order_id="o-1")
    account.request_quote(QuoteRequest(request_id="r-1", items=[], requested_at=NOW))
    assert account.price_pending(schedules={}, policy=POLICY, now=NOW, tz=SHANGHAI) == []
    assert account.pending
    assert account.state.requests[0].waiting_for == "product line"


def test_bil_1_a_visit_that_ended_without_its_quote_drops_the_waiting_request() -> None:
    account = BillingAccount(order_id="o-1", product_line="water_heater")
    for visit_id in ("v-1", "v-2"):
        account.request_quote(
            QuoteRequest(request_id=f"r-{visit_id}", visit_id=visit_id, items=[], requested_at=NOW)
        )
    account.visit_closed(at=NOW, paid_work=False, coordination_ticket=False, visit_id="v-1")
    assert [r.visit_id for r in account.state.requests] == ["v-2"]
    account.visit_closed(at=NOW, paid_work=False, coordination_ticket=False, visit_id="v-2")
    assert not account.pending


def test_bil_1_the_warranty_status_travels_and_unknown_never_erases_it() -> None:
    account = BillingAccount(order_id="o-1")
    account.learn_warranty(WarrantyStatus.IN_WARRANTY)
    account.learn_warranty(WarrantyStatus.UNKNOWN)
    assert account.warranty_status is WarrantyStatus.IN_WARRANTY


def test_bil_1_nothing_is_charged_without_an_accepted_quote() -> None:
    account = BillingAccount(order_id="o-1")
    with pytest.raises(NotAllowed):
        account.check_payment(Decimal("10"))


def test_bil_8_a_waiver_is_recorded_with_who_and_why() -> None:
    account = accepted_account()
    account.waive(amount=Decimal("20.00"), approved_by="disp-1", reason="goodwill", now=NOW)
    [event] = account.events
    assert isinstance(event, ChargeWaived)
    assert (event.approved_by, event.reason) == ("disp-1", "goodwill")
    assert event.new_total == account.charge == Decimal("150.00")


@pytest.mark.parametrize(
    ("amount", "who", "why"),
    [("171.00", "disp-1", "too much"), ("10", "", "no approver"), ("10", "disp-1", " ")],
)
def test_bil_8_nothing_is_reduced_without_approval_or_below_zero(
    amount: str, who: str, why: str
) -> None:
    account = accepted_account()
    with pytest.raises(InvalidAmount):
        account.waive(amount=Decimal(amount), approved_by=who, reason=why, now=NOW)
    assert account.charge == Decimal("170.00")
    assert account.events == []


def test_bil_7_partial_payments_each_get_a_receipt_and_overpaying_is_refused() -> None:
    account = accepted_account()
    account.collect(
        method=PaymentMethod.CARD,
        amount=Decimal("100"),
        collected_by="t-1",
        receipt_number="R2026-000001",
        now=NOW,
    )
    account.collect(
        method=PaymentMethod.CASH,
        amount=Decimal("70"),
        collected_by="t-1",
        receipt_number="R2026-000002",
        now=NOW,
    )
    assert account.balance == 0
    kinds = [type(e) for e in account.events]
    assert kinds == [PaymentCollected, ReceiptIssued, PaymentCollected, ReceiptIssued]
    with pytest.raises(InvalidAmount):
        account.check_payment(Decimal("0.10"))


def test_bil_7_a_refund_needs_approval_and_never_exceeds_what_was_paid() -> None:
    account = accepted_account()
    account.collect(
        method=PaymentMethod.CASH,
        amount=Decimal("170"),
        collected_by="t-1",
        receipt_number="R1",
        now=NOW,
    )
    with pytest.raises(InvalidAmount):
        account.check_refund(Decimal("171"), "disp-1", "overcharged")
    with pytest.raises(InvalidAmount):
        account.check_refund(Decimal("10"), "", "overcharged")
    account.waive(amount=Decimal("20"), approved_by="disp-1", reason="overcharged", now=NOW)
    account.refund(
        method=PaymentMethod.CASH,
        amount=Decimal("20"),
        refunded_by="t-1",
        approved_by="disp-1",
        reason="overcharged",
        receipt_number="R2",
        now=NOW,
    )
    assert account.paid == Decimal("150")
    assert isinstance(account.events[-2], PaymentRefunded)
    receipt = account.events[-1]
    assert isinstance(receipt, ReceiptIssued) and receipt.amount == Decimal("-20")


def test_bil_7_invoice_by_post_is_tracked_until_delivered() -> None:
    account = accepted_account()
    with pytest.raises(NotAllowed):
        account.check_invoice()
    account.collect(
        method=PaymentMethod.MOBILE,
        amount=Decimal("170"),
        collected_by="t-1",
        receipt_number="R1",
        now=NOW,
    )
    invoice = account.issue_invoice(
        number="F2026-000001",
        buyer_name="某公司",
        buyer_tax_id=None,
        delivery=InvoiceDelivery.POST,
        promised_by=None,
        now=NOW,
        tz=SHANGHAI,
        policy=POLICY,
    )
    assert invoice.status is InvoiceStatus.TO_DELIVER
    with pytest.raises(NotAllowed) as refused:
        account.track_invoice(
            "F2026-000001", status=InvoiceStatus.TO_DELIVER, tracking_number=None, now=NOW
        )
    assert refused.value.extensions["allowed"] == ["posted", "delivered"]
    account.track_invoice(
        "F2026-000001", status=InvoiceStatus.POSTED, tracking_number="SF1", now=NOW
    )
    account.track_invoice(
        "F2026-000001", status=InvoiceStatus.DELIVERED, tracking_number=None, now=NOW
    )
    assert invoice.delivered_at == NOW
    with pytest.raises(NotAllowed):
        account.check_invoice()  # all paid is invoiced


def _paid_account(amount: str = "170") -> BillingAccount:
    account = accepted_account()
    account.collect(
        method=PaymentMethod.MOBILE,
        amount=Decimal(amount),
        collected_by="t-1",
        receipt_number="R1",
        now=NOW,
    )
    return account


def _invoice(
    account: BillingAccount,
    delivery: InvoiceDelivery,
    *,
    number: str = "F1",
    promised_by: date | None = None,
) -> Invoice:
    return account.issue_invoice(
        number=number,
        buyer_name=None,
        buyer_tax_id=None,
        delivery=delivery,
        promised_by=promised_by,
        now=NOW,
        tz=SHANGHAI,
        policy=POLICY,
    )


def test_bil_7_an_invoice_not_handed_over_gets_the_default_promise_when_none_was_made() -> None:
    account = _paid_account()
    invoice = _invoice(account, InvoiceDelivery.POST)
    assert invoice.promised_by == date(2026, 5, 13)  # the policy's 7 days from 6 May
    assert account.invoice_due_on == date(2026, 5, 13)
    on_site = _invoice(_paid_account(), InvoiceDelivery.ON_SITE, number="F2")
    assert on_site.promised_by is None  # handed over at once: nothing to track


def test_bil_7_an_invoice_undelivered_after_its_promised_date_is_reported_once() -> None:
    account = _paid_account()
    _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 5, 8))
    account.track_invoice("F1", status=InvoiceStatus.POSTED, tracking_number="SF1", now=NOW)
    account.events.clear()

    assert account.report_overdue_invoices(today=date(2026, 5, 8), now=NOW) == []
    [late] = account.report_overdue_invoices(today=date(2026, 5, 9), now=NOW)
    [event] = account.events
    assert isinstance(event, InvoiceDeliveryOverdue)
    assert (event.invoice_number, event.status, event.tracking_number) == ("F1", "posted", "SF1")
    assert event.promised_by == date(2026, 5, 8)
    assert late.overdue_reported_at == NOW
    assert account.invoice_due_on is None  # nothing left for the sweep
    assert account.report_overdue_invoices(today=date(2026, 5, 20), now=NOW) == []


def test_bil_7_a_delivered_invoice_is_never_reported_overdue() -> None:
    account = _paid_account()
    _invoice(account, InvoiceDelivery.LATER_VISIT, promised_by=date(2026, 5, 8))
    account.track_invoice("F1", status=InvoiceStatus.DELIVERED, tracking_number=None, now=NOW)
    assert account.invoice_due_on is None
    assert account.report_overdue_invoices(today=date(2026, 6, 1), now=NOW) == []


def test_bil_9_the_customer_signs_for_the_amount_and_the_parts_charged() -> None:
    account = accepted_account()
    with pytest.raises(NotAllowed):
        account.sign(amount=Decimal("150"), parts=[], signature_ref="s", now=NOW, strict=True)
    with pytest.raises(NotAllowed):
        account.sign(
            amount=Decimal("170"),
            parts=[PartLine(part_no="P-IGN", name="i", quantity=Decimal(2))],
            signature_ref="s",
            now=NOW,
            strict=True,
        )
    signed = account.sign(
        amount=Decimal("170"),
        parts=[PartLine(part_no="P-IGN", name="i")],
        signature_ref="s",
        now=NOW,
        strict=True,
    )
    assert signed.matches_charge
    loose = account.sign(amount=Decimal("1"), parts=[], signature_ref="s", now=NOW, strict=False)
    assert not loose.matches_charge


def test_bil_11_paid_work_is_kept_two_years_free_work_one_and_tickets_forever() -> None:
    ended = NOW
    paid = BillingAccount(order_id="p", paid_work=True, ended_at=ended)
    free = BillingAccount(order_id="f", ended_at=ended)
    ticket = BillingAccount(order_id="t", ended_at=ended, coordination_ticket=True)
    one_year, two_years = NOW.replace(year=2027), NOW.replace(year=2028)
    assert not free.retention_due(one_year - timedelta(seconds=1), POLICY)
    assert free.retention_due(one_year, POLICY)
    assert not paid.retention_due(one_year + timedelta(days=300), POLICY)
    assert paid.retention_due(two_years, POLICY)
    assert not ticket.retention_due(NOW.replace(year=2040), POLICY)


def test_bil_11_anonymising_an_ended_order_tells_the_other_services_once() -> None:
    account = accepted_account()
    account.visit_closed(at=NOW, paid_work=True, coordination_ticket=False)
    later = NOW + timedelta(days=800)

    account.anonymise(later)
    account.anonymise(later + timedelta(days=1))

    expired = [e for e in account.events if isinstance(e, OrderRetentionExpired)]
    assert expired == [
        OrderRetentionExpired(
            order_id=account.order_id,
            retention_class=RetentionClass.PAID_WORK,
            ended_at=NOW,
            expired_at=later,
        )
    ]


def test_bil_11_anonymising_removes_personal_data_and_keeps_the_money() -> None:
    account = accepted_account()
    account.collect(
        method=PaymentMethod.CASH,
        amount=Decimal("170"),
        collected_by="t-1",
        receipt_number="R1",
        now=NOW,
    )
    account.issue_invoice(
        number="F1",
        buyer_name="王芳",
        buyer_tax_id="91X",
        now=NOW,
        tz=SHANGHAI,
        policy=POLICY,
        delivery=InvoiceDelivery.ON_SITE,
        promised_by=None,
    )
    account.anonymise(NOW)
    assert account.state.customer is None
    assert account.state.invoices[0].buyer_name is None
    assert account.paid == Decimal("170") and account.state.invoices[0].number == "F1"
    assert is_personal("customer.name") and not is_personal("technician_id")


# --- BIL-7: the delivery date promised for an invoice ----------------------------------------


def test_bil_7_a_delivery_promised_for_a_day_already_past_is_refused() -> None:
    account = _paid_account()
    account.events.clear()
    # 01:00 on 6 May in Shanghai, still 5 May in UTC: the business calendar's day counts.
    early = datetime(2026, 5, 5, 17, 0, tzinfo=UTC)
    with pytest.raises(InvalidDate) as refused:
        account.issue_invoice(
            number="F1",
            buyer_name=None,
            buyer_tax_id=None,
            delivery=InvoiceDelivery.POST,
            promised_by=date(2026, 5, 5),
            now=early,
            tz=SHANGHAI,
            policy=POLICY,
        )
    assert "before today (2026-05-06, Asia/Shanghai)" in str(refused.value)
    assert refused.value.extensions["errors"][0]["field"] == "promised_by"
    assert account.state.invoices == [] and account.events == []
    today = _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 5, 6))
    assert today.promised_by == date(2026, 5, 6)


def test_bil_7_a_delivery_promised_beyond_the_policys_horizon_is_refused() -> None:
    account = _paid_account()
    for far in (date(2026, 6, 6), date(9999, 12, 31)):  # 31 days ahead; the year 9999
        with pytest.raises(InvalidDate) as refused:
            _invoice(account, InvoiceDelivery.POST, promised_by=far)
        assert "more than 30 days ahead" in str(refused.value)
        assert "2026-06-05 at the latest" in str(refused.value)
    assert account.state.invoices == []
    assert _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 6, 5)).promised_by
    shorter = BillingPolicy(invoice_promise_max_days=10)
    with pytest.raises(InvalidDate):
        BillingAccount.check_promise(date(2026, 5, 17), now=NOW, tz=SHANGHAI, policy=shorter)


def test_bil_7_the_promise_horizon_is_never_shorter_than_the_default_delivery_days() -> None:
    with pytest.raises(ValidationError, match="invoice_promise_max_days"):
        BillingPolicy(invoice_delivery_days=7, invoice_promise_max_days=6)


# --- BIL-7, BIL-8: invoices reversed by credit invoices --------------------------------------


def _waive_and_refund(account: BillingAccount, amount: str, receipt: str) -> list[Invoice]:
    """The centre's approved waiver, the refund it makes due, and the credit invoices the
    refund of invoiced money issues (as the refund handler does)."""
    account.waive(amount=Decimal(amount), approved_by="disp-1", reason="x", now=NOW)
    account.refund(
        method=PaymentMethod.MOBILE,
        amount=Decimal(amount),
        refunded_by="t-1",
        approved_by="disp-1",
        reason="part not fitted",
        receipt_number=receipt,
        now=NOW,
    )
    return [
        account.credit_invoice(original, amount=portion, number=f"C-{receipt}", now=NOW)
        for original, portion in account.invoices_to_credit()
    ]


def test_bil_7_an_invoice_credited_in_full_before_it_left_is_withdrawn_and_not_chased() -> None:
    account = _paid_account()
    original = _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 5, 8))

    [credit] = _waive_and_refund(account, "170.00", "R2")

    assert (original.status, credit.status) == (InvoiceStatus.WITHDRAWN, InvoiceStatus.WITHDRAWN)
    assert credit.delivered_at is None
    assert original.not_chased_because is not None and "C-R2" in original.not_chased_because
    assert credit.not_chased_because is not None and "F1" in credit.not_chased_because
    assert account.invoice_due_on is None
    assert account.report_overdue_invoices(today=date(2026, 5, 20), now=NOW) == []
    with pytest.raises(NotAllowed):
        account.track_invoice("F1", status=InvoiceStatus.DELIVERED, tracking_number=None, now=NOW)


def test_bil_7_an_invoice_credited_in_part_is_still_chased_until_the_rest_is_credited() -> None:
    account = _paid_account()
    original = _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 5, 8))

    [first] = _waive_and_refund(account, "70.00", "R2")

    # the customer is owed the invoice for the 100.00 they paid, with the credit for the rest
    assert (original.status, original.not_chased_because) == (InvoiceStatus.TO_DELIVER, None)
    assert (first.status, first.amount) == (InvoiceStatus.DELIVERED, Decimal("-70.00"))
    assert account.invoice_due_on == date(2026, 5, 8)

    [rest] = _waive_and_refund(account, "100.00", "R3")

    assert first.status is InvoiceStatus.DELIVERED  # sent already
    assert (original.status, rest.status) == (InvoiceStatus.WITHDRAWN, InvoiceStatus.WITHDRAWN)
    assert original.not_chased_because is not None
    assert "C-R2, C-R3" in original.not_chased_because
    assert account.invoice_due_on is None
    assert account.report_overdue_invoices(today=date(2026, 5, 20), now=NOW) == []


def test_bil_7_a_posted_invoice_credited_in_full_is_not_chased_and_its_credit_is_sent() -> None:
    account = _paid_account()
    original = _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 5, 8))
    account.track_invoice("F1", status=InvoiceStatus.POSTED, tracking_number="SF1", now=NOW)

    [credit] = _waive_and_refund(account, "170.00", "R2")

    assert (original.status, credit.status) == (InvoiceStatus.POSTED, InvoiceStatus.DELIVERED)
    assert original.not_chased_because is not None
    assert account.report_overdue_invoices(today=date(2026, 5, 20), now=NOW) == []
    account.track_invoice("F1", status=InvoiceStatus.DELIVERED, tracking_number=None, now=NOW)


def test_bil_7_an_invoice_stored_credited_in_full_without_its_reason_is_not_chased() -> None:
    account = _paid_account()
    original = _invoice(account, InvoiceDelivery.POST, promised_by=date(2026, 5, 8))
    _waive_and_refund(account, "170.00", "R2")
    # as stored before reversals were recorded on the invoice reversed
    original.status, original.not_chased_because = InvoiceStatus.TO_DELIVER, None

    assert account.invoice_due_on is None
    assert account.report_overdue_invoices(today=date(2026, 5, 20), now=NOW) == []


# --- BIL-8: refunds only what was paid beyond the charge ---------------------------------------


def test_bil_8_a_refund_beyond_the_refund_due_is_refused_until_a_waiver_reduces_the_charge() -> (
    None
):
    account = _paid_account()  # charge 170.00, paid 170.00
    account.events.clear()

    with pytest.raises(NotAllowed) as refused:
        account.check_refund(Decimal("30.00"), "disp-1", "多收了 30 元")

    assert "waiver" in str(refused.value)
    assert refused.value.extensions["refund_due"] == "0.00"
    assert refused.value.extensions["allowed"] == ["waivers"]
    assert (account.balance, account.events) == (Decimal("0"), [])

    account.waive(amount=Decimal("30.00"), approved_by="disp-1", reason="多收了 30 元", now=NOW)
    assert (account.charge, account.refund_due) == (Decimal("140.00"), Decimal("30.00"))
    with pytest.raises(NotAllowed) as beyond:
        account.check_refund(Decimal("30.10"), "disp-1", "多收了 30 元")
    assert beyond.value.extensions["allowed"] == ["waivers", "refunds"]
    account.refund(
        method=PaymentMethod.CASH,
        amount=Decimal("30.00"),
        refunded_by="t-1",
        approved_by="disp-1",
        reason="多收了 30 元",
        receipt_number="R2",
        now=NOW,
    )
    assert (account.paid, account.balance, account.refund_due) == (
        Decimal("140.00"),
        Decimal("0"),
        Decimal("0"),
    )
    with pytest.raises(InvalidAmount):
        account.check_payment(Decimal("30.00"))  # nothing is owed again


# --- BIL-11: an order resolved by phone (INT-4) -------------------------------------------------


def test_bil_11_an_order_resolved_by_phone_is_kept_a_year_as_a_free_order() -> None:
    account = BillingAccount(order_id="o-1")

    account.resolved_remotely(at=NOW)

    assert account.retention_until(POLICY) == NOW.replace(year=2027)
    assert account.retention_due(NOW.replace(year=2027), POLICY)


def test_bil_11_an_order_resolved_by_phone_after_paid_work_is_kept_two_years() -> None:
    account = BillingAccount(order_id="o-1")
    account.visit_closed(at=NOW, paid_work=True, coordination_ticket=False, visit_id="v-1")
    resolved = NOW + timedelta(days=10)  # dissatisfied, then guided by phone

    account.resolved_remotely(at=resolved)

    assert account.retention_until(POLICY) == resolved.replace(year=2028)


def test_bil_11_a_reopened_order_keeps_its_data_until_it_ends_again() -> None:
    account = BillingAccount(order_id="o-1")
    account.resolved_remotely(at=NOW)

    account.reopened(at=NOW + timedelta(hours=3))

    assert account.retention_until(POLICY) is None
    assert not account.retention_due(NOW.replace(year=2040), POLICY)
    closed = NOW + timedelta(days=2)
    account.visit_closed(at=closed, paid_work=True, coordination_ticket=False, visit_id="v-1")
    assert account.retention_until(POLICY) == closed.replace(year=2028)


def test_bil_11_a_visit_closed_after_the_reopening_and_heard_first_still_ends_the_order() -> None:
    account = BillingAccount(order_id="o-1")
    account.resolved_remotely(at=NOW)
    closed = NOW + timedelta(days=2)
    account.visit_closed(at=closed, paid_work=False, coordination_ticket=False, visit_id="v-1")

    account.reopened(at=NOW + timedelta(hours=3))  # intake's topic read later

    assert account.ended_at == closed
