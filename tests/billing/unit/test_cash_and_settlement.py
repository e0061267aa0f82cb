"""Cash on hand (BIL-10) and settlements with networks (BIL-12)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.domain.cash import CashLedger
from billing.domain.exceptions import InvalidAmount
from billing.domain.policy import BillingPolicy
from billing.domain.reports import SettlementItem, SettlementKind, statement, statement_csv
from contracts.billing import RemittanceReason
from servicekit.calendar import BusinessCalendar

POLICY = BillingPolicy()
CAL = BusinessCalendar()
# Thursday 2026-04-30 10:00 Shanghai; 1-5 May are public holidays, Saturday 9 May a workday.
THU = datetime(2026, 4, 30, 2, 0, tzinfo=UTC)


def check(ledger: CashLedger, now: datetime) -> list[RemittanceReason]:
    return [
        e.reason
        for e in ledger.check(now=now, policy=POLICY, add_working_days=CAL.add_working_days)
    ]


def test_bil_10_over_5000_on_hand_raises_remittance_due_once() -> None:
    ledger = CashLedger(holder_id="t-1")
    ledger.collected(amount=Decimal("5000.00"), order_id="o-1", at=THU)
    assert check(ledger, THU) == []
    ledger.collected(amount=Decimal("0.10"), order_id="o-2", at=THU)
    assert check(ledger, THU) == [RemittanceReason.OVER_AMOUNT]
    assert check(ledger, THU) == []  # raised once per occasion
    event = ledger.events[0]
    assert event.cash_on_hand == Decimal("5000.10")  # type: ignore[attr-defined]
    assert event.order_ids == ["o-1", "o-2"]  # type: ignore[attr-defined]


def test_bil_10_cash_held_over_2_working_days_is_due_counting_holidays() -> None:
    ledger = CashLedger(holder_id="t-1")
    ledger.collected(amount=Decimal("100"), order_id="o-1", at=THU)
    # 2 working days after Thu 30 April: Thu 7 May (1-5 May are holidays), same time
    assert check(ledger, datetime(2026, 5, 7, 2, 0, tzinfo=UTC)) == []
    due = check(ledger, datetime(2026, 5, 7, 2, 1, tzinfo=UTC))
    assert due == [RemittanceReason.HELD_TOO_LONG]
    assert ledger.events[0].due_by == datetime(2026, 5, 7, 2, 0, tzinfo=UTC)  # type: ignore[attr-defined]


def test_bil_10_remitting_settles_the_oldest_cash_first() -> None:
    ledger = CashLedger(holder_id="t-1")
    ledger.collected(amount=Decimal("100"), order_id="o-1", at=THU)
    ledger.collected(amount=Decimal("50"), order_id="o-2", at=THU + timedelta(days=6))
    ledger.remit(amount=Decimal("100"), received_by="finance", at=THU + timedelta(days=6))
    assert ledger.on_hand == Decimal("50")
    assert [e.order_id for e in ledger.held()] == ["o-2"]
    with pytest.raises(InvalidAmount):
        ledger.remit(amount=Decimal("50.01"), received_by="finance", at=THU)


def test_bil_12_monthly_statement_totals_and_csv() -> None:
    at = datetime(2026, 5, 10, tzinfo=UTC)
    items = [
        SettlementItem(
            item_id="1",
            network_id="n-1",
            order_id="o-1",
            kind=SettlementKind.SERVICE_FEE,
            amount=Decimal("50.00"),
            occurred_at=at,
            description="repair fee",
        ),
        SettlementItem(
            item_id="2",
            network_id="n-1",
            order_id="o-1",
            kind=SettlementKind.FEE_COLLECTED,
            amount=Decimal("170.00"),
            occurred_at=at,
            description="payment",
        ),
        SettlementItem(
            item_id="3",
            network_id="n-1",
            order_id="o-2",
            kind=SettlementKind.COMPENSATION,
            amount=Decimal("30.00"),
            occurred_at=at,
            description="scratched floor",
        ),
    ]
    st = statement("n-1", "2026-05", items)
    assert st.service_fees_owed == Decimal("50.00")
    assert st.fees_collected == Decimal("170.00")
    assert st.compensation == Decimal("30.00")
    assert st.net_payable_to_network == Decimal("-150.00")
    rows = list(csv.reader(io.StringIO(statement_csv(st))))
    assert rows[0][:4] == ["network_id", "month", "order_id", "kind"]
    assert len(rows) == 1 + 3 + 4
    assert rows[-1][3:6] == ["net_payable_to_network", "", "-150.00"]
