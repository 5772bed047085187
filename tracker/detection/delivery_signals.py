"""The evidence against a handover scan, measured: what each signal sees.

:mod:`tracker.detection.fake_delivery` turns these findings into a score
(weights, threshold, verdict); this module only decides whether each signal
is present and writes its detail. Splitting "what counts as evidence" from
"how much it weighs" lets ops re-weigh without touching the geometry.

:func:`collect_signals` runs, in order::

    location    scan fix vs. the nearest honest handover point (geo.GpsModel)
    proof       signature / photo / one-time code
    sequence    a last-mile step since the parcel last arrived at a facility
    facility    the scan was made where parcels wait, not at a doorstep
    afterwards  later scans showing the parcel still in the network
    customer    not_received reports made after the scan
    courier     impossible travel and bulk signing (courier_activity)

Each yields ``(code, detail)``; the code table with the reasoning behind each
signal and weight is in :mod:`tracker.detection.fake_delivery`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from tracker.detection.courier_activity import legs_around, signing_batch
from tracker.detection.facts import (
    NETWORK_FACILITY_KINDS,
    CourierContext,
    EventFact,
    EventType,
    FacilityFact,
    FacilityKind,
    GeoPoint,
    ParcelFact,
    ReportKind,
    is_at_pickup_point,
)
from tracker.detection.geo import Fix, GpsModel, distance_m, format_distance


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

#: Scans that put the parcel back in the network's hands.
_IN_NETWORK = frozenset(
    {
        EventType.OUTBOUND,
        EventType.ARRIVED,
        EventType.DEPARTED,
        EventType.OUT_FOR_DELIVERY,
        EventType.DELIVERY_FAILED,
        EventType.READY_FOR_PICKUP,
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


def collect_signals(
    event: EventFact,
    parcel: ParcelFact,
    history: list[EventFact],
    courier: CourierContext | None,
    facilities: Mapping[str, FacilityFact],
    settings: SignalSettings,
) -> list[Signal]:
    """Every signal present for a handover scan.

    ``history`` is the parcel's other scans in order; ``facilities`` maps
    facility codes to their kind and position (any subset; may be empty).
    """
    place = _judge_place(event, parcel, facilities, settings.gps)
    found: list[Signal] = [
        *_location_signals(event, parcel, place, settings),
        *_proof_signals(event, parcel),
        *_sequence_signals(event, parcel, history),
        *_facility_signals(event, parcel, place, facilities, settings.gps),
        *_after_delivery_signals(event, parcel, history, settings.post_delivery_grace),
        *_customer_signals(event, parcel),
    ]
    if courier is not None and event.courier_id == courier.courier_id:
        found += _courier_signals(event, place, courier, settings)
    return found


@dataclass(frozen=True, slots=True)
class _Place:
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


def _judge_place(
    event: EventFact,
    parcel: ParcelFact,
    facilities: Mapping[str, FacilityFact],
    gps: GpsModel,
) -> _Place:
    fix = gps.fix(event)
    points = _handover_points(event, parcel, facilities)
    if not points:
        return _Place(fix)
    if fix is None:
        # No fix: the scan claims the first honest point (the pickup point if any).
        label, point = points[0]
        return _Place(None, label, point)
    label, point, distance = min(
        ((label, point, distance_m(fix.point, point)) for label, point in points),
        key=lambda t: t[2],
    )
    return _Place(fix, label, point, distance, gps.tolerance_m(fix))


def _location_signals(
    event: EventFact, parcel: ParcelFact, place: _Place, settings: SignalSettings
) -> Iterator[Signal]:
    if place.fix is None:
        # Pickup-point terminals often have no GPS at all; a courier's phone should.
        if event.type is EventType.DELIVERED and not is_at_pickup_point(event, parcel):
            why = (
                "no position"
                if event.position is None
                else f"accuracy {format_distance(event.accuracy_m or 0)} too coarse"
            )
            yield Code.NO_GPS, f"delivered scan has no usable GPS fix ({why})"
        return
    excess = place.excess_m
    if excess is None or excess <= 0:
        return
    assert place.distance_m is not None and place.tolerance_m is not None
    detail = (
        f"scanned {format_distance(place.distance_m)} from {place.label} with "
        f"±{format_distance(place.fix.accuracy_m)} accuracy; honest scans land within "
        f"{format_distance(place.tolerance_m)}"
    )
    yield (Code.GPS_FAR if excess > settings.far_margin_m else Code.GPS_OFF), detail


def _proof_signals(event: EventFact, parcel: ParcelFact) -> Iterator[Signal]:
    pod = event.pod
    if pod is None or not pod.has_evidence:
        yield Code.NO_POD, "no signature, photo or one-time code was captured"
        return
    expected = (parcel.expected_otp or "").strip()
    if not expected:
        return
    given = (pod.otp or "").strip()
    if given and given != expected:
        yield (
            Code.OTP_MISMATCH,
            "the one-time code entered does not match the parcel's code",
        )
    elif not given:
        # The code is for a person at the door; lockers and pickup-point drops never see it.
        dropped = pod.relation == "locker" or (
            event.type is EventType.DELIVERED and is_at_pickup_point(event, parcel)
        )
        if not dropped:
            who = pod.relation or "the recipient"
            yield (
                Code.OTP_MISSING,
                f"the parcel expects a one-time code; handed to {who} without one",
            )


def _is_last_mile_step(step: EventFact, event: EventFact, parcel: ParcelFact) -> bool:
    if step.type is EventType.OUT_FOR_DELIVERY:
        return True
    at_pickup = is_at_pickup_point(step, parcel)
    if event.type is EventType.COLLECTED or is_at_pickup_point(event, parcel):
        return step.type is EventType.READY_FOR_PICKUP or (
            at_pickup and step.type in {EventType.ARRIVED, EventType.DELIVERED}
        )
    return False


def _sequence_signals(event: EventFact, parcel: ParcelFact, history: list[EventFact]) -> Iterator[Signal]:
    before = [e for e in history if e.occurred_at <= event.occurred_at]
    # Only steps since the parcel last sat in a network facility count: a
    # parcel brought back to the station must go out for delivery again.
    arrivals = [
        i for i, e in enumerate(before) if e.type is EventType.ARRIVED and not is_at_pickup_point(e, parcel)
    ]
    since = before[arrivals[-1] + 1 :] if arrivals else before
    if any(_is_last_mile_step(e, event, parcel) for e in since):
        return
    where = f" since it arrived at {before[arrivals[-1]].facility}" if arrivals else ""
    if event.type is EventType.COLLECTED:
        yield (
            Code.NOT_READY_FOR_PICKUP,
            f"collected, but the parcel never reached the pickup point{where}",
        )
    else:
        yield (
            Code.NO_OUT_FOR_DELIVERY,
            f"delivered without an out_for_delivery scan{where}",
        )


def _facility_signals(
    event: EventFact,
    parcel: ParcelFact,
    place: _Place,
    facilities: Mapping[str, FacilityFact],
    gps: GpsModel,
) -> Iterator[Signal]:
    if event.type is EventType.COLLECTED or is_at_pickup_point(event, parcel):
        return
    if place.fix is None:
        if event.facility_kind in NETWORK_FACILITY_KINDS:
            yield (
                Code.AT_FACILITY,
                (
                    f"no usable GPS fix; the scan's only location is {event.facility} "
                    f"({event.facility_kind}), where parcels wait"
                ),
            )
        return
    if place.excess_m is not None and place.excess_m <= 0:
        return  # at the address; a facility next door does not matter
    tolerance = gps.tolerance_m(place.fix)
    nearby = sorted(
        (distance_m(place.fix.point, f.position), f.code)
        for f in facilities.values()
        if f.kind in NETWORK_FACILITY_KINDS
    )
    if nearby and nearby[0][0] <= tolerance:
        distance, code = nearby[0]
        yield (
            Code.AT_FACILITY,
            f"scanned {format_distance(distance)} from facility {code}, not at the address",
        )


def _after_delivery_signals(
    event: EventFact, parcel: ParcelFact, history: list[EventFact], grace: timedelta
) -> Iterator[Signal]:
    dropped_at_pickup = event.type is EventType.DELIVERED and is_at_pickup_point(event, parcel)
    later = [
        e
        for e in history
        if e.occurred_at > event.occurred_at + grace
        and e.type in _IN_NETWORK
        # After a drop at a pickup point, its own scans are the normal flow.
        and not (
            dropped_at_pickup and (e.type is EventType.READY_FOR_PICKUP or is_at_pickup_point(e, parcel))
        )
    ]
    if later:
        shown = "; ".join(
            f"{e.type} at {e.facility or e.courier_id or 'unknown'} {_minutes(e.occurred_at)}"
            for e in later[:3]
        )
        more = f" and {len(later) - 3} more" if len(later) > 3 else ""
        yield (
            Code.AFTER_DELIVERY,
            f"scanned in the network after the handover: {shown}{more}",
        )


def _customer_signals(event: EventFact, parcel: ParcelFact) -> Iterator[Signal]:
    # A complaint from before the scan is about lateness, not about this claim.
    reports = [r for r in parcel.reports if r.kind is ReportKind.NOT_RECEIVED and r.at >= event.occurred_at]
    if reports:
        first = min(r.at for r in reports)
        yield (
            Code.NOT_RECEIVED,
            f"the recipient reported not_received ({len(reports)}x, first {_minutes(first)})",
        )


def _courier_signals(
    event: EventFact, place: _Place, courier: CourierContext, settings: SignalSettings
) -> list[Signal]:
    destinations = dict(courier.destinations)
    if place.point is not None:
        # This parcel's honest point is the nearest one, as the location signal judged it.
        destinations[event.tracking_number] = place.point
    return [
        *_travel_signals(event, courier, destinations, settings),
        *_bulk_signals(event, place, courier, destinations, settings),
    ]


def _travel_signals(
    event: EventFact,
    courier: CourierContext,
    destinations: Mapping[str, GeoPoint],
    settings: SignalSettings,
) -> Iterator[Signal]:
    top = settings.max_speed_kmh.get(courier.vehicle or "", settings.default_max_speed_kmh)
    impossible = [
        leg
        for leg in legs_around(event, courier, settings.gps, destinations)
        if leg.beyond_error_m >= settings.min_jump_m and leg.speed_kmh(settings.min_leg_seconds) > top
    ]
    if not impossible:
        return
    leg = max(impossible, key=lambda leg: leg.speed_kmh(settings.min_leg_seconds))
    this, other = (leg.end, leg.start) if leg.end.event.event_id == event.event_id else (leg.start, leg.end)
    # A scan without a fix is placed at the address it claims; say so.
    claimed = " (placed at its address: no GPS)" if other.claimed else ""
    # Which of the two scans is wrong? When this handover has no fix of its
    # own and the other scan has one, the only position on record is the
    # other scan's: the evidence is not symmetric, it is against this claim.
    code = Code.TRAVEL_CONTRADICTS_CLAIM if this.claimed and not other.claimed else Code.IMPOSSIBLE_TRAVEL
    yield (
        code,
        f"{format_distance(leg.distance_m)}{claimed} from the courier's {other.event.type} scan of "
        f"{other.event.tracking_number} {abs(leg.seconds) / 60:.0f} min apart: "
        f"{leg.speed_kmh(settings.min_leg_seconds):.0f} km/h beyond GPS error, "
        f"above the {top:.0f} km/h top speed ({courier.vehicle or 'unknown vehicle'})",
    )


def _bulk_signals(
    event: EventFact,
    place: _Place,
    courier: CourierContext,
    destinations: Mapping[str, GeoPoint],
    settings: SignalSettings,
) -> Iterator[Signal]:
    # Only a scan that is itself off its address can be part of a fake round.
    if place.fix is None or (place.excess_m or 0) <= 0:
        return
    batch = signing_batch(
        event,
        place.fix,
        courier,
        settings.gps,
        destinations,
        window=settings.bulk_window,
        spot_radius_m=settings.bulk_spot_radius_m,
    )
    if len(batch.elsewhere) >= settings.bulk_min_parcels and batch.places >= settings.bulk_min_places:
        yield (
            Code.BULK_SIGNING,
            f"{len(batch.signed)} parcels handed over from this spot within "
            f"{settings.bulk_window.total_seconds() / 60:.0f} min of this scan; "
            f"{len(batch.elsewhere)} are addressed elsewhere, in {batch.places} distinct places",
        )


def _minutes(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
