"""Money arithmetic: ``Decimal`` only, every rounding explicit (BIL-4: to the jiao, half up)."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
FEN = Decimal("0.01")
JIAO = Decimal("0.1")


def to_jiao(amount: Decimal, step: Decimal = JIAO) -> Decimal:
    """``amount`` rounded half up to ``step`` (the jiao), kept with two decimals (e.g. 12.40)."""
    steps = (amount / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (steps * step).quantize(FEN)


def down_to_jiao(amount: Decimal, step: Decimal = JIAO) -> Decimal:
    """``amount`` rounded down to ``step``: used where rounding must never raise a price (BIL-2)."""
    steps = (amount / step).quantize(Decimal(1), rounding=ROUND_DOWN)
    return (steps * step).quantize(FEN)


def is_multiple_of(amount: Decimal, step: Decimal = JIAO) -> bool:
    """Whether ``amount`` is a whole number of ``step``."""
    return (amount / step) == (amount / step).to_integral_value()


def lower_of(schedule: Decimal, card: Decimal | None, step: Decimal = JIAO) -> Decimal:
    """The lower of the schedule price and the warranty-card price (BIL-2).

    The card price is rounded *down* to the jiao so the result never exceeds either source.
    """
    if card is None:
        return schedule
    return min(schedule, down_to_jiao(card, step))


def marked_up(stock_price: Decimal, percent: Decimal) -> Decimal:
    """Stock price plus the management fee, exact (BIL-4): a line charges its quantity times
    this, rounded once to the jiao; see ``to_fen`` for the unit price it shows."""
    return stock_price * (Decimal(100) + percent) / Decimal(100)


def to_fen(amount: Decimal) -> Decimal:
    """``amount`` rounded half up to the fen (two decimals): a unit price shown, not charged."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def with_markup(stock_price: Decimal, percent: Decimal, step: Decimal = JIAO) -> Decimal:
    """Stock price plus the management fee for *one* unit, rounded half up to the jiao (BIL-4).
    Not for a line of several units: round their marked-up total once (``marked_up``)."""
    return to_jiao(stock_price * (Decimal(100) + percent) / Decimal(100), step)
