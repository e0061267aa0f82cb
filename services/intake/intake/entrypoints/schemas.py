"""Request and response bodies of intake's REST API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts.common import (
    Address,
    Channel,
    Customer,
    Fault,
    Product,
    ServiceType,
    TimeWindow,
    WarrantyStatus,
)
from contracts.intake import RemoteResolutionCause, SlaClock
from intake.domain.exceptions import FieldProblem, InvalidDetails
from intake.domain.model import LinkedReport, Order, OrderStatus, SlaTimer
from intake.domain.rules import MAX_EXTENSION_DIGITS, Phone
from servicekit.dates import IsoDate, IsoDatetime

DEFAULT_PHONE_REGION = "CN"


def _filled(value: str) -> str:
    # str.strip() drops the CJK full-width space (U+3000) too, as agents' keyboards type it.
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank: it is only spaces")
    return stripped


def trimmed_or_none(value: str | None) -> str | None:
    """``value`` without the spaces around it; None when it is only spaces (INT-2: not given,
    so flagged like a detail left out, never stored as if it were complete)."""
    return (value.strip() or None) if value is not None else None


#: Text that must say something (a name, a product line, a reason, the guidance given): stored
#: without the spaces around it; text of only spaces is refused with 422 naming the field.
NonBlank = Annotated[
    str,
    Field(min_length=1, max_length=500, json_schema_extra={"pattern": r"\S"}),
    AfterValidator(_filled),
]
#: The fault as the customer told it: required, but a description of only spaces is no malformed
#: input, only a vague fault: it is taken and flagged for verification (INT-2).
FaultDescription = Annotated[str, Field(min_length=1, max_length=500)]


#: What introduces an extension: call-centre Chinese (转 "transfer to", 分机/分機 "extension",
#: 转分机, 分机号) and the usual ext / ext. / extension / extn / x / # and RFC 3966's ";ext=".
#: The Latin words only when no letter precedes them, so "phone-context" is no extension.
_EXTENSION_MARKER = re.compile(
    r"""\s*[-‐–—,，]?\s*
    (?: ;\s*ext\s*=
      | (?:转|轉)?\s*(?:分机|分機)(?:号|號)?
      | 转 | 轉
      | (?<![a-z])ext(?:ension|n)?\.?
      | (?<![a-z])x
      | [#＃](?=\s*[^\s#＃])  # a "#" that ends the number is phonenumbers' "-123#"
    )\s*[:：.．]?\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_EXAMPLES_OF_EXTENSIONS = "`转123`, `分机123`, `ext. 123`, `x123`, `#123` or `;ext=123`"


def parse_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> Phone:
    """The E.164 number of ``raw`` and its extension, if any; ValueError, saying why, when it is
    not a valid phone number or the extension is not 1 to MAX_EXTENSION_DIGITS digits.

    The markers of ``_EXTENSION_MARKER`` are split off here: phonenumbers knows no Chinese one,
    and it would read an extension that is too long or not digits as part of the number and
    refuse it without saying why. Other forms it reads itself (",,123" for auto-dialling,
    "-123#"). phonenumbers decides whether the number is valid; a mobile number with an
    extension may be.
    """
    number_text, extension = raw, None
    marker = _EXTENSION_MARKER.search(raw)
    if marker is not None:
        number_text = raw[: marker.start()]
        extension = _extension_digits(raw, raw[marker.end() :].strip().rstrip("#＃").strip())
    try:
        parsed = phonenumbers.parse(number_text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{raw}' is not a phone number") from exc
    if parsed.extension:
        if extension is not None:
            raise ValueError(f"'{raw}' gives two extensions; give only the one to ask for")
        extension = _extension_digits(raw, parsed.extension)
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"'{raw}' is not a valid phone number")
    return Phone(
        number=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        extension=extension,
    )


def _extension_digits(raw: str, text: str) -> str:
    if not text:
        raise ValueError(f"'{raw}' announces an extension but gives none")
    if not text.isdecimal():
        raise ValueError(f"the extension '{text}' of '{raw}' is not digits only")
    digits = phonenumbers.normalize_digits_only(text)  # full-width digits as ASCII
    if len(digits) > MAX_EXTENSION_DIGITS:
        raise ValueError(
            f"the extension of '{raw}' has {len(digits)} digits; at most "
            f"{MAX_EXTENSION_DIGITS} are possible"
        )
    return digits


def normalise_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """``raw`` as E.164, with ``;ext=`` and the extension when it has one (``str(Phone)``);
    ValueError when it is not a valid phone number (see ``parse_phone``)."""
    return str(parse_phone(raw, region))


class AddressIn(BaseModel):
    """A structured address; send a plain string instead when no structure is known."""

    model_config = ConfigDict(extra="forbid")

    province: str | None = Field(default=None, max_length=50)
    city: str | None = Field(default=None, max_length=50)
    district: str | None = Field(default=None, max_length=50)
    street: str | None = Field(default=None, max_length=200)
    detail: str | None = Field(default=None, max_length=500)
    # Strict: lax mode would take a JSON true as 1.0, a point off the coast of Africa.
    lat: float | None = Field(default=None, ge=-90, le=90, strict=True)
    lon: float | None = Field(default=None, ge=-180, le=180, strict=True)
    public_area: bool = Field(
        default=False,
        description="The work is in a shared part of a building or estate (stairwell, lobby, "
        "plant room), not inside a home (FLD-15 gives it more days).",
    )

    @field_validator("province", "city", "district", "street", "detail")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        # INT-2: a part of only spaces is not given; stored as such it would look complete.
        return trimmed_or_none(value)


class CustomerIn(BaseModel):
    """The customer (INT-1): `phone` is the main number, `phones` any others (validated, default
    region CN). A number behind a switchboard takes its extension after it:
    `010-62345678转123`, `010-62345678 分机 123`, `010-62345678 ext. 123`, `x123`, `#123` or
    RFC 3966 `;ext=123`; the answer gives the E.164 number and `phone_extensions`. One number
    given with two different extensions is refused (they are two people). A business customer
    also gives `organisation` and `contact_person`; an organisation without a contact person is
    flagged for verification (INT-2). A structured address's `lat` and `lon` go together: one
    without the other is refused (422).

    Text is stored without the spaces around it. A `name` of only spaces is refused (422); an
    `organisation`, `contact_person` or free-text `address` of only spaces counts as not given
    (a blank address or contact person is flagged for verification, INT-2)."""

    model_config = ConfigDict(extra="forbid")

    name: NonBlank
    phone: str = Field(
        description="The main phone number (default region CN), with its extension if any: "
        + _EXAMPLES_OF_EXTENSIONS
        + "."
    )
    phones: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="Further phone numbers, if any (extensions as for `phone`).",
    )
    address: str | AddressIn
    organisation: str | None = Field(default=None, max_length=200)
    contact_person: str | None = Field(default=None, max_length=100)

    @field_validator("organisation", "contact_person")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        # INT-1, INT-2: an organisation of only spaces is no business customer, and a contact
        # person of only spaces is none, flagged for verification.
        return trimmed_or_none(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | AddressIn) -> str | AddressIn:
        # INT-2: a free-text address of only spaces is missing (flagged), as a blank part is.
        return value.strip() if isinstance(value, str) else value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)

    @field_validator("phones")
    @classmethod
    def _phones(cls, values: list[str], info: ValidationInfo) -> list[str]:
        phones = [normalise_phone(v) for v in values]
        main = info.data.get("phone")  # absent when it was refused
        extensions: dict[str, set[str]] = {}
        for phone in map(Phone.from_text, [main, *phones] if main else phones):
            if phone.extension is not None:
                extensions.setdefault(phone.number, set()).add(phone.extension)
        for number, found in extensions.items():
            if len(found) > 1:
                # Different extensions of one switchboard are different people (same_caller).
                raise ValueError(
                    f"{number} is given with different extensions ({', '.join(sorted(found))}); "
                    "give the one that reaches this customer"
                )
        return phones

    def contacts(self) -> list[Phone]:
        """The main phone first, then the others, one per number: a number given with and
        without its extension is kept with it (the switchboard reaches the extension too)."""
        found: dict[str, str | None] = {}
        for phone in map(Phone.from_text, [self.phone, *self.phones]):
            if found.get(phone.number) is None:
                found[phone.number] = phone.extension
        return [Phone(number=n, extension=e) for n, e in found.items()]

    def all_phones(self) -> list[str]:
        """The main phone first, then the others, without repeats (E.164)."""
        return [phone.number for phone in self.contacts()]

    def phone_extensions(self) -> dict[str, str]:
        """The extension of each phone that has one, by E.164 number."""
        return {p.number: p.extension for p in self.contacts() if p.extension is not None}

    def to_value(self) -> Customer:
        """The contract shape."""
        if isinstance(self.address, str):
            address = Address(detail=self.address or None)
        else:
            a = self.address
            location = None
            if a.lat is not None and a.lon is not None:
                location = {"lat": a.lat, "lon": a.lon}
            elif a.lat is not None or a.lon is not None:
                # INT-2: half a coordinate is malformed; dropped, the location sent was lost
                # without a word. Named here: pydantic would name the union's member instead.
                given, missing = ("lat", "lon") if a.lon is None else ("lon", "lat")
                raise InvalidDetails(
                    [
                        FieldProblem(
                            f"customer.address.{missing}",
                            f"{missing} is missing: {given} alone locates nothing; give both "
                            "or neither",
                            "missing",
                        )
                    ]
                )
            address = Address.model_validate(
                {
                    "province": a.province,
                    "city": a.city,
                    "district": a.district,
                    "street": a.street,
                    "detail": a.detail,
                    "location": location,
                    "public_area": a.public_area,
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
    """The product (INT-1, INT-5). A purchase or installation date after today on the business
    calendar is refused (422); one more than the policy's years back (30 by default), or an
    installation before the purchase, is flagged for verification (INT-2). A `line` of only
    spaces is refused (422); a `brand`, `model` or `serial` of only spaces counts as not given
    (no model is flagged, INT-2); all are stored without the spaces around them."""

    model_config = ConfigDict(extra="forbid")

    line: NonBlank
    brand: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    purchase_date: IsoDate | None = None
    installation_date: IsoDate | None = None
    commercial_use: bool = False

    @field_validator("brand", "model", "serial")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        # INT-2: a model of only spaces is no model (flagged); INT-8 matches serials and models.
        return trimmed_or_none(value)

    def to_value(self) -> Product:
        """The contract shape."""
        return Product.model_validate(self.model_dump())


class FaultIn(BaseModel):
    """The reported fault (INT-1). A `description` of only spaces is taken as a vague fault and
    flagged for verification (INT-2); a `code` is stored without the spaces around it, none if
    it is only spaces."""

    model_config = ConfigDict(extra="forbid")

    description: FaultDescription
    code: str | None = Field(default=None, max_length=50)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        # INT-6, INT-7: " gas_leak " is the gas_leak code, an emergency.
        return trimmed_or_none(value)

    def to_value(self) -> Fault:
        """The contract shape."""
        return Fault(description=self.description, code=self.code)


class TimeWindowIn(BaseModel):
    """A preferred time window; both ends with a UTC offset, the end after the start.

    Refused with 422 too, as of the time the order is taken: a window that ended (more than 15
    minutes ago by default), one starting more than 60 days ahead, one longer than 24 hours
    (give one window per day); the numbers are the policy's."""

    model_config = ConfigDict(extra="forbid")

    start: IsoDatetime
    end: IsoDatetime

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
                },
                {
                    "customer": {
                        "name": "东营宾馆",
                        "organisation": "东营宾馆有限公司",
                        "contact_person": "李经理",
                        "phone": "0546-8221234转8001",
                        "phones": ["13905461234"],
                        "address": {
                            "province": "山东省",
                            "city": "东营市",
                            "district": "东营区",
                            "street": "济南路",
                            "detail": "88号 后厨",
                            "lat": 37.4341,
                            "lon": 118.6747,
                        },
                    },
                    "product": {
                        "line": "gas_stove",
                        "brand": "Fotile",
                        "model": "JZT-FD21BE",
                        "serial": "FD21BE2403001234",
                        "purchase_date": "2024-04-10",
                        "installation_date": "2024-04-12",
                        "commercial_use": True,
                    },
                    "fault": {"description": "灶具周围有燃气味", "code": "gas_leak"},
                    "channel": "hotline",
                    "emergency": True,
                },
            ]
        },
    )

    customer: CustomerIn
    product: ProductIn
    fault: FaultIn
    requests: str | None = Field(default=None, max_length=2000)
    # No example carries a window: any fixed date in one is eventually refused as over.
    preferred_windows: list[TimeWindowIn] = Field(
        default_factory=list,
        max_length=10,
        description="When the customer is free, one window per day, each with a UTC offset, "
        'e.g. `[{"start": "<date>T09:00:00+08:00", "end": "<date>T11:00:00+08:00"}]` for a '
        "date still to come: a window that is over, starts beyond the policy's horizon or is "
        "longer than its maximum is refused (422).",
    )
    channel: Channel = Channel.HOTLINE
    emergency: bool = False
    service_type: ServiceType = Field(
        default=ServiceType.REPAIR,
        description="A repair, or installing a new appliance (the technician brings the "
        "installation kit, FLD-1).",
    )

    @field_validator("requests")
    @classmethod
    def _requests(cls, value: str | None) -> str | None:
        return trimmed_or_none(value)


