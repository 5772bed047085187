"""Days of a parcel network on a timetable, for measuring ETAs (``scripts/eval_eta.py``).

Unlike :mod:`tracker.sim.simulator` (one day of scans, fixed in advance),
this world runs forward with the clock and takes the last mile from the
service itself: a station's couriers go out with the route plan the
service makes (``POST /api/v1/facilities/{facility}/routes``), and each
planned stop is served near its planned time, late more often than early.
Everything before the station is a timetable:

* a warehouse packs an order (20-90 min), then trucks leave at 10:00, 16:00
  and 22:00 local;
* a sorting centre (or the national hub) sorts a parcel in at least 45
  minutes and sends it on with the next departure of its own timetable;
* travel between facilities takes the road distance at about 70 km/h, 4 %
  faster to 8 % slower;
* a station sends couriers out at 08:00 and 14:00.

Two network **shapes**: ``regional`` (the simulator's network: each city's
warehouse sends straight to the destination city's sorting centre) and
``hub`` (every parcel goes through one national hub, then the city's
sorting centre; more cities, longer legs). **Disruptions** (measured days
only, by index): on the first, the busiest sorting facility's departures
from midnight to noon leave six hours late; on the second, one courier of
the busiest station is off sick (taken off the station's roster for the
day, so the plans are made without them).

Deterministic for a seed: nothing reads the clock or global state.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracker.core.geo import Point, haversine_m
from tracker.scans.network import CourierSpec, FacilitySpec
from tracker.sim.simulator import CITIES, City, Network, _name, _offset, _phone, build_network, scan_event

TZ = ZoneInfo("Asia/Shanghai")
SHAPES = ("regional", "hub")
WAREHOUSE_WAVES = (time(10), time(16), time(22))
SORTING_WAVES = (time(3), time(9), time(15), time(21))
HUB_WAVES = (time(1), time(9), time(17))
ROUNDS = (time(8), time(14))
#: The shift of each round: until the next one, and the day's last until 20:00.
ROUND_ENDS = (time(13, 30), time(20))
HUB_DELAY = timedelta(hours=6)
FAILURE_RATE = 0.03
SPEED_KMH = 70.0

EXTRA_CITIES = (
    City("NJ", "南京", "CN-32", 32.0603, 118.7969, ("玄武区", "鼓楼区"), ("中山路", "北京东路"), 8.0),
    City("HF", "合肥", "CN-34", 31.8206, 117.2272, ("蜀山区", "庐阳区"), ("长江路", "金寨路"), 8.0),
)


@dataclass
class Parcel:
    tracking_number: str
    registration: dict[str, Any]
    station: str
    ordered_at: datetime
    #: Scans not posted yet, as (occurred_at, event), in time order.
    pending: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    arrived_station_at: datetime | None = None
    delivered_at: datetime | None = None
    out: bool = False
    n: int = 0

    def scan(self, at: datetime, type_: str, **extra: Any) -> None:
        self.n += 1
        self.pending.append((at, scan_event(self.tracking_number, self.n, at, type_, extra)))


@dataclass
class World:
    shape: str
    seed: int
    network: Network
    #: The first day that is measured (earlier days only build up history).
    measured_from: date
    parcels: dict[str, Parcel] = field(default_factory=dict)
    hub_delay: tuple[str, datetime, datetime] | None = None
    sick: tuple[str, str, date] | None = None
    rng: random.Random = field(default_factory=random.Random)

    # -- the network -----------------------------------------------------------------------

    def facility(self, code: str) -> FacilitySpec:
        return next(f for f in self.network.facilities if f.code == code)

    def stations(self) -> list[str]:
        return [f.code for f in self.network.facilities if f.kind == "delivery_station"]

    def couriers_of(self, station: str) -> list[str]:
        return [c.code for c in self.network.couriers if c.station_code == station]

    def _path(self, origin: str, station: str) -> list[str]:
        sc = self.facility(station).parent_code or ""
        return [origin, "HUB-01", sc, station] if self.shape == "hub" else [origin, sc, station]

    def _travel(self, a: str, b: str) -> timedelta:
        fa, fb = self.facility(a), self.facility(b)
        km = haversine_m(Point(fa.lat, fa.lon), Point(fb.lat, fb.lon)) / 1000 * 1.25
        # Line-hauls run to a schedule: a few percent either way, more often late.
        hours = (0.5 + km / SPEED_KMH) * self.rng.uniform(0.96, 1.08)
        return timedelta(hours=hours)

    def _departure(self, code: str, ready: datetime) -> datetime:
        kind = self.facility(code).kind
        waves = WAREHOUSE_WAVES if kind == "warehouse" else HUB_WAVES if code == "HUB-01" else SORTING_WAVES
        leaves = _next_clock(ready, waves)
        if self.hub_delay and self.hub_delay[0] == code and self.hub_delay[1] <= leaves < self.hub_delay[2]:
            leaves += HUB_DELAY
        return leaves

    # -- traffic ---------------------------------------------------------------------------

    def order(self, ordered_at: datetime, n: int) -> Parcel:
        """A new order at ``ordered_at`` and its scans up to the station (posted as time passes)."""
        rng = self.rng
        warehouses = [f for f in self.network.facilities if f.kind == "warehouse"]
        origin = rng.choice(warehouses)
        stations = [self.facility(s) for s in self.stations()]
        weights = [5 if s.city == "阿勒泰" else 30 for s in stations]
        station = rng.choices(stations, weights=weights)[0]
        tn = f"ETA{self.seed % 100:02d}{'H' if self.shape == 'hub' else 'R'}{n:07d}"
        lat, lon = _offset(rng, station.lat, station.lon, 3.0)
        same_city = station.city == origin.city
        level = (
            "211" if same_city and rng.random() < 0.5 else "next_day" if rng.random() < 0.5 else "standard"
        )
        registration = {
            "tracking_number": tn,
            "service_level": level,
            "ordered_at": ordered_at.astimezone(TZ).isoformat(timespec="seconds"),
            "origin_facility": origin.code,
            "destination": {
                "lat": lat,
                "lon": lon,
                "region": station.region,
                "city": station.city,
                "district": "区",
                "postcode": f"{rng.randint(100000, 999999)}",
                "address": f"路{rng.randint(1, 999)}号",
            },
            "recipient": {"name": _name(rng), "phone": _phone(rng)},
            "customer_tier": "vip" if rng.random() < 0.1 else "normal",
            "weight_kg": round(rng.uniform(0.2, 8.0), 2),
        }
        parcel = Parcel(tn, registration, station.code, ordered_at)
        t = ordered_at + timedelta(minutes=rng.randint(2, 20))
        parcel.scan(t, "created", facility=origin.code)
        t += timedelta(minutes=rng.randint(20, 90))
        parcel.scan(t, "outbound", facility=origin.code)
        path = self._path(origin.code, station.code)
        for here, there in itertools.pairwise(path):
            if here != origin.code:
                parcel.scan(t, "arrived", facility=here)
                t += timedelta(minutes=rng.randint(45, 75))
            t = self._departure(here, t) if self.facility(here).kind != "delivery_station" else t
            parcel.scan(t, "departed", facility=here)
            t += self._travel(here, there)
        parcel.scan(t, "arrived", facility=station.code)
        parcel.arrived_station_at = t
        self.parcels[tn] = parcel
        return parcel

    def due_events(self, until: datetime) -> list[dict[str, Any]]:
        """Every scan that has happened by ``until`` and was not handed out yet, in time order."""
        due: list[tuple[datetime, dict[str, Any]]] = []
        for parcel in self.parcels.values():
            while parcel.pending and parcel.pending[0][0] <= until:
                due.append(parcel.pending.pop(0))
        due.sort(key=lambda item: (item[0], item[1]["event_id"]))
        return [event for _, event in due]

    def follow_plan(self, plan: dict[str, Any], now: datetime) -> None:
        """Couriers leave with the plan's routes now and serve each stop near its planned time."""
        rng = self.rng
        for route in plan["routes"]:
            stops = route["stops"]
            if not stops:
                continue
            leaves = max(datetime.fromisoformat(route["start"]), now)
            # One factor per route (traffic, weather, a slow start) and a little per stop.
            factor = math.exp(rng.gauss(0.04, 0.08))
            last = leaves
            for stop in stops:
                parcel = self.parcels.get(stop["tracking_number"])
                if parcel is None or parcel.delivered_at is not None or parcel.pending:
                    continue
                planned = datetime.fromisoformat(stop["service_start"])
                at = leaves + (planned - leaves) * factor + timedelta(minutes=rng.gauss(0, 5))
                at = max(at, last + timedelta(minutes=1), now + timedelta(minutes=5))
                last = at
                if not parcel.out:
                    parcel.scan(
                        now,
                        "out_for_delivery",
                        facility=self.station_of(parcel),
                        courier_id=route["courier_id"],
                    )
                    parcel.out = True
                lat, lon = (
                    parcel.registration["destination"]["lat"],
                    parcel.registration["destination"]["lon"],
                )
                if rng.random() < FAILURE_RATE:
                    parcel.scan(at, "delivery_failed", courier_id=route["courier_id"], reason="no_one_home",
                                lat=lat, lon=lon, accuracy_m=20)  # fmt: skip
                    # Back at the station after the round; out again with a later plan.
                    parcel.scan(at + timedelta(minutes=30), "arrived", facility=self.station_of(parcel))
                    parcel.out = False
                    continue
                parcel.scan(at, "delivered", courier_id=route["courier_id"], lat=lat, lon=lon, accuracy_m=15,
                            pod={"signed_by": "本人", "relation": "self"})  # fmt: skip
                parcel.delivered_at = at

    def station_of(self, parcel: Parcel) -> str:
        return parcel.station


