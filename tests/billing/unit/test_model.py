"""The order file billing keeps per order (pure domain)."""

from __future__ import annotations

from billing.domain.model import (
    EVENTS_OF_INTEREST,
    SUMMARY_MAX_FIELDS,
    SUMMARY_MAX_TEXT,
    summarise,
)
from contracts.registry import REGISTRY


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
    assert all(producers[name] != "billing" for name in EVENTS_OF_INTEREST)
