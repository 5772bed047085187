"""A small world for detection through the service: parcels registered and scanned
through the API, judged by ``evaluate_parcels``, cases read back from the database.

Times are the hours before the test clock's "now" (12:00 in Shanghai), so every
scan is in the past; places are metres north and east of a home in Pudong,
about 1.9 km from courier C-SH011's station ST-SH-01.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from geopy.distance import geodesic
from sqlalchemy import Engine, select

from tests.conftest import FakeClock, Personas
from tests.helpers import at, registration
from tracker.core.db import write_transaction
from tracker.core.models import Case, Parcel
from tracker.detection.evaluate import DetectionConfig, evaluate_parcels
from tracker.detection.facts import GeoPoint
from tracker.sim.simulator import build_network

# Where the simulator's network (the one every test database holds) puts them.
_NETWORK = build_network().by_code()
STATION = GeoPoint(_NETWORK["ST-SH-01"].lat, _NETWORK["ST-SH-01"].lon)
HUB = "SC-SH-01"
PICKUP = GeoPoint(_NETWORK["PP-SH-012"].lat, _NETWORK["PP-SH-012"].lon)  # supplied from ST-SH-01


def moved(point: GeoPoint, north: float = 0.0, east: float = 0.0) -> GeoPoint:
    step = geodesic(meters=abs(north)).destination((point.lat, point.lon), 0 if north >= 0 else 180)
    step = geodesic(meters=abs(east)).destination(step, 90 if east >= 0 else 270)
    return GeoPoint(round(step.latitude, 7), round(step.longitude, 7))


HOME = GeoPoint(31.2100, 121.5300)
POD = {"signed_by": "张三丰", "relation": "self", "photo_sha256": "ab" * 32}


class World:
    def __init__(self, personas: Personas, engine: Engine, clock: FakeClock) -> None:
        self.personas, self.engine, self.clock = personas, engine, clock
        self._ids = itertools.count(1)

    def when(self, hours_ago: float) -> str:
        return at(self.clock(), -60 * hours_ago)

    def register(self, tn: str, *, home: GeoPoint = HOME, otp: str | None = None, **fields: Any) -> str:
        body = registration(tn, **fields)
        body["destination"].update(lat=home.lat, lon=home.lon)
        if otp:
            body["delivery_otp"] = otp
        answer = self.personas.merchant.post("/api/v1/parcels", json=body)
        assert answer.status_code in (200, 201), answer.get_json()
        return tn

    def scan(self, tn: str, type_: str, hours_ago: float, **extra: Any) -> dict[str, Any]:
        return {
            "event_id": f"{tn}-{next(self._ids):03d}",
            "tracking_number": tn,
            "type": type_,
            "occurred_at": self.when(hours_ago),
            **extra,
        }

    def to_the_station(self, tn: str, *, ofd: bool = True, courier: str = "C-SH011") -> list[dict[str, Any]]:
        """Created 10 h ago, through the hub, at the station, out for delivery 3 h ago."""
        events = [
            self.scan(tn, "created", 10, facility="WH-SH-01"),
            self.scan(tn, "outbound", 9, facility="WH-SH-01"),
            self.scan(tn, "arrived", 7, facility=HUB),
            self.scan(tn, "departed", 6.5, facility=HUB),
            self.scan(tn, "arrived", 5, facility="ST-SH-01"),
        ]
        if ofd:
            events.append(self.scan(tn, "out_for_delivery", 3, facility="ST-SH-01", courier_id=courier))
        return events

    def delivered(
        self,
        tn: str,
        hours_ago: float = 2,
        *,
        point: GeoPoint | None = HOME,
        accuracy: float = 10,
        pod: dict[str, Any] | None = POD,
        courier: str = "C-SH011",
        **extra: Any,
    ) -> dict[str, Any]:
        where = {"lat": point.lat, "lon": point.lon, "accuracy_m": accuracy} if point else {}
        return self.scan(tn, "delivered", hours_ago, courier_id=courier, pod=pod, **where, **extra)

    def post(self, *events: dict[str, Any]) -> None:
        answer = self.personas.admin.post("/api/v1/scans", json={"events": list(events)})
        body = answer.get_json()
        assert answer.status_code == 200 and body["rejected"] == 0, body

    def ids(self, *tns: str) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(Parcel.id).where(Parcel.tracking_number.in_(tns))))

    def evaluate(self, *tns: str, config: DetectionConfig | None = None) -> None:
        with write_transaction(self.engine) as conn:
            evaluate_parcels(conn, self.ids(*tns), now=self.clock(), config=config)

    def cases(self, tn: str, type_: str | None = None) -> list[Any]:
        with self.engine.connect() as conn:
            query = (
                select(Case)
                .join(Parcel, Parcel.id == Case.parcel_id)
                .where(Parcel.tracking_number == tn)
                .order_by(Case.id)
            )
            if type_:
                query = query.where(Case.type == type_)
            return list(conn.execute(query))

    def codes(self, tn: str, type_: str = "suspected_fake_delivery") -> set[str]:
        live = [c for c in self.cases(tn, type_) if c.state != "resolved"]
        assert len(live) <= 1
        return {r["code"] for r in live[0].reasons} - {"handover_scan"} if live else set()

    def later(self, **delta: float) -> datetime:
        self.clock.advance(**delta)
        return self.clock()


@pytest.fixture
def world(personas: Personas, engine: Engine, clock: FakeClock) -> World:
    return World(personas, engine, clock)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
