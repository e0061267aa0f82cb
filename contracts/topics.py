"""Kafka topic names: one event topic per producing service, each with a dead-letter topic."""

from __future__ import annotations

SERVICES: tuple[str, ...] = ("intake", "scheduling", "fieldwork", "billing", "feedback")


def events_topic(producer: str) -> str:
    """The topic a service publishes its events to, e.g. ``fsm.intake.events``."""
    return f"fsm.{producer}.events"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of ``topic`` (``<topic>.dlt``)."""
    return f"{topic}.dlt"


ALL_EVENT_TOPICS: tuple[str, ...] = tuple(events_topic(s) for s in SERVICES)
ALL_TOPICS: tuple[str, ...] = ALL_EVENT_TOPICS + tuple(
    dead_letter_topic(t) for t in ALL_EVENT_TOPICS
)
