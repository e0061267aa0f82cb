"""Every event of the flow is a registered, documented contract that survives the wire."""

from __future__ import annotations

import re
import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from contracts import billing, feedback, fieldwork, intake, scheduling
from contracts.base import EventData
from contracts.envelope import EventEnvelope
from contracts.registry import REGISTRY, UnknownEventType, all_event_models, model_for, parse_data
from contracts.topics import SERVICES

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOW_MD_CANDIDATES = (
    REPO_ROOT.parent / "shared" / "domain" / "FLOW.md",
    REPO_ROOT / "shared" / "domain" / "FLOW.md",
)

FLOW_EVENTS: dict[str, tuple[str, ...]] = {
    "intake": (
        "OrderCreated",
        "OrderVerified",
        "OrderResolvedRemotely",
        "OrderReopened",
        "OrderCancelled",
        "DuplicateLinked",
        "SlaBreached",
        "SlaBreachWithdrawn",
    ),
    "scheduling": (
        "OrderAssigned",
        "AppointmentConfirmed",
        "AppointmentRescheduled",
        "OrderReassigned",
        "OrderReturnedToCentre",
        "ArrivalLate",
        "ContactOverdue",
        "RevisitBooked",
    ),
    "fieldwork": (
        "TechnicianDeparted",
        "TechnicianArrived",
        "CustomerNotHome",
        "DiagnosisRecorded",
        "QuoteRequested",
        "QuoteAccepted",
        "QuoteDeclined",
        "RepairCompleted",
        "RepairFailed",
        "UnitTakenBack",
        "UnitReturned",
        "InstallationCompleted",
        "CustomerSignedOff",
        "DamageReported",
        "SafetyIncident",
        "VisitClosed",
    ),
    "billing": (
        "QuoteIssued",
        "QuoteRefused",
        "ChargeWaived",
        "ReceiptIssued",
        "InvoiceIssued",
        "PaymentCollected",
        "CashRemittanceDue",
    ),
    "feedback": (
        "FollowUpScheduled",
        "FollowUpCompleted",
        "FollowUpRecredited",
        "RevisitRequested",
        "ComplaintFiled",
        "ComplaintClosed",
        "FraudSuspected",
    ),
}

# Events about something other than one order; their subject is the aggregate they name.
NOT_ABOUT_ONE_ORDER = {
    "ApiKeyIssued",
    "ApiKeyRevoked",
    "CashRemittanceDue",
    "RateCardVersionPublished",
    "WebhookEndpointDisabled",
}
SERVICE_MODULES = (intake, scheduling, fieldwork, billing, feedback)
RULE_ID = re.compile(r"\b(INT|SCH|FLD|BIL|FBK)-\d+\b")
REGISTERED_NAMES = {m.event_type for m in all_event_models()}


@pytest.mark.parametrize(
    ("producer", "name"),
    [(producer, name) for producer, names in FLOW_EVENTS.items() for name in names],
)
def test_every_flow_event_is_registered_with_its_producer(producer: str, name: str) -> None:
    model = model_for(f"fsm.{name}.v1")
    assert model.event_type == name
    assert model.producer == producer


def test_every_event_named_in_flow_md_is_registered() -> None:
    flow_md = next((p for p in FLOW_MD_CANDIDATES if p.exists()), None)
    if flow_md is None:
        pytest.skip("shared/domain/FLOW.md is not beside the repository")
    table_rows = [line for line in flow_md.read_text().splitlines() if line.startswith("| ")]
    named = {
        word
        for row in table_rows
        for cell in row.split("|")[3:4]
        for word in re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b", cell)
    }
    assert named, "no event names found in FLOW.md's table"
    assert named - REGISTERED_NAMES == set()


def test_every_producer_is_a_service_with_a_topic() -> None:
    assert {m.producer for m in all_event_models()} <= set(SERVICES)


@pytest.mark.parametrize("model", all_event_models(), ids=lambda m: m.schema_name())
def test_every_event_is_documented(model: type[EventData]) -> None:
    assert model.__doc__ and len(model.__doc__.strip()) > 20


