"""The event envelope: CloudEvents 1.0 attributes plus correlation, causation and partition key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import EventData
from contracts.ids import new_event_id


def event_name_of(event_type: str) -> str:
    """The name in an event type, without prefix and version: ``fsm.OrderCreated.v1`` gives
    ``OrderCreated``."""
    return event_type.removeprefix("fsm.").rsplit(".v", 1)[0]


class EventEnvelope(BaseModel):
    """One event on the bus, in CloudEvents 1.0 structured JSON form.

    ``subject`` and ``partitionkey`` carry the order id (also the Kafka message key), so every event
    of one order lands on one partition in order. ``correlationid`` follows one business flow (the
    first request's id); ``causationid`` is the id of the event or request that caused this one.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(description="Unique event id; consumers deduplicate on it.")
    source: str = Field(description="The producing service, e.g. `/fsm/intake`.")
    type: str = Field(description="Event type and version, e.g. `fsm.OrderCreated.v1`.")
    time: AwareDatetime = Field(description="When the fact happened (UTC).")
    subject: str = Field(description="The order id (or the aggregate id for non-order events).")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = Field(
        default=None,
        description="URI of the JSON Schema of `data` (docs/schemas/<Name>.v<N>.json).",
    )
    correlationid: str = Field(description="Id shared by every event of one business flow.")
    causationid: str | None = Field(default=None, description="Id of what caused this event.")
    partitionkey: str = Field(description="Kafka key: the order id.")
    data: dict[str, Any] = Field(description="The typed payload, see `dataschema`.")

    @property
    def event_name(self) -> str:
        """The event type without prefix and version, e.g. ``OrderCreated``."""
        return event_name_of(self.type)

    @property
    def event_version(self) -> int:
        """The event version number."""
        return int(self.type.rsplit(".v", 1)[1])

    @classmethod
    def wrap(
        cls,
        payload: EventData,
        *,
        subject: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: uuid.UUID | None = None,
        time: datetime | None = None,
    ) -> EventEnvelope:
        """Build the envelope of ``payload``; ``subject`` defaults to ``payload.subject()``."""
        eid = event_id or new_event_id()
        subject = subject or payload.subject()
        return cls(
            id=eid,
            source=f"/fsm/{payload.producer}",
            type=payload.cloudevents_type(),
            time=time or datetime.now(UTC),
            subject=subject,
            dataschema=f"urn:fsm:schema:{payload.schema_name()}",
            correlationid=correlation_id or str(eid),
            causationid=causation_id,
            partitionkey=subject,
            data=payload.model_dump(mode="json"),
        )

    def to_bytes(self) -> bytes:
        """Serialise as UTF-8 JSON for the wire."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> EventEnvelope:
        """Parse wire bytes; raises ``pydantic.ValidationError`` on a malformed envelope."""
        return cls.model_validate_json(raw)
