"""The quote engine: rules BIL-1..BIL-6 and the money properties of the issue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.money import lower_of, to_jiao, with_markup
from billing.domain.policy import BillingPolicy
from billing.domain.pricing import add_months, price_quote
from billing.domain.schedule import (
    FeeCategory,
    FeeItem,
    FeeSchedule,
    MaterialPrice,
    PartPrice,
    ScheduleContent,
)
from contracts.common import WarrantyStatus, WorkItem, WorkItemKind

POLICY = BillingPolicy()
T0 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
OUT = WarrantyStatus.OUT_OF_WARRANTY


def schedule(**extra: list) -> FeeSchedule:  # type: ignore[type-arg]
    content = {
        "fees": [
            FeeItem(fee_code="W01", description="change bulb", price=Decimal("20.0")),
            FeeItem(fee_code="W02", description="unblock drain", price=Decimal("50.0")),
            FeeItem(fee_code="W03", description="replace tap", price=Decimal("35.0")),
            FeeItem(
                fee_code="S01",
                description="software adjustment",
                price=Decimal("60.0"),
                category=FeeCategory.SETUP,
            ),
            FeeItem(
                fee_code="CO",
                description="call-out",
                price=Decimal("30.0"),
                category=FeeCategory.CALL_OUT,
            ),
        ],
        "parts": [
            PartPrice(
                part_no="P-IGN",
                name="igniter",
                price=Decimal("120.0"),
                trade_in_credit=Decimal("15.0"),
            )
        ],
        "materials": [MaterialPrice(code="M-TAPE", name="tape", price=Decimal("2.5"))],
        **extra,
    }
    return FeeSchedule(
        product_line="water_heater",
        version=3,
        published_at=T0,
        published_by="ops",
        content=ScheduleContent(**content),
    )


def fee(code: str, at: datetime | None = None, **kw: object) -> WorkItem:
    return WorkItem(kind=WorkItemKind.FEE, description=code, fee_code=code, handled_at=at, **kw)  # type: ignore[arg-type]


def quote(items: list[WorkItem], status: WarrantyStatus = OUT, **kw: object):  # type: ignore[no-untyped-def]
    return price_quote(
        schedule=schedule(),
        items=items,
        warranty_status=status,
        policy=kw.pop("policy", POLICY),  # type: ignore[arg-type]
        quoted_at=T0,
        tz=kw.pop("tz", SHANGHAI),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


# --- BIL-1 ---------------------------------------------------------------------------------


def test_bil_1_in_warranty_covered_work_is_free_and_says_so() -> None:
    q = quote(
        [fee("W02"), WorkItem(kind=WorkItemKind.PART, description="igniter", part_no="P-IGN")],
        WarrantyStatus.IN_WARRANTY,
    )
    assert q.total == 0
    assert all(line.amount == 0 and line.covered_by_warranty for line in q.lines)
    assert {line.rule_id for line in q.lines} == {"BIL-1"}


def test_bil_1_out_of_warranty_charges_exactly_the_schedule_price() -> None:
    q = quote([fee("W02", T0), fee("CO", T0)])
    assert [line.amount for line in q.lines] == [Decimal("50.00"), Decimal("30.00")]
    assert q.total == Decimal("80.00")
    assert q.lines[0].rule_id == "BIL-1"


def test_bil_1_nothing_outside_the_schedule_is_charged() -> None:
    q = quote([fee("NOT-LISTED"), WorkItem(kind=WorkItemKind.PART, description="x", part_no="P-?")])
    assert q.total == 0
    assert all("not on the published fee schedule" in (line.note or "") for line in q.lines)


def test_bil_1_an_item_the_warranty_excludes_is_charged_even_in_warranty() -> None:
    q = quote([fee("W02", covered_by_warranty=False)], WarrantyStatus.IN_WARRANTY)
    assert q.total == Decimal("50.00")


def test_bil_1_unknown_warranty_is_quoted_as_covered_by_default_policy() -> None:
    assert quote([fee("W02")], WarrantyStatus.UNKNOWN).total == 0
    strict = BillingPolicy(unknown_warranty_is_covered=False)
    assert quote([fee("W02")], WarrantyStatus.UNKNOWN, policy=strict).total == Decimal("50.00")


# --- BIL-2 ---------------------------------------------------------------------------------


def test_bil_2_the_lower_warranty_card_price_of_an_item_is_charged() -> None:
    q = quote([fee("W02", warranty_card_price=Decimal("40.00"))])
    assert q.lines[0].amount == Decimal("40.00")
    assert q.lines[0].rule_id == "BIL-2"
    higher = quote([fee("W02", warranty_card_price=Decimal("70.00"))])
    assert higher.lines[0].amount == Decimal("50.00")
    assert higher.lines[0].rule_id == "BIL-1"


def test_bil_2_a_lower_card_total_caps_the_quote() -> None:
    q = quote([fee("W02", T0), fee("CO", T0)], warranty_card_amount=Decimal("65.00"))
    assert q.total == Decimal("65.00")
    assert q.lines[-1].rule_id == "BIL-2"
    assert q.lines[-1].amount == Decimal("-15.00")
    assert quote([fee("W02")], warranty_card_amount=Decimal("99")).total == Decimal("50.00")


@given(
    schedule_price=st.decimals(min_value=0, max_value=100000, places=1),
    card_price=st.decimals(min_value=0, max_value=100000, places=2),
)
def test_bil_2_property_the_lower_of_two_never_exceeds_either_source(
    schedule_price: Decimal, card_price: Decimal
) -> None:
    lower = lower_of(schedule_price, card_price)
    assert lower <= schedule_price
    assert lower <= card_price
    assert lower == to_jiao(lower)


# --- BIL-3 ---------------------------------------------------------------------------------


def test_bil_3_two_items_within_30_minutes_charge_only_the_highest() -> None:
    q = quote([fee("W01", T0), fee("W02", T0 + timedelta(minutes=25))])
    assert q.total == Decimal("50.00")
    bulb = q.lines[0]
    assert bulb.amount == 0 and bulb.rule_id == "BIL-3"
    assert "W02" in (bulb.note or "")


def test_bil_3_items_further_apart_than_the_window_are_both_charged() -> None:
    q = quote([fee("W01", T0), fee("W02", T0 + timedelta(minutes=31))])
    assert q.total == Decimal("70.00")


def test_bil_3_the_call_out_fee_is_not_bundled_away() -> None:
    q = quote([fee("W01", T0), fee("W02", T0), fee("CO", T0)])
    assert q.total == Decimal("80.00")


@given(
    codes=st.lists(st.sampled_from(["W01", "W02", "W03", "S01"]), min_size=2, max_size=6),
    offsets=st.lists(st.integers(min_value=0, max_value=30 * 60), min_size=6, max_size=6),
)
def test_bil_3_property_several_items_within_the_window_charge_exactly_the_highest(
    codes: list[str], offsets: list[int]
) -> None:
    items = [fee(c, T0 + timedelta(seconds=o)) for c, o in zip(codes, offsets, strict=False)]
    # S01 is set-up with no installation date: charged in full, bundled like labour
    prices = {
        "W01": Decimal("20.00"),
        "W02": Decimal("50.00"),
        "W03": Decimal("35.00"),
        "S01": Decimal("60.00"),
    }
    q = quote(items)
    assert q.total == max(prices[c] for c in codes)
    assert sum(1 for line in q.lines if line.amount > 0) == 1


# --- BIL-4 ---------------------------------------------------------------------------------


def test_bil_4_material_on_the_schedule_is_charged_at_its_unit_price() -> None:
    item = WorkItem(
        kind=WorkItemKind.MATERIAL, description="tape", part_no="M-TAPE", quantity=Decimal(3)
    )
    q = quote([item])
    assert q.lines[0].amount == Decimal("7.50")
    assert q.lines[0].rule_id == "BIL-4"


def test_bil_4_material_off_the_schedule_is_stock_price_plus_30_percent_to_the_jiao() -> None:
    item = WorkItem(
        kind=WorkItemKind.MATERIAL,
        description="hose clamp",
        part_no="X",
        stock_price=Decimal("3.85"),
        quantity=Decimal(2),
    )
    q = quote([item])
    # 2 × 3.85 × 1.3 = 10.01 → 10.0 (half up to the jiao, once for the line); unit 5.005 → 5.01
    assert q.lines[0].unit_price == Decimal("5.01")
    assert q.lines[0].amount == Decimal("10.00")
    assert q.lines[0].rule_id == "BIL-4"
    assert q.lines[0].fee_code is None


@pytest.mark.parametrize(
    ("stock", "charged"),
    [("1.00", "1.30"), ("0.35", "0.50"), ("0.34", "0.40"), ("10.04", "13.10"), ("7.73", "10.00")],
)
def test_bil_4_rounding_is_half_up_to_the_jiao(stock: str, charged: str) -> None:
    assert with_markup(Decimal(stock), Decimal(30)) == Decimal(charged)


@given(
    stock=st.decimals(min_value=0, max_value=100000, places=2),
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3),
)
def test_bil_4_property_rounding_is_always_to_the_jiao(stock: Decimal, quantity: Decimal) -> None:
    item = WorkItem(
        kind=WorkItemKind.MATERIAL,
        description="m",
        part_no="X",
        stock_price=stock,
        quantity=quantity,
    )
    q = quote([item])
    for amount in (q.lines[0].amount, q.total):
        assert amount == to_jiao(amount)
    exact = stock * Decimal("1.3")
    assert abs(q.lines[0].unit_price - exact) <= Decimal("0.005")  # shown to the fen
    assert abs(q.lines[0].amount - exact * quantity) <= Decimal("0.05")


# --- BIL-5 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("installed", "charged", "rule"),
    [
        (date(2026, 4, 20), "0.00", "BIL-5"),  # 16 days: free
        (date(2026, 3, 1), "0.00", "BIL-5"),  # between 1 and 3 months: policy default (free)
        (date(2026, 2, 6), "60.00", "BIL-5"),  # exactly 3 months: charged
        (None, "60.00", "BIL-5"),  # unknown installation date: per schedule
    ],
)
def test_bil_5_setup_is_free_within_a_month_and_charged_from_three(
    installed: date | None, charged: str, rule: str
) -> None:
    q = quote([fee("S01", T0)], installed_on=installed)
    assert q.lines[0].amount == Decimal(charged)
    assert q.lines[0].rule_id == rule


def test_bil_5_months_since_installation_count_business_calendar_days() -> None:
    early_morning_in_shanghai = datetime(2026, 5, 5, 23, 30, tzinfo=UTC)  # 6 May 07:30 local
    q = quote([fee("S01", early_morning_in_shanghai)], installed_on=date(2026, 2, 6))
    assert q.lines[0].amount == Decimal("60.00")  # three months to the local day: charged


def test_bil_5_the_window_between_is_a_policy_setting() -> None:
    half = BillingPolicy(setup_between_charge_percent=50)
    q = quote([fee("S01", T0)], installed_on=date(2026, 3, 1), policy=half)
    assert q.lines[0].amount == Decimal("30.00")


def test_add_months_keeps_the_end_of_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


# --- BIL-6 ---------------------------------------------------------------------------------


def test_bil_6_an_upgrade_shows_the_part_price_and_trade_in_credits_the_old_part() -> None:
    upgrade = WorkItem(
        kind=WorkItemKind.PART, description="igniter", part_no="P-IGN", upgrade=True, trade_in=True
    )
    q = quote([upgrade], WarrantyStatus.IN_WARRANTY)
    assert q.lines[0].unit_price == Decimal("120.0")
    assert q.lines[0].rule_id == "BIL-6"
    assert q.lines[0].covered_by_warranty is False
    assert q.lines[1].rule_id == "BIL-6"
    assert q.lines[1].amount == Decimal("-15.00")
    assert q.total == Decimal("105.00")


def test_bil_6_no_trade_in_credit_when_policy_forbids_it() -> None:
    upgrade = WorkItem(
        kind=WorkItemKind.PART, description="igniter", part_no="P-IGN", upgrade=True, trade_in=True
    )
    q = quote([upgrade], policy=BillingPolicy(trade_in_allowed=False))
    assert q.total == Decimal("120.00")


# --- properties of every quote ---------------------------------------------------------------

item_strategy = st.builds(
    WorkItem,
    kind=st.sampled_from(list(WorkItemKind)),
    description=st.just("x"),
    fee_code=st.sampled_from(["W01", "W02", "S01", "CO", None]),
    part_no=st.sampled_from(["P-IGN", "M-TAPE", "X", None]),
    quantity=st.decimals(min_value=Decimal("0.5"), max_value=10, places=1),
    stock_price=st.one_of(st.none(), st.decimals(min_value=0, max_value=500, places=2)),
    handled_at=st.one_of(st.none(), st.integers(0, 7200).map(lambda s: T0 + timedelta(seconds=s))),
    covered_by_warranty=st.one_of(st.none(), st.booleans()),
    warranty_card_price=st.one_of(st.none(), st.decimals(min_value=0, max_value=500, places=2)),
    upgrade=st.booleans(),
    trade_in=st.booleans(),
)


@given(
    items=st.lists(item_strategy, max_size=8),
    status=st.sampled_from(list(WarrantyStatus)),
    card=st.one_of(st.none(), st.decimals(min_value=-10, max_value=1000, places=2)),
)
def test_property_a_total_is_never_negative_and_always_in_jiao(
    items: list[WorkItem], status: WarrantyStatus, card: Decimal | None
) -> None:
    q = quote(items, status, warranty_card_amount=card)
    assert q.total >= 0
    assert q.total == to_jiao(q.total)
    assert all(line.amount == to_jiao(line.amount) for line in q.lines)
    if card is not None:
        assert q.total <= max(card, Decimal(0))
