"""The scan binding holds both ways: a bound key reports only as itself and only where it belongs.

Personas (tests/conftest.py): courier C-SH011 is based at station ST-SH-01,
which serves pickup points PP-SH-011 and PP-SH-012; C-SH021 is based at
ST-SH-02; ST-HZ-01 is a station in Hangzhou.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import T0, Personas
from tests.helpers import at, scan
from tracker.core.errors import Forbidden
from tracker.core.models import ScanEvent
from tracker.core.vocabulary import Role
from tracker.keys.principal import Principal, check_scan_binding


def _events(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ScanEvent)) or 0)


def _delivered(event_id: str, tn: str, **extra: Any) -> dict[str, Any]:
    return scan(event_id, tn, "delivered", at(T0, -10), lat=31.2, lon=121.45, accuracy_m=10, **extra)


# A courier key: only at its own station and the places that station serves.


def test_a_courier_key_cannot_report_at_another_citys_station(personas: Personas, engine: Any) -> None:
    event = _delivered("b1", "TRKK000001", facility="ST-HZ-01")

    answer = personas.courier.post("/api/v1/scans", json=event)

    assert answer.status_code == 403
    message = answer.json["error"]["message"]
    assert "event 0" in message and "C-SH011" in message and "ST-HZ-01" in message
    assert answer.json["error"]["fields"][0]["field"] == "events.0.facility"
    assert _events(engine) == 0


def test_a_courier_key_cannot_report_at_a_pickup_point_of_another_station(
    personas: Personas, engine: Any
) -> None:
    good = [
        scan(f"b2-{n}", f"TRKK00001{n}", "out_for_delivery", at(T0, -30), facility="ST-SH-01")
        for n in range(3)
    ]
    bad = _delivered("b2-bad", "TRKK000020", facility="PP-SH-021")  # served by ST-SH-02

    answer = personas.courier.post("/api/v1/scans", json={"events": [*good, bad]})

    assert answer.status_code == 403
    message = answer.json["error"]["message"]
    assert "event 3" in message and "C-SH011" in message and "PP-SH-021" in message
    assert _events(engine) == 0, "a refused batch stores nothing"


def test_a_courier_key_cannot_report_at_a_warehouse_or_sorting_centre(
    personas: Personas, engine: Any
) -> None:
    for facility in ("WH-SH-01", "SC-SH-01"):
        answer = personas.courier.post(
            "/api/v1/scans",
            json=scan(f"b3-{facility}", "TRKK000030", "arrived", at(T0, -30), facility=facility),
        )
        assert answer.status_code == 403, facility
    assert _events(engine) == 0


def test_a_courier_key_reports_at_its_station_at_a_pickup_point_it_serves_and_at_the_door(
    personas: Personas, engine: Any
) -> None:
    events = [
        scan("b4-1", "TRKK000041", "out_for_delivery", at(T0, -30), facility="ST-SH-01"),
        _delivered("b4-2", "TRKK000042", facility="PP-SH-011"),
        _delivered("b4-3", "TRKK000043"),  # no facility: a doorstep delivery
    ]

    answer = personas.courier.post("/api/v1/scans", json={"events": events})

    assert answer.status_code == 200
    assert answer.json["accepted"] == 3, answer.json
    record = personas.ops.get("/api/v1/parcels/TRKK000042").json
    assert [(e.get("facility"), e.get("courier_id")) for e in record["events"]] == [("PP-SH-011", "C-SH011")]


# A facility key: only couriers of that facility, or none.


def test_a_station_key_cannot_name_another_stations_courier(personas: Personas, engine: Any) -> None:
    event = scan("b5", "TRKK000050", "out_for_delivery", at(T0, -30), courier_id="C-SH021")

    answer = personas.station.post("/api/v1/scans", json=event)

    assert answer.status_code == 403
    message = answer.json["error"]["message"]
    assert "event 0" in message and "ST-SH-01" in message and "C-SH021" in message
    assert answer.json["error"]["fields"][0]["field"] == "events.0.courier_id"
    assert _events(engine) == 0


def test_a_station_key_cannot_name_an_unknown_courier(personas: Personas, engine: Any) -> None:
    event = scan("b6", "TRKK000060", "out_for_delivery", at(T0, -30), courier_id="C-NOBODY")

    assert personas.station.post("/api/v1/scans", json=event).status_code == 403
    assert _events(engine) == 0


def test_a_station_key_names_its_own_courier_or_none(personas: Personas, engine: Any) -> None:
    events = [
        scan("b7-1", "TRKK000071", "arrived", at(T0, -40)),
        scan("b7-2", "TRKK000071", "out_for_delivery", at(T0, -30), courier_id="C-SH011"),
    ]

    answer = personas.station.post("/api/v1/scans", json={"events": events})

    assert answer.status_code == 200 and answer.json["accepted"] == 2, answer.json
    record = personas.ops.get("/api/v1/parcels/TRKK000071").json
    assert [(e.get("facility"), e.get("courier_id")) for e in record["events"]] == [
        ("ST-SH-01", None),
        ("ST-SH-01", "C-SH011"),
    ]


def test_unbound_keys_are_not_bound(personas: Personas) -> None:
    event = scan(
        "b8", "TRKK000080", "out_for_delivery", at(T0, -30), facility="ST-HZ-01", courier_id="C-SH021"
    )

    assert personas.admin.post("/api/v1/scans", json=event).status_code == 201


def test_a_courier_without_a_station_reports_only_events_without_a_facility() -> None:
    homeless = Principal(1, Role.COURIER, courier_code="C-X")

    check_scan_binding(homeless, 0, "e", "C-X", None)
    with pytest.raises(Forbidden, match="no station"):
        check_scan_binding(homeless, 0, "e", "C-X", "ST-SH-01")
