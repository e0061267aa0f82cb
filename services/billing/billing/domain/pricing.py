"""The quote engine: prices the work a technician listed strictly by the published fee schedule,
each line naming the rule that produced its price (BIL-1..BIL-6)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from billing.domain.money import ZERO, down_to_jiao, lower_of, marked_up, to_fen, to_jiao
from billing.domain.policy import BillingPolicy
from billing.domain.schedule import FeeCategory, FeeSchedule
from contracts.billing import QuoteLine
from contracts.common import WarrantyStatus, WorkItem, WorkItemKind

BUNDLED_CATEGORIES = frozenset({FeeCategory.LABOUR, FeeCategory.SETUP})


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months (the 31st becomes the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class PricedQuote:
    """The lines of a quote and its total (never negative)."""

    lines: list[QuoteLine]
    total: Decimal


@dataclass
class _Draft:
    item: WorkItem
    line: QuoteLine
    bundled: bool = False


def is_covered(item: WorkItem, status: WarrantyStatus, policy: BillingPolicy) -> bool:
    """Whether the warranty covers ``item`` (BIL-1); upgrades never are (BIL-6)."""
    if item.upgrade:
        return False
    if item.covered_by_warranty is not None:
        return item.covered_by_warranty
    if status is WarrantyStatus.IN_WARRANTY:
        return True
    return status is WarrantyStatus.UNKNOWN and policy.unknown_warranty_is_covered


def setup_share(
    installed_on: date | None,
    done_on: date,
    policy: BillingPolicy,
    installed_note: str | None = None,
) -> tuple[Decimal, str | None]:
    """The share of a set-up item's price charged ``done_on`` (BIL-5), with a note; it says
    where the installation date came from when ``installed_note`` does."""
    if installed_on is None:
        return Decimal(1), "installation date unknown: charged per schedule"
    share, note = _setup_share(installed_on, done_on, policy)
    if installed_note is not None:
        note = installed_note if note is None else f"{note}; {installed_note}"
    return share, note


def _setup_share(
    installed_on: date, done_on: date, policy: BillingPolicy
) -> tuple[Decimal, str | None]:
    if done_on < add_months(installed_on, policy.setup_free_within_months):
        return ZERO, f"within {policy.setup_free_within_months} month(s) of installation: free"
    if done_on >= add_months(installed_on, policy.setup_charged_from_months):
        return Decimal(1), None
    percent = policy.setup_between_charge_percent
    return Decimal(percent) / 100, f"between the set-up windows: {percent} % of the schedule price"


def _line(
    item: WorkItem,
    *,
    unit_price: Decimal,
    rule: str,
    policy: BillingPolicy,
    fee_code: str | None = None,
    covered: bool = False,
    note: str | None = None,
    exact_unit_price: Decimal | None = None,
) -> QuoteLine:
    """The line of ``item``: ``quantity × unit price`` rounded once to the jiao (BIL-4). With
    an ``exact_unit_price`` (a material's marked-up stock price), that is what is multiplied and
    ``unit_price`` only shows it (rounded to the fen)."""
    exact = unit_price if exact_unit_price is None else exact_unit_price
    amount = ZERO if covered else to_jiao(item.quantity * exact, policy.rounding_step)
    return QuoteLine(
        kind=item.kind,
        fee_code=fee_code,
        part_no=item.part_no,
        description=item.description,
        quantity=item.quantity,
        unit_price=unit_price,
        amount=amount,
        rule_id=rule,
        covered_by_warranty=covered,
        note=note,
    )


def _price_item(
    item: WorkItem,
    *,
    schedule: FeeSchedule,
    status: WarrantyStatus,
    installed_on: date | None,
    installed_note: str | None,
    done_on: date,
    policy: BillingPolicy,
) -> tuple[QuoteLine, Decimal]:
    """The item's line and the trade-in credit it earns (BIL-6)."""
    covered = is_covered(item, status, policy)
    step = policy.rounding_step
    not_charged = "not on the published fee schedule: not charged"
    if item.kind is WorkItemKind.FEE:
        fee = schedule.fee(item.fee_code)
        if fee is None:
            return _line(item, unit_price=ZERO, rule="BIL-1", policy=policy, note=not_charged), ZERO
        if covered:
            line = _line(
                item,
                unit_price=fee.price,
                rule="BIL-1",
                policy=policy,
                fee_code=fee.fee_code,
                covered=True,
                note="covered by the warranty",
            )
            return line, ZERO
        unit, rule, note = fee.price, "BIL-1", None
        if fee.category is FeeCategory.SETUP:
            share, note = setup_share(installed_on, done_on, policy, installed_note)
            unit, rule = to_jiao(fee.price * share, step), "BIL-5"
        card = lower_of(unit, item.warranty_card_price, step)
        if card < unit:
            unit, rule, note = card, "BIL-2", "warranty card price is lower than the schedule"
        line = _line(
            item, unit_price=unit, rule=rule, policy=policy, fee_code=fee.fee_code, note=note
        )
        return line, ZERO
    if item.kind is WorkItemKind.PART:
        part = schedule.part(item.part_no)
        if part is None:
            return _line(item, unit_price=ZERO, rule="BIL-1", policy=policy, note=not_charged), ZERO
        if covered:
            line = _line(
                item,
                unit_price=part.price,
                rule="BIL-1",
                policy=policy,
                covered=True,
                note="covered by the warranty",
            )
            return line, ZERO
        unit = part.price
        rule = "BIL-6" if item.upgrade else "BIL-1"
        note = "upgrade at the schedule's part price" if item.upgrade else None
        card = lower_of(unit, item.warranty_card_price, step)
        if card < unit:
            unit, rule, note = card, "BIL-2", "warranty card price is lower than the schedule"
        line = _line(item, unit_price=unit, rule=rule, policy=policy, note=note)
        credit = ZERO
        if item.trade_in and policy.trade_in_allowed:
            credit = min(to_jiao(part.trade_in_credit * item.quantity, step), line.amount)
        return line, credit
    material = schedule.material(item.part_no or item.fee_code)
    if covered:
        unit = material.price if material is not None else ZERO
        line = _line(
            item,
            unit_price=unit,
            rule="BIL-1",
            policy=policy,
            covered=True,
            note="covered by the warranty",
        )
        return line, ZERO
    if material is not None:
        return _line(item, unit_price=material.price, rule="BIL-4", policy=policy), ZERO
    if item.stock_price is None:
        note = "not on the schedule and no stock price: not charged"
        return _line(item, unit_price=ZERO, rule="BIL-4", policy=policy, note=note), ZERO
    # BIL-4: the marked-up price of the whole quantity is rounded to the jiao once; rounding
    # each unit first would overcharge several cheap units (10 × 0.35: 4.60, not 5.00).
    exact = marked_up(item.stock_price, policy.material_markup_percent)
    note = f"stock price {item.stock_price} + {policy.material_markup_percent} %"
    line = _line(
        item,
        unit_price=to_fen(exact),
        exact_unit_price=exact,
        rule="BIL-4",
        policy=policy,
        note=note,
    )
    return line, ZERO


def bundle_groups(times: Sequence[datetime | None], window: timedelta) -> list[list[int]]:
    """Indexes of items handled in one go (BIL-3): each group starts at its earliest item and
    takes every later item within ``window`` of it; items without a time form one group."""
    timed = sorted((t, i) for i, t in enumerate(times) if t is not None)
    groups: list[list[int]] = []
    start: datetime | None = None
    for moment, index in timed:
        if start is None or moment - start > window:
            groups.append([])
            start = moment
        groups[-1].append(index)
    untimed = [i for i, t in enumerate(times) if t is None]
    if untimed:
        groups.append(untimed)
    return groups


def _bundle(drafts: list[_Draft], schedule: FeeSchedule, policy: BillingPolicy) -> None:
    """Several fee items within the window: only the single highest is charged (BIL-3)."""
    candidates = [
        d
        for d in drafts
        if d.item.kind is WorkItemKind.FEE
        and d.line.amount > 0
        and (fee := schedule.fee(d.item.fee_code)) is not None
        and fee.category in BUNDLED_CATEGORIES
    ]
    window = timedelta(minutes=policy.bundle_window_minutes)
    for group in bundle_groups([d.item.handled_at for d in candidates], window):
        if len(group) < 2:
            continue
        members = [candidates[i] for i in group]
        highest = max(members, key=lambda d: d.line.amount)
        for draft in members:
            if draft is highest:
                continue
            draft.line = draft.line.model_copy(
                update={
                    "amount": ZERO,
                    "rule_id": "BIL-3",
                    "note": f"handled with {highest.line.fee_code} within "
                    f"{policy.bundle_window_minutes} minutes: only the highest fee is charged",
                }
            )
            draft.bundled = True


def price_quote(
    *,
    schedule: FeeSchedule,
    items: Sequence[WorkItem],
    warranty_status: WarrantyStatus,
    policy: BillingPolicy,
    quoted_at: datetime,
    tz: tzinfo,
    installed_on: date | None = None,
    installed_note: str | None = None,
    warranty_card_amount: Decimal | None = None,
) -> PricedQuote:
    """Price ``items`` by ``schedule`` (BIL-1..BIL-6). The total is never negative. Days
    (the set-up fee's month after installation, BIL-5) are counted in ``tz``, the business
    calendar's time zone; ``installed_note`` says where ``installed_on`` came from when not
    from the order itself (the set-up lines repeat it)."""
    drafts: list[_Draft] = []
    credits: list[tuple[WorkItem, Decimal]] = []
    for item in items:
        done_on = (item.handled_at or quoted_at).astimezone(tz).date()
        line, credit = _price_item(
            item,
            schedule=schedule,
            status=warranty_status,
            installed_on=installed_on,
            installed_note=installed_note,
            done_on=done_on,
            policy=policy,
        )
        drafts.append(_Draft(item=item, line=line))
        if credit > 0:
            credits.append((item, credit))
    _bundle(drafts, schedule, policy)
    lines = [d.line for d in drafts]
    for item, credit in credits:
        lines.append(
            QuoteLine(
                kind=WorkItemKind.PART,
                description=f"trade-in of the old part: {item.description}",
                quantity=Decimal(1),
                unit_price=-credit,
                amount=-credit,
                rule_id="BIL-6",
                note="trade-in credit of the fee schedule",
            )
        )
    total = sum((line.amount for line in lines), ZERO)
    if warranty_card_amount is not None:
        card_total = down_to_jiao(warranty_card_amount, policy.rounding_step)
        if card_total < total:
            reduction = max(card_total, ZERO) - total
            lines.append(
                QuoteLine(
                    kind=WorkItemKind.FEE,
                    description="warranty card price is lower than the schedule",
                    quantity=Decimal(1),
                    unit_price=reduction,
                    amount=reduction,
                    rule_id="BIL-2",
                    note=f"the warranty card says {warranty_card_amount}: the lower is charged",
                )
            )
            total += reduction
    return PricedQuote(lines=lines, total=max(total, ZERO))
