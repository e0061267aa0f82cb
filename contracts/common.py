"""Value shapes shared by several events (address, customer, product, time window, money, parts)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)


class Channel(StrEnum):
    """Where a request came in (INT-1)."""

    HOTLINE = "hotline"
    WEB = "web"
    WALK_IN = "walk_in"
    PARTNER = "partner"
    LETTER = "letter"
    APP = "app"


class ServiceType(StrEnum):
    """What the visit is for: a repair, or installing a new appliance (FLD-1 picks the kit list
    by it; an installation is finished with InstallationCompleted, FLD-10)."""

    REPAIR = "repair"
    INSTALLATION = "installation"


class WarrantyStatus(StrEnum):
    """Warranty status of the product on an order (INT-5)."""

    IN_WARRANTY = "in_warranty"
    OUT_OF_WARRANTY = "out_of_warranty"
    UNKNOWN = "unknown"


class GeoPoint(_Value):
    """WGS-84 coordinates."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Address(_Value):
    """A structured postal address; `detail` holds the free text when no structure is known."""

    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    detail: str | None = None
    location: GeoPoint | None = None
    public_area: bool = False
    """The work is in a shared part of a building or estate (stairwell, lobby, plant room), not
    inside a home: it has more days before it needs a coordination ticket (FLD-15)."""


class Customer(_Value):
    """The customer of an order (INT-1). Phones are E.164 strings; `phone_extensions` gives the
    extension to dial after a phone that reaches a switchboard (转/分机), keyed by that phone."""

    name: str
    phones: list[str] = Field(default_factory=list)
    phone_extensions: dict[str, str] = Field(
        default_factory=dict, examples=[{"+861062345678": "123"}]
    )
    address: Address
    organisation: str | None = None
    contact_person: str | None = None


class Product(_Value):
    """The product the request is about (INT-1, INT-5)."""

    line: str
    brand: str | None = None
    model: str | None = None
    serial: str | None = None
    purchase_date: date | None = None
    installation_date: date | None = None
    commercial_use: bool = False


class Fault(_Value):
    """The reported fault (INT-1)."""

    description: str
    code: str | None = None


class TimeWindow(_Value):
    """A window of time, both ends aware."""

    start: AwareDatetime
    end: AwareDatetime


def _plain_decimal(value: Decimal) -> str:
    # `str(Decimal("1E+2"))` is "1E+2"; the wire format promises plain digits.
    return format(value, "f")


Money = Annotated[
    Decimal,
    Field(max_digits=14, decimal_places=2),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?\d+(\.\d+)?$",
            "description": "An amount in CNY as a decimal string, e.g. `128.50`.",
        }
    ),
]
"""An amount of money in CNY: a `Decimal` in Python, a decimal string in JSON (never a float)."""

Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=12, decimal_places=3),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d+(\.\d+)?$",
            "description": "A positive quantity as a decimal string, e.g. `1` or `2.5` (metres).",
        }
    ),
]
"""A positive quantity (pieces, metres, litres): a `Decimal` in Python, a decimal string in JSON."""

RuleId = Annotated[str, Field(pattern=r"^[A-Z]{3}-\d+$", examples=["BIL-4", "FBK-1"])]
"""A rule ID of the rulebook (RULES.md), e.g. `BIL-4`."""


class AssigneeKind(StrEnum):
    """Who an order is assigned to: one of our technicians or a partner network (SCH-1)."""

    TECHNICIAN = "technician"
    NETWORK = "network"


class PartLine(_Value):
    """A spare part needed, fitted or replaced (FLD-4, BIL-9)."""

    part_no: str
    name: str
    quantity: Quantity = Decimal(1)
    serial: str | None = None
    """Serial of the part fitted, when the customer notes it (FLD-6)."""
    covered_by_warranty: bool | None = None
    """Whether the warranty covers this part; unknown (null) until diagnosed (BIL-1)."""


class WorkItemKind(StrEnum):
    """What one line of work handled on site is (BIL-1, BIL-4)."""

    FEE = "fee"
    """A service item of the fee schedule (labour, call-out, set-up)."""
    PART = "part"
    """A spare part."""
    MATERIAL = "material"
    """Consumable material: schedule price, or stock price + 30 % when not on it (BIL-4)."""


class WorkItem(_Value):
    """One line of work the technician handled, for billing to price (BIL-1..BIL-6)."""

    kind: WorkItemKind
    description: str
    fee_code: str | None = None
    """The fee schedule code, when the item is on the schedule."""
    part_no: str | None = None
    quantity: Quantity = Decimal(1)
    stock_price: Money | None = None
    """Purchase price per unit of a material not on the fee schedule (BIL-4)."""
    handled_at: AwareDatetime | None = None
    """When the item was done; items within 30 minutes are charged as the single highest (BIL-3)."""
    covered_by_warranty: bool | None = None
    """Whether the warranty covers this item; null lets billing decide from the order (BIL-1)."""
    warranty_card_price: Money | None = None
    """The price the customer's warranty card gives for this item; the lower is charged (BIL-2)."""
    upgrade: bool = False
    """An upgrade the customer chose, not a repair: charged at the part's price (BIL-6)."""
    trade_in: bool = False
    """The customer trades in the old part for the schedule's trade-in credit (BIL-6)."""
