"""Couriers read the parcels of their day (issue 14): on their route today, or scanned by them today.

On its route the courier gets what it needs at the door: the full address
and the full phone (to call), the name masked. A parcel it only scanned
shows the phone as the public page does. Anything else is a 404.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import FakeClock, Personas
from tests.helpers import at, scan
from tests.routing.service.conftest import MORNING, STATION, Yard, planned
from tracker.core.db import write_transaction
from tracker.core.models import Parcel


@pytest.fixture
def yard(personas: Personas, clock: FakeClock, network: Any) -> Yard:
    station = network.by_code()[STATION]
    return Yard(personas, clock, station.lat, station.lon)


def _courier(personas: Personas, courier_id: str) -> Any:
    return {"C-SH011": personas.courier, "C-SH012": personas.other_courier}[courier_id]


def test_a_courier_reads_the_parcels_on_its_route_today_with_the_phone_to_call(
    yard: Yard, personas: Personas
) -> None:
    yard.bring("TRKCR00001", 1.0)
    stop = planned(yard.plan())["TRKCR00001"]
    mine = _courier(personas, stop["courier_id"])
    other = personas.other_courier if mine is personas.courier else personas.courier

    record = mine.get("/api/v1/parcels/TRKCR00001")
    listed = mine.get("/api/v1/parcels").get_json()["parcels"]

    assert record.status_code == 200, record.get_json()
    body = record.get_json()
    assert body["recipient"] == {"name": "张*丰", "phone": "13800001234"}
    assert body["destination"]["address"] == "南京东路100号5栋1202室"
    assert body["cases"] is None and body["events"] == []  # none of the scans are this courier's
    assert [p["tracking_number"] for p in listed] == ["TRKCR00001"]
    assert listed[0]["recipient"] == {"name": "张*丰", "phone": "13800001234"}
    # The other courier: not its route, not its scan.
    assert other.get("/api/v1/parcels/TRKCR00001").status_code == 404
    assert other.get("/api/v1/parcels").get_json()["parcels"] == []
    assert other.get("/api/v1/parcels.csv").get_data(as_text=True).count("\n") == 1  # the header only


def test_a_courier_reads_a_parcel_it_scanned_today_with_the_phone_masked(
    yard: Yard, personas: Personas, clock: FakeClock
) -> None:
    yard.register("TRKCR00002")
    # A pickup at the merchant's door: a courier scan without a facility.
    picked = personas.other_courier.post(
        "/api/v1/scans", json=scan("cr-2", "TRKCR00002", "picked_up", at(MORNING, 10))
    )
    assert picked.status_code == 201, picked.get_json()

    record = personas.other_courier.get("/api/v1/parcels/TRKCR00002").get_json()

    assert record["recipient"] == {"name": "张*丰", "phone": "138********"}
    assert record["destination"]["address"] == "南京东路100号5栋1202室"
    assert [e["event_id"] for e in record["events"]] == ["cr-2"]
    assert personas.courier.get("/api/v1/parcels/TRKCR00002").status_code == 404
    # Tomorrow that scan is no longer of the courier's day.
    clock.advance(hours=24)
    assert personas.other_courier.get("/api/v1/parcels/TRKCR00002").status_code == 404


def test_a_courier_changes_nothing(yard: Yard, personas: Personas) -> None:
    yard.register("TRKCR00003")
    assert personas.courier.patch("/api/v1/parcels/TRKCR00003", json={"weight_kg": 2}).status_code == 403
    assert personas.courier.post("/api/v1/parcels/TRKCR00003/cancel").status_code == 403


def test_a_cancelled_parcel_is_not_routed(
    yard: Yard, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    yard.bring("TRKCR00004", 1.0)
    yard.bring("TRKCR00005", 2.0)
    # Cancelled at the warehouse and yet scanned at the station (a mistake on the floor):
    # the plan still leaves it out, as the merchant asked.
    with write_transaction(engine) as conn:
        conn.execute(
            update(Parcel).where(Parcel.tracking_number == "TRKCR00004").values(cancelled_at=clock())
        )

    plan = yard.plan()

    assert list(planned(plan)) == ["TRKCR00005"]
    assert "TRKCR00004" not in str(plan["left_out"])
