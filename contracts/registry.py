"""Registry from CloudEvents ``type`` (``fsm.<Name>.v<N>``) to the payload model."""

from __future__ import annotations

import inspect
from types import ModuleType

from contracts import billing, feedback, fieldwork, identity, intake, scheduling
from contracts.base import EventData
from contracts.envelope import EventEnvelope

_MODULES: tuple[ModuleType, ...] = (intake, identity, scheduling, fieldwork, billing, feedback)


class UnknownEventType(KeyError):
    """The envelope's type names no registered event model."""


def _collect() -> dict[str, type[EventData]]:
    found: dict[str, type[EventData]] = {}
    for module in _MODULES:
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, EventData)
                and obj.__module__ == module.__name__
                and "event_type" in obj.__dict__
            ):
                key = obj.cloudevents_type()
                if key in found:
                    raise RuntimeError(f"event type {key} registered twice")
                found[key] = obj
    return found


REGISTRY: dict[str, type[EventData]] = _collect()


def all_event_models() -> list[type[EventData]]:
    """Every registered event model, sorted by type name then version."""
    return sorted(REGISTRY.values(), key=lambda m: (m.event_type, m.event_version))


def model_for(ce_type: str) -> type[EventData]:
    """The payload model registered for a CloudEvents ``type``."""
    try:
        return REGISTRY[ce_type]
    except KeyError:
        raise UnknownEventType(ce_type) from None


def parse_data(envelope: EventEnvelope) -> EventData:
    """Validate the envelope's ``data`` against its registered model."""
    return model_for(envelope.type).model_validate(envelope.data)
