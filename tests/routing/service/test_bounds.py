"""Numbers and times the routing API refuses (issue 11, findings 2, 4 and 6).

Whatever the solver's int64 arithmetic or the conversion to UTC could not
take (service_time_s 1e300, capacities or fixed costs of 10^18, year 1 at
+01:00, 9999-12-31 at -05:00, NaN) is a 422 naming the field, never a 500;
anything planned lies at most a year ahead. Planning a station's day for
9999-12-31 (or next year but one) writes nothing: no plan, no ETA on a parcel.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import T0, Personas
from tests.routing.service.conftest import STATION, Yard, problem
from tracker.core.models import Parcel, StationPlan

URL = "/api/v1/routes/optimize"


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, (answer.status_code, answer.get_json())
    return sorted(f["field"] for f in answer.get_json()["error"]["fields"])


def _with(path: str, value: Any) -> dict[str, Any]:
    body = problem()
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return body


NEXT_YEAR_BUT_ONE = (T0 + timedelta(days=400)).isoformat()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("stops.0.service_time_s", 1e300),
        ("stops.0.service_time_s", -1e300),
        ("stops.0.parcels", 10**18),
        ("stops.0.weight_kg", 1e300),
        ("stops.0.weight_kg", "NaN"),
        ("vehicles.0.capacity_parcels", 10**18),
        ("vehicles.0.capacity_kg", "Infinity"),
        ("vehicles.0.fixed_cost", 10**18),
        ("vehicles.0.fixed_cost", -(10**18)),
        ("vehicles.0.shift_start", "0001-01-01T00:00:00+01:00"),
        ("vehicles.0.shift_end", "9999-12-31T23:59:59-05:00"),
        ("stops.2.promised_by", "1970-01-01T00:00:00Z"),
        ("stops.1.appointment.end", "9999-12-31T23:59:59-05:00"),
        ("start", "0001-01-01T00:00:00+01:00"),
        ("stops.0.stop_id", "A\u0000"),
        ("depot.depot_id", "\u0000"),
        ("vehicles.1.vehicle_id", "C-SH012\u001b"),
        ("stops.1.customer_tier", "vip\u0000"),
        # Beyond a year from now: needs the clock, checked after the schema.
        ("vehicles.0.shift_end", NEXT_YEAR_BUT_ONE),
        ("stops.1.appointment.end", NEXT_YEAR_BUT_ONE),
        ("stops.2.promised_by", NEXT_YEAR_BUT_ONE),
    ],
)
def test_optimize_refuses_what_would_overflow_by_field(path: str, value: Any, personas: Personas) -> None:
    assert _fields(personas.ops.post(URL, json=_with(path, value))) == [path]


def test_optimize_still_takes_large_sane_numbers(personas: Personas) -> None:
    body = _with("vehicles.0.fixed_cost", 1_000_000_000)
    body["vehicles"][1]["capacity_parcels"] = 1_000_000
    body["stops"][0]["service_time_s"] = 3600

    assert personas.ops.post(URL, json=body).status_code == 200


def _nothing_planned(engine: Any, tn: str) -> None:
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(StationPlan)) == 0
        eta = conn.execute(
            select(Parcel.eta_start, Parcel.eta_source).where(Parcel.tracking_number == tn)
        ).one()
    assert eta.eta_source != "route"


@pytest.mark.parametrize("day", ["9999-12-31", (T0 + timedelta(days=400)).date().isoformat()])
def test_a_station_s_day_beyond_a_year_is_a_422_naming_date_and_writes_nothing(
    day: str, yard: Yard, personas: Personas, engine: Any
) -> None:
    yard.bring("TRKR000001", 1.0)

    for persona in (personas.station, personas.ops):
        answer = persona.post(f"/api/v1/facilities/{STATION}/routes", json={"date": day, "time_limit_s": 1})
        assert _fields(answer) == ["date"]
    _nothing_planned(engine, "TRKR000001")


def test_a_station_s_day_a_year_ahead_is_still_planned(yard: Yard) -> None:
    day = (T0 + timedelta(days=365)).date().isoformat()

    assert yard.plan(date=day)["date"] == day


def test_a_courier_s_route_for_9999_12_31_is_a_422(personas: Personas) -> None:
    answer = personas.courier.get("/api/v1/couriers/C-SH011/route", query_string={"date": "9999-12-31"})

    assert _fields(answer) == ["date"]
