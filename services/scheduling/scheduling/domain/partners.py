"""What a partner network is sent about an order: the event, with personal data minimised to
what the network needs for its own order (issue 5)."""

from __future__ import annotations

from typing import Any

from contracts.envelope import event_name_of
from contracts.scheduling import OrderWithdrawn, ReturnReason, RevisitReason, WithdrawalCause
from scheduling.domain.privacy import EVENT_CODES, erase_event_data

NEVER_SENT = frozenset({"buyer_name", "buyer_tax_id", "caller_phone", "signature_ref", "comments"})
"""Personal data no network needs: the invoice buyer and tax id, the caller's line, the signature
image and the customer's free-text remarks on a survey."""

HOLDER_ONLY = frozenset(
    {"customer", "technician_name", "technician_phone", "contact_person", "phones"}
)
"""Contact details a network needs only while it serves the order (a network that lost the order
is told so, without them)."""


WITHDRAWN_BY = {
    "OrderAssigned": WithdrawalCause.REASSIGNED,
    "OrderReassigned": WithdrawalCause.REASSIGNED,
    "OrderReturnedToCentre": WithdrawalCause.RETURNED_TO_CENTRE,
    "OrderCancelled": WithdrawalCause.CANCELLED,
}
"""The events that take an order from a network, and why (SCH-12). A network that no longer
holds the order when one of them is sent reads an :class:`OrderWithdrawn` instead (an
OrderAssigned it reads so was undone in the same change): never who holds the order now, when
they come, nor the dispatcher's words."""

WITHDRAWN = OrderWithdrawn.cloudevents_type()

_REASON_CODES = EVENT_CODES & {
    code.value for codes in (ReturnReason, RevisitReason) for code in codes
}


def _coded(reason: Any) -> str | None:
    """The code a reason is, or starts with (``"<code>: <words>"``); None for free text."""
    if not isinstance(reason, str):
        return None
    code = reason.partition(": ")[0]
    return code if code in _REASON_CODES else None


def withdrawal(
    event_name: str, data: dict[str, Any], *, network_id: str | None, at: str
) -> OrderWithdrawn | None:
    """What a network that lost the order reads of the event ``event_name`` that took it away
    (:data:`WITHDRAWN_BY`); None for any other event. ``at``: the event's time."""
    why = WITHDRAWN_BY.get(event_name)
    if why is None:
        return None
    if data.get("previous_network_id") == network_id and network_id is not None:
        technician_id = data.get("previous_technician_id")
    elif data.get("network_id") == network_id and network_id is not None:
        technician_id = data.get("technician_id")
    else:
        technician_id = None  # the technician named is not the network's own
    return OrderWithdrawn.model_validate(
        {
            "order_id": data["order_id"],
            "visit_id": data.get("visit_id"),
            "withdrawn_at": at,
            "why": why,
            "reason": _coded(data.get("reason")),
            "previous_technician_id": technician_id,
        }
    )


def minimise(data: Any, *, holder: bool) -> Any:
    """``data`` without the personal fields the network does not need; ``holder`` is whether the
    network holds the order now."""
    dropped = NEVER_SENT if holder else NEVER_SENT | HOLDER_ONLY
    if isinstance(data, dict):
        return {k: minimise(v, holder=holder) for k, v in data.items() if k not in dropped}
    if isinstance(data, list):
        return [minimise(v, holder=holder) for v in data]
    return data


def partner_body(
    envelope: dict[str, Any],
    *,
    holder: bool,
    erased: bool = False,
    network_id: str | None = None,
) -> dict[str, Any]:
    """The webhook body for the network ``network_id``: the CloudEvents envelope (JSON form) with
    minimised ``data``; with ``erased`` (the order's retention is over, BIL-11) without any
    personal data either. A network that lost the order reads an ``OrderWithdrawn`` envelope
    (:func:`withdrawal`) with the event's id, subject, time and correlation instead: a body
    valid against the published schema of its ``type``."""
    data = envelope.get("data", {})
    lost = None
    if not holder and isinstance(data, dict):
        lost = withdrawal(
            event_name_of(str(envelope.get("type", ""))),
            data,
            network_id=network_id,
            at=str(envelope.get("time", "")),
        )
    if lost is not None:
        envelope = {
            **envelope,
            "source": f"/fsm/{lost.producer}",
            "type": WITHDRAWN,
            "dataschema": f"urn:fsm:schema:{lost.schema_name()}",
        }
        data = lost.model_dump(mode="json")
    else:
        data = minimise(data, holder=holder)
    return {**envelope, "data": erase_event_data(data) if erased else data}
