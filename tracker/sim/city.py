"""A realistic, reproducible delivery day in a city, for benchmarks and demos.

:func:`city_problem` places a station near the centre (Shanghai by default)
and N stops around it: most in dense clusters (residential compounds, office
parks), the rest scattered, thinning out towards ``radius_km``. Stops get the
mix a last-mile station sees: mostly single parcels, a two-hour appointment
for about a third, a same-day promise for some, a customer tier, and a
service time that grows with the parcels. A few customers book a slot before
any shift starts, so a plan always has something to explain.

The fleet mixes vans and electric tricycles on staggered shifts. Everything
is drawn from ``numpy.random.default_rng(seed)``: same seed, same day.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone

import numpy as np

from tracker.routing.model import Depot, Location, RoutingProblem, Stop, TimeWindow, Vehicle

__all__ = ["SHANGHAI", "city_problem", "courier_day"]

SHANGHAI = Location(31.2304, 121.4737)
CST = timezone(timedelta(hours=8), "CST")
_KM_PER_DEG_LAT = 111.32


def _offset(centre: Location, east_km: np.ndarray, north_km: np.ndarray) -> list[Location]:
    lat = centre.lat + north_km / _KM_PER_DEG_LAT
    lon = centre.lon + east_km / (_KM_PER_DEG_LAT * math.cos(math.radians(centre.lat)))
    return [Location(round(float(a), 6), round(float(o), 6)) for a, o in zip(lat, lon, strict=True)]


def city_problem(
    stops: int,
    *,
    vehicles: int = 40,
    seed: int = 0,
    centre: Location = SHANGHAI,
    radius_km: float = 10.0,
    day: date = date(2026, 11, 20),
) -> RoutingProblem:
    """A delivery day with ``stops`` stops and ``vehicles`` vehicles."""
    rng = np.random.default_rng(seed)
    at = lambda hour, minute=0: datetime.combine(day, time(hour, minute), CST)  # noqa: E731

    # 1. Where: 70% in clusters of ~1 km, 30% scattered (denser near the centre).
    clusters = max(1, stops // 40)
    cluster_r = radius_km * np.sqrt(rng.uniform(0, 1, clusters)) * 0.9
    cluster_a = rng.uniform(0, 2 * math.pi, clusters)
    in_cluster = rng.uniform(0, 1, stops) < 0.7
    which = rng.integers(0, clusters, stops)
    r = np.where(in_cluster, 0.0, radius_km * rng.uniform(0, 1, stops) ** 0.75)
    a = rng.uniform(0, 2 * math.pi, stops)
    east = r * np.cos(a) + np.where(
        in_cluster, cluster_r[which] * np.cos(cluster_a[which]) + rng.normal(0, 0.5, stops), 0
    )
    north = r * np.sin(a) + np.where(
        in_cluster, cluster_r[which] * np.sin(cluster_a[which]) + rng.normal(0, 0.5, stops), 0
    )
    places = _offset(centre, east, north)

    # 2. What: parcels, weight, service time, tier.
    parcels = rng.choice([1, 2, 3, 5], size=stops, p=[0.7, 0.18, 0.08, 0.04])
    weights = np.round(parcels * rng.lognormal(0.2, 0.6, stops), 2)
    service_s = 90 + 45 * parcels + rng.integers(0, 120, stops)
    tiers = rng.choice(["normal", "vip"], size=stops, p=[0.90, 0.10])

    # 3. When: a 2-hour appointment (9:00-18:00 starts), a promise, or open.
    kind = rng.choice(["appointment", "promise", "open"], size=stops, p=[0.33, 0.17, 0.50])
    slot = rng.integers(9, 17, stops)
    early = rng.uniform(0, 1, stops) < 0.01  # booked before any shift starts
    result = []
    for i in range(stops):
        if early[i]:
            window = TimeWindow(at(6), at(7))
        elif kind[i] == "appointment":
            window = TimeWindow(at(int(slot[i])), at(int(slot[i]) + 2))
        elif kind[i] == "promise":
            window = TimeWindow(None, at(12) if rng.uniform() < 0.5 else at(18))
        else:
            window = TimeWindow()
        result.append(
            Stop(
                id=f"S{i:05d}",
                location=places[i],
                parcels=int(parcels[i]),
                weight_kg=float(weights[i]),
                service_time=timedelta(seconds=int(service_s[i])),
                window=window,
                tier=str(tiers[i]),
            )
        )

    # 4. Who: three vans for each tricycle; shifts start 8:00 or 9:00, 9 hours.
    fleet = []
    for j in range(vehicles):
        van = j % 4 != 3
        begin = at(8) if j % 2 == 0 else at(9)
        fleet.append(
            Vehicle(
                id=f"{'VAN' if van else 'TRI'}-{j:03d}",
                capacity_parcels=60 if van else 30,
                capacity_kg=400.0 if van else 120.0,
                shift_start=begin,
                shift_end=begin + timedelta(hours=9),
            )
        )
    depot = Depot("ST-CITY-01", _offset(centre, np.array([0.8]), np.array([-0.6]))[0])
    return RoutingProblem(depot=depot, vehicles=tuple(fleet), stops=tuple(result))


def courier_day(
    parcels: int = 1200,
    *,
    couriers: int = 8,
    seed: int = 0,
    centre: Location = SHANGHAI,
    radius_km: float = 3.0,
    booked_share: float = 0.10,
    day: date = date(2026, 11, 20),
) -> RoutingProblem:
    """One station's e-bike couriers and their day: ``parcels`` single-parcel stops.

    What a Chinese delivery station sees: 150 parcels a courier, residential
    compounds packed within a few kilometres, a minute or two at each door,
    and a few customers (``booked_share``) who booked a two-hour slot. Each
    e-bike carries 150 parcels and 180 kg, so the fleet has exactly the room
    for the day when ``parcels = 150 * couriers``; shifts run 08:00-19:00.
    """
    rng = np.random.default_rng(seed)
    at = lambda hour, minute=0: datetime.combine(day, time(hour, minute), CST)  # noqa: E731

    # 85% in compounds (~300 m across), the rest along the streets between.
    compounds = max(1, parcels // 25)
    compound_r = radius_km * np.sqrt(rng.uniform(0, 1, compounds))
    compound_a = rng.uniform(0, 2 * math.pi, compounds)
    in_compound = rng.uniform(0, 1, parcels) < 0.85
    which = rng.integers(0, compounds, parcels)
    r = np.where(in_compound, 0.0, radius_km * np.sqrt(rng.uniform(0, 1, parcels)))
    a = rng.uniform(0, 2 * math.pi, parcels)
    east = r * np.cos(a) + np.where(
        in_compound, compound_r[which] * np.cos(compound_a[which]) + rng.normal(0, 0.15, parcels), 0
    )
    north = r * np.sin(a) + np.where(
        in_compound, compound_r[which] * np.sin(compound_a[which]) + rng.normal(0, 0.15, parcels), 0
    )
    places = _offset(centre, east, north)

    weights = np.round(rng.lognormal(-0.5, 0.6, parcels), 2)  # mean ~0.7 kg
    service_s = 60 + rng.integers(0, 60, parcels)
    booked = rng.uniform(0, 1, parcels) < booked_share
    slot = rng.integers(9, 17, parcels)  # two-hour slots starting 09:00-16:00
    stops = [
        Stop(
            id=f"P{i:05d}",
            location=places[i],
            parcels=1,
            weight_kg=float(weights[i]),
            service_time=timedelta(seconds=int(service_s[i])),
            window=TimeWindow(at(int(slot[i])), at(int(slot[i]) + 2)) if booked[i] else TimeWindow(),
            tier="normal",
        )
        for i in range(parcels)
    ]
    fleet = tuple(
        Vehicle(
            id=f"EBIKE-{j:02d}",
            capacity_parcels=150,
            capacity_kg=180.0,
            shift_start=at(8),
            shift_end=at(19),
        )
        for j in range(couriers)
    )
    depot = Depot("ST-CITY-02", centre)
    return RoutingProblem(depot=depot, vehicles=fleet, stops=tuple(stops))
