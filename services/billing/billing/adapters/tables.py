"""Billing's tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Index, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

BILLING_REGISTRY = registry()


class MoneyString(TypeDecorator[Decimal]):
    """A ``Decimal`` stored as its exact decimal string (no float, no driver rounding)."""

    impl = String(24)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else format(Decimal(value), "f")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def _money(nullable: bool = False) -> Any:
    return Field(sa_column=Column(MoneyString(), nullable=nullable))


def _moment(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


class BillingTable(SQLModel, registry=BILLING_REGISTRY):
    """Base of billing's tables."""


class OrderEventRow(BillingTable, table=True):
    """An event of interest recorded on an order's file."""

    __tablename__ = "billing_order_event"
    __table_args__ = (Index("ix_billing_order_event_order_time", "order_id", "time"),)

    event_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    version: int
    time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=100)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class FeeScheduleRow(BillingTable, table=True):
    """A published fee schedule version; rows are only ever inserted (BIL-1)."""

    __tablename__ = "billing_fee_schedule"

    product_line: str = Field(primary_key=True, max_length=100)
    version: int = Field(primary_key=True)
    published_at: datetime = _moment()
    published_by: str = Field(max_length=200)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class RateCardRow(BillingTable, table=True):
    """A published version of a network's rate card; rows are only ever inserted (BIL-12)."""

    __tablename__ = "billing_rate_card"
    __table_args__ = (
        Index("ix_billing_rate_card_network_effective", "network_id", "effective_from"),
    )

    network_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    effective_from: datetime = _moment()
    published_at: datetime = _moment()
    published_by: str = Field(max_length=200)
    rates: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """``[{"product_line", "kind", "amount"}]``, amounts as decimal strings."""


class AccountRow(BillingTable, table=True):
    """The billing account of one order (optimistic version for concurrent updates)."""

    __tablename__ = "billing_account"
    __table_args__ = (
        Index("ix_billing_account_retention", "anonymised_at", "ended_at"),
        Index("ix_billing_account_pending", "pending", "product_line"),
        Index("ix_billing_account_invoice_due_on", "invoice_due_on"),
        Index("ix_billing_account_held_unapproved", "held_unapproved_since", "order_id"),
        Index("ix_billing_account_network_fees_pending", "network_fees_pending_since", "order_id"),
    )

    order_id: str = Field(primary_key=True, max_length=200)
    version: int = 0
    product_line: str | None = Field(default=None, max_length=100)
    warranty_status: str = Field(max_length=30)
    network_id: str | None = Field(default=None, max_length=64, index=True)
    technician_id: str | None = Field(default=None, max_length=64)
    paid_work: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    coordination_ticket: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    pending: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    invoice_due_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    """The earliest promised date of an invoice still to be delivered (BIL-7 sweep)."""
    held_unapproved_since: datetime | None = _moment(nullable=True)
    """Since when a quote of it holds a reduction the centre has not approved (BIL-8): listed
    by `GET /v1/held-reductions`, oldest first."""
    network_fees_pending_since: datetime | None = _moment(nullable=True)
    """When the earliest work whose network fee waits for the order's product line was done
    (BIL-12): listed by `GET /v1/pending-network-fees`, oldest first."""
    ended_at: datetime | None = _moment(nullable=True)
    anonymised_at: datetime | None = _moment(nullable=True)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class PendingNetworkFeeRow(BillingTable, table=True):
    """One network's fees on one order waiting for the order's product line (BIL-12), kept with
    the account in the same transaction: `GET /v1/pending-network-fees?network_id=` selects a
    network's orders by its index, each dated by the network's own earliest waiting work,
    without reading other networks' accounts."""

    __tablename__ = "billing_pending_network_fee"
    __table_args__ = (
        Index("ix_billing_pending_network_fee_network", "network_id", "pending_since", "order_id"),
    )

    order_id: str = Field(primary_key=True, max_length=200)
    network_id: str = Field(primary_key=True, max_length=64)
    pending_since: datetime = _moment()
    """When the network's earliest work on the order whose fee waits was done (UTC)."""


class NumberSeriesRow(BillingTable, table=True):
    """The last number taken in a document series; bumped in the issuing transaction."""

    __tablename__ = "billing_number_series"

    series: str = Field(primary_key=True, max_length=40)
    last_number: int = 0


class DocumentRow(BillingTable, table=True):
    """The register of receipts and invoices: one row per number, no gaps (BIL-7)."""

    __tablename__ = "billing_document"
    __table_args__ = (UniqueConstraint("series", "seq", name="uq_billing_document_series_seq"),)

    number: str = Field(primary_key=True, max_length=40)
    series: str = Field(max_length=40)
    seq: int
    kind: str = Field(max_length=20)
    order_id: str = Field(max_length=200, index=True)
    amount: Decimal = _money()
    issued_at: datetime = _moment()


class PaymentRow(BillingTable, table=True):
    """A payment or refund, for the daily reconciliation (BIL-10)."""

    __tablename__ = "billing_payment"

    payment_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=20)
    method: str = Field(max_length=20)
    amount: Decimal = _money()
    holder_id: str = Field(max_length=200)
    at: datetime = _moment(index=True)
    receipt_number: str = Field(max_length=40)


class CashHolderRow(BillingTable, table=True):
    """A technician or desk holding cash, with the alerts already raised (BIL-10)."""

    __tablename__ = "billing_cash_holder"

    holder_id: str = Field(primary_key=True, max_length=200)
    holds_cash: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, index=True))
    alerts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CashEntryRow(BillingTable, table=True):
    """One movement of a holder's cash (BIL-10)."""

    __tablename__ = "billing_cash_entry"
    __table_args__ = (Index("ix_billing_cash_entry_holder_at", "holder_id", "at"),)

    entry_id: str = Field(primary_key=True, max_length=36)
    holder_id: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    amount: Decimal = _money()
    at: datetime = _moment()
    order_id: str | None = Field(default=None, max_length=200)
    by: str | None = Field(default=None, max_length=200)


class SettlementItemRow(BillingTable, table=True):
    """An amount for the monthly settlement with a network (BIL-12)."""

    __tablename__ = "billing_settlement_item"
    __table_args__ = (
        Index("ix_billing_settlement_network_time", "network_id", "occurred_at"),
        Index("ix_billing_settlement_order", "order_id"),
    )

    item_id: str = Field(primary_key=True, max_length=64)
    network_id: str = Field(max_length=64)
    order_id: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    amount: Decimal = _money()
    occurred_at: datetime = _moment()
    description: str = Field(max_length=300)


class InstallationRow(BillingTable, table=True):
    """An installation the platform completed, by the unit's serial: a later order of the same
    unit prices its set-up by its date (BIL-5). One row per installing order."""

    __tablename__ = "billing_installation"
    __table_args__ = (Index("ix_billing_installation_unit", "product_line", "serial_key"),)

    order_id: str = Field(primary_key=True, max_length=200)
    product_line: str = Field(max_length=100)
    serial: str = Field(sa_column=Column(String(), nullable=False))
    serial_key: str = Field(sa_column=Column(String(), nullable=False))
    """The serial without spaces, case-folded (INT-8)."""
    installed_on: date = Field(sa_column=Column(Date, nullable=False))
