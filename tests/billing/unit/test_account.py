"""The billing account of an order: charge, waivers, payments, invoices, signature, retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.domain.account import (
    BillingAccount,
    Invoice,
    InvoiceStatus,
    QuoteRequest,
    is_personal,
)
from billing.domain.exceptions import InvalidAmount, NotAllowed
from billing.domain.policy import BillingPolicy
from billing.domain.schedule import FeeItem, FeeSchedule, PartPrice, ScheduleContent
from contracts.billing import (
    ChargeWaived,
    InvoiceDelivery,
    InvoiceDeliveryOverdue,
    PaymentCollected,
    PaymentMethod,
    PaymentRefunded,
    QuoteIssued,
    ReceiptIssued,
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
    default_promise: date | None = None,
) -> Invoice:
    return account.issue_invoice(
        number=number,
        buyer_name=None,
        buyer_tax_id=None,
        delivery=delivery,
        promised_by=promised_by,
        now=NOW,
        default_promise=default_promise,
    )


def test_bil_7_an_invoice_not_handed_over_gets_the_default_promise_when_none_was_made() -> None:
    account = _paid_account()
    invoice = _invoice(account, InvoiceDelivery.POST, default_promise=date(2026, 5, 13))
    assert invoice.promised_by == date(2026, 5, 13)
    assert account.invoice_due_on == date(2026, 5, 13)
    on_site = _invoice(
        _paid_account(), InvoiceDelivery.ON_SITE, number="F2", default_promise=date(2026, 5, 13)
    )
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
        delivery=InvoiceDelivery.ON_SITE,
        promised_by=None,
    )
    account.anonymise(NOW)
    assert account.state.customer is None
    assert account.state.invoices[0].buyer_name is None
    assert account.paid == Decimal("170") and account.state.invoices[0].number == "F1"
    assert is_personal("customer.name") and not is_personal("technician_id")
