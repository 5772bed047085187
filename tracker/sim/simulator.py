"""A deterministic simulator of a parcel network and a day of its scans.

Given a seed and a "now", :func:`simulate_day` builds a small network (two
cities, Shanghai and Hangzhou, and a remote county, Altay in Xinjiang:
warehouses, sorting centres, a grid warehouse, delivery stations, pickup
points and their couriers) and the parcels ordered over the day and a half
before "now", with every scan that would have happened by then, as the JSON
the scan API receives. The demo, the tests and the benchmarks all use it.

A few parcels go wrong on purpose, and ``Day.labels`` says which:

* ``stale``: tracking stops after the sorting centre, two days ago;
* ``fake_delivery``: "delivered" scanned at the station, no proof of delivery;
* ``damaged``: damage found at the sorting centre, then delivered anyway.

Same seed and same "now", same day: nothing reads the clock or global state.
Places are moved with :func:`tracker.core.geo.offset` (the package's one
earth radius); the labelled evaluation data built on this network is
:mod:`tracker.sim.scenarios`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracker.core.geo import Point, offset
from tracker.scans.network import CourierSpec, FacilitySpec

SHANGHAI_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class City:
    key: str
    name: str
    region: str
    lat: float
    lon: float
    districts: tuple[str, ...]
    streets: tuple[str, ...]
    radius_km: float


CITIES = (
    City(
        "SH",
        "上海",
        "CN-31",
        31.2304,
        121.4737,
        ("黄浦区", "徐汇区", "静安区", "浦东新区"),
        ("漕溪北路", "南京西路", "世纪大道", "淮海中路", "肇嘉浜路"),
        12.0,
    ),
    City(
        "HZ",
        "杭州",
        "CN-33",
        30.2741,
        120.1551,
        ("西湖区", "上城区", "滨江区"),
        ("文三路", "延安路", "江南大道", "天目山路"),
        9.0,
    ),
    City("ALT", "阿勒泰", "CN-65", 47.8484, 88.1396, ("阿勒泰市",), ("解放路", "团结路"), 4.0),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


@dataclass
class Network:
    facilities: list[FacilitySpec]
    couriers: list[CourierSpec]

    def by_code(self) -> dict[str, FacilitySpec]:
        return {f.code: f for f in self.facilities}

    def of_kind(self, kind: str, city: str | None = None) -> list[FacilitySpec]:
        return [f for f in self.facilities if f.kind == kind and (city is None or f.city == city)]


@dataclass
class Day:
    network: Network
    #: Registrations as ``POST /api/v1/parcels`` bodies.
    parcels: list[dict[str, Any]]
    #: Scans as ``POST /api/v1/scans`` events, in the order they happened.
    events: list[dict[str, Any]]
    #: Tracking number -> what went wrong on purpose (absent: nothing).
    labels: dict[str, str] = field(default_factory=dict)


def _offset(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A point uniformly within ``km`` of (lat, lon), to 6 decimals (placed by ``core.geo.offset``)."""
    r = km * 1000 * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    moved = offset(Point(lat, lon), r * math.cos(angle), r * math.sin(angle))
    return round(moved.lat, 6), round(moved.lon, 6)


