"""Immutable facts the detectors read: scans, parcels and a courier's day.

The database layer builds these from rows; every detector in this package is
a pure function of them (plus a config object), so a verdict can be computed
again at any time from whatever evidence is known by then::

    EventFact* + ParcelFact (+ CourierContext) -> fake_delivery.score_delivery -> Verdict
    EventFact* + ParcelFact                    -> damage.attribute_damage     -> DamageAttribution
    EventFact* + ParcelFact (+ its SensorReadings) -> cold_chain.find_excursion -> Excursion

Nothing here knows about Flask, SQLAlchemy or the clock. Validation is strict
(a naive datetime, half a coordinate pair or an unknown event type raises
``ValueError``) because a malformed fact would silently skew a score instead
of failing where the row was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from tracker.core.vocabulary import EventType, FacilityKind, damage_exception


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    DESTROYED = "destroyed"


class ReportKind(StrEnum):
    NOT_RECEIVED = "not_received"
    DAMAGED = "damaged"
    LATE = "late"


#: Events that hand the parcel to its recipient (``collected`` counts as delivered).
HANDOVER_TYPES = frozenset({EventType.DELIVERED, EventType.COLLECTED})

#: Facilities where parcels wait in the network; a pickup point is a place of handover.
NETWORK_FACILITY_KINDS = frozenset(
    {
        FacilityKind.WAREHOUSE,
        FacilityKind.SORTING_CENTER,
        FacilityKind.GRID_WAREHOUSE,
        FacilityKind.DELIVERY_STATION,
    }
)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _point_or_none(lat: float | None, lon: float | None, what: str) -> GeoPoint | None:
    # Half a coordinate pair is a bug in the row mapping, not "unknown".
    if (lat is None) != (lon is None):
        raise ValueError(f"{what}: lat and lon must both be set or both be None")
    return None if lat is None or lon is None else GeoPoint(lat, lon)


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"coordinates out of range: {self.lat}, {self.lon}")


@dataclass(frozen=True, slots=True)
class ProofOfDelivery:
    """What the courier or pickup point captured at handover."""

    signed_by: str | None = None
    #: self, family, colleague, reception, locker, neighbour, ... (an open set).
    relation: str | None = None
    photo_sha256: str | None = None
    otp: str | None = None

    @property
    def has_evidence(self) -> bool:
        """A signature, a photo or a one-time code: any one is a proof."""
        return not (_blank(self.signed_by) and _blank(self.photo_sha256) and _blank(self.otp))


@dataclass(frozen=True, slots=True)
class DamageNote:
    severity: Severity
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))


@dataclass(frozen=True, slots=True)
class CustomerReport:
    kind: ReportKind
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ReportKind(self.kind))
        _require_aware("CustomerReport.at", self.at)


@dataclass(frozen=True, slots=True)
class TemperatureRange:
    min_c: float
    max_c: float

    def __post_init__(self) -> None:
        if self.min_c > self.max_c:
            raise ValueError(f"min_c {self.min_c} above max_c {self.max_c}")


@dataclass(frozen=True, slots=True)
class SensorReading:
    """A temperature a sensor reported for a parcel apart from any scan (an EPCIS sensor report).

    ``temperatures_c`` is what the report gave in °C: its value, and the
    extremes of a report over a span; the reading strays when any of them is
    outside the parcel's range.
    """

    reading_id: str
    observed_at: datetime
    temperatures_c: tuple[float, ...]
    facility: str | None = None
    #: What reported it, for a person (the device, the event).
    source: str = "sensor reading"

    def __post_init__(self) -> None:
        object.__setattr__(self, "temperatures_c", tuple(self.temperatures_c))
        _require_aware("SensorReading.observed_at", self.observed_at)


@dataclass(frozen=True, slots=True)
class EventFact:
    """One scan event, as stored."""

    event_id: str
    tracking_number: str
    type: EventType
    occurred_at: datetime
    facility: str | None = None
    facility_kind: FacilityKind | None = None
    courier_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    temperature_c: float | None = None
    pod: ProofOfDelivery | None = None
    damage: DamageNote | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        # Coerce plain strings from rows into the enums; unknown values raise.
        object.__setattr__(self, "type", EventType(self.type))
        if self.facility_kind is not None:
            object.__setattr__(self, "facility_kind", FacilityKind(self.facility_kind))
        _require_aware("EventFact.occurred_at", self.occurred_at)
        _point_or_none(self.lat, self.lon, f"event {self.event_id}")
        if self.accuracy_m is not None and self.accuracy_m < 0:
            raise ValueError(f"event {self.event_id}: negative accuracy_m")

    @property
    def position(self) -> GeoPoint | None:
        return _point_or_none(self.lat, self.lon, f"event {self.event_id}")

    @property
    def is_damage_evidence(self) -> bool:
        """A ``damaged`` scan, any scan that recorded damage, or an ``exception`` for damage."""
        return (
            self.type is EventType.DAMAGED
            or self.damage is not None
            or damage_exception(self.type, self.reason)
        )


@dataclass(frozen=True, slots=True)
class FacilityFact:
    """A facility and where it is: a network facility is where parcels wait,
    a pickup point is an honest place of handover."""

    code: str
    kind: FacilityKind
    lat: float
    lon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FacilityKind(self.kind))
        GeoPoint(self.lat, self.lon)  # validates the range

    @property
    def position(self) -> GeoPoint:
        return GeoPoint(self.lat, self.lon)


@dataclass(frozen=True, slots=True)
class ParcelFact:
    """What the detectors need to know about one parcel."""

    tracking_number: str
    destination_lat: float | None = None
    destination_lon: float | None = None
    pickup_point: str | None = None
    pickup_point_lat: float | None = None
    pickup_point_lon: float | None = None
    expected_otp: str | None = None
    perishable: TemperatureRange | None = None
    reports: tuple[CustomerReport, ...] = ()
    #: Temperatures reported for the parcel that no scan carries (the cold-chain detector's too).
    readings: tuple[SensorReading, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "reports", tuple(self.reports))
        object.__setattr__(self, "readings", tuple(self.readings))
        _point_or_none(self.destination_lat, self.destination_lon, "destination")
        _point_or_none(self.pickup_point_lat, self.pickup_point_lon, "pickup point")

    @property
    def destination(self) -> GeoPoint | None:
        return _point_or_none(self.destination_lat, self.destination_lon, "destination")

    @property
    def pickup_point_position(self) -> GeoPoint | None:
        return _point_or_none(self.pickup_point_lat, self.pickup_point_lon, "pickup point")

    @property
    def handover_point(self) -> GeoPoint | None:
        """Where an honest handover happens: the pickup point if it has one, else the address."""
        return self.pickup_point_position or self.destination


@dataclass(frozen=True, slots=True)
class CourierContext:
    """One courier's scans around the event being judged, for cross-parcel signals.

    ``destinations`` maps each tracking number in ``scans`` to its *handover
    point* (``ParcelFact.handover_point``: the pickup point for parcels sent
    to one, else the address). Giving home addresses for pickup-point parcels
    would make a courier who drops thirty parcels at one pickup point look like
    a bulk signer; :meth:`from_parcels` builds the mapping the right way.
    ``vehicle`` (foot, bicycle, e_bike, scooter, motorcycle, car, van, truck)
    sets the plausible top speed; None means "assume a car".
    """

    courier_id: str
    scans: tuple[EventFact, ...] = ()
    destinations: Mapping[str, GeoPoint] = field(default_factory=lambda: MappingProxyType({}))
    vehicle: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scans", tuple(self.scans))
        object.__setattr__(self, "destinations", MappingProxyType(dict(self.destinations)))

    @classmethod
    def from_parcels(
        cls,
        courier_id: str,
        scans: Iterable[EventFact],
        parcels: Iterable[ParcelFact],
        vehicle: str | None = None,
    ) -> CourierContext:
        destinations = {p.tracking_number: point for p in parcels if (point := p.handover_point) is not None}
        return cls(courier_id, tuple(scans), destinations, vehicle)


def chronological(events: Iterable[EventFact]) -> list[EventFact]:
    """Events in the order they happened (never the order they arrived).

    The event id breaks ties so the order, and every result built on it, is
    deterministic when two scans share a timestamp.
    """
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


def is_at_pickup_point(event: EventFact, parcel: ParcelFact) -> bool:
    """True when the scan was made at a pickup point (the parcel's own or any other)."""
    if event.facility_kind is FacilityKind.PICKUP_POINT:
        return True
    return parcel.pickup_point is not None and event.facility == parcel.pickup_point


@dataclass(frozen=True, slots=True)
class Reason:
    """A finding a person can read; cases carry a list of these."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}
