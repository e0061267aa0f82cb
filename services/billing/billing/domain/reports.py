"""Monthly settlements with partner networks (BIL-12) and the daily cash reconciliation (BIL-10)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from billing.domain.money import ZERO
from contracts.common import Money


class SettlementKind(StrEnum):
    """What a settlement item is."""

    FEE_COLLECTED = "fee_collected"
    """Fees the network's people collected from customers (net of refunds): owed to the centre."""
    SERVICE_FEE = "service_fee"
    """Installation or repair fee the centre owes the network: at the rate of its rate card
    version in force when the work was done, else the policy's flat fee; the item's
    description names which."""
    COMPENSATION = "compensation"
    """Damage compensation (FLD-13) the network bears."""


class SettlementItem(BaseModel):
    """One amount recorded on an order for the monthly settlement with its network (BIL-12)."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    network_id: str
    order_id: str
    kind: SettlementKind
    amount: Money
    occurred_at: AwareDatetime
    description: str


class Statement(BaseModel):
    """A partner network's monthly settlement statement (BIL-12).

    `net_payable_to_network` = service fees − fees collected − compensation; negative means the
    network owes the centre. The totals are over the whole month; `items` are its lines by order
    (then time and id), all of them or one page.
    """

    network_id: str
    month: str = Field(description="YYYY-MM")
    fees_collected: Money
    service_fees_owed: Money
    compensation: Money
    net_payable_to_network: Money
    items: list[SettlementItem]


def settlement_line_order(item: SettlementItem) -> tuple[str, datetime, str]:
    """The order of a statement's lines: by order, then time, then id (BIL-12)."""
    return (item.order_id, item.occurred_at, item.item_id)


def statement(
    network_id: str,
    month: str,
    items: list[SettlementItem],
    *,
    totals: Mapping[SettlementKind, Decimal] | None = None,
) -> Statement:
    """The statement of ``network_id`` for ``month``: ``items`` are its lines (all or one page),
    ``totals`` the month's sums per kind (summed from ``items`` when not given)."""
    if totals is None:
        summed: dict[SettlementKind, Decimal] = defaultdict(lambda: ZERO)
        for item in items:
            summed[item.kind] += item.amount
        totals = summed
    collected = totals.get(SettlementKind.FEE_COLLECTED, ZERO)
    owed = totals.get(SettlementKind.SERVICE_FEE, ZERO)
    compensation = totals.get(SettlementKind.COMPENSATION, ZERO)
    return Statement(
        network_id=network_id,
        month=month,
        fees_collected=collected,
        service_fees_owed=owed,
        compensation=compensation,
        net_payable_to_network=owed - collected - compensation,
        items=sorted(items, key=settlement_line_order),
    )


def statement_csv(st: Statement) -> str:
    """The statement as CSV: one row per item, then the totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["network_id", "month", "order_id", "kind", "occurred_at", "amount", "note"])
    for item in st.items:
        writer.writerow(
            [
                st.network_id,
                st.month,
                item.order_id,
                item.kind.value,
                item.occurred_at.isoformat(),
                format(item.amount, "f"),
                item.description,
            ]
        )
    for label, amount in (
        ("total_fees_collected", st.fees_collected),
        ("total_service_fees_owed", st.service_fees_owed),
        ("total_compensation", st.compensation),
        ("net_payable_to_network", st.net_payable_to_network),
    ):
        writer.writerow([st.network_id, st.month, "", label, "", format(amount, "f"), ""])
    return out.getvalue()


class HolderReconciliation(BaseModel):
    """One technician's or desk's takings of a day (BIL-10)."""

    holder_id: str
    cash_collected: Money
    cash_refunded: Money
    cash_remitted: Money
    card_collected: Money
    mobile_collected: Money
    receipts: list[str]
    cash_on_hand_at_end: Money
    card_refunded: Money = ZERO
    """Paid back by card by this holder this day (cash refunds are `cash_refunded`)."""
    mobile_refunded: Money = ZERO
    """Paid back by mobile payment by this holder this day."""


class Reconciliation(BaseModel):
    """The daily reconciliation of takings (BIL-10). Every total is the sum of its column over
    `holders`; `total_collected` and `total_refunded` are the sums of their per-method totals."""

    day: date
    holders: list[HolderReconciliation]
    total_collected: Money
    total_refunded: Money
    total_remitted: Money
    total_cash_collected: Money = ZERO
    total_card_collected: Money = ZERO
    total_mobile_collected: Money = ZERO
    total_cash_refunded: Money = ZERO
    total_card_refunded: Money = ZERO
    total_mobile_refunded: Money = ZERO


def reconciliation(day: date, holders: list[HolderReconciliation]) -> Reconciliation:
    """The day's reconciliation of ``holders``' rows: the totals are the sums of the rows, so
    they always add up (BIL-10)."""

    def total(column: str) -> Decimal:
        return sum((getattr(row, column) for row in holders), ZERO)

    by_method = {
        f"total_{method}_{kind}": total(f"{method}_{kind}")
        for method in ("cash", "card", "mobile")
        for kind in ("collected", "refunded")
    }
    return Reconciliation(
        day=day,
        holders=holders,
        total_collected=sum((v for k, v in by_method.items() if k.endswith("_collected")), ZERO),
        total_refunded=sum((v for k, v in by_method.items() if k.endswith("_refunded")), ZERO),
        total_remitted=total("cash_remitted"),
        **by_method,
    )