@pytest.mark.parametrize(
    "model",
    [m for m in all_event_models() if m.__module__ in {mod.__name__ for mod in SERVICE_MODULES}],
    ids=lambda m: m.schema_name(),
)
def test_every_service_event_cites_a_rule(model: type[EventData]) -> None:
    assert RULE_ID.search(model.__doc__ or ""), f"{model.event_type} cites no rule ID"


@pytest.mark.parametrize(
    "model",
    [m for m in all_event_models() if m.event_type not in NOT_ABOUT_ONE_ORDER],
    ids=lambda m: m.schema_name(),
)
def test_every_order_event_requires_an_order_id(model: type[EventData]) -> None:
    field = model.model_fields.get("order_id")
    assert field is not None and field.is_required() and field.annotation is str


@pytest.mark.parametrize("model", all_event_models(), ids=lambda m: m.schema_name())
def test_an_event_survives_wrap_bytes_parse(model: type[EventData]) -> None:
    payload = _sample(model)
    subject = getattr(payload, "order_id", None) or "subject-1"

    envelope = EventEnvelope.wrap(payload, subject=subject, correlation_id="flow-1")
    received = EventEnvelope.from_bytes(envelope.to_bytes())

    assert received == envelope
    assert received.type == model.cloudevents_type()
    assert received.partitionkey == subject
    assert received.event_name == model.event_type
    assert received.event_version == model.event_version
    assert parse_data(received) == payload


def test_money_travels_as_a_decimal_string() -> None:
    quote = _sample(billing.QuoteIssued)
    data = EventEnvelope.from_bytes(EventEnvelope.wrap(quote, subject="o-1").to_bytes()).data

    assert data["total"] == "12.50"
    assert data["lines"][0]["unit_price"] == "12.50"
    parsed = parse_data(EventEnvelope.wrap(quote, subject="o-1"))
    assert isinstance(parsed, billing.QuoteIssued) and parsed.total == Decimal("12.50")


def test_money_keeps_plain_digits_for_large_amounts() -> None:
    receipt = billing.ReceiptIssued(order_id="o-1", receipt_number="R1", amount=Decimal("1E+3"))
    assert receipt.model_dump(mode="json")["amount"] == "1000"


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        model_for("fsm.NoSuchThing.v1")


def test_consumers_ignore_fields_they_do_not_know() -> None:
    data = {**_sample(intake.OrderCancelled).model_dump(mode="json"), "added_in_v1_1": 42}
    assert intake.OrderCancelled.model_validate(data).order_id == "x"


def test_a_technician_assignment_must_name_the_technician() -> None:
    with pytest.raises(ValueError, match="technician_id"):
        scheduling.OrderAssigned(
            order_id="o-1", visit_id="v-1", assignee_kind="technician", assigned_by="d-1"
        )


def test_a_dispatch_override_must_name_the_dispatcher() -> None:
    with pytest.raises(ValueError, match="overridden_by"):
        intake.OrderVerified(order_id="o-1", dispatch_override=True)


def test_registry_keys_match_the_models() -> None:
    for key, model in REGISTRY.items():
        assert key == model.cloudevents_type()


def _sample(model: type[BaseModel]) -> Any:
    """An instance with every field filled (optional ones too), to exercise the whole shape."""
    return model(**{name: _value(field.annotation, field) for name, field in _fields(model)})


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    return list(model.model_fields.items())


def _value(annotation: Any, field: FieldInfo | None = None) -> Any:
    if field is not None and field.examples:
        return field.examples[0]
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        examples = [m.examples for m in metadata if isinstance(m, FieldInfo) and m.examples]
        return examples[0][0] if examples else _value(inner)
    if origin in (Union, types.UnionType):
        return _value(next(a for a in get_args(annotation) if a is not type(None)))
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is list:
        return [_value(get_args(annotation)[0])]
    if annotation is AwareDatetime:
        return datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _sample(annotation)
        if issubclass(annotation, Enum):
            return next(iter(annotation))
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, int):
            return 1
        if issubclass(annotation, float):
            return 1.5
        if issubclass(annotation, Decimal):
            return Decimal("12.50")
        if issubclass(annotation, datetime):
            return datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
        if issubclass(annotation, date):
            return date(2025, 3, 1)
        if issubclass(annotation, str):
            return "x"
    if annotation is typing.Any:
        return "x"
    raise TypeError(f"no sample value for {annotation!r}")
