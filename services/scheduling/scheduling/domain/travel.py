"""Travel times behind a port; the default estimates them from great-circle distances."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from contracts.common import GeoPoint

EARTH_RADIUS_M = 6_371_008.8


class TravelTimes(Protocol):
    """A port: road travel times (seconds) and distances (metres) between points."""

    def matrices(self, points: Sequence[GeoPoint]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(durations, distances) between every pair of ``points``."""
        ...


def great_circle_m(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class GreatCircleTravel:
    """Road distance = great-circle distance × road factor; time = road distance ÷ speed."""

    def __init__(self, *, road_factor: float, speed_kmh: float) -> None:
        self.road_factor = road_factor
        self.speed_ms = speed_kmh * 1000 / 3600

    def seconds(self, a: GeoPoint, b: GeoPoint) -> int:
        """Travel time between two points, rounded up to the second."""
        return math.ceil(great_circle_m(a, b) * self.road_factor / self.speed_ms)

    def from_point(
        self, origin: GeoPoint, points: Sequence[GeoPoint]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(durations, distances) from ``origin`` to each of ``points`` (symmetric estimate), for
        adding one place to existing matrices in O(n) (urgent insertion, SCH-9)."""
        lat0, lon0 = math.radians(origin.lat), math.radians(origin.lon)
        lat = np.radians(np.array([p.lat for p in points]))
        lon = np.radians(np.array([p.lon for p in points]))
        h = (
            np.sin((lat - lat0) / 2) ** 2
            + math.cos(lat0) * np.cos(lat) * np.sin((lon - lon0) / 2) ** 2
        )
        metres = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))) * self.road_factor
        return np.ceil(metres / self.speed_ms).astype(np.int64), np.ceil(metres).astype(np.int64)

    def matrices(self, points: Sequence[GeoPoint]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(durations in s, distances in m) between every pair of ``points`` (vectorised)."""
        if not points:
            empty = np.zeros((0, 0), dtype=np.int64)
            return empty, empty
        lat = np.radians(np.array([p.lat for p in points]))
        lon = np.radians(np.array([p.lon for p in points]))
        dlat = lat[None, :] - lat[:, None]
        dlon = lon[None, :] - lon[:, None]
        h = (
            np.sin(dlat / 2) ** 2
            + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
        )
        metres = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))) * self.road_factor
        distances = np.ceil(metres).astype(np.int64)
        durations = np.ceil(metres / self.speed_ms).astype(np.int64)
        return durations, distances
