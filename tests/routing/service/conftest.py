"""Parcels put at a delivery station by real scans, for the routing service tests.

``yard.bring("TRK...", ...)`` registers a parcel (merchant key) with its
destination a given distance from station ST-SH-01, reports its journey
through the warehouse and the sorting centre (admin key, as a carrier
integration would) and its arrival at the station (the station's own key),
all through the scan API. The clock stands at T0, 12:00 in Shanghai; the
scans happen in the morning, so a default 08:00-20:00 shift is planned from
12:00 on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import at, registration, scan

STATION = "ST-SH-01"
#: When the parcels' journeys start: 07:00 in Shanghai.
MORNING = T0 - timedelta(hours=5)
#: Plenty for a handful of stops; keeps each solve to a second.
QUICK = {"time_limit_s": 1}


@dataclass
class Yard:
    personas: Personas
    clock: FakeClock
    lat: float
    lon: float

    def near(self, km_east: float, km_north: float = 0.0) -> dict[str, float]:
        """A point ``km_east`` (and ``km_north``) of the station."""
        return {
            "lat": round(self.lat + km_north / 111.32, 6),
            "lon": round(self.lon + km_east / (111.32 * math.cos(math.radians(self.lat))), 6),
        }

    def register(self, tn: str, km_east: float = 1.0, km_north: float = 0.0, **overrides: Any) -> None:
        body = registration(tn, **{"ordered_at": at(MORNING, -30), **overrides})
        body["destination"].update(self.near(km_east, km_north))
        answer = self.personas.merchant.post("/api/v1/parcels", json=body)
        assert answer.status_code == 201, answer.get_json()

    def scans(self, persona: Any, *events: dict[str, Any]) -> None:
        answer = persona.post("/api/v1/scans", json={"events": list(events)})
        assert answer.get_json()["accepted"] == len(events), answer.get_json()

    def to_sorting_centre(self, tn: str) -> None:
        self.scans(
            self.personas.admin,
            scan(f"{tn}-1", tn, "created", at(MORNING, 0), facility="WH-SH-01"),
            scan(f"{tn}-2", tn, "outbound", at(MORNING, 60), facility="WH-SH-01"),
            scan(f"{tn}-3", tn, "arrived", at(MORNING, 120), facility="SC-SH-01"),
        )

    def bring(
        self,
        tn: str,
        km_east: float = 1.0,
        km_north: float = 0.0,
        *,
        station: str = STATION,
        **registered: Any,
    ) -> None:
        """Register ``tn`` and scan it into ``station`` (10:20 local)."""
        self.register(tn, km_east, km_north, **registered)
        self.to_sorting_centre(tn)
        self.scans(
            self.personas.admin, scan(f"{tn}-4", tn, "departed", at(MORNING, 140), facility="SC-SH-01")
        )
        arrival = scan(f"{tn}-5", tn, "arrived", at(MORNING, 200), facility=station)
        self.scans(self.personas.station if station == STATION else self.personas.admin, arrival)

    def out_for_delivery(self, tn: str, courier: Any, courier_id: str) -> None:
        self.scans(
            courier,
            scan(
                f"{tn}-6", tn, "out_for_delivery", at(MORNING, 230), facility=STATION, courier_id=courier_id
            ),
        )

    def plan(self, persona: Any | None = None, **body: Any) -> dict[str, Any]:
        answer = (persona or self.personas.station).post(
            f"/api/v1/facilities/{STATION}/routes", json={**QUICK, **body}
        )
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def yard(personas: Personas, clock: FakeClock, network: Any) -> Yard:
    station = network.by_code()[STATION]
    return Yard(personas, clock, station.lat, station.lon)


def planned(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every served stop of a stored plan by tracking number, with its courier and when it leaves."""
    return {
        stop["tracking_number"]: {**stop, "courier_id": route["courier_id"], "leaves": route["start"]}
        for route in plan["routes"]
        for stop in route["stops"]
    }


def problem(**changes: Any) -> dict[str, Any]:
    """Two couriers and three doors around a station in Shanghai, one with an appointment."""
    body: dict[str, Any] = {
        "depot": {"depot_id": "ST-SH-01", "location": {"lat": 31.2304, "lon": 121.4737}},
        "vehicles": [
            {
                "vehicle_id": courier,
                "capacity_parcels": 20,
                "capacity_kg": 60,
                "shift_start": "2026-11-21T08:00:00+08:00",
                "shift_end": "2026-11-21T18:00:00+08:00",
            }
            for courier in ("C-SH011", "C-SH012")
        ],
        "stops": [
            {"stop_id": "A", "location": {"lat": 31.2404, "lon": 121.4737}, "weight_kg": 2.5},
            {
                "stop_id": "B",
                "location": {"lat": 31.2304, "lon": 121.4937},
                "weight_kg": 1.0,
                "customer_tier": "vip",
                "appointment": {"start": "2026-11-21T10:00:00+08:00", "end": "2026-11-21T12:00:00+08:00"},
            },
            {
                "stop_id": "C",
                "location": {"lat": 31.2204, "lon": 121.4637},
                "promised_by": "2026-11-21T14:00:00+08:00",
            },
        ],
        "time_limit_s": 1,
    }
    body.update(changes)
    return body


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _quarter(at: datetime, up: bool) -> datetime:
    down = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)
    return down + timedelta(minutes=15) if up and down != at else down


def documented_eta(service_start: str, leaves: str, opens: str | None = None) -> tuple[datetime, datetime]:
    """The README's window: from 30 minutes before service (but not before the courier
    leaves, nor before the appointment opens) to an hour after, on quarter hours outward,
    at most 2 hours."""
    start = max(
        [
            _quarter(when(service_start) - timedelta(minutes=30), up=False),
            _quarter(when(leaves), up=True),
            *([_quarter(when(opens), up=True)] if opens else []),
        ]
    )
    end = max(_quarter(when(service_start) + timedelta(hours=1), up=True), start + timedelta(minutes=15))
    assert end - start <= timedelta(hours=2)
    return start, min(end, start + timedelta(hours=2))


def eta(stop: dict[str, Any]) -> tuple[datetime, datetime]:
    return when(stop["eta"]["start"]), when(stop["eta"]["end"])
