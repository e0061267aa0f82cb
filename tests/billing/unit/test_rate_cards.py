"""Network rate cards (BIL-12): the fee the centre owes a partner network for a completed repair
or installation, by the version of the network's card in force when the work was done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing.domain.account import (
    AccountState,
    BillingAccount,
    PendingNetworkFee,
    RecordedNetworkFee,
)
from billing.domain.exceptions import InvalidDate
from billing.domain.policy import BillingPolicy
from billing.domain.rate_cards import (
    NetworkRate,
    RateCard,
    WorkKind,
    card_in_force,
    network_fee,
)
from billing.domain.reports import SettlementItem, SettlementKind

POLICY = BillingPolicy()
T0 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
REPAIR, INSTALLATION = WorkKind.REPAIR, WorkKind.INSTALLATION


def rate(line: str, kind: WorkKind, amount: str) -> NetworkRate:
    return NetworkRate(product_line=line, kind=kind, amount=Decimal(amount))


def card(version: int, effective_from: datetime, *rates: NetworkRate) -> RateCard:
    return RateCard(
        network_id="net-9",
        version=version,
        effective_from=effective_from,
        published_at=T0 - timedelta(days=30),
        published_by="admin-1",
        rates=list(rates),
    )


V1 = card(
    1,
    T0,
    rate("water_heater", REPAIR, "65.00"),
    rate("*", REPAIR, "55.00"),
    rate("*", INSTALLATION, "95.50"),
)
V2 = card(2, T0 + timedelta(days=10), rate("water_heater", REPAIR, "70.00"))


def test_bil_12_the_version_in_force_is_the_latest_that_took_effect_at_or_before_the_work() -> None:
    assert card_in_force([V2, V1], T0 - timedelta(seconds=1)) is None
    assert card_in_force([V2, V1], T0) == V1
    assert card_in_force([V1, V2], T0 + timedelta(days=10) - timedelta(seconds=1)) == V1
    assert card_in_force([V1, V2], T0 + timedelta(days=10)) == V2
    assert card_in_force([], T0) is None


def test_bil_12_a_later_version_effective_at_the_same_moment_replaces_the_earlier_one() -> None:
    correction = card(3, V2.effective_from, rate("water_heater", REPAIR, "68.00"))

    assert card_in_force([V1, V2, correction], V2.effective_from) == correction


def test_bil_12_a_version_scheduled_later_still_takes_effect_after_one_created_after_it() -> None:
    # v3, created after v2 but effective before it, is in force until v2's date, then v2
    earlier = card(3, T0 + timedelta(days=5), rate("water_heater", REPAIR, "60.00"))

    assert card_in_force([V1, V2, earlier], T0 + timedelta(days=6)) == earlier
    assert card_in_force([V1, V2, earlier], T0 + timedelta(days=11)) == V2


def test_bil_12_the_product_lines_own_rate_wins_over_the_star_fallback() -> None:
    fee = network_fee(kind=REPAIR, product_line="water_heater", card=V1, policy=POLICY)

    assert fee.amount == Decimal("65.00")
    assert fee.basis == "rate card net-9@v1 (water_heater repair)"


def test_bil_12_a_line_without_its_own_rate_is_paid_the_star_rate() -> None:
    repair = network_fee(kind=REPAIR, product_line="boiler", card=V1, policy=POLICY)
    unknown_line = network_fee(kind=INSTALLATION, product_line=None, card=V1, policy=POLICY)

    assert repair.amount == Decimal("55.00")
    assert repair.basis == "rate card net-9@v1 (* repair)"
    assert unknown_line.amount == Decimal("95.50")


def test_bil_12_without_a_card_or_a_matching_rate_the_policy_default_is_paid() -> None:
    policy = BillingPolicy(
        network_repair_fee=Decimal("41.00"), network_installation_fee=Decimal("83.00")
    )
    no_card = network_fee(kind=REPAIR, product_line="water_heater", card=None, policy=policy)
    no_rate = network_fee(kind=INSTALLATION, product_line="boiler", card=V2, policy=policy)

    assert (no_card.amount, no_card.basis) == (Decimal("41.00"), "policy default")
    assert no_rate.amount == Decimal("83.00")
    assert no_rate.basis == "policy default (rate card net-9@v2 has no installation rate)"


def test_bil_12_a_card_takes_effect_now_or_later_never_in_the_past() -> None:
    rates = [rate("*", REPAIR, "60.00")]
    now_card = RateCard.publish(
        network_id="net-9",
        previous_version=None,
        rates=rates,
        effective_from=None,
        published_by="admin-1",
        now=T0,
    )
    assert (now_card.version, now_card.effective_from, now_card.label) == (1, T0, "net-9@v1")
    later = RateCard.publish(
        network_id="net-9",
        previous_version=1,
        rates=rates,
        effective_from=T0 + timedelta(days=1),
        published_by="admin-1",
        now=T0,
    )
    assert later.version == 2
    with pytest.raises(InvalidDate) as refused:
        RateCard.publish(
            network_id="net-9",
            previous_version=2,
            rates=rates,
            effective_from=T0 - timedelta(seconds=1),
            published_by="admin-1",
            now=T0,
        )
    assert refused.value.extensions["errors"][0]["field"] == "effective_from"


@pytest.mark.parametrize(
    ("rates", "where"),
    [
        ([{"product_line": "*", "kind": "visit", "amount": "1.00"}], "kind"),
        ([{"product_line": "*", "kind": "repair", "amount": "-0.01"}], "amount"),
        ([{"product_line": "*", "kind": "repair", "amount": "1.005"}], "amount"),
        ([{"product_line": "*", "kind": "repair", "amount": "abc"}], "amount"),
        ([{"product_line": "water heater", "kind": "repair", "amount": "1.00"}], "product_line"),
        (
            [
                {"product_line": "*", "kind": "repair", "amount": "1.00"},
                {"product_line": "*", "kind": "repair", "amount": "2.00"},
            ],
            "rates",
        ),
    ],
)
def test_bil_12_a_rate_card_refuses_bad_kinds_amounts_lines_and_duplicates(
    rates: list[dict[str, str]], where: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        RateCard.model_validate(
            {
                "network_id": "net-9",
                "version": 1,
                "effective_from": T0.isoformat(),
                "published_at": T0.isoformat(),
                "published_by": "admin-1",
                "rates": rates,
            }
        )
    assert where in str(refused.value)


@pytest.mark.parametrize("amount", ["-0", "-0.00", "-0.0"])
def test_bil_12_a_negative_zero_rate_is_a_zero_rate_never_a_negative_looking_fee(
    amount: str,
) -> None:
    # A "-0.00" rate was published as such and priced work at Decimal("-0.00"): a settlement
    # item and card reading "-0.00" where no amount is ever negative (BIL-12).
    zero = NetworkRate.model_validate({"product_line": "*", "kind": "repair", "amount": amount})
    assert not zero.amount.is_signed()
    assert zero.model_dump(mode="json")["amount"] in {"0", "0.00", "0.0"}
    fee = network_fee(kind=REPAIR, product_line="boiler", card=card(1, T0, zero), policy=POLICY)
    assert fee.amount == 0 and not fee.amount.is_signed()


def test_bil_12_a_fee_waits_for_the_product_line_once_and_is_taken_once() -> None:
    account = BillingAccount(order_id="o-1")
    fee = PendingNetworkFee(
        fee_id="e-1", network_id="net-9", kind="repair", visit_id="v-1", occurred_at=T0
    )
    account.hold_network_fee(fee)
    account.hold_network_fee(fee)  # the same completion again
    assert account.take_pending_network_fees() == []  # the line is not known yet
    assert account.state.pending_network_fees == [fee]
    # kept in the account's JSON document, so no migration
    stored = AccountState.model_validate(account.state.model_dump(mode="json"))
    assert stored.pending_network_fees == [fee]

    account.learn_order(
        product_line="water_heater",
        warranty_status=account.warranty_status,
        customer=None,
        installed_on=None,
    )
    assert account.take_pending_network_fees() == [fee]
    assert account.take_pending_network_fees() == []
    assert account.state.pending_network_fees == []


def test_bil12_work_dated_ahead_of_billing_is_priced_at_when_billing_heard_of_it() -> None:
    ahead = PendingNetworkFee(
        fee_id="e-1",
        network_id="net-9",
        kind="repair",
        occurred_at=T0 + timedelta(seconds=5),
        heard_at=T0,
    )
    assert ahead.pricing_moment(T0 + timedelta(days=1)) == T0
    done_before = ahead.model_copy(update={"occurred_at": T0 - timedelta(hours=1)})
    assert done_before.pricing_moment(T0 + timedelta(days=1)) == T0 - timedelta(hours=1)
    # held before billing kept when it heard: never later than now
    unheard = ahead.model_copy(update={"heard_at": None})
    assert unheard.pricing_moment(T0 + timedelta(seconds=2)) == T0 + timedelta(seconds=2)


def test_bil12_fees_priced_for_another_line_are_repriced_once_the_line_is_corrected() -> None:
    account = BillingAccount(order_id="o-1")
    account.learn_order(
        product_line="water_heater",
        warranty_status=account.warranty_status,
        customer=None,
        installed_on=None,
    )
    fee = RecordedNetworkFee(
        fee_id="e-1",
        network_id="net-9",
        kind="repair",
        occurred_at=T0,
        product_line="water_heater",
        amount=Decimal("65.00"),
        basis="rate card net-9@v1 (water_heater repair)",
    )
    account.network_fee_recorded(fee)
    account.network_fee_recorded(fee)  # recorded once
    assert account.network_fees_to_reprice() == []

    account.learn_order(
        product_line="boiler",
        warranty_status=account.warranty_status,
        customer=None,
        installed_on=None,
    )
    assert [f.fee_id for f in account.network_fees_to_reprice()] == ["e-1"]
    account.network_fee_repriced(
        "e-1", amount=Decimal("80.00"), basis="rate card net-9@v1 (boiler repair)", adjusted=True
    )
    assert account.network_fees_to_reprice() == []  # the same line again: nothing to do
    stored = AccountState.model_validate(account.state.model_dump(mode="json"))
    [kept] = stored.network_fees
    assert (kept.product_line, kept.amount, kept.adjustments) == ("boiler", Decimal("80.00"), 1)


def test_bil12_fees_an_earlier_release_recorded_are_adopted_from_their_items() -> None:
    account = BillingAccount(order_id="o-1")
    account.work_completed("repair", visit_id="v-1", at=T0)
    assert account.untracked_network_fees
    item = SettlementItem(
        item_id="e-1",
        network_id="net-9",
        order_id="o-1",
        kind=SettlementKind.SERVICE_FEE,
        amount=Decimal("55.00"),
        occurred_at=T0,
        description="repair fee, visit v-1, rate card net-9@v1 (* repair)",
    )
    adjustment = item.model_copy(
        update={"item_id": "a-1", "description": "adjustment of repair fee e-1, visit v-1: ..."}
    )

    account.adopt_network_fees([item, adjustment])
    account.adopt_network_fees([item])

    [fee] = account.state.network_fees
    assert (fee.fee_id, fee.kind, fee.visit_id, fee.amount, fee.product_line) == (
        "e-1",
        "repair",
        "v-1",
        Decimal("55.00"),
        None,
    )
    assert fee.basis == "rate card net-9@v1 (* repair)"
    assert not account.untracked_network_fees


def test_bil12_a_fee_adopted_again_stands_with_the_adjustments_already_made() -> None:
    # Saved meanwhile by a release that does not keep `network_fees` (a rolling deploy), the
    # order's fee is adopted again from its items: it stands at its first price plus the
    # adjustments already on the settlement, so the next re-pricing neither misses nor repeats
    # a difference.
    account = BillingAccount(order_id="o-1")
    account.work_completed("repair", visit_id="v-1", at=T0)
    first = SettlementItem(
        item_id="e-1",
        network_id="net-9",
        order_id="o-1",
        kind=SettlementKind.SERVICE_FEE,
        amount=Decimal("65.00"),
        occurred_at=T0,
        description="repair fee, visit v-1, rate card net-9@v1 (water_heater repair)",
    )
    unadjusted = RecordedNetworkFee(
        **PendingNetworkFee(
            fee_id="e-1", network_id="net-9", kind="repair", visit_id="v-1", occurred_at=T0
        ).model_dump(),
        amount=Decimal("65.00"),
        basis="",
    )
    adjustment = first.model_copy(
        update={
            "item_id": unadjusted.adjustment_id(1),
            "amount": Decimal("15.00"),
            "occurred_at": T0 + timedelta(days=1),
            "description": "adjustment of repair fee e-1, visit v-1: ...",
        }
    )

    account.adopt_network_fees([first, adjustment])

    [fee] = account.state.network_fees
    assert (fee.amount, fee.adjustments) == (Decimal("80.00"), 1)
    assert fee.adjustment_id(fee.adjustments + 1) == unadjusted.adjustment_id(2)
