"""An order past its retention, its customer's personal data erased (BIL-11), takes no command
any more: waiving, taking or refunding money, invoicing, tracking an invoice and recording a
signature are refused (PersonalDataErased, 409) and change nothing, as approving what a quote
held at issue is. What billing hears of the order later is still applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.domain.account import BillingAccount, InvoiceStatus
from billing.domain.exceptions import PersonalDataErased
from contracts.billing import InvoiceDelivery, PaymentMethod
from contracts.common import PartLine

from .test_account import NOW, POLICY, SHANGHAI, accepted_account

ERASED_AT = NOW + timedelta(days=800)


def paid_and_invoiced_account() -> BillingAccount:
    """170.00 charged, 100.00 paid and invoiced by post (still to deliver), 50.00 paid since:
    each command below would be taken on it."""
    account = accepted_account()
    account.collect(
        method=PaymentMethod.MOBILE,
        amount=Decimal("100.00"),
        collected_by="t-1",
        receipt_number="R1",
        now=NOW,
    )
    account.issue_invoice(
        number="F1",
        buyer_name="王芳",
        buyer_tax_id=None,
        delivery=InvoiceDelivery.POST,
        promised_by=None,
        now=NOW,
        tz=SHANGHAI,
        policy=POLICY,
    )
    account.collect(
        method=PaymentMethod.MOBILE,
        amount=Decimal("50.00"),
        collected_by="t-1",
        receipt_number="R2",
        now=NOW,
    )
    return account


def erased_account() -> BillingAccount:
    """:func:`paid_and_invoiced_account`, then erased."""
    account = paid_and_invoiced_account()
    account.anonymise(ERASED_AT)
    account.events.clear()
    return account


LATER = ERASED_AT + timedelta(days=1)

COMMANDS: dict[str, Callable[[BillingAccount], Any]] = {
    "waive": lambda a: a.waive(
        amount=Decimal("10.00"), approved_by="disp-1", reason="disputed", now=LATER
    ),
    "check_payment": lambda a: a.check_payment(Decimal("10.00")),
    "collect": lambda a: a.collect(
        method=PaymentMethod.MOBILE,
        amount=Decimal("10.00"),
        collected_by="t-1",
        receipt_number="R3",
        now=LATER,
    ),
    "check_refund": lambda a: a.check_refund(Decimal("10.00"), "disp-1", "overpaid"),
    "refund": lambda a: a.refund(
        method=PaymentMethod.MOBILE,
        amount=Decimal("10.00"),
        refunded_by="disp-1",
        approved_by="disp-1",
        reason="overpaid",
        receipt_number="R3",
        now=LATER,
    ),
    "check_invoice": lambda a: a.check_invoice(),
    "issue_invoice": lambda a: a.issue_invoice(
        number="F2",
        buyer_name="王芳",
        buyer_tax_id=None,
        delivery=InvoiceDelivery.ON_SITE,
        promised_by=None,
        now=LATER,
        tz=SHANGHAI,
        policy=POLICY,
    ),
    "track_invoice": lambda a: a.track_invoice(
        "F1", status=InvoiceStatus.POSTED, tracking_number="SF1", now=LATER
    ),
    "sign": lambda a: a.sign(
        amount=Decimal("170.00"),
        parts=[PartLine(part_no="P-IGN", name="igniter", quantity=Decimal(1))],
        signature_ref="sig-1",
        now=LATER,
        strict=True,
    ),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bil_11_an_erased_order_refuses_every_command_and_changes_nothing(command: str) -> None:
    account = erased_account()
    before = account.state.model_dump(mode="json")

    with pytest.raises(PersonalDataErased) as refused:
        COMMANDS[command](account)

    assert refused.value.extensions == {"anonymised_at": ERASED_AT.isoformat()}
    assert refused.value.order_id == "o-1"
    assert account.state.model_dump(mode="json") == before
    assert account.events == []


def test_bil_11_the_same_commands_are_taken_before_the_erasure() -> None:
    for command in ("waive", "collect", "issue_invoice", "track_invoice"):
        account = paid_and_invoiced_account()
        account.refuse_if_erased("anything")  # not erased: nothing refused
        COMMANDS[command](account)


def test_bil_11_a_signature_heard_on_the_bus_after_the_erasure_is_kept_without_its_image() -> None:
    account = erased_account()

    signature = account.sign(
        amount=Decimal("170.00"),
        parts=[],
        signature_ref="sig-late",
        now=LATER,
        strict=False,
        visit_id="v-1",
    )

    assert signature.matches_charge
    assert account.state.signatures == [signature]
    assert signature.signature_ref is None  # personal data is not kept again
