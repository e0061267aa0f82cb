"""Road travel times from an OSRM server (the ``table`` service), the real alternative to the
great-circle estimate behind the same :class:`TravelTimes` port."""

from __future__ import annotations

import math
from collections.abc import Sequence

import httpx
import numpy as np
from numpy.typing import NDArray

from contracts.common import GeoPoint


class OsrmError(RuntimeError):
    """OSRM answered with an error or an unroutable pair."""


class OsrmTravel:
    """Durations (s) and distances (m) from ``GET /table/v1/{profile}/{lon,lat;...}``."""

    def __init__(
        self,
        *,
        base_url: str,
        profile: str = "driving",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._profile = profile

    def matrices(self, points: Sequence[GeoPoint]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(durations, distances) between every pair of ``points``, rounded up."""
        if not points:
            empty = np.zeros((0, 0), dtype=np.int64)
            return empty, empty
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)
        response = self._client.get(
            f"/table/v1/{self._profile}/{coords}", params={"annotations": "duration,distance"}
        )
        body = response.json()
        if response.status_code != 200 or body.get("code") != "Ok":
            raise OsrmError(f"OSRM table failed: {body.get('code')} {body.get('message', '')}")
        return self._matrix(body["durations"]), self._matrix(body["distances"])

    @staticmethod
    def _matrix(rows: list[list[float | None]]) -> NDArray[np.int64]:
        if any(value is None for row in rows for value in row):
            raise OsrmError("OSRM found no route between some points")
        return np.array(
            [[math.ceil(float(v)) for v in row] for row in rows],  # type: ignore[arg-type]
            dtype=np.int64,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
