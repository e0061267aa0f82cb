"""Event contracts shared by the five services: envelope, payload models, registry, topics.

Pure pydantic, no I/O. A breaking change to an event is a new version, never an edit.
"""

from contracts.base import EventData
from contracts.envelope import EventEnvelope

__all__ = ["EventData", "EventEnvelope"]
