"""Erasing an order's personal data once its retention is over (BIL-11).

Text that people said or wrote and that may name the customer (the fault as they described it,
their later reports, survey comments, complaint descriptions, notes, closure texts, resolutions)
reads :data:`ERASED`; structured personal values (the customer's organisation and contact
person, the phone a report came from, a signature image) become null. Ids, times, outcomes,
scores, grades, amounts, fault codes, rule results and staff (technicians, agents, clerks) stay,
so the quality figures and the audit still work. Erasing twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.privacy import erase_text

RETENTION_OVER = "the order's retention is over (BIL-11)"
"""Why what was still open on an order is stopped when its personal data is erased."""

#: Summary fields (see ``model.summarise``) of text that may name the customer, in any event.
FREE_TEXT_SUMMARY_FIELDS = frozenset(
    {
        "customer.name",
        "requests",
        "fault.description",
        "fault_description",
        "guidance",
        "comments",
        "description",
        "detail",
        "note",
    }
)
#: Summary fields of free text in these events only (elsewhere ``reason`` is a code).
FREE_TEXT_SUMMARY_FIELDS_OF: Mapping[str, frozenset[str]] = {
    "OrderCancelled": frozenset({"reason"}),
    "OrderReopened": frozenset({"reason"}),
}
#: Summary fields holding a structured personal value, in any event.
PERSONAL_SUMMARY_FIELDS = frozenset({"caller_phone", "caller_phone_extension", "signature_ref"})


def erase_summary(event_type: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """An order file entry's summary without the customer's personal data: free text reads
    ERASED, personal values are null (the customer's fields other than the name, phones, a
    signature); everything else as it was."""
    free_text = FREE_TEXT_SUMMARY_FIELDS | FREE_TEXT_SUMMARY_FIELDS_OF.get(event_type, frozenset())
    erased: dict[str, Any] = {}
    for key, value in summary.items():
        if key in free_text and isinstance(value, str):
            erased[key] = erase_text(value)
        elif key in PERSONAL_SUMMARY_FIELDS or (
            key.startswith("customer.") and key not in free_text
        ):
            erased[key] = None
        else:
            erased[key] = value
    return erased
