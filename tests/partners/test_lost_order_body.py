"""Unit tests of what a network that lost an order reads of the event that took it (SCH-12): an
OrderWithdrawn, valid against its published schema, that names nobody who holds it now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from contracts.export import DOCS_DIR
from contracts.scheduling import OrderWithdrawn, ReturnReason, WithdrawalCause
from scheduling.domain.partners import partner_body

REASSIGNED: dict[str, Any] = {
    "order_id": "o1",
    "visit_id": "v1",
    "assignee_kind": "technician",
    "technician_id": "t9",
    "network_id": "n2",
    "technician_name": "李师傅",
    "technician_phone": "+8613900000000",
    "appointment": {"start": "2026-11-24T10:00:00+08:00", "end": "2026-11-24T12:00:00+08:00"},
    "reason": "cannot_arrive_on_time: 师傅堵在高速上",
    "previous_assignee_kind": "network",
    "previous_technician_id": "nt1",
    "previous_network_id": "n1",
    "reassigned_by": "调度王",
}


TIME = "2026-11-24T02:00:00Z"
NEW_HOLDER = {"t9", "n2", "李师傅", "+8613900000000", "调度王", "师傅堵在高速上", "2026-11-24T10"}


def _envelope(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "e1",
        "source": "/fsm/scheduling",
        "type": f"fsm.{name}.v1",
        "time": TIME,
        "subject": data["order_id"],
        "correlationid": "c1",
        "dataschema": f"urn:fsm:schema:{name}.v1",
        "data": data,
    }


def _tells_nothing_of_the_new_holder(body: dict[str, Any]) -> None:
    told = json.dumps(body, ensure_ascii=False)
    assert not [word for word in NEW_HOLDER if word in told]


def test_sch_12_the_losing_network_reads_an_order_withdrawn_valid_against_its_schema() -> None:
    body = partner_body(_envelope("OrderReassigned", REASSIGNED), holder=False, network_id="n1")
    assert body["type"] == "fsm.OrderWithdrawn.v1" == OrderWithdrawn.cloudevents_type()
    assert body["dataschema"] == "urn:fsm:schema:OrderWithdrawn.v1"
    assert (body["id"], body["subject"], body["time"]) == ("e1", "o1", TIME)
    withdrawn = OrderWithdrawn.model_validate(body["data"])
    assert withdrawn == OrderWithdrawn(
        order_id="o1",
        visit_id="v1",
        withdrawn_at=datetime(2026, 11, 24, 2, tzinfo=UTC),
        why=WithdrawalCause.REASSIGNED,
        reason=ReturnReason.CANNOT_ARRIVE_ON_TIME,
        previous_technician_id="nt1",
    )
    _tells_nothing_of_the_new_holder(body)


def test_sch_12_the_body_has_what_the_exported_json_schema_requires() -> None:
    schema = json.loads((DOCS_DIR / "schemas" / "OrderWithdrawn.v1.json").read_text())
    body = partner_body(_envelope("OrderReassigned", REASSIGNED), holder=False, network_id="n1")
    assert schema["x-cloudevents-type"] == body["type"]
    assert set(schema["required"]) <= set(body["data"]) <= set(schema["properties"])
    assert body["data"]["why"] in schema["$defs"]["WithdrawalCause"]["enum"]


def test_a_free_text_reason_is_not_sent_to_the_losing_network() -> None:
    data = {**REASSIGNED, "reason": "客户投诉网点一"}
    body = partner_body(_envelope("OrderReassigned", data), holder=False, network_id="n1")
    assert OrderWithdrawn.model_validate(body["data"]).reason is None
    assert "客户投诉网点一" not in json.dumps(body, ensure_ascii=False)


def test_a_network_given_the_order_and_losing_it_in_one_change_reads_its_own_technician() -> None:
    body = partner_body(_envelope("OrderReassigned", REASSIGNED), holder=False, network_id="n2")
    withdrawn = OrderWithdrawn.model_validate(body["data"])
    assert withdrawn.previous_technician_id == "t9"  # its own, not n1's nt1
    assert "nt1" not in json.dumps(body) and "n1" not in json.dumps(body)


def test_sch_12_a_network_whose_order_went_back_to_the_centre_reads_why_coded() -> None:
    returned = {
        "order_id": "o1",
        "visit_id": "v1",
        "reason": "other",
        "detail": "调度收回, 网点一太慢",
        "returned_by": "调度王",
        "technician_id": "nt1",
        "network_id": "n1",
    }
    body = partner_body(_envelope("OrderReturnedToCentre", returned), holder=False, network_id="n1")
    withdrawn = OrderWithdrawn.model_validate(body["data"])
    assert withdrawn.why is WithdrawalCause.RETURNED_TO_CENTRE
    assert withdrawn.reason == "other" and withdrawn.previous_technician_id == "nt1"
    assert "调度" not in json.dumps(body, ensure_ascii=False)


def test_a_cancelled_order_a_network_no_longer_holds_reads_as_withdrawn_cancelled() -> None:
    cancelled = {"order_id": "o1", "reason": "客户不修了", "cancelled_by": "agent-1"}
    body = partner_body(_envelope("OrderCancelled", cancelled), holder=False, network_id="n1")
    withdrawn = OrderWithdrawn.model_validate(body["data"])
    assert withdrawn.why is WithdrawalCause.CANCELLED and withdrawn.reason is None


def test_bil_11_an_erased_orders_withdrawal_still_validates() -> None:
    body = partner_body(
        _envelope("OrderReassigned", REASSIGNED), holder=False, erased=True, network_id="n1"
    )
    assert OrderWithdrawn.model_validate(body["data"]).reason == "cannot_arrive_on_time"


def test_the_new_holder_reads_the_whole_assignment() -> None:
    body = partner_body(_envelope("OrderReassigned", REASSIGNED), holder=True, network_id="n2")
    assert body["type"] == "fsm.OrderReassigned.v1"
    assert body["data"] == REASSIGNED


def test_other_events_to_a_network_not_holding_the_order_keep_their_data() -> None:
    complaint = {"order_id": "o1", "complaint_id": "c1", "technician_id": "nt1", "reason": "x"}
    body = partner_body(_envelope("ComplaintFiled", complaint), holder=False, network_id="n1")
    assert body["type"] == "fsm.ComplaintFiled.v1" and body["data"] == complaint
