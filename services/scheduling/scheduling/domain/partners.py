"""What a partner network is sent about an order: the event, with personal data minimised to
what the network needs for its own order (issue 5)."""

from __future__ import annotations

from typing import Any

from scheduling.domain.privacy import erase_event_data

NEVER_SENT = frozenset({"buyer_name", "buyer_tax_id", "caller_phone", "signature_ref", "comments"})
"""Personal data no network needs: the invoice buyer and tax id, the caller's line, the signature
image and the customer's free-text remarks on a survey."""

HOLDER_ONLY = frozenset(
    {"customer", "technician_name", "technician_phone", "contact_person", "phones"}
)
"""Contact details a network needs only while it serves the order (a network that lost the order
is told so, without them)."""


def minimise(data: Any, *, holder: bool) -> Any:
    """``data`` without the personal fields the network does not need; ``holder`` is whether the
    network holds the order now."""
    dropped = NEVER_SENT if holder else NEVER_SENT | HOLDER_ONLY
    if isinstance(data, dict):
        return {k: minimise(v, holder=holder) for k, v in data.items() if k not in dropped}
    if isinstance(data, list):
        return [minimise(v, holder=holder) for v in data]
    return data


def partner_body(envelope: dict[str, Any], *, holder: bool, erased: bool = False) -> dict[str, Any]:
    """The webhook body: the CloudEvents envelope (JSON form) with minimised ``data``; with
    ``erased`` (the order's retention is over, BIL-11) without any personal data either."""
    data = minimise(envelope.get("data", {}), holder=holder)
    return {**envelope, "data": erase_event_data(data) if erased else data}
