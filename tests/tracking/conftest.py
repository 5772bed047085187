"""Parcels in every status, built through the scan API, for the tracking tests.

``parcels.make("delivered")`` registers a parcel (merchant key) and reports
its scans (admin key) up to that point of an ordinary journey, so the
tracking page sees exactly what real traffic would leave behind. Every
parcel belongs to the same recipient, whose name, phone and street the
privacy tests look for in every answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update

from tests.conftest import T0, Personas
from tests.helpers import at, registration, scan
from tracker.core.db import write_transaction
from tracker.core.models import Parcel

NAME = "张三丰"
PHONE = "13800001234"
CODE = "1234"
WRONG = "4321"
STREET = "南京东路100号5栋1202室"

#: Every status a parcel can show, and how it gets there.
STATUSES = (
    "info_received",
    "in_transit",
    "out_for_delivery",
    "failed_attempt",
    "available_for_pickup",
    "delivered",
    "collected",
    "exception",
    "returned",
)


def _door(tn: str, start: datetime) -> list[dict[str, Any]]:
    return [
        scan(f"{tn}-1", tn, "created", at(start, 0), facility="WH-SH-01"),
        scan(f"{tn}-2", tn, "outbound", at(start, 60), facility="WH-SH-01"),
        scan(f"{tn}-3", tn, "arrived", at(start, 180), facility="SC-SH-01"),
        scan(f"{tn}-4", tn, "departed", at(start, 200), facility="SC-SH-01"),
        scan(f"{tn}-5", tn, "arrived", at(start, 260), facility="ST-SH-01"),
        scan(f"{tn}-6", tn, "out_for_delivery", at(start, 300), facility="ST-SH-01", courier_id="C-SH011"),
    ]


def journey_to(status: str, tn: str, start: datetime) -> list[dict[str, Any]]:
    """The scans that leave a parcel in ``status`` (``collected`` = delivered at a pickup point)."""
    door = _door(tn, start)
    ends: dict[str, list[dict[str, Any]]] = {
        "info_received": [],
        "in_transit": door[:3],
        "out_for_delivery": door,
        "failed_attempt": [
            *door,
            scan(
                f"{tn}-7", tn, "delivery_failed", at(start, 330), courier_id="C-SH011", reason="no_one_home"
            ),
        ],
        "delivered": [
            *door,
            scan(
                f"{tn}-7",
                tn,
                "delivered",
                at(start, 340),
                courier_id="C-SH011",
                lat=31.2,
                lon=121.45,
                accuracy_m=10,
                # The recipient's own name as the courier typed it: must never show.
                pod={"signed_by": NAME, "relation": "self"},
            ),
        ],
        "exception": [
            *door[:3],
            scan(f"{tn}-7", tn, "exception", at(start, 240), facility="SC-SH-01", reason="held"),
        ],
        "returned": [*door[:3], scan(f"{tn}-7", tn, "returned", at(start, 240), facility="SC-SH-01")],
    }
    pickup = [
        *door[:5],
        scan(f"{tn}-6", tn, "ready_for_pickup", at(start, 300), facility="PP-SH-011"),
    ]
    ends["available_for_pickup"] = pickup
    ends["collected"] = [*pickup, scan(f"{tn}-7", tn, "collected", at(start, 360), facility="PP-SH-011")]
    return ends[status]


@dataclass
class ParcelMaker:
    personas: Personas
    engine: Engine
    count: int = 0

    def make(self, status: str, *, start: datetime | None = None, **registration_overrides: Any) -> str:
        """A new parcel showing ``status``; its tracking number."""
        self.count += 1
        tn = f"TRKT{status.replace('_', '')[:4].upper()}{self.count:04d}"
        body = registration(tn, recipient={"name": NAME, "phone": PHONE}, **registration_overrides)
        body["destination"]["address"] = STREET
        if status in ("available_for_pickup", "collected"):
            body.setdefault("pickup_point", "PP-SH-011")
            body["service_level"] = "group_buy"
        registered = self.personas.merchant.post("/api/v1/parcels", json=body)
        assert registered.status_code == 201, registered.json
        events = journey_to(status, tn, start or T0 - timedelta(hours=8))
        if events:
            answer = self.personas.admin.post("/api/v1/scans", json={"events": events})
            assert answer.status_code == 200 and answer.json["accepted"] == len(events), answer.json
        return tn

    def scan(self, tn: str, *events: dict[str, Any]) -> None:
        answer = self.personas.admin.post("/api/v1/scans", json={"events": list(events)})
        assert answer.json["accepted"] == len(events), answer.json

    def set(self, tn: str, **columns: Any) -> None:
        """Fill columns other work owns (the ETA, from the SLA sweep)."""
        with write_transaction(self.engine) as conn:
            conn.execute(update(Parcel).where(Parcel.tracking_number == tn).values(**columns))


@pytest.fixture
def parcels(personas: Personas, engine: Engine) -> ParcelMaker:
    return ParcelMaker(personas, engine)


@pytest.fixture
def client(app: Any, personas: Personas) -> Any:
    """A customer's browser: no key. (Depends on personas so the network is loaded.)"""
    return app.test_client()


@pytest.fixture
def app_with(settings: Any, engine: Engine, clock: Any) -> Callable[..., Any]:
    """Another app on the same database (a second gunicorn worker), with settings changed."""
    from tracker.app import create_app

    def build(**changes: Any) -> Any:
        app = create_app(settings.but(**changes), engine=engine, clock=clock)
        app.config["TESTING"] = True
        return app

    return build
