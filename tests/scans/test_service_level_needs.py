"""A registration cannot silently skip its service level: what the promise needs is required."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import FakeClock, Personas
from tests.helpers import registration, scan
from tracker.core.models import Parcel

SH = ZoneInfo("Asia/Shanghai")


def _fields(answer: Any) -> dict[str, str]:
    return {f["field"]: f["message"] for f in answer.get_json()["error"]["fields"]}


def test_a_standard_parcel_without_a_city_is_refused_naming_the_field(personas: Personas) -> None:
    body = registration("TRKN000001", service_level="standard")
    del body["destination"]["city"]

    answer = personas.merchant.post("/api/v1/parcels", json=body)

    assert answer.status_code == 422
    fields = _fields(answer)
    assert list(fields) == ["destination.city"]
    assert "standard" in fields["destination.city"]


def test_every_missing_field_of_a_level_is_named_at_once(personas: Personas) -> None:
    body = registration("TRKN000002", service_level="next_day")
    del body["origin_facility"]
    body["destination"] = {"lat": 31.23, "lon": 121.47}
    group_buy = registration("TRKN000003", service_level="group_buy")
    del group_buy["ordered_at"]

    assert set(_fields(personas.merchant.post("/api/v1/parcels", json=body))) == {
        "origin_facility",
        "destination.region",
        "destination.city",
    }
    assert set(_fields(personas.merchant.post("/api/v1/parcels", json=group_buy))) == {"ordered_at"}


def test_a_211_parcel_without_a_city_still_gets_its_promise(
    personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 20, 18, tzinfo=SH).astimezone(UTC)
    body = registration("TRKN000004")
    body["destination"] = {"lat": 31.23, "lon": 121.47, "address": "南京东路100号"}

    assert personas.merchant.post("/api/v1/parcels", json=body).status_code == 201
    outbound = datetime(2026, 11, 20, 10, tzinfo=SH).isoformat()
    personas.admin.post(
        "/api/v1/scans", json=scan("n4", "TRKN000004", "outbound", outbound, facility="WH-SH-01")
    )

    with engine.connect() as conn:
        promised = conn.scalar(select(Parcel.promised_by).where(Parcel.tracking_number == "TRKN000004"))
    assert promised == datetime(2026, 11, 20, 23, tzinfo=SH).astimezone(UTC)
