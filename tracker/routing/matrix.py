"""Distance and travel-time matrices behind one small seam, :class:`MatrixSource`.

* :class:`HaversineMatrix` (default): great-circle distances for all pairs in
  one vectorised NumPy pass (:func:`tracker.core.geo.haversine_matrix_m`;
  2,000 points in well under a second), times a road-circuity factor, and
  times from a mean speed.
* :class:`GeodesicMatrix`: the ellipsoidal geodesic (:func:`tracker.core.geo.geodesic_m`),
  pair by pair in Python; a few tenths of a percent more exact, for small
  instances only.
* :class:`OsrmMatrix`: a road network through an OSRM ``table`` service,
  fetched in tiles with :mod:`urllib`; its ``transport`` is the seam tests
  replace (as httpx's ``MockTransport``).

A :class:`Matrix` remembers the locations it was built for, so the solver and
the independent checker find rows by location, not by a layout they share.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tracker.core.geo import EARTH_RADIUS_M, geodesic_m, haversine_matrix_m
from tracker.routing.errors import MatrixSourceError
from tracker.routing.model import Location

__all__ = [
    "EARTH_RADIUS_M",
    "GeodesicMatrix",
    "HaversineMatrix",
    "Matrix",
    "MatrixSource",
    "OsrmMatrix",
    "Transport",
    "unique_locations",
]

# Typical urban delivery: roads are ~30% longer than the straight line
# (Boscoe et al. measure 1.2-1.4 in cities) and vans average ~25 km/h.
DEFAULT_CIRCUITY = 1.3
DEFAULT_SPEED_KMH = 25.0


@dataclass(frozen=True, eq=False)
class Matrix:
    """Metres and seconds between ``points`` (row = from, column = to).

    Unreachable pairs (an OSRM ``null``) are ``inf``.
    """

    points: tuple[Location, ...]
    distance_m: np.ndarray
    duration_s: np.ndarray
    _rows: dict[Location, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.points)
        for name in ("distance_m", "duration_s"):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.shape != (n, n):
                raise ValueError(f"{name}: expected shape {(n, n)}, got {array.shape}")
            object.__setattr__(self, name, array)
        object.__setattr__(self, "_rows", {p: i for i, p in enumerate(self.points)})

    def index(self, location: Location) -> int:
        """Row of ``location``; KeyError if the matrix was built without it."""
        return self._rows[location]

    def __contains__(self, location: object) -> bool:
        return location in self._rows


class MatrixSource(Protocol):
    """Anything that can price every pair of a list of locations."""

    def build(self, points: Sequence[Location]) -> Matrix: ...


def unique_locations(points: Sequence[Location]) -> tuple[Location, ...]:
    """Points without repeats, first occurrence first (one row per address)."""
    return tuple(dict.fromkeys(points))


def _durations(distance_m: np.ndarray, speed_kmh: float) -> np.ndarray:
    if speed_kmh <= 0:
        raise ValueError("speed_kmh must be positive")
    return distance_m / (speed_kmh / 3.6)


@dataclass(frozen=True)
class HaversineMatrix:
    """Great-circle distance x ``circuity``; time at ``speed_kmh``."""

    circuity: float = DEFAULT_CIRCUITY
    speed_kmh: float = DEFAULT_SPEED_KMH

    def build(self, points: Sequence[Location]) -> Matrix:
        points = tuple(points)
        lat = np.array([p.lat for p in points], dtype=np.float64)
        lon = np.array([p.lon for p in points], dtype=np.float64)
        # The circuity goes into the same in-place pass: no second 32 MB array at 2,000 points.
        d = haversine_matrix_m(lat, lon, factor=self.circuity)
        return Matrix(points, d, _durations(d, self.speed_kmh))


@dataclass(frozen=True)
class GeodesicMatrix:
    """geopy's WGS-84 geodesic x ``circuity``; O(n^2) Python calls."""

    circuity: float = DEFAULT_CIRCUITY
    speed_kmh: float = DEFAULT_SPEED_KMH

    def build(self, points: Sequence[Location]) -> Matrix:
        points = tuple(points)
        n = len(points)
        d = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                d[i, j] = d[j, i] = geodesic_m(points[i], points[j])
        d *= self.circuity
        return Matrix(points, d, _durations(d, self.speed_kmh))


Transport = Callable[[str, float], bytes]
"""Fetches a URL within a timeout (seconds) and returns the body."""


def urllib_transport(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        # OSRM explains itself in a JSON body even on 4xx.
        body = exc.read().decode("utf-8", "replace")[:200]
        raise MatrixSourceError(f"OSRM answered HTTP {exc.code}: {body}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise MatrixSourceError(f"OSRM unreachable: {exc}") from exc


@dataclass(frozen=True)
class OsrmMatrix:
    """Road distances and times from an OSRM ``/table/v1`` endpoint.

    ``base_url`` is the server root (``http://osrm:5000``). OSRM caps a table
    (``--max-table-size``, 100 by default), so the matrix is fetched in tiles
    of at most ``tile`` sources by ``tile`` destinations, each request naming
    only its own coordinates.
    """

    base_url: str
    profile: str = "driving"
    tile: int = 100
    timeout_s: float = 30.0
    transport: Transport = urllib_transport

    def build(self, points: Sequence[Location]) -> Matrix:
        points = tuple(points)
        n = len(points)
        distance = np.full((n, n), np.inf)
        duration = np.full((n, n), np.inf)
        blocks = [range(i, min(i + self.tile, n)) for i in range(0, n, self.tile)]
        for rows in blocks:
            for cols in blocks:
                dist, dur = self._tile([points[i] for i in rows], [points[j] for j in cols])
                distance[rows.start : rows.stop, cols.start : cols.stop] = dist
                duration[rows.start : rows.stop, cols.start : cols.stop] = dur
        return Matrix(points, distance, duration)

    def _tile(self, sources: list[Location], destinations: list[Location]) -> tuple[np.ndarray, np.ndarray]:
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in (*sources, *destinations))
        s = ";".join(str(i) for i in range(len(sources)))
        d = ";".join(str(len(sources) + j) for j in range(len(destinations)))
        url = (
            f"{self.base_url.rstrip('/')}/table/v1/{self.profile}/{coords}"
            f"?sources={s}&destinations={d}&annotations=duration,distance"
        )
        try:
            answer = json.loads(self.transport(url, self.timeout_s))
        except ValueError as exc:
            raise MatrixSourceError("OSRM answered something that is not JSON") from exc
        if not isinstance(answer, dict) or answer.get("code") != "Ok":
            message = answer.get("message") if isinstance(answer, dict) else None
            code = answer.get("code") if isinstance(answer, dict) else None
            raise MatrixSourceError(f"OSRM refused the table: {code} {message or ''}".strip())
        shape = (len(sources), len(destinations))
        return self._array(answer, "distances", shape), self._array(answer, "durations", shape)

    @staticmethod
    def _array(answer: dict[str, object], key: str, shape: tuple[int, int]) -> np.ndarray:
        rows = answer.get(key)
        try:
            # null means "no route": keep it as inf for the solver to avoid.
            array = np.array(
                [[math.inf if v is None else float(v) for v in row] for row in rows],  # type: ignore[union-attr]
                dtype=np.float64,
            )
        except (TypeError, ValueError) as exc:
            raise MatrixSourceError(f"OSRM answer has no usable {key!r}") from exc
        if array.shape != shape:
            raise MatrixSourceError(f"OSRM {key!r} has shape {array.shape}, expected {shape}")
        return array