def build_network(seed: int = 7) -> Network:
    rng = random.Random(seed)
    facilities: list[FacilitySpec] = []
    couriers: list[CourierSpec] = []
    for city in CITIES:
        sc = f"SC-{city.key}-01"
        if city.key != "ALT":
            facilities.append(
                FacilitySpec(
                    f"WH-{city.key}-01",
                    f"{city.name}仓库",
                    "warehouse",
                    city.region,
                    city.name,
                    *_offset(rng, city.lat, city.lon, 25),
                )
            )
        facilities.append(
            FacilitySpec(
                sc,
                f"{city.name}分拣中心",
                "sorting_center",
                city.region,
                city.name,
                *_offset(rng, city.lat, city.lon, 15),
            )
        )
        stations = 4 if city.key == "SH" else 2 if city.key == "HZ" else 1
        for s in range(1, stations + 1):
            st = f"ST-{city.key}-{s:02d}"
            district = city.districts[(s - 1) % len(city.districts)]
            facilities.append(
                FacilitySpec(
                    st,
                    f"{city.name}{district}配送站",
                    "delivery_station",
                    city.region,
                    city.name,
                    *_offset(rng, city.lat, city.lon, city.radius_km * 0.6),
                    parent_code=sc,
                )
            )
            for p in range(1, 3):
                pp = f"PP-{city.key}-{s:02d}{p}"
                street = rng.choice(city.streets)
                facilities.append(
                    FacilitySpec(
                        pp,
                        f"{district}{street}自提点",
                        "pickup_point",
                        city.region,
                        city.name,
                        *_offset(rng, city.lat, city.lon, city.radius_km),
                        address=f"{district}{street}{rng.randint(1, 800)}号",
                        opening_hours="09:00-21:00",
                        parent_code=st,
                    )
                )
            for c in range(1, 4 if city.key != "ALT" else 3):
                couriers.append(CourierSpec(f"C-{city.key}{s:02d}{c}", _name(rng), st))
    facilities.append(
        FacilitySpec(
            "GW-SH-01",
            "上海网格仓",
            "grid_warehouse",
            "CN-31",
            "上海",
            *_offset(rng, 31.2304, 121.4737, 10),
            parent_code="SC-SH-01",
        )
    )
    return Network(facilities, couriers)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def scan_event(
    tracking_number: str, n: int, at: datetime, type_: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """The n-th scan of a parcel as the scan API receives it (fields that are None left out)."""
    event = {
        "event_id": f"{tracking_number}-{n:02d}",
        "tracking_number": tracking_number,
        "type": type_,
        "occurred_at": at.astimezone(SHANGHAI_TZ).isoformat(timespec="seconds"),
    }
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


class _Builder:
    """Accumulates one parcel's scans; drops those that happen after ``now``."""

    def __init__(self, tn: str, now: datetime, events: list[dict[str, Any]]) -> None:
        self.tn, self.now, self.out, self.n = tn, now, events, 0

    def scan(self, at: datetime, type_: str, **extra: Any) -> bool:
        if at > self.now:
            return False
        self.n += 1
        self.out.append(scan_event(self.tn, self.n, at, type_, extra))
        return True


def simulate_day(now: datetime, *, seed: int = 7, parcels: int = 400, anomaly_rate: float = 0.03) -> Day:
    """A day and a half of orders before ``now`` and their scans up to ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(seed)
    network = build_network(seed)
    fac = network.by_code()
    day = Day(network, [], [])
    for n in range(parcels):
        tn = f"TRK{seed:02d}{n:08d}"
        anomaly = None
        if rng.random() < anomaly_rate * 3:
            anomaly = rng.choice(["stale", "fake_delivery", "damaged"])
        _one_parcel(rng, network, fac, day, tn, now, anomaly)
    day.events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return day


def _one_parcel(
    rng: random.Random,
    network: Network,
    fac: dict[str, FacilitySpec],
    day: Day,
    tn: str,
    now: datetime,
    anomaly: str | None,
) -> None:
    origin = rng.choice(network.of_kind("warehouse"))
    dest_city = rng.choices(CITIES, weights=(55, 35, 10))[0]
    station = rng.choice(network.of_kind("delivery_station", dest_city.name))
    pickup = rng.random() < 0.2
    pickup_point = (
        rng.choice([f for f in network.of_kind("pickup_point") if f.parent_code == station.code])
        if pickup
        else None
    )
    same_city = dest_city.name == origin.city
    level = (
        "group_buy"
        if pickup
        else "211"
        if same_city and rng.random() < 0.6
        else "next_day"
        if dest_city.key != "ALT" and rng.random() < 0.5
        else "standard"
    )
    hours_back = 60 if anomaly == "stale" else 36
    ordered = now - timedelta(minutes=rng.randint(30, hours_back * 60))
    lat, lon = _offset(rng, station.lat, station.lon, 3.0)
    district = rng.choice(dest_city.districts)
    street = f"{rng.choice(dest_city.streets)}{rng.randint(1, 999)}号"
    address = f"{district}{street}{rng.randint(1, 30)}栋{rng.randint(101, 2802)}室"
    phone = _phone(rng)
    day.parcels.append(
        {
            "tracking_number": tn,
            "service_level": level,
            "ordered_at": ordered.astimezone(SHANGHAI_TZ).isoformat(timespec="seconds"),
            "origin_facility": origin.code,
            "destination": {
                "lat": lat,
                "lon": lon,
                "region": dest_city.region,
                "city": dest_city.name,
                "district": district,
                "postcode": f"{rng.randint(100000, 999999)}",
                "address": address,
            },
            "recipient": {"name": _name(rng), "phone": phone},
            "customer_tier": "vip" if rng.random() < 0.1 else "normal",
            "pickup_point": pickup_point.code if pickup_point else None,
            "weight_kg": round(rng.uniform(0.2, 12.0), 2),
        }
    )
    if anomaly:
        day.labels[tn] = anomaly
    b = _Builder(tn, now, day.events)
    t = ordered + timedelta(minutes=rng.randint(2, 20))
    if not b.scan(t, "created", facility=origin.code):
        return
    t += timedelta(minutes=rng.randint(30, 240))
    if not b.scan(t, "outbound", facility=origin.code):
        return
    t += timedelta(minutes=rng.randint(5, 40))
    b.scan(t, "departed", facility=origin.code)
    sorting = fac[station.parent_code or ""]
    transit_h = 2 if same_city else 5 if dest_city.key != "ALT" else 30
    t += timedelta(hours=transit_h, minutes=rng.randint(0, 90))
    if not b.scan(t, "arrived", facility=sorting.code):
        return
    if anomaly == "damaged":
        t += timedelta(minutes=rng.randint(10, 60))
        b.scan(
            t,
            "damaged",
            facility=sorting.code,
            damage={"severity": rng.choice(["minor", "major"]), "description": "外箱破损"},
        )
    if anomaly == "stale":
        return  # tracking stops here
    t += timedelta(minutes=rng.randint(30, 120))
    b.scan(t, "departed", facility=sorting.code)
    t += timedelta(minutes=rng.randint(40, 150))
    if not b.scan(t, "arrived", facility=station.code):
        return
    courier = rng.choice([c for c in network.couriers if c.station_code == station.code])
    # Rounds leave at 08:00 or 14:00 local, whichever comes first.
    t = _next_round(t + timedelta(minutes=20))
    if pickup_point:
        t += timedelta(minutes=rng.randint(30, 120))
        if b.scan(t, "ready_for_pickup", facility=pickup_point.code):
            t += timedelta(hours=rng.uniform(1, 30))
            b.scan(t, "collected", facility=pickup_point.code, courier_id=None)
        return
    if not b.scan(t, "out_for_delivery", facility=station.code, courier_id=courier.code):
        return
    t += timedelta(minutes=rng.randint(20, 240))
    if anomaly == "fake_delivery":
        b.scan(t, "delivered", courier_id=courier.code, lat=station.lat, lon=station.lon, accuracy_m=15)
        return
    if rng.random() < 0.05:
        b.scan(
            t,
            "delivery_failed",
            courier_id=courier.code,
            reason="no_one_home",
            lat=lat,
            lon=lon,
            accuracy_m=20,
        )
        return
    glat, glon = _offset(rng, lat, lon, 0.04)
    relation = rng.choices(["self", "family", "reception", "locker"], weights=(70, 15, 10, 5))[0]
    b.scan(
        t,
        "delivered",
        courier_id=courier.code,
        lat=glat,
        lon=glon,
        accuracy_m=rng.randint(5, 40),
        pod={
            "signed_by": "本人" if relation == "self" else relation,
            "relation": relation,
            "photo_sha256": f"{rng.getrandbits(256):064x}",
        },
    )


def _next_round(t: datetime) -> datetime:
    local = t.astimezone(SHANGHAI_TZ)
    for hour in (8, 14):
        start = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if start >= local:
            return start
    return (local + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
