"""Erasing an order's personal data once its retention is over (BIL-11).

Text that people said or wrote and that may name the customer (their name, their requests, the
fault as they described it, a cancellation or reopening reason, phone guidance) reads
:data:`ERASED`; structured personal values (phones and their extensions, the street, detail and
location of the address, the organisation, the contact person, the number a report came from)
become null or empty. The area (province, city, district), whether the work is in a public area,
the product, fault codes, staff names, ids, times, statuses and outcomes stay, so figures and the
audit still work. Erasing twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from contracts.common import Address, Customer, Fault
from contracts.privacy import ERASED, erase_text

PERSONAL_EVENT_FIELDS = frozenset({"caller_phone", "caller_phone_extension"})
"""Fields of intake's event data that hold a personal value: null once erased."""

FREE_TEXT_EVENT_FIELDS = frozenset(
    {"requests", "description", "fault_description", "guidance", "reason"}
)
"""Fields of intake's event data that people write and that may name the customer."""


def erased_customer(customer: Customer) -> Customer:
    """The customer without their personal data: the name reads ERASED, no phone, no extension,
    no organisation or contact person, and of the address only the area and whether it is a
    public one."""
    address = customer.address
    return Customer(
        name=ERASED,
        phones=[],
        phone_extensions={},
        address=Address(
            province=address.province,
            city=address.city,
            district=address.district,
            public_area=address.public_area,
        ),
        organisation=None,
        contact_person=None,
    )


def erased_fault(fault: Fault) -> Fault:
    """The fault as the customer described it erased; its code stays."""
    return Fault(description=ERASED, code=fault.code)


def erase_event_data(data: Any) -> Any:
    """The JSON data of one of intake's events without the customer's personal data: the
    customer erased as :func:`erased_customer` does (so the data still reads as its contract),
    personal fields null, free text erased, at any depth; everything else as it was."""
    if isinstance(data, dict):
        return {key: _erase_event_field(key, value) for key, value in data.items()}
    if isinstance(data, list):
        return [erase_event_data(item) for item in data]
    return data


def _erase_event_field(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "customer" and isinstance(value, dict):
        return erased_customer(Customer.model_validate(value)).model_dump(mode="json")
    if key in PERSONAL_EVENT_FIELDS:
        return None
    if key in FREE_TEXT_EVENT_FIELDS and isinstance(value, str):
        return erase_text(value)
    return erase_event_data(value)
