"""Base class of every event payload: a versioned, documented, frozen pydantic model."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class EventData(BaseModel):
    """The typed ``data`` of one event type at one version.

    Subclasses set ``event_type`` (past tense, e.g. ``OrderCreated``), ``event_version`` (starts
    at 1; a breaking change is a new class with the next version, never an edit) and ``producer``
    (the service that owns the event). The class docstring becomes the event's catalogue entry and a
    docstring under a field becomes that field's description.
    """

    # Attribute docstrings become field descriptions in the exported JSON Schema.
    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1
    producer: ClassVar[str]
    subject_field: ClassVar[str] = "order_id"
    webhook_only: ClassVar[bool] = False
    """True for an event sent only to partner networks' webhooks, never published on the bus: it
    has a JSON Schema but no Kafka topic (left out of the AsyncAPI document)."""

    def subject(self) -> str:
        """The envelope subject and Kafka key: the order id (``subject_field`` names the field)."""
        return str(getattr(self, self.subject_field))

    @classmethod
    def cloudevents_type(cls) -> str:
        """The CloudEvents ``type`` attribute, e.g. ``fsm.OrderCreated.v1``."""
        return f"fsm.{cls.event_type}.v{cls.event_version}"

    @classmethod
    def schema_name(cls) -> str:
        """The file stem of the committed JSON Schema, e.g. ``OrderCreated.v1``."""
        return f"{cls.event_type}.v{cls.event_version}"
