"""Billing's policy: every number of rules BIL-1..BIL-12 as a default, overridable in the
``billing`` section of the policy file and validated at start-up."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BillingPolicy(BaseModel):
    """The ``billing`` section of the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key_ttl_hours: int = Field(
        default=24, ge=1, description="Idempotency-Key records are kept this long."
    )

    unknown_warranty_is_covered: bool = True
    """BIL-1: work on an order whose warranty status is unknown is quoted as covered (when in
    doubt, charge the lower amount)."""
    bundle_window_minutes: int = Field(default=30, gt=0)
    """BIL-3: fee items handled within this many minutes are charged as the single highest."""
    material_markup_percent: Decimal = Field(default=Decimal("30"), ge=0, le=1000)
    """BIL-4: management fee on the stock price of a material not on the schedule."""
    rounding_step: Decimal = Field(default=Decimal("0.1"), gt=0)
    """BIL-4: charged amounts are rounded (ROUND_HALF_UP) to this step: the jiao."""
    setup_free_within_months: int = Field(default=1, ge=0)
    """BIL-5: set-up / adjustment is free within this many months of installation."""
    setup_charged_from_months: int = Field(default=3, ge=0)
    """BIL-5: set-up / adjustment is charged in full from this many months on."""
    setup_between_charge_percent: int = Field(default=0, ge=0, le=100)
    """BIL-5: share of the schedule price charged between the two windows (default free)."""
    trade_in_allowed: bool = True
    """BIL-6: old parts may be traded in for the schedule's trade-in credit."""
    cash_limit: Decimal = Field(default=Decimal("5000.00"), gt=0)
    """BIL-10: cash on hand above this must be handed to finance."""
    cash_max_working_days: int = Field(default=2, ge=0)
    """BIL-10: cash held longer than this many working days must be handed to finance."""
    cash_sweep_every_seconds: int = Field(default=300, gt=0)
    """BIL-10: how often the cash-on-hand check runs."""
    quote_sweep_every_seconds: int = Field(default=300, gt=0)
    """BIL-1: how often quote requests still waiting are priced by the schedules published
    (publishing prices them at once; this catches those a crash right after it left waiting)."""
    invoice_delivery_days: int = Field(default=7, ge=1)
    """BIL-7: an invoice not handed over must be delivered within this many days of issue when
    no date was promised; past the (promised) date it is reported overdue."""
    invoice_promise_max_days: int = Field(default=30, ge=1)
    """BIL-7: a delivery date promised for an invoice is at most this many days after its
    issue (business calendar); a later one is refused as no promise a customer can hold us to."""
    invoice_sweep_every_seconds: int = Field(default=3600, gt=0)
    """BIL-7: how often undelivered invoices are checked against their date."""
    retention_paid_years: int = Field(default=2, ge=1)
    """BIL-11: personal data of paid-work orders is kept this many years after the order ended."""
    retention_free_years: int = Field(default=1, ge=1)
    """BIL-11: personal data of free orders is kept this many years after the order ended."""
    retention_sweep_every_seconds: int = Field(default=3600, gt=0)
    """BIL-11: how often the retention job runs."""
    network_repair_fee: Decimal = Field(default=Decimal("50.00"), ge=0)
    """BIL-12: fee owed to a partner network per completed repair when no rate of its rate
    card in force covers it (`/v1/rate-cards/{network}`), e.g. a network without a card."""
    network_installation_fee: Decimal = Field(default=Decimal("80.00"), ge=0)
    """BIL-12: fee owed to a partner network per completed installation when no rate of its
    rate card in force covers it."""
    receipt_series_prefix: str = Field(default="R", pattern=r"^[A-Z]{1,4}$")
    """BIL-7: receipts are numbered gaplessly per prefix and year, e.g. R2026-000001."""
    invoice_series_prefix: str = Field(default="F", pattern=r"^[A-Z]{1,4}$")
    """BIL-7: invoices are numbered gaplessly per prefix and year, e.g. F2026-000001."""
    list_page_default: int = Field(default=50, gt=0)
    """Rows on a page of a list (fee schedule versions, cash entries, settlement lines) when the
    caller names no ``limit``."""
    list_page_max: int = Field(default=200, gt=0)
    """The most rows on a page of a list; a larger ``limit`` is cut to it (``next_cursor`` says
    more remain)."""

    @model_validator(mode="after")
    def _windows_in_order(self) -> BillingPolicy:
        if self.setup_charged_from_months < self.setup_free_within_months:
            raise ValueError(
                "setup_charged_from_months must not be before setup_free_within_months"
            )
        if self.invoice_promise_max_days < self.invoice_delivery_days:
            raise ValueError(
                "invoice_promise_max_days must not be before invoice_delivery_days (the date "
                "given when none is promised)"
            )
        if self.receipt_series_prefix == self.invoice_series_prefix:
            raise ValueError("receipts and invoices need different series prefixes")
        if self.list_page_default > self.list_page_max:
            raise ValueError("list_page_default must not exceed list_page_max")
        return self


POLICY_MODEL = BillingPolicy
