"""The order file fieldwork keeps per order (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.registry import REGISTRY
from fieldwork.domain.model import (
    EVENTS_OF_INTEREST,
    SUMMARY_MAX_FIELDS,
    SUMMARY_MAX_TEXT,
    OrderFile,
    RecordedEvent,
    summarise,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def event(event_id: str, type_: str = "OrderAssigned", *, minutes: int = 0) -> RecordedEvent:
    return RecordedEvent(
        event_id=event_id,
        type=type_,
        version=1,
        time=T0 + timedelta(minutes=minutes),
        source="/fsm/scheduling",
        summary={"visit_id": "v-1"},
    )


def test_an_event_is_recorded_once() -> None:
    order_file = OrderFile(order_id="o-1")

    assert order_file.record(event("e-1")) is True
    assert order_file.record(event("e-1")) is False
    assert [e.event_id for e in order_file.entries] == ["e-1"]


def test_events_are_kept_oldest_first_whatever_order_they_arrive_in() -> None:
    order_file = OrderFile(order_id="o-1")

    order_file.record(event("late", "AppointmentConfirmed", minutes=30))
    order_file.record(event("early", "OrderAssigned", minutes=0))
    order_file.record(event("middle", "OrderReassigned", minutes=10))

    assert [e.event_id for e in order_file.entries] == ["early", "middle", "late"]


def test_the_summary_keeps_scalars_and_flattens_objects_one_level() -> None:
    data = {
        "order_id": "o-1",
        "visit_id": "v-1",
        "technician_id": None,
        "appointment": {"start": "2026-03-01T09:00:00Z", "end": "2026-03-01T11:00:00Z"},
        "parts": [{"code": "P1"}],
        "customer_reached": True,
    }

    assert summarise(data) == {
        "visit_id": "v-1",
        "appointment.start": "2026-03-01T09:00:00Z",
        "appointment.end": "2026-03-01T11:00:00Z",
        "customer_reached": True,
    }


def test_the_summary_is_short() -> None:
    data = {f"field_{i}": "x" * 500 for i in range(40)}

    summary = summarise(data)

    assert len(summary) == SUMMARY_MAX_FIELDS
    assert all(len(v) == SUMMARY_MAX_TEXT for v in summary.values())


def test_every_event_of_interest_is_a_contract_event_of_another_service() -> None:
    producers = {m.event_type: m.producer for m in REGISTRY.values()}

    assert producers.keys() >= EVENTS_OF_INTEREST
    assert all(producers[name] != "fieldwork" for name in EVENTS_OF_INTEREST)