VerifiableDetail = Literal[
    "customer.address",
    "customer.phones",
    "customer.contact_person",
    "product.model",
    "product.purchase_date",
    "product.installation_date",
    "fault.description",
]


class VerifyIn(BaseModel):
    """What the agent checked with the customer (INT-2).

    `customer`, `product` and `fault` replace the order's when given (the warranty status,
    INT-5, and the loaner prediction, INT-6, are re-derived; a fault code that is always an
    emergency makes the order one, INT-7); `confirmed` lists flagged details the customer
    confirmed as they are.
    Details still missing after that are refused (422) unless a dispatcher sets
    `dispatch_override`, which releases the order for dispatch with what is still unverified.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "product": {
                        "line": "water_heater",
                        "model": "JSQ24-12",
                        "purchase_date": "2024-03-01",
                    },
                    "confirmed": ["customer.address"],
                },
                {"dispatch_override": True},
            ]
        },
    )

    customer: CustomerIn | None = None
    product: ProductIn | None = None
    fault: FaultIn | None = None
    confirmed: list[VerifiableDetail] = Field(default_factory=list, max_length=10)
    dispatch_override: bool = Field(
        default=False,
        description="Dispatchers only: release the order for dispatch although details are "
        "still unverified (OrderVerified says so and names the dispatcher).",
    )


class ResolveRemotelyIn(BaseModel):
    """Phone guidance solved the problem: no visit (INT-4)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cause": "misuse",
                    "guidance": "燃气阀未完全打开；已指导客户打开阀门后点火成功",
                }
            ]
        },
    )

    guidance: NonBlank = Field(
        description="What the customer was told to do; not blank (stored without the spaces "
        "around it)."
    )
    cause: RemoteResolutionCause = RemoteResolutionCause.OTHER


