"""Cash on hand per technician or desk (BIL-10): collected, refunded and remitted, oldest first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from billing.domain.exceptions import InvalidAmount
from billing.domain.money import ZERO
from billing.domain.policy import BillingPolicy
from contracts.base import EventData
from contracts.billing import CashRemittanceDue, RemittanceReason
from contracts.common import Money
from contracts.ids import new_id


class CashEntryKind(StrEnum):
    """A movement of cash on hand."""

    COLLECTED = "collected"
    REFUNDED = "refunded"
    REMITTED = "remitted"


class CashEntry(BaseModel):
    """One movement of a holder's cash (amounts positive)."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    holder_id: str
    kind: CashEntryKind
    amount: Money
    at: AwareDatetime
    order_id: str | None = None
    by: str | None = None
    """Who received a remittance (finance), or who recorded cash collected for the holder as a
    correction (the centre, BIL-10)."""


@dataclass(frozen=True)
class CashPosition:
    """What a holder has on hand over every entry of its ledger (BIL-10), as read without
    loading the entries: the cash collected less that refunded and remitted, and when the
    oldest cash still held was taken (outflows settle the oldest cash first)."""

    holder_id: str
    on_hand: Decimal
    held_since: datetime | None


@dataclass(frozen=True)
class CashOverPeriod:
    """A holder's cash over a period (BIL-10), as read without loading the entries: what it
    handed to finance in the period, and what it had on hand at the period's end."""

    holder_id: str
    remitted: Decimal
    on_hand_at_end: Decimal


@dataclass(frozen=True)
class CashCarried:
    """What the entries of a ledger left unloaded add up to, summed in the database (BIL-10):
    the cash their collections took, every one of them settled already (they precede, in
    booking order, all the collections loaded), and the cash their refunds and remittances
    paid out."""

    collected: Decimal = ZERO
    paid_out: Decimal = ZERO


