"""A small world for detection tests: Shanghai streets, one day, honest journeys.

Tests get a :class:`Kit` through the ``kit`` fixture and spoil an honest
journey in exactly one way, so each test reads as "this one thing is
(not) suspicious". Distances are built with geodesic offsets, so "80 m
north of the door" means exactly that.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from geopy.distance import geodesic

from tracker.detection.facts import (
    CustomerReport,
    EventFact,
    EventType,
    FacilityKind,
    GeoPoint,
    ParcelFact,
    ProofOfDelivery,
    ReportKind,
    TemperatureRange,
)

SHANGHAI = timezone(timedelta(hours=8))


def moved(point: GeoPoint, north: float = 0.0, east: float = 0.0) -> GeoPoint:
    """The point ``north`` metres north and ``east`` metres east of ``point``."""
    step = geodesic(meters=abs(north)).destination((point.lat, point.lon), 0 if north >= 0 else 180)
    step = geodesic(meters=abs(east)).destination(step, 90 if east >= 0 else 270)
    return GeoPoint(step.latitude, step.longitude)


class Kit:
    home = GeoPoint(31.2304, 121.4737)
    station = moved(home, north=-1800, east=1200)  # ST-SH-07, about 2.2 km away
    hub = moved(home, north=-15000, east=-9000)
    pickup = moved(home, north=350, east=-250)  # PP-0042, about 430 m away
    moved = staticmethod(moved)

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def at(self, hhmm: str, day: int = 0) -> datetime:
        hours, minutes = (int(part) for part in hhmm.split(":"))
        return datetime(2026, 11, 20 + day, hours, minutes, tzinfo=SHANGHAI)

    def scan(
        self,
        type: str,
        at: datetime | str,
        *,
        tn: str = "TRK1",
        point: GeoPoint | None = None,
        accuracy: float | None = None,
        **fields: Any,
    ) -> EventFact:
        when = self.at(at) if isinstance(at, str) else at
        return EventFact(
            event_id=f"ev-{next(self._ids)}",
            tracking_number=tn,
            type=EventType(type),
            occurred_at=when,
            lat=point.lat if point else None,
            lon=point.lon if point else None,
            accuracy_m=accuracy,
            **fields,
        )

    def parcel(
        self,
        tn: str = "TRK1",
        *,
        home: GeoPoint | None = None,
        pickup_point: str | None = None,
        pickup: GeoPoint | None = None,
        otp: str | None = "4821",
        perishable: tuple[float, float] | None = None,
        reports: tuple[tuple[str, datetime], ...] = (),
    ) -> ParcelFact:
        home = home or self.home
        return ParcelFact(
            tracking_number=tn,
            destination_lat=home.lat,
            destination_lon=home.lon,
            pickup_point=pickup_point,
            pickup_point_lat=pickup.lat if pickup else None,
            pickup_point_lon=pickup.lon if pickup else None,
            expected_otp=otp,
            perishable=TemperatureRange(*perishable) if perishable else None,
            reports=tuple(CustomerReport(ReportKind(kind), when) for kind, when in reports),
        )

    def pod(
        self,
        relation: str = "self",
        *,
        signed_by: str | None = "Li Wei",
        photo: bool = True,
        otp: str | None = "4821",
    ) -> ProofOfDelivery:
        return ProofOfDelivery(signed_by, relation, "ab" * 32 if photo else None, otp)

    def to_the_door(self, tn: str = "TRK1", courier: str = "C-1", ofd: str = "14:00") -> list[EventFact]:
        """An honest trip: created, through the hub, to the station, out for delivery."""
        return [
            self.scan("created", "06:00", tn=tn),
            self.scan(
                "arrived", "08:00", tn=tn, facility="HUB-SH", facility_kind=FacilityKind.SORTING_CENTER
            ),
            self.scan(
                "departed", "09:00", tn=tn, facility="HUB-SH", facility_kind=FacilityKind.SORTING_CENTER
            ),
            self.scan(
                "arrived", "11:00", tn=tn, facility="ST-SH-07", facility_kind=FacilityKind.DELIVERY_STATION
            ),
            self.scan("out_for_delivery", ofd, tn=tn, courier_id=courier, facility="ST-SH-07"),
        ]

    def delivered(
        self,
        at: str | datetime = "15:02",
        *,
        tn: str = "TRK1",
        point: GeoPoint | None = None,
        accuracy: float | None = 12,
        courier: str = "C-1",
        gps: bool = True,
        **fields: Any,
    ) -> EventFact:
        """A delivered scan at the door with full proof, unless told otherwise."""
        fields.setdefault("pod", self.pod())
        where = (point or self.home) if gps else None
        return self.scan(
            "delivered",
            at,
            tn=tn,
            point=where,
            accuracy=accuracy if gps else None,
            courier_id=courier,
            **fields,
        )


@pytest.fixture
def kit() -> Kit:
    return Kit()
