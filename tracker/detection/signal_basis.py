"""What every fake-delivery signal stands on: the codes, the constants, where the scan was (pure).

The signals are measured in two modules that both build on this one:
:mod:`tracker.detection.delivery_signals` (the parcel's own evidence and
:func:`~tracker.detection.delivery_signals.collect_signals`, the entry point)
and :mod:`tracker.detection.courier_signals` (the courier's other scans).
:mod:`tracker.detection.fake_delivery` weighs what they find.

* :class:`Code`: every reason code a signal can yield.
* :class:`SignalSettings`: the physical constants behind the signals (GPS
  tolerance, grace periods, top speeds), not their weights.
* :class:`Place` / :func:`judge_place`: the scan's fix against the nearest
  honest handover point (the address, the parcel's pickup point, a pickup
  point the scan names), judged once and read by every location signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from tracker.core.geo import geodesic_m
from tracker.detection.facts import EventFact, EventType, FacilityFact, FacilityKind, GeoPoint, ParcelFact
from tracker.detection.geo import Fix, GpsModel


class Code(StrEnum):
    GPS_FAR = "gps_far_from_address"
    GPS_OFF = "gps_off_address"
    AFTER_DELIVERY = "scanned_after_delivery"
    AT_FACILITY = "scanned_at_facility"
    OTP_MISMATCH = "otp_mismatch"
    NOT_RECEIVED = "customer_not_received"
    BULK_SIGNING = "bulk_signing"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    TRAVEL_CONTRADICTS_CLAIM = "travel_contradicts_claim"
    NO_POD = "no_proof_of_delivery"
    NO_OUT_FOR_DELIVERY = "no_out_for_delivery"
    NOT_READY_FOR_PICKUP = "not_ready_for_pickup"
    NO_GPS = "no_gps_fix"
    OTP_MISSING = "otp_missing"


#: Top speeds (km/h) no honest courier exceeds in a straight line, by vehicle.
DEFAULT_MAX_SPEED_KMH: Mapping[str, float] = MappingProxyType(
    {
        "foot": 15.0,
        "bicycle": 35.0,
        "e_bike": 60.0,
        "scooter": 60.0,
        "motorcycle": 120.0,
        "car": 130.0,
        "van": 130.0,
        "truck": 110.0,
    }
)


@dataclass(frozen=True)
class SignalSettings:
    """The physical constants behind the signals (not their weights)."""

    gps: GpsModel = field(default_factory=GpsModel)
    #: Beyond tolerance by this much, an off-address fix becomes a strong signal.
    far_margin_m: float = 1000.0
    #: Clocks of a courier's phone and a facility scanner disagree by this much.
    post_delivery_grace: timedelta = timedelta(minutes=2)
    #: A round "signed at once": handovers within this long before or after the judged scan.
    bulk_window: timedelta = timedelta(minutes=10)
    #: "One spot": within this radius plus the GPS slack of the two fixes.
    bulk_spot_radius_m: float = 100.0
    #: Fewer parcels addressed elsewhere is a stop with a neighbour's parcel or two, not a round.
    bulk_min_parcels: int = 5
    #: Addresses in fewer distinct places could be one misgeocoded building, not a spread.
    bulk_min_places: int = 3
    max_speed_kmh: Mapping[str, float] = field(default_factory=lambda: DEFAULT_MAX_SPEED_KMH)
    #: Unknown vehicle: assume the fastest road vehicle, so nobody is accused for lack of data.
    default_max_speed_kmh: float = 130.0
    #: Jumps shorter than this (beyond GPS error) are left to GPS glitches.
    min_jump_m: float = 500.0
    min_leg_seconds: float = 30.0


#: ``(code, detail)``: a signal that is present, with what a person should read.
Signal = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Place:
    """Where the scan was, against the nearest honest handover point."""

    fix: Fix | None
    label: str | None = None
    point: GeoPoint | None = None
    distance_m: float | None = None
    tolerance_m: float | None = None

    @property
    def excess_m(self) -> float | None:
        if self.distance_m is None or self.tolerance_m is None:
            return None
        return self.distance_m - self.tolerance_m


def _handover_points(
    event: EventFact, parcel: ParcelFact, facilities: Mapping[str, FacilityFact]
) -> list[tuple[str, GeoPoint]]:
    points: list[tuple[str, GeoPoint]] = []
    if (pickup := parcel.pickup_point_position) is not None:
        points.append((f"pickup point {parcel.pickup_point or '(unnamed)'}", pickup))
    # A scan that names another pickup point is judged against that one: the
    # parcel was redirected there, which is a drop, not a fake.
    named = facilities.get(event.facility or "")
    if named is not None and named.kind is FacilityKind.PICKUP_POINT and named.code != parcel.pickup_point:
        points.append((f"pickup point {named.code}", named.position))
    # A collected scan happens at the pickup point by definition; only a
    # delivered one may honestly be at the address.
    if event.type is EventType.DELIVERED and (home := parcel.destination) is not None:
        points.append(("the address", home))
    return points


def judge_place(
    event: EventFact,
    parcel: ParcelFact,
    facilities: Mapping[str, FacilityFact],
    gps: GpsModel,
) -> Place:
    fix = gps.fix(event)
    points = _handover_points(event, parcel, facilities)
    if not points:
        return Place(fix)
    if fix is None:
        # No fix: the scan claims the first honest point (the pickup point if any).
        label, point = points[0]
        return Place(None, label, point)
    label, point, distance = min(
        ((label, point, geodesic_m(fix.point, point)) for label, point in points),
        key=lambda t: t[2],
    )
    return Place(fix, label, point, distance, gps.tolerance_m(fix))
