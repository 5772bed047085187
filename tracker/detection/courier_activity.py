"""A courier's movements around one scan: the geometry behind two signals.

:mod:`tracker.detection.fake_delivery` decides *whether* something is
suspicious; this module only measures, from the courier's other scans:

* :func:`legs_around` - the straight-line legs into and out of the judged
  scan, with the GPS error both ends allow. Straight-line distance is a lower
  bound on the road travelled, so a straight-line speed above the vehicle's
  top speed is impossible, never merely unlikely.
* :func:`signing_batch` - the parcels the courier handed over from (about) the
  same spot within a short window, and how many of them are addressed
  somewhere else, in how many distinct places.

Where a handover scan has no usable fix, its position is the address it
claims (``claimed=True``) with the address radius as its error: a courier who
"delivers" to two far-apart addresses a minute apart without GPS contradicts
themself just as much as one with GPS.

Pure: distances are :func:`tracker.core.geo.geodesic_m`, GPS error is
:class:`tracker.detection.geo.GpsModel`; the signals built on these legs and
batches are in :mod:`tracker.detection.courier_signals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from tracker.core.geo import geodesic_m
from tracker.detection.facts import HANDOVER_TYPES, CourierContext, EventFact, GeoPoint, chronological
from tracker.detection.geo import Fix, GpsModel, count_places


@dataclass(frozen=True, slots=True)
class Located:
    event: EventFact
    point: GeoPoint
    slack_m: float
    #: True when there was no usable fix and ``point`` is the address the scan claims.
    claimed: bool


@dataclass(frozen=True, slots=True)
class Leg:
    start: Located
    end: Located
    distance_m: float
    seconds: float

    @property
    def beyond_error_m(self) -> float:
        """Distance that no GPS error at either end can explain."""
        return max(0.0, self.distance_m - self.start.slack_m - self.end.slack_m)

    def speed_kmh(self, min_seconds: float) -> float:
        # The floor stands in for clock resolution and keeps two scans with the
        # same timestamp from dividing by zero.
        return self.beyond_error_m / max(self.seconds, min_seconds) * 3.6


@dataclass(frozen=True, slots=True)
class SigningBatch:
    spot: GeoPoint
    #: Tracking numbers handed over from the spot within the window (the judged one included).
    signed: tuple[str, ...]
    #: Those whose handover point lies beyond GPS tolerance of the spot.
    elsewhere: tuple[str, ...]
    #: Distinct places (address-radius clusters) among the ``elsewhere`` parcels.
    places: int


def courier_scans(event: EventFact, context: CourierContext) -> list[EventFact]:
    """The courier's scans plus the judged one, each once, in the order they happened."""
    by_id = {s.event_id: s for s in context.scans if s.courier_id == context.courier_id}
    by_id[event.event_id] = event
    return chronological(by_id.values())


def locate(scan: EventFact, gps: GpsModel, destinations: Mapping[str, GeoPoint]) -> Located | None:
    fix = gps.fix(scan)
    if fix is not None:
        return Located(scan, fix.point, fix.slack_m, claimed=False)
    if scan.type in HANDOVER_TYPES and (claimed := destinations.get(scan.tracking_number)):
        return Located(scan, claimed, gps.address_radius_m, claimed=True)
    return None


def legs_around(
    event: EventFact,
    context: CourierContext,
    gps: GpsModel,
    destinations: Mapping[str, GeoPoint],
) -> list[Leg]:
    """The legs from the previous located scan and to the next one."""
    located = [loc for scan in courier_scans(event, context) if (loc := locate(scan, gps, destinations))]
    index = next(
        (i for i, loc in enumerate(located) if loc.event.event_id == event.event_id),
        None,
    )
    if index is None:
        return []
    neighbours = located[max(0, index - 1) : index + 2]
    return [
        Leg(
            a,
            b,
            geodesic_m(a.point, b.point),
            (b.event.occurred_at - a.event.occurred_at).total_seconds(),
        )
        for a, b in pairwise(neighbours)
    ]


def signing_batch(
    event: EventFact,
    fix: Fix,
    context: CourierContext,
    gps: GpsModel,
    destinations: Mapping[str, GeoPoint],
    *,
    window: timedelta,
    spot_radius_m: float,
) -> SigningBatch:
    """Parcels handed over from where the judged scan was made, around its time."""
    signed: dict[str, EventFact] = {}
    for scan in courier_scans(event, context):
        if scan.type not in HANDOVER_TYPES or abs(scan.occurred_at - event.occurred_at) > window:
            continue
        other = gps.fix(scan)
        # Scans without a usable fix cannot be placed at the spot; leave them out.
        if other is None:
            continue
        if geodesic_m(fix.point, other.point) <= spot_radius_m + max(fix.slack_m, other.slack_m):
            signed.setdefault(scan.tracking_number, scan)
    tolerance = gps.tolerance_m(fix)
    elsewhere = [
        tn
        for tn in signed
        if (point := destinations.get(tn)) is not None and geodesic_m(fix.point, point) > tolerance
    ]
    places = count_places((destinations[tn] for tn in elsewhere), gps.address_radius_m)
    return SigningBatch(fix.point, tuple(signed), tuple(elsewhere), places)