class ReopenIn(BaseModel):
    """The phone guidance did not work or the customer did not accept it: a visit is needed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "客户回电：按指导操作后仍无法点火"}]},
    )

    reason: NonBlank = Field(description="Not blank (stored without the spaces around it).")


class CancelIn(BaseModel):
    """Why the order is cancelled."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "客户已自行找人修好", "requested_by_customer": True}]
        },
    )

    reason: NonBlank = Field(description="Not blank (stored without the spaces around it).")
    requested_by_customer: bool = False


ERASED_DATA = (
    "Once the order's retention is over (BIL-11, `anonymised_at` set) the customer's personal "
    'data is erased: text that may name them reads "[erased]" and structured personal values '
    "are null or empty."
)


class CustomerOut(Customer):
    """The customer (INT-1); phones are E.164 numbers, and `phone_extensions` gives the
    extension to ask for on those behind a switchboard.

    Once the order's retention is over (BIL-11, `anonymised_at` set): `name` reads "[erased]",
    `phones` and `phone_extensions` are empty, `organisation` and `contact_person` are null, and
    the address keeps only `province`, `city`, `district` and `public_area` (`street`, `detail`
    and `location` null)."""

    phone_extensions: dict[str, str] = Field(
        default_factory=dict,
        description="Extension (digits) by E.164 number of `phones`; a phone without one is "
        "not listed.",
        examples=[{"+865468221234": "8001"}],
    )

    @classmethod
    def from_domain(cls, order: Order) -> CustomerOut:
        """The order's customer with the extensions of its phones."""
        return cls.model_validate(
            {**order.customer.model_dump(), "phone_extensions": order.phone_extensions}
        )


