"""Fee schedules: versioned price lists per product line, immutable once published (BIL-1)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from billing.domain.money import JIAO, is_multiple_of
from contracts.common import Money


def _in_jiao(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("a price is never negative")
    if not is_multiple_of(value, JIAO):
        raise ValueError("schedule prices are whole jiao (0.1 CNY)")
    return value


Price = Annotated[Money, AfterValidator(_in_jiao)]
"""A schedule price: non-negative and a whole number of jiao."""


class FeeCategory(StrEnum):
    """What a fee item of the schedule is."""

    LABOUR = "labour"
    """Repair work; several within the bundle window are charged as the highest (BIL-3)."""
    SETUP = "setup"
    """Set-up / software adjustment after installation (BIL-5); bundled like labour (BIL-3)."""
    CALL_OUT = "call_out"
    """The call-out (visit) fee; never bundled."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeItem(_Frozen):
    """A labour, set-up or call-out item of the schedule, by fee code."""

    fee_code: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=1, max_length=200)
    price: Price
    category: FeeCategory = FeeCategory.LABOUR


class PartPrice(_Frozen):
    """A spare part's price, and the credit for trading in the old one (BIL-6)."""

    part_no: str = Field(min_length=1, max_length=60)
    name: str = Field(min_length=1, max_length=200)
    price: Price
    trade_in_credit: Price = Decimal("0.00")

    @model_validator(mode="after")
    def _credit_below_price(self) -> PartPrice:
        if self.trade_in_credit > self.price:
            raise ValueError("trade_in_credit must not exceed the part's price")
        return self


class MaterialPrice(_Frozen):
    """A material's unit price on the schedule (BIL-4)."""

    code: str = Field(min_length=1, max_length=60)
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(default="piece", max_length=20)
    price: Price


class ScheduleContent(_Frozen):
    """The prices of one schedule version."""

    fees: list[FeeItem] = Field(default_factory=list)
    parts: list[PartPrice] = Field(default_factory=list)
    materials: list[MaterialPrice] = Field(default_factory=list)

    @model_validator(mode="after")
    def _codes_unique(self) -> ScheduleContent:
        for name, codes in (
            ("fees", [f.fee_code for f in self.fees]),
            ("parts", [p.part_no for p in self.parts]),
            ("materials", [m.code for m in self.materials]),
        ):
            if len(codes) != len(set(codes)):
                raise ValueError(f"{name}: each code may appear once")
        return self


class FeeSchedule(_Frozen):
    """One published version of a product line's fee schedule; never changed afterwards."""

    product_line: str
    version: int = Field(ge=1)
    published_at: AwareDatetime
    published_by: str
    content: ScheduleContent

    @property
    def label(self) -> str:
        """How quotes cite it, e.g. ``water_heater@v3``."""
        return f"{self.product_line}@v{self.version}"

    def fee(self, code: str | None) -> FeeItem | None:
        """The fee item of ``code``, if on the schedule."""
        return next((f for f in self.content.fees if f.fee_code == code), None)

    def part(self, part_no: str | None) -> PartPrice | None:
        """The part price of ``part_no``, if on the schedule."""
        return next((p for p in self.content.parts if p.part_no == part_no), None)

    def material(self, code: str | None) -> MaterialPrice | None:
        """The material price of ``code``, if on the schedule."""
        return next((m for m in self.content.materials if m.code == code), None)

    @classmethod
    def publish(
        cls,
        *,
        product_line: str,
        previous_version: int | None,
        content: ScheduleContent,
        published_by: str,
        now: datetime,
    ) -> FeeSchedule:
        """The next version of the product line's schedule."""
        return cls(
            product_line=product_line,
            version=(previous_version or 0) + 1,
            published_at=now,
            published_by=published_by,
            content=content,
        )
