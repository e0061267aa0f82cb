"""Dates and moments as clients must write them (``YYYY-MM-DD``; ISO 8601 with the offset), for
the entrypoints: the types live in :mod:`contracts.dates` so that a service's domain commands,
which import no kit, use the same ones."""

from contracts.dates import IsoDate, IsoDatetime, IsoTime

__all__ = ["IsoDate", "IsoDatetime", "IsoTime"]