class TimelineEntryOut(BaseModel):
    """One event seen for the order."""

    event_id: str
    type: str
    version: int
    time: datetime
    source: str


class SlaClockOut(BaseModel):
    """One SLA clock of the order (INT-3, INT-7)."""

    clock: SlaClock
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None = Field(description="When its goal was met.")
    breached_at: datetime | None = Field(description="When the breach was reported.")

    @classmethod
    def from_domain(cls, timer: SlaTimer) -> SlaClockOut:
        """Read model of a clock."""
        return cls.model_validate(vars(timer))


class LinkedReportOut(BaseModel):
    """A later report of the same product, linked to this order (INT-8)."""

    reported_at: datetime
    channel: Channel
    caller_phone: str | None = Field(
        description="E.164 number the report came from; null once the order's personal data "
        "is erased (BIL-11)."
    )
    caller_phone_extension: str | None = Field(
        default=None,
        description="The extension of `caller_phone`, if it had one; null once the order's "
        "personal data is erased (BIL-11).",
    )
    fault_description: str | None = Field(
        description='The fault as the caller described it; "[erased]" once the order\'s '
        "personal data is erased (BIL-11)."
    )
    linked_by: str | None

    @classmethod
    def from_domain(cls, report: LinkedReport) -> LinkedReportOut:
        """Read model of a linked report."""
        return cls.model_validate(vars(report))


