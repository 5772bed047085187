"""Distances on the earth, measured one way each (pure: numbers in, numbers out).

Every place in the package that measures or moves a point on the earth uses
this module, so two parts of the service never disagree about how far apart
two points are:

=========================  ===========================================================
``geodesic_m``             exact: geopy's WGS-84 ellipsoidal geodesic. Detection judges
                           doorsteps with it (:mod:`tracker.detection.geo`), the routing
                           engine offers it as :class:`~tracker.routing.matrix.GeodesicMatrix`.
``haversine_m``            the one fast approximation: a great circle on a sphere of
``haversine_matrix_m``     radius ``EARTH_RADIUS_M``, one pair or every pair at once
                           (NumPy). Routing's default matrix
                           (:class:`~tracker.routing.matrix.HaversineMatrix`) and
                           detection's facility pre-filter (:mod:`tracker.detection.judge`).
``offset``                 a point moved so many metres north and east: how the
                           simulators (:mod:`tracker.sim.simulator`,
                           :mod:`tracker.sim.scenarios`) place what they generate.
=========================  ===========================================================

Why haversine and not the equirectangular ("flat") formula: both cost a few
floating-point operations, but the flat one is only good at city scale and
goes wrong with distance, near the poles and across the antimeridian, while
the routing matrix prices legs of any length (a line-haul from Hangzhou to
Altay). The great circle stays within about 0.5 % of the geodesic at any
range, which is all a pre-filter or a road-circuity estimate needs.

``EARTH_RADIUS_M`` is the mean radius (IUGG, 6,371,008.8 m): the sphere
whose great circles are closest to the ellipsoid's geodesics on average.
``offset`` uses the same sphere, so a point moved 100 m north is 100 m away
by ``haversine_m`` (to within a millimetre at city scale).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np
from geopy.distance import geodesic

__all__ = [
    "EARTH_RADIUS_M",
    "LatLon",
    "Point",
    "geodesic_m",
    "haversine_m",
    "haversine_matrix_m",
    "offset",
]

#: Mean earth radius (IUGG), the one sphere of every approximation here.
EARTH_RADIUS_M = 6_371_008.8


class LatLon(Protocol):
    """Anything with ``lat`` and ``lon`` in degrees (a detection ``GeoPoint``, a routing ``Location``)."""

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...


class Point(NamedTuple):
    """A plain ``(lat, lon)`` pair in degrees; a tuple, so it unpacks and compares like one."""

    lat: float
    lon: float


def geodesic_m(a: LatLon, b: LatLon) -> float:
    """Metres between two points along the WGS-84 ellipsoid (exact to the millimetre)."""
    return float(geodesic((a.lat, a.lon), (b.lat, b.lon)).meters)


def haversine_m(a: LatLon, b: LatLon) -> float:
    """Great-circle metres between two points on the mean sphere (within ~0.5 % of the geodesic)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def haversine_matrix_m(lat_deg: np.ndarray, lon_deg: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Great-circle metres between every pair of points (row = from), times ``factor``.

    ``factor`` (a road circuity, say) is applied in the same pass, so the
    result is one array and no more: at 2,000 points every temporary is 32 MB.
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64)).reshape(-1)
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64)).reshape(-1)
    # hav(d) = hav(dlat) + cos(lat1) cos(lat2) hav(dlon), in place where possible.
    a = np.sin((lat[:, None] - lat[None, :]) * 0.5)
    np.square(a, out=a)
    b = np.sin((lon[:, None] - lon[None, :]) * 0.5)
    np.square(b, out=b)
    cos_lat = np.cos(lat)
    b *= cos_lat[:, None]
    b *= cos_lat[None, :]
    a += b
    np.clip(a, 0.0, 1.0, out=a)
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    a *= 2 * EARTH_RADIUS_M * factor
    return a


def offset(origin: LatLon, north_m: float, east_m: float) -> Point:
    """``origin`` moved ``north_m`` metres north and ``east_m`` metres east (negative: south, west).

    A local flat step on the mean sphere: exact enough for the few kilometres
    the simulators move things, not for crossing a pole.
    """
    lat = origin.lat + math.degrees(north_m / EARTH_RADIUS_M)
    lon = origin.lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(origin.lat))))
    return Point(lat, lon)
