"""Request and response bodies of intake's REST API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.common import Address, Channel, Customer, Fault, Product, TimeWindow, WarrantyStatus
from intake.domain.model import Order, OrderStatus

DEFAULT_PHONE_REGION = "CN"
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")

NonBlank = Annotated[str, Field(min_length=1, max_length=500)]


def normalise_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 form of ``raw``; ValueError when it is not a valid phone number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"'{raw}' is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class AddressIn(BaseModel):
    """A structured address; send a plain string instead when no structure is known."""

    model_config = ConfigDict(extra="forbid")

    province: str | None = Field(default=None, max_length=50)
    city: str | None = Field(default=None, max_length=50)
    district: str | None = Field(default=None, max_length=50)
    street: str | None = Field(default=None, max_length=200)
    detail: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class CustomerIn(BaseModel):
    """The customer (INT-1). Give `phone` or `phones` (validated, default region CN)."""

    model_config = ConfigDict(extra="forbid")

    name: NonBlank
    phone: str = Field(description="The main phone number (default region CN).")
    phones: list[str] = Field(
        default_factory=list, max_length=5, description="Further phone numbers, if any."
    )
    address: str | AddressIn
    organisation: str | None = Field(default=None, max_length=200)
    contact_person: str | None = Field(default=None, max_length=100)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)

    @field_validator("phones")
    @classmethod
    def _phones(cls, values: list[str]) -> list[str]:
        return [normalise_phone(v) for v in values]

    def all_phones(self) -> list[str]:
        """The main phone first, then the others, without repeats."""
        return list(dict.fromkeys([self.phone, *self.phones]))

    def to_value(self) -> Customer:
        """The contract shape."""
        if isinstance(self.address, str):
            address = Address(detail=self.address)
        else:
            a = self.address
            location = None
            if a.lat is not None and a.lon is not None:
                location = {"lat": a.lat, "lon": a.lon}
            address = Address.model_validate(
                {
                    "province": a.province,
                    "city": a.city,
                    "district": a.district,
                    "street": a.street,
                    "detail": a.detail,
                    "location": location,
                }
            )
        return Customer(
            name=self.name,
            phones=self.all_phones(),
            address=address,
            organisation=self.organisation,
            contact_person=self.contact_person,
        )


class ProductIn(BaseModel):
    """The product (INT-1, INT-5)."""

    model_config = ConfigDict(extra="forbid")

    line: NonBlank
    brand: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    purchase_date: date | None = None
    installation_date: date | None = None
    commercial_use: bool = False

    @field_validator("purchase_date", "installation_date")
    @classmethod
    def _not_in_future(cls, value: date | None) -> date | None:
        # The business calendar's date, not the server's: at 07:00 in Shanghai it is still
        # yesterday in UTC, and a purchase made this morning is not in the future.
        if value is not None and value > datetime.now(BUSINESS_TZ).date():
            raise ValueError("the date is in the future")
        return value

    def to_value(self) -> Product:
        """The contract shape."""
        return Product.model_validate(self.model_dump())


class FaultIn(BaseModel):
    """The reported fault (INT-1)."""

    model_config = ConfigDict(extra="forbid")

    description: NonBlank
    code: str | None = Field(default=None, max_length=50)

    def to_value(self) -> Fault:
        """The contract shape."""
        return Fault(description=self.description, code=self.code)


class TimeWindowIn(BaseModel):
    """A preferred time window; both ends with a UTC offset."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindowIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def to_value(self) -> TimeWindow:
        """The contract shape."""
        return TimeWindow(start=self.start, end=self.end)


class OrderCreate(BaseModel):
    """A new service request as the call centre takes it (INT-1)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer": {
                        "name": "王芳",
                        "phone": "13800138000",
                        "address": "山东省东营市东营区西四路100号3单元502",
                    },
                    "product": {
                        "line": "water_heater",
                        "model": "JSQ24-12",
                        "purchase_date": "2025-03-01",
                    },
                    "fault": {"description": "热水器打不着火"},
                    "requests": "周六上午",
                    "channel": "hotline",
                }
            ]
        },
    )

    customer: CustomerIn
    product: ProductIn
    fault: FaultIn
    requests: str | None = Field(default=None, max_length=2000)
    preferred_windows: list[TimeWindowIn] = Field(default_factory=list, max_length=10)
    channel: Channel = Channel.HOTLINE
    emergency: bool = False

    def missing_details(self) -> list[str]:
        """Details that are absent or doubtful and must be verified (INT-2)."""
        missing = []
        if isinstance(self.customer.address, str):
            if len(self.customer.address.strip()) < 6:
                missing.append("customer.address")
        elif not (self.customer.address.detail or self.customer.address.street):
            missing.append("customer.address")
        if not self.product.model:
            missing.append("product.model")
        if self.product.purchase_date is None:
            missing.append("product.purchase_date")
        if len(self.fault.description.strip()) < 4:
            missing.append("fault.description")
        return missing


class TimelineEntryOut(BaseModel):
    """One event seen for the order."""

    event_id: str
    type: str
    version: int
    time: datetime
    source: str


class OrderOut(BaseModel):
    """An order with its derived status and timeline (oldest first)."""

    id: str
    status: OrderStatus
    created_at: datetime
    channel: Channel
    emergency: bool
    customer: Customer
    product: Product
    fault: Fault
    requests: str | None
    preferred_windows: list[TimeWindow]
    needs_verification: list[str]
    warranty_status: WarrantyStatus
    timeline: list[TimelineEntryOut]

    @classmethod
    def from_domain(cls, order: Order) -> OrderOut:
        """Read model of the aggregate."""
        data: dict[str, Any] = {
            "id": order.id,
            "status": order.status,
            "created_at": order.created_at,
            "channel": order.channel,
            "emergency": order.emergency,
            "customer": order.customer,
            "product": order.product,
            "fault": order.fault,
            "requests": order.requests,
            "preferred_windows": order.preferred_windows,
            "needs_verification": order.needs_verification,
            "warranty_status": order.warranty_status,
            "timeline": [TimelineEntryOut(**vars(e)) for e in order.timeline],
        }
        return cls.model_validate(data)
