"""How much to trust a GPS fix: detection's accuracy model (pure).

Every location judgement in the package goes through :class:`GpsModel`, so
"is this scan near that point?" is answered the same way everywhere::

    tolerance = address_radius_m + accuracy_multiplier * accuracy_m

* ``accuracy_m`` as reported by phones is roughly a one-sigma (68 %) radius;
  twice it covers about 95 % of honest fixes. Urban canyons make reported
  accuracy optimistic, which is why the address radius is added on top
  rather than relying on the accuracy alone.
* ``address_radius_m`` (200 m) covers the gap between a geocoded address and
  the door actually reached: a building's footprint, a residential compound
  geocoded to its centroid, the courier parking across the street.
* A fix coarser than ``max_usable_accuracy_m`` (cell-tower positioning) says
  nothing useful about a doorstep and is treated as no fix at all.

Distances themselves are :func:`tracker.core.geo.geodesic_m` (WGS-84, via
geopy): exact enough at any range and cheap enough for the few hundred
points one courier produces in a day. This module adds only what detection
makes of them: the tolerance, how a distance reads in a reason
(:func:`format_distance`) and how many places a set of points spans
(:func:`count_places`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tracker.core.geo import geodesic_m
from tracker.detection.facts import EventFact, GeoPoint


def format_distance(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


@dataclass(frozen=True, slots=True)
class Fix:
    """A usable GPS position and how far it may honestly be off (metres)."""

    point: GeoPoint
    accuracy_m: float
    slack_m: float


@dataclass(frozen=True, slots=True)
class GpsModel:
    address_radius_m: float = 200.0
    accuracy_multiplier: float = 2.0
    #: Assumed when a scan has a position but no accuracy: a typical phone fix outdoors.
    default_accuracy_m: float = 50.0
    max_usable_accuracy_m: float = 500.0

    def fix(self, event: EventFact) -> Fix | None:
        """The scan's position if it is precise enough to judge a doorstep."""
        point = event.position
        if point is None:
            return None
        accuracy = self.default_accuracy_m if event.accuracy_m is None else event.accuracy_m
        if accuracy > self.max_usable_accuracy_m:
            return None
        return Fix(point, accuracy, self.accuracy_multiplier * accuracy)

    def tolerance_m(self, fix: Fix) -> float:
        """How far from an address an honest handover scan can land."""
        return self.address_radius_m + fix.slack_m


def count_places(points: Iterable[GeoPoint], radius_m: float) -> int:
    """How many distinct places the points fall in (greedy clustering).

    Each point joins the first place whose anchor is within ``radius_m``,
    else it starts a new place. Greedy is order-dependent at the margins, but
    the callers only ask "one place or several?", which it answers robustly.
    """
    anchors: list[GeoPoint] = []
    for point in points:
        if not any(geodesic_m(point, anchor) <= radius_m for anchor in anchors):
            anchors.append(point)
    return len(anchors)