_ORDER_EXAMPLE: dict[str, Any] = {
    "id": "0193a8a4-5c1e-7d2a-9b7e-4d0f2a1c3b5e",
    "status": "received",
    "created_at": "2025-05-30T09:50:00Z",
    "channel": "hotline",
    "emergency": False,
    "customer": {
        "name": "王芳",
        "phones": ["+8613800138000"],
        "phone_extensions": {},
        "address": {"detail": "山东省东营市东营区西四路100号3单元502"},
        "organisation": None,
        "contact_person": None,
    },
    "product": {
        "line": "water_heater",
        "brand": None,
        "model": "JSQ24-12",
        "serial": None,
        "purchase_date": "2025-03-01",
        "installation_date": None,
        "commercial_use": False,
    },
    "fault": {"description": "热水器打不着火", "code": None},
    "requests": "周六上午",
    "preferred_windows": [],
    "needs_verification": [],
    "awaiting_verification": False,
    "dispatch_override": False,
    "warranty_status": "in_warranty",
    "loaner_required": False,
    "service_type": "repair",
    "network_id": None,
    "technician_id": None,
    "anonymised_at": None,
    "duplicate": False,
}


class OrderSummaryOut(BaseModel):
    """An order in the list: what was taken and where it stands (no timeline)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ORDER_EXAMPLE]})

    id: str
    status: OrderStatus
    created_at: datetime
    channel: Channel
    emergency: bool
    customer: CustomerOut = Field(description="The customer. " + ERASED_DATA)
    product: Product
    fault: Fault = Field(
        description='The reported fault; its `description` reads "[erased]" once the order\'s '
        "personal data is erased (BIL-11), its `code` stays."
    )
    requests: str | None = Field(
        description='What the customer asked for; "[erased]" once the order\'s personal data '
        "is erased (BIL-11)."
    )
    preferred_windows: list[TimeWindow]
    needs_verification: list[str] = Field(description="Details still to verify (INT-2).")
    awaiting_verification: bool = Field(
        description="Not to be dispatched: details missing and no dispatcher override (INT-2)."
    )
    dispatch_override: bool
    warranty_status: WarrantyStatus
    loaner_required: bool = Field(description="A take-back is likely: bring a loaner (INT-6).")
    service_type: ServiceType
    network_id: str | None
    technician_id: str | None
    anonymised_at: datetime | None = Field(
        description="When the customer's personal data was erased, the order's retention being "
        "over (BIL-11); null until then. Since then text that may name the customer reads "
        '"[erased]" and structured personal values are null or empty (see `customer`, '
        "`requests`, `fault`, `linked_reports`); the order is no longer found by phone nor "
        "linked to a new report (INT-8), and verify, resolve-remotely, reopen and cancel answer "
        "409 `Personal data erased`. Ids, times, status, product, fault code, SLA clocks, staff "
        "and the timeline stay."
    )

    @classmethod
    def fields_of(cls, order: Order) -> dict[str, Any]:
        """The summary fields of the aggregate."""
        return {
            "id": order.id,
            "status": order.status,
            "created_at": order.created_at,
            "channel": order.channel,
            "emergency": order.emergency,
            "customer": CustomerOut.from_domain(order),
            "product": order.product,
            "fault": order.fault,
            "requests": order.requests,
            "preferred_windows": order.preferred_windows,
            "needs_verification": order.needs_verification,
            "awaiting_verification": order.awaiting_verification,
            "dispatch_override": order.dispatch_override,
            "warranty_status": order.warranty_status,
            "loaner_required": order.loaner_required,
            "service_type": order.service_type,
            "network_id": order.network_id,
            "technician_id": order.technician_id,
            "anonymised_at": order.anonymised_at,
        }

    @classmethod
    def from_domain(cls, order: Order) -> OrderSummaryOut:
        """Summary of the aggregate."""
        return cls.model_validate(cls.fields_of(order))


class OrderOut(OrderSummaryOut):
    """An order with its derived status, SLA clocks, linked reports and timeline (oldest first;
    an action the technician's app logged offline, which carries the time it happened, comes no
    earlier than the order's entry, assignment and appointment intake had heard of when the app
    synced it).

    `duplicate` is true on the answer to a POST that was linked to this open order (INT-8).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_ORDER_EXAMPLE,
                    "on_site_due_at": None,
                    "sla_clocks": [
                        {
                            "clock": "handover",
                            "started_at": "2025-05-30T09:50:00Z",
                            "due_at": "2025-06-03T01:50:00Z",
                            "stopped_at": None,
                            "breached_at": None,
                        },
                        {
                            "clock": "reply",
                            "started_at": "2025-05-30T09:50:00Z",
                            "due_at": "2025-06-03T08:50:00Z",
                            "stopped_at": None,
                            "breached_at": None,
                        },
                    ],
                    "linked_reports": [],
                    "timeline": [
                        {
                            "event_id": "0193a8a4-5c1f-7000-8000-000000000001",
                            "type": "OrderCreated",
                            "version": 1,
                            "time": "2025-05-30T09:50:00Z",
                            "source": "/fsm/intake",
                        }
                    ],
                }
            ]
        }
    )

    on_site_due_at: datetime | None = Field(
        description="Emergencies: someone must be on site by then (INT-7)."
    )
    sla_clocks: list[SlaClockOut]
    linked_reports: list[LinkedReportOut]
    duplicate: bool = False
    timeline: list[TimelineEntryOut]

    @classmethod
    def from_domain(cls, order: Order, *, duplicate: bool = False) -> OrderOut:
        """Read model of the aggregate."""
        on_site = order.clocks.get(SlaClock.EMERGENCY_ON_SITE)
        data = {
            **cls.fields_of(order),
            "on_site_due_at": on_site.due_at if on_site else None,
            "sla_clocks": [SlaClockOut.from_domain(t) for t in order.clocks.values()],
            "linked_reports": [LinkedReportOut.from_domain(r) for r in order.linked_reports],
            "duplicate": duplicate,
            "timeline": [TimelineEntryOut(**vars(e)) for e in order.timeline],
        }
        return cls.model_validate(data)


class OrderPage(BaseModel):
    """A page of the order list; pass `next_cursor` as `cursor` for the next one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_ORDER_EXAMPLE], "next_cursor": "eyJzIjoiLWNyZWF0ZWRfYXQifQ"}]
        }
    )

    items: list[OrderSummaryOut]
    next_cursor: str | None = Field(description="Null on the last page.")


class WarrantyPeriodIn(BaseModel):
    """A product line's warranty period in months (0: no warranty)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"months": 36}]})

    # INT-5: strict, since lax mode took `true` as a 1-month warranty and "12" as 12.
    months: int = Field(ge=0, le=600, strict=True, description="Whole months (a JSON integer).")


class WarrantyPeriodOut(BaseModel):
    """A product line's warranty period in force (INT-5): the policy's, or one an admin set."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_line": "water_heater",
                    "months": 36,
                    "source": "admin",
                    "updated_at": "2025-05-30T09:50:00Z",
                    "updated_by": "ops admin",
                }
            ]
        }
    )

    product_line: str
    months: int
    source: Literal["policy", "admin"]
    updated_at: datetime | None = None
    updated_by: str | None = None
