"""Intake's decision rules, pure functions of the order's details and the policy."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from contracts.common import Address, Customer, Fault, Product, TimeWindow, WarrantyStatus
from intake.domain.exceptions import FieldProblem
from intake.domain.policy import IntakePolicy

#: The details INT-2 may flag, in the words of OrderCreated's ``needs_verification``.
VERIFIABLE_DETAILS = (
    "customer.address",
    "customer.phones",
    "customer.contact_person",
    "product.model",
    "product.purchase_date",
    "product.installation_date",
    "fault.description",
)

_MIN_FREE_TEXT_ADDRESS = 6
_MIN_FAULT_DESCRIPTION = 4

#: The longest extension kept: phonenumbers' own cap, the most digits it reads as an extension
#: (after an explicit label such as ";ext="). A technical limit, not a business number.
MAX_EXTENSION_DIGITS = 20


@dataclass(frozen=True)
class Phone:
    """A phone the customer is reached on: an E.164 number and, behind a switchboard, the
    extension to ask for (ASCII digits). ``str()`` is RFC 3966's global number with its ``ext``
    parameter, ``+861062345678;ext=123``."""

    number: str
    extension: str | None = None

    def __str__(self) -> str:
        return self.number if self.extension is None else f"{self.number};ext={self.extension}"

    @classmethod
    def from_text(cls, text: str) -> Phone:
        """The phone ``str()`` wrote."""
        number, _, extension = text.partition(";ext=")
        return cls(number=number, extension=extension or None)


def phones_of(customer: Customer, extensions: Mapping[str, str]) -> list[Phone]:
    """The customer's phones, main first, each with its extension (``extensions`` is keyed by
    the E.164 number)."""
    return [Phone(number=n, extension=extensions.get(n)) for n in customer.phones]


def same_caller(a: Phone, b: Phone) -> bool:
    """The two phones may reach the same person (INT-8 and the order list's phone filter).

    The numbers must be equal. Two *different* extensions of one number are different people
    (a hotel's switchboard: the kitchen is not the front desk), so they never match, and a
    second report from another extension is a new order even for the same product. A number
    *without* an extension is the line itself, the customer's own phone or the switchboard
    through which every extension is reached, so it matches the number with any extension or
    none: a customer who gave the extension on one call and not on the other is still
    recognised, and INT-8's same-product check decides the rest.
    """
    if a.number != b.number:
        return False
    return a.extension is None or b.extension is None or a.extension == b.extension


def share_a_phone(a: Iterable[Phone], b: Iterable[Phone]) -> bool:
    """Some phone of ``a`` may reach the same person as some phone of ``b`` (``same_caller``)."""
    others = list(b)
    return any(same_caller(x, y) for x in a for y in others)


def missing_details(
    customer: Customer, product: Product, fault: Fault, *, oldest_plausible: date | None = None
) -> list[str]:
    """Details that are absent or doubtful and must be verified before dispatch (INT-2).

    A purchase or installation date before ``oldest_plausible`` (``oldest_plausible_date``) is
    doubtful, and so is an installation before the purchase: either date may be the wrong one,
    or a developer fitted the unit before the flat was sold, so it is flagged, not refused.
    """
    missing: list[str] = []
    # INT-2: a part made only of spaces is no part; it must not make an address look complete.
    a = customer.address
    province, city, district, street, detail = (
        _stripped(part) for part in (a.province, a.city, a.district, a.street, a.detail)
    )
    if province or city or district or street:
        if not (detail or street):
            missing.append("customer.address")
    elif len(detail) < _MIN_FREE_TEXT_ADDRESS:
        missing.append("customer.address")
    if not customer.phones:
        missing.append("customer.phones")
    if customer.organisation and not customer.contact_person:
        # INT-1: a business customer is reached through its contact person.
        missing.append("customer.contact_person")
    if not product.model:
        missing.append("product.model")
    bought, installed = product.purchase_date, product.installation_date
    if bought is None or (oldest_plausible is not None and bought < oldest_plausible):
        missing.append("product.purchase_date")
    if installed is not None and (
        (bought is not None and installed < bought)
        or (oldest_plausible is not None and installed < oldest_plausible)
    ):
        missing.append("product.installation_date")
    if len(fault.description.strip()) < _MIN_FAULT_DESCRIPTION:
        missing.append("fault.description")
    return missing


def _stripped(text: str | None) -> str:
    return (text or "").strip()


def oldest_plausible_date(on: date, policy: IntakePolicy) -> date:
    """The earliest purchase or installation date that is not doubtful for an order taken on
    ``on`` (INT-2): the policy's floor of years before it."""
    return add_months(on, -12 * policy.purchase_date_floor_years)


def future_dates(product: Product, *, today: date, prefix: str = "product") -> list[FieldProblem]:
    """The product's dates after ``today``, the business calendar's date (INT-2: a date in the
    future is malformed and refused). ``prefix`` is where the product is in the request."""
    return [
        FieldProblem(f"{prefix}.{name}", "the date is in the future", "value_error")
        for name, value in (
            ("purchase_date", product.purchase_date),
            ("installation_date", product.installation_date),
        )
        if value is not None and value > today
    ]


def unusable_windows(
    windows: Sequence[TimeWindow],
    *,
    now: datetime,
    policy: IntakePolicy,
    prefix: str = "preferred_windows",
) -> list[FieldProblem]:
    """The customer's preferred windows no visit can be booked in, each named by its place in
    the request (``prefix.<index>``): not ending after it starts, over already (beyond the
    policy's grace), starting beyond the booking horizon, or longer than the longest window.

    The ends are compared as they are, never converted to UTC: a window of year 1 or 9999 with
    an offset has no UTC value, which is why it must be refused before anything stores it or
    sends it on.
    """
    ended_before = now - timedelta(minutes=policy.preferred_window_past_grace_minutes)
    horizon = timedelta(days=policy.preferred_window_horizon_days)
    longest = timedelta(hours=policy.preferred_window_max_hours)
    problems: list[FieldProblem] = []
    for index, window in enumerate(windows):
        at = f"{prefix}.{index}"
        if window.end <= window.start:
            problems.append(FieldProblem(at, "end must be after start", "value_error"))
            continue
        if window.end < ended_before:
            problems.append(
                FieldProblem(
                    f"{at}.end",
                    f"the window ended at {window.end.isoformat()}, before the order was "
                    "taken; give a time still to come",
                    "window_over",
                )
            )
        if window.start > now + horizon:
            problems.append(
                FieldProblem(
                    f"{at}.start",
                    f"the window starts more than {policy.preferred_window_horizon_days} days "
                    "ahead; visits are not booked that far ahead",
                    "window_beyond_horizon",
                )
            )
        if window.end - window.start > longest:
            problems.append(
                FieldProblem(
                    at,
                    f"the window is longer than {policy.preferred_window_max_hours} hours; give "
                    "one window per day the customer is free",
                    "window_too_long",
                )
            )
    return problems


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class WarrantyTable:
    """Warranty periods per product line (INT-5) and whether commercial use voids them."""

    months_by_line: Mapping[str, int] = field(default_factory=dict)
    commercial_use_voids: bool = True

    def status(self, product: Product, *, on: date) -> WarrantyStatus:
        """In / out of warranty on ``on``, or unknown without a purchase date or a known line."""
        if product.commercial_use and self.commercial_use_voids:
            return WarrantyStatus.OUT_OF_WARRANTY
        months = self.months_by_line.get(product.line)
        if product.purchase_date is None or months is None:
            return WarrantyStatus.UNKNOWN
        if on < add_months(product.purchase_date, months):
            return WarrantyStatus.IN_WARRANTY
        return WarrantyStatus.OUT_OF_WARRANTY


def loaner_required(product: Product, fault: Fault, policy: IntakePolicy) -> bool:
    """A take-back repair is likely, so the first visit brings a loaner (INT-6)."""
    return product.line in policy.take_back_product_lines or (
        fault.code is not None and fault.code in policy.take_back_fault_codes
    )


def is_emergency(flagged: bool, fault: Fault, policy: IntakePolicy) -> bool:
    """Flagged by the agent, or a fault code that is always an emergency (INT-7)."""
    return flagged or (fault.code is not None and fault.code in policy.emergency_fault_codes)


def _norm(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


def same_product(a: Product, b: Product, *, same_place: bool = False) -> bool:
    """The same unit (INT-8): equal serials; else equal line and model; else, when a caller
    could not give the model, the same line at the same address (``same_place``): a customer
    calling back about "the water heater" means the one already reported, while a property
    manager calling from one phone about another flat's heater has another address."""
    if _norm(a.serial) and _norm(b.serial):
        return _norm(a.serial) == _norm(b.serial)
    if _norm(a.model) and _norm(b.model):
        return a.line == b.line and _norm(a.model) == _norm(b.model)
    return same_place and a.line == b.line


def same_address(a: Address, b: Address) -> bool:
    """The same place, ignoring spaces and case; an empty address matches nothing."""
    parts_a = [_norm(getattr(a, f)) for f in _ADDRESS_PARTS]
    parts_b = [_norm(getattr(b, f)) for f in _ADDRESS_PARTS]
    return any(parts_a) and parts_a == parts_b


_ADDRESS_PARTS = ("province", "city", "district", "street", "detail")