class CashLedger:
    """The cash a technician or desk holds; raises CashRemittanceDue (BIL-10).

    ``entries`` may be the whole ledger, or only its tail: the collections still (partly) held
    and those at or after a given moment, with what the others add up to ``carried``. Outflows
    settle the oldest cash first, so the collections left out are settled whatever is booked
    after them, and the balance, the cash held and the alerts come out the same either way.
    """

    def __init__(
        self,
        *,
        holder_id: str,
        entries: list[CashEntry] | None = None,
        alerts: dict[str, str] | None = None,
        carried: CashCarried | None = None,
    ) -> None:
        self.holder_id = holder_id
        self.entries = sorted(entries or [], key=lambda e: (e.at, e.entry_id))
        self.carried = carried or CashCarried()
        self.alerts: dict[str, str] = dict(alerts or {})
        """Reason → what was alerted about (so one alert per occasion)."""
        self.new_entries: list[CashEntry] = []
        self.events: list[EventData] = []

    def _add(self, entry: CashEntry) -> CashEntry:
        self.entries.append(entry)
        self.entries.sort(key=lambda e: (e.at, e.entry_id))
        self.new_entries.append(entry)
        return entry

    def collected(
        self, *, amount: Decimal, order_id: str, at: datetime, recorded_by: str | None = None
    ) -> CashEntry:
        """Cash the holder took from a customer; ``recorded_by`` when the centre recorded it
        for them as a correction."""
        return self._add(
            CashEntry(
                entry_id=str(new_id()),
                holder_id=self.holder_id,
                kind=CashEntryKind.COLLECTED,
                amount=amount,
                at=at,
                order_id=order_id,
                by=recorded_by,
            )
        )

    def refunded(self, *, amount: Decimal, order_id: str, at: datetime) -> CashEntry:
        """Cash paid back to a customer out of the holder's cash; never more than is on hand
        (a negative balance would hide later takings from the BIL-10 checks)."""
        if amount > self.on_hand:
            raise InvalidAmount(
                f"cannot pay back {amount} in cash: {self.holder_id} holds {self.on_hand}; "
                "refund by another method, or by someone holding the cash",
                field="refunded_by",
            )
        return self._add(
            CashEntry(
                entry_id=str(new_id()),
                holder_id=self.holder_id,
                kind=CashEntryKind.REFUNDED,
                amount=amount,
                at=at,
                order_id=order_id,
            )
        )

    def remit(self, *, amount: Decimal, received_by: str, at: datetime) -> CashEntry:
        """Cash handed to finance; never more than is on hand."""
        if amount <= 0:
            raise InvalidAmount("the amount remitted must be positive", field="amount")
        if amount > self.on_hand:
            raise InvalidAmount(f"cannot remit {amount}: {self.on_hand} is on hand", field="amount")
        entry = self._add(
            CashEntry(
                entry_id=str(new_id()),
                holder_id=self.holder_id,
                kind=CashEntryKind.REMITTED,
                amount=amount,
                at=at,
                by=received_by,
            )
        )
        return entry

    @property
    def on_hand(self) -> Decimal:
        """Cash collected less cash refunded and remitted."""
        total = self.carried.collected - self.carried.paid_out
        for e in self.entries:
            total += e.amount if e.kind is CashEntryKind.COLLECTED else -e.amount
        return total

    def position(self) -> CashPosition:
        """The ledger's cash on hand and since when the oldest of it is held."""
        held = self.held()
        return CashPosition(
            holder_id=self.holder_id,
            on_hand=self.on_hand,
            held_since=held[0].at if held else None,
        )

    def held(self) -> list[CashEntry]:
        """The collections still (partly) held, oldest first: outflows settle the oldest cash."""
        # The collections carried were all settled by outflows: what is left of those settles
        # the entries loaded, oldest first.
        out = sum(
            (e.amount for e in self.entries if e.kind is not CashEntryKind.COLLECTED),
            self.carried.paid_out - self.carried.collected,
        )
        held: list[CashEntry] = []
        for entry in (e for e in self.entries if e.kind is CashEntryKind.COLLECTED):
            if out >= entry.amount:
                out -= entry.amount
                continue
            held.append(entry)
            out = ZERO
        return held

    def check(
        self,
        *,
        now: datetime,
        policy: BillingPolicy,
        add_working_days: Callable[[datetime, int], datetime],
    ) -> list[CashRemittanceDue]:
        """CashRemittanceDue when over the limit or held too long; once per occasion."""
        on_hand, held = self.on_hand, self.held()
        raised: list[CashRemittanceDue] = []
        oldest = held[0].at if held else None
        due_by = add_working_days(oldest, policy.cash_max_working_days) if oldest else None
        orders = sorted({e.order_id for e in held if e.order_id})
        if on_hand > policy.cash_limit:
            if self.alerts.get(RemittanceReason.OVER_AMOUNT) != "raised":
                self.alerts[RemittanceReason.OVER_AMOUNT] = "raised"
                raised.append(self._due(RemittanceReason.OVER_AMOUNT, oldest, now, orders))
        else:
            self.alerts.pop(RemittanceReason.OVER_AMOUNT, None)
        if held and due_by is not None and now > due_by:
            marker = held[0].entry_id
            if self.alerts.get(RemittanceReason.HELD_TOO_LONG) != marker:
                self.alerts[RemittanceReason.HELD_TOO_LONG] = marker
                raised.append(self._due(RemittanceReason.HELD_TOO_LONG, oldest, due_by, orders))
        self.events.extend(raised)
        return raised

    def _due(
        self,
        reason: RemittanceReason,
        oldest: datetime | None,
        due_by: datetime,
        orders: list[str],
    ) -> CashRemittanceDue:
        return CashRemittanceDue(
            holder_id=self.holder_id,
            cash_on_hand=self.on_hand,
            reason=reason,
            oldest_collected_at=oldest,
            due_by=due_by,
            order_ids=orders,
        )