def _next_clock(after: datetime, clocks: tuple[time, ...]) -> datetime:
    local = after.astimezone(TZ)
    for days in range(3):
        day = local.date() + timedelta(days=days)
        for clock in clocks:
            moment = datetime.combine(day, clock, tzinfo=TZ)
            if moment >= local:
                return moment
    raise AssertionError("unreachable")


def _hub_network(seed: int) -> Network:
    rng = random.Random(seed)
    facilities: list[FacilitySpec] = [
        FacilitySpec("HUB-01", "华东转运中心", "sorting_center", "CN-32", "苏州", 31.2990, 120.5853)
    ]
    couriers: list[CourierSpec] = []
    for city in (*CITIES, *EXTRA_CITIES):
        sc = f"SC-{city.key}-01"
        if city.key in ("SH", "HZ", "NJ"):
            facilities.append(
                FacilitySpec(f"WH-{city.key}-01", f"{city.name}仓库", "warehouse", city.region, city.name,
                             *_offset(rng, city.lat, city.lon, 20)))  # fmt: skip
        facilities.append(
            FacilitySpec(sc, f"{city.name}分拣中心", "sorting_center", city.region, city.name,
                         *_offset(rng, city.lat, city.lon, 12)))  # fmt: skip
        for s in range(1, (3 if city.key == "SH" else 1 if city.key == "ALT" else 2) + 1):
            st = f"ST-{city.key}-{s:02d}"
            facilities.append(
                FacilitySpec(st, f"{city.name}{s}号配送站", "delivery_station", city.region, city.name,
                             *_offset(rng, city.lat, city.lon, city.radius_km * 0.6),
                             parent_code=sc))  # fmt: skip
            for c in range(1, 4):
                couriers.append(CourierSpec(f"C-{city.key}{s:02d}{c}", _name(rng), st))
    return Network(facilities, couriers)


