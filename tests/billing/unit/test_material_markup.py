"""BIL-4: a material not on the schedule is charged at stock price + 30 % for the whole
quantity, rounded once to the jiao (not rounded per unit and then multiplied)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.money import FEN, to_jiao
from billing.domain.policy import BillingPolicy
from billing.domain.pricing import PricedQuote, price_quote
from billing.domain.schedule import FeeItem, FeeSchedule, ScheduleContent
from contracts.common import WarrantyStatus, WorkItem, WorkItemKind

T0 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
SCHEDULE = FeeSchedule(
    product_line="water_heater",
    version=1,
    published_at=T0,
    published_by="ops",
    content=ScheduleContent(
        fees=[FeeItem(fee_code="W01", description="change bulb", price=Decimal("20.0"))]
    ),
)


def material(stock: str | Decimal, quantity: str | Decimal) -> WorkItem:
    return WorkItem(
        kind=WorkItemKind.MATERIAL,
        description="m",
        part_no="X",
        stock_price=Decimal(stock),
        quantity=Decimal(quantity),
    )


def priced(item: WorkItem, policy: BillingPolicy | None = None) -> PricedQuote:
    return price_quote(
        schedule=SCHEDULE,
        items=[item],
        warranty_status=WarrantyStatus.OUT_OF_WARRANTY,
        policy=policy or BillingPolicy(),
        quoted_at=T0,
        tz=ZoneInfo("Asia/Shanghai"),
    )


@pytest.mark.parametrize(
    ("stock", "quantity", "unit", "amount"),
    [
        ("0.35", "10", "0.46", "4.60"),  # 3.50 × 1.3 = 4.55 → 4.60, not 10 × 0.50 = 5.00
        ("0.15", "12", "0.20", "2.30"),  # 1.80 × 1.3 = 2.34 → 2.30, not 12 × 0.20 = 2.40
        ("3.85", "2", "5.01", "10.00"),  # 7.70 × 1.3 = 10.01 → 10.00
        ("0.03", "10", "0.04", "0.40"),  # 0.30 × 1.3 = 0.39 → 0.40, not 10 × 0.00 (free)
        ("7.77", "1", "10.10", "10.10"),  # quantity 1: as before
    ],
)
def test_bil_4_markup_is_rounded_to_the_jiao_once_for_the_whole_quantity(
    stock: str, quantity: str, unit: str, amount: str
) -> None:
    line = priced(material(stock, quantity)).lines[0]
    assert line.amount == Decimal(amount)
    assert line.unit_price == Decimal(unit)
    assert line.rule_id == "BIL-4"


def test_bil_4_markup_comes_from_the_policy() -> None:
    policy = BillingPolicy(material_markup_percent=Decimal(50))
    line = priced(material("0.35", "10"), policy).lines[0]
    assert line.amount == Decimal("5.30")  # 3.50 × 1.5 = 5.25 → 5.30


@given(
    stock=st.decimals(min_value=0, max_value=100000, places=2),
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3),
)
def test_bil_4_property_line_is_the_exact_markup_of_the_quantity_rounded_once(
    stock: Decimal, quantity: Decimal
) -> None:
    line = priced(material(stock, quantity)).lines[0]
    exact = stock * quantity * Decimal("1.3")
    assert line.amount == to_jiao(exact)
    assert abs(line.amount - exact) <= Decimal("0.05")
    assert line.unit_price == (stock * Decimal("1.3")).quantize(FEN, rounding=ROUND_HALF_UP)
