"""Erasing an order's personal data once its retention is over (BIL-11).

Structured personal values (the customer, their phones, the home's location, a signature) become
null; free text that may quote or name the customer (notes, reasons, details) reads
:data:`ERASED`, except the codes it is made of (a contact outcome, a return or revisit reason, a
retention class): those are nobody's personal data, and figures and the audit still read them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from contracts.base import EventData
from contracts.billing import RetentionClass
from contracts.privacy import ERASED
from contracts.scheduling import ReturnReason, RevisitReason

EVENT_CODES = frozenset(
    code.value for codes in (ReturnReason, RevisitReason, RetentionClass) for code in codes
)
"""Codes the free-text fields of events may hold (a return or revisit reason, a retention
class): kept by :func:`erase_text`."""

PERSONAL_EVENT_FIELDS = frozenset(
    {
        "customer",
        "address",
        "location",
        "position",  # where the technician arrived: the customer's home
        "contact_person",
        "phones",
        "phone_extensions",
        "caller_phone",
        "buyer_name",
        "buyer_tax_id",
        "signature_ref",
        "photo_refs",
    }
)
"""Fields of event data that hold the customer's personal data: null once erased."""

FREE_TEXT_EVENT_FIELDS = frozenset(
    {
        "reason",
        "detail",
        "note",
        "comments",
        "description",
        "fault_description",
        "guidance",
        "requests",
        "cause",
        "remedy",
        "summary",
        "preventive_action",
        "appearance",
    }
)
"""Fields of event data that people write and that may name the customer: erased text."""


def erase_text(text: str | None, *, codes: frozenset[str]) -> str | None:
    """``text`` without what people wrote in it (BIL-11): a code of ``codes`` stays, and so does
    the code a ``"<code>: <words>"`` text starts with (the words read :data:`ERASED`); any other
    text reads :data:`ERASED`. None and the empty text stay as they are; erasing twice changes
    nothing."""
    if not text or text in codes:
        return text
    code, separator, _ = text.partition(": ")
    if separator and code in codes:
        return f"{code}: {ERASED}"
    return ERASED


def erase_event_data(data: Any) -> Any:
    """The JSON ``data`` of an event without the customer's personal data (BIL-11): personal
    fields null, free text erased (:func:`erase_text`) at any depth; ids, times, amounts, codes
    and outcomes as they were."""
    if isinstance(data, dict):
        return {key: _erase_event_field(key, value) for key, value in data.items()}
    if isinstance(data, list):
        return [erase_event_data(item) for item in data]
    return data


E = TypeVar("E", bound=EventData)


def erase_event(event: E) -> E:
    """``event`` without the customer's personal data (BIL-11, :func:`erase_event_data`)."""
    return type(event).model_validate(erase_event_data(event.model_dump(mode="json")))


def _erase_event_field(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in PERSONAL_EVENT_FIELDS:
        return None
    if key in FREE_TEXT_EVENT_FIELDS and isinstance(value, str):
        return erase_text(value, codes=EVENT_CODES)
    return erase_event_data(value)
