"""Network rate cards: what the centre owes a partner network for each completed repair or
installation, per product line, as agreed by contract and changed over time (BIL-12).

A card is versioned like a fee schedule (BIL-1): a published version is never changed, a change
is a new version. Each version takes effect at its ``effective_from``, now or later, never in
the past, so a fee already recorded never turns out to have been priced by the wrong version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from billing.domain.exceptions import InvalidDate
from billing.domain.policy import BillingPolicy
from contracts.billing import NetworkWorkKind, RateCardLine, RateCardVersionPublished
from contracts.common import Money

ANY_LINE = "*"
"""The product line of a rate that applies to every line without a rate of its own."""

POLICY_DEFAULT = "policy default"
"""The basis of a fee paid at the policy's flat amount (no card, or no rate on it)."""


WorkKind = NetworkWorkKind
"""The kind of completed work a network is paid for (BIL-12): the contract's, which announces
the rates to the networks."""


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("a rate is never negative")
    # -0 (or -0.00) is zero: kept signed it would price work at "-0.00" (BIL-12)
    return value.copy_abs()


RateAmount = Annotated[Money, AfterValidator(_not_negative)]
"""A rate: a non-negative amount in CNY with at most two decimals."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NetworkRate(_Frozen):
    """What the network is paid for one kind of work on one product line (or on any, ``*``)."""

    product_line: str = Field(
        pattern=r"^(\*|[A-Za-z0-9_.-]{1,100})$",
        description="A product line as fee schedules name it, or `*`: every line without a "
        "rate of its own.",
        examples=["water_heater", "*"],
    )
    kind: WorkKind
    amount: RateAmount


def _one_rate_each(rates: list[NetworkRate]) -> list[NetworkRate]:
    seen: set[tuple[str, WorkKind]] = set()
    for r in rates:
        if (r.product_line, r.kind) in seen:
            raise ValueError(f"{r.product_line} {r.kind.value} is listed more than once")
        seen.add((r.product_line, r.kind))
    return rates


Rates = Annotated[list[NetworkRate], AfterValidator(_one_rate_each)]
"""The rates of a card: at most one per product line and kind of work."""


class RateCard(_Frozen):
    """One published version of a network's rate card; never changed afterwards (BIL-12)."""

    network_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    effective_from: AwareDatetime
    published_at: AwareDatetime
    published_by: str
    rates: Rates

    @property
    def label(self) -> str:
        """How settlement items cite it, e.g. ``net-9@v3``."""
        return f"{self.network_id}@v{self.version}"

    def rate(self, product_line: str | None, kind: WorkKind) -> NetworkRate | None:
        """The rate for ``kind`` on ``product_line``: the line's own, else the ``*`` one."""
        own = next(
            (r for r in self.rates if r.kind is kind and r.product_line == product_line), None
        )
        if own is not None:
            return own
        return next((r for r in self.rates if r.kind is kind and r.product_line == ANY_LINE), None)

    def announcement(self) -> RateCardVersionPublished:
        """The event that tells the network of this version, with its rates as published."""
        return RateCardVersionPublished(
            network_id=self.network_id,
            version=self.version,
            label=self.label,
            effective_from=self.effective_from,
            published_at=self.published_at,
            published_by=self.published_by,
            rates=[
                RateCardLine(product_line=r.product_line, kind=r.kind, amount=r.amount)
                for r in self.rates
            ],
        )

    @classmethod
    def publish(
        cls,
        *,
        network_id: str,
        previous_version: int | None,
        rates: list[NetworkRate],
        effective_from: datetime | None,
        published_by: str,
        now: datetime,
    ) -> RateCard:
        """The next version of the network's card, in force from ``effective_from`` (now when
        not given). A moment already past is refused: a version never reprices work done."""
        start = now if effective_from is None else effective_from
        if start < now:
            raise InvalidDate(
                f"A rate card takes effect now or later, never in the past (BIL-12): "
                f"{start.isoformat()} is before {now.isoformat()}. Omit effective_from for now.",
                field="effective_from",
            )
        return cls(
            network_id=network_id,
            version=(previous_version or 0) + 1,
            effective_from=start.astimezone(UTC),
            published_at=now,
            published_by=published_by,
            rates=rates,
        )


def card_in_force(cards: Iterable[RateCard], at: datetime) -> RateCard | None:
    """The version of a network's card in force at ``at``: of those effective at or before it,
    the one that took effect last; of several taking effect at the same moment, the newest
    (BIL-12). None when no version had taken effect yet."""
    started = [c for c in cards if c.effective_from <= at]
    return max(started, key=lambda c: (c.effective_from, c.version), default=None)


@dataclass(frozen=True)
class NetworkFee:
    """The fee owed to a network for one completed job, and what priced it."""

    amount: Decimal
    basis: str
    """The rate card version and rate used, or ``policy default``."""


def network_fee(
    *,
    kind: WorkKind,
    product_line: str | None,
    card: RateCard | None,
    policy: BillingPolicy,
) -> NetworkFee:
    """The fee for ``kind`` of work on ``product_line`` (None: not known) by ``card``, the
    version in force when the work was done: the line's own rate, else the card's ``*`` rate,
    else the policy's flat fee, which also pays a network that has no card (BIL-12)."""
    default = (
        policy.network_repair_fee if kind is WorkKind.REPAIR else policy.network_installation_fee
    )
    if card is None:
        return NetworkFee(amount=default, basis=POLICY_DEFAULT)
    found = card.rate(product_line, kind)
    if found is None:
        return NetworkFee(
            amount=default,
            basis=f"{POLICY_DEFAULT} (rate card {card.label} has no {kind.value} rate)",
        )
    return NetworkFee(
        amount=found.amount,
        basis=f"rate card {card.label} ({found.product_line} {kind.value})",
    )
