"""Small hand-made routing problems for the routing tests.

Places are a few hundred metres to a few kilometres around a station in
Shanghai; with the default matrix (great circle x 1.3 at 25 km/h) one
kilometre east is about 1.3 km and 3 minutes of driving.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracker.routing.model import Depot, Location, RoutingProblem, Stop, TimeWindow, Vehicle

STATION = Location(31.2304, 121.4737)
DAY = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
BENCHMARKS = Path(__file__).resolve().parents[1] / "data" / "benchmarks"


def km_east(km: float, north_km: float = 0.0) -> Location:
    """A point ``km`` east (and ``north_km`` north) of the station."""
    return Location(
        STATION.lat + north_km / 111.32,
        STATION.lon + km / (111.32 * math.cos(math.radians(STATION.lat))),
    )


@pytest.fixture(scope="session")
def day() -> datetime:
    return DAY


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    return BENCHMARKS


@pytest.fixture(scope="session")
def place() -> Callable[..., Location]:
    return km_east


@pytest.fixture(scope="session")
def vehicle() -> Callable[..., Vehicle]:
    def make(id: str = "V1", **overrides: Any) -> Vehicle:
        fields: dict[str, Any] = {
            "capacity_parcels": 50,
            "capacity_kg": 200.0,
            "shift_start": DAY,
            "shift_end": DAY + timedelta(hours=8),
        }
        fields.update(overrides)
        return Vehicle(id=id, **fields)

    return make


@pytest.fixture(scope="session")
def stop() -> Callable[..., Stop]:
    def make(id: str, km: float = 1.0, north_km: float = 0.0, **overrides: Any) -> Stop:
        fields: dict[str, Any] = {"service_time": timedelta(minutes=2)}
        if "window" in overrides and isinstance(overrides["window"], tuple):
            start, end = overrides["window"]
            overrides["window"] = TimeWindow(
                DAY + timedelta(hours=start) if start is not None else None,
                DAY + timedelta(hours=end) if end is not None else None,
            )
        fields.update(overrides)
        return Stop(id=id, location=km_east(km, north_km), **fields)

    return make


@pytest.fixture(scope="session")
def problem() -> Callable[..., RoutingProblem]:
    def make(vehicles: list[Vehicle], stops: list[Stop], **kwargs: Any) -> RoutingProblem:
        return RoutingProblem(
            depot=Depot("ST-SH-07", STATION), vehicles=tuple(vehicles), stops=tuple(stops), **kwargs
        )

    return make
