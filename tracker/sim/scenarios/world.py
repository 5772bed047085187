"""The labelled scenario's world: labels, geometry, the staffed network, a parcel's scans.

Part of :mod:`tracker.sim.scenarios` (see its docstring for what the scenario
is): the plain pieces :mod:`tracker.sim.scenarios.builder` and
:mod:`tracker.sim.scenarios.last_mile` share. Points are ``(lat, lon)``
tuples; they are moved and measured with :mod:`tracker.core.geo` (its
``offset`` and its great circle), the one way the package measures the earth.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.core.geo import Point, haversine_m, offset
from tracker.scans.network import CourierSpec, FacilitySpec
from tracker.sim.simulator import Network, _name, build_network, scan_event

FAKE_PATTERNS = (
    "gps_far",
    "no_pod",
    "otp_mismatch",
    "at_facility",
    "bulk_signing",
    "impossible_travel",
    "after_delivery",
    "not_received",
)
HARD_CASES = (
    "gps_noise_dense_block",
    "office_building",
    "pickup_point_many",
    "family_or_locker",
    "home_parcel_left_at_pickup_point",
    "honest_not_received",
)
ROUND_HOURS = (8, 14)
#: Couriers per station, by city key.
STAFF = {"SH": 8, "HZ": 8, "ALT": 3}
#: Radius (km) around the station that its addresses lie in, by city key.
DISTRICT_KM = {"SH": 3.0, "HZ": 3.0, "ALT": 4.0}
SPEED_KMH = 20.0
ROAD_FACTOR = 1.3
TYPED_POD = {"signed_by": "本人", "relation": "self"}


@dataclass
class Labels:
    #: tracking number -> fake-delivery pattern
    fake: dict[str, str] = field(default_factory=dict)
    #: tracking number -> the honest hard cases it is an instance of
    hard: dict[str, set[str]] = field(default_factory=dict)
    #: tracking number -> the segment damage should be attributed to ("facility X", "leg A->B", "courier C")
    damaged: dict[str, str] = field(default_factory=dict)
    perishable: set[str] = field(default_factory=set)
    excursion: set[str] = field(default_factory=set)
    #: parcels handed over (delivered or collected): the population fakes are measured in
    handed_over: set[str] = field(default_factory=set)
    bad_hub: str = ""

    def mark(self, tn: str, case: str) -> None:
        self.hard.setdefault(tn, set()).add(case)


@dataclass
class Scenario:
    network: Network
    parcels: list[dict[str, Any]]
    events: list[dict[str, Any]]
    #: Customer reports: ``{"tracking_number", "kind", "phone", ...}`` in the order made.
    reports: list[dict[str, Any]]
    labels: Labels


# --- geometry ---------------------------------------------------------------------------------


def move(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point so many metres north and east, to 7 decimals (about a centimetre)."""
    moved = offset(Point(lat, lon), north_m, east_m)
    return round(moved.lat, 7), round(moved.lon, 7)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return haversine_m(Point(*a), Point(*b))


def in_disc(rng: random.Random, centre: tuple[float, float], km: float) -> tuple[float, float]:
    r = km * 1000 * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    return move(*centre, r * math.cos(angle), r * math.sin(angle))


def at_distance(rng: random.Random, centre: tuple[float, float], metres: float) -> tuple[float, float]:
    angle = rng.random() * 2 * math.pi
    return move(*centre, metres * math.cos(angle), metres * math.sin(angle))


# --- the world ---------------------------------------------------------------------------------


def staffed_network(seed: int = 7) -> Network:
    """:func:`~tracker.sim.simulator.build_network` with ``STAFF`` couriers at every station."""
    rng = random.Random(seed * 31)
    base = build_network(seed)
    couriers = list(base.couriers)
    for station in base.of_kind("delivery_station"):
        city = station.code.split("-")[1]
        have = [c for c in couriers if c.station_code == station.code]
        for n in range(len(have) + 1, STAFF[city] + 1):
            couriers.append(CourierSpec(f"C-{city}{station.code[-2:]}{n}", _name(rng), station.code))
    return Network(base.facilities, couriers)


@dataclass
class Job:
    """One parcel waiting for the last mile."""

    tn: str
    phone: str
    door: tuple[float, float]
    kind: str  # home | office | pickup
    stop_key: str
    otp: str | None
    perishable: tuple[float, float] | None
    excursion_at: str | None  # "station" | "van" | None
    fake: str | None = None
    redirect_pp: FacilitySpec | None = None
    attempts: int = 0
    failed_at: datetime | None = None
    #: Damage first found by the customer after delivery: the segment to blame.
    customer_damage: str | None = None


class ParcelScans:
    """Accumulates one parcel's scans."""

    def __init__(self, tn: str, out: list[dict[str, Any]], job: Job | None, now: datetime) -> None:
        self.tn, self.out, self.n, self.job, self.now = tn, out, 0, job, now

    def scan(self, at: datetime, type_: str, rng: random.Random, **extra: Any) -> None:
        if at > self.now:
            return  # has not happened yet
        self.n += 1
        event = scan_event(self.tn, self.n, at, type_, extra)
        job = self.job
        if job is not None and job.perishable is not None:
            low, high = job.perishable
            reading = round(rng.uniform(low + 0.3, high - 0.3), 1)
            stray = job.excursion_at
            if (
                stray == "station" and type_ == "arrived" and str(extra.get("facility")).startswith("ST-")
            ) or (stray == "van" and type_ in ("out_for_delivery", "delivered")):
                reading = round(high + rng.uniform(1.5, 8.0), 1)
            event["temperature_c"] = reading
        self.out.append(event)