def build_world(shape: str, *, seed: int, measured_from: date) -> World:
    """A world of ``shape`` whose disruptions fall on the first two measured days."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}")
    network = build_network(seed) if shape == "regional" else _hub_network(seed)
    # Pickup points play no part here: every parcel goes to the door.
    network = Network([f for f in network.facilities if f.kind != "pickup_point"], network.couriers)
    world = World(shape, seed, network, measured_from, rng=random.Random(seed * 7919 + len(shape)))
    delayed = "HUB-01" if shape == "hub" else "SC-SH-01"
    midnight = datetime.combine(measured_from, time(0), tzinfo=TZ)
    world.hub_delay = (delayed, midnight, midnight + timedelta(hours=12))
    busiest = sorted(world.stations())[0]
    world.sick = (busiest, world.couriers_of(busiest)[0], measured_from + timedelta(days=1))
    return world


def order_times(world: World, day: date, count: int) -> Iterator[datetime]:
    """``count`` order times over a local day, busier in the evening, in order."""
    rng = world.rng
    hours = [0.3] * 7 + [1.0] * 12 + [1.6] * 4 + [0.6]
    times = []
    for _ in range(count):
        hour = rng.choices(range(24), weights=hours)[0]
        times.append(datetime.combine(day, time(hour, rng.randint(0, 59), rng.randint(0, 59)), tzinfo=TZ))
    yield from sorted(times)
