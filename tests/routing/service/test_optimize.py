"""POST /api/v1/routes/optimize: a stateless solve, its errors and who may call it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.conftest import Personas
from tests.routing.service.conftest import documented_eta, eta, problem, when
from tracker.core.models import StationPlan

URL = "/api/v1/routes/optimize"


def fields(answer: Any) -> dict[str, str]:
    assert answer.status_code == 422, answer.get_json()
    return {f["field"]: f["message"] for f in answer.get_json()["error"]["fields"]}


def test_it_plans_every_stop_with_an_eta_window_around_the_planned_service(
    personas: Personas, engine: Any
) -> None:
    answer = personas.ops.post(URL, json=problem())

    assert answer.status_code == 200, answer.get_json()
    plan = answer.get_json()
    stops = {s["stop_id"]: {**s, "leaves": r["start"]} for r in plan["routes"] for s in r["stops"]}
    assert set(stops) == {"A", "B", "C"} and plan["left_out"] == []
    b = stops["B"]
    # B's appointment opens at 10:00: service starts then, and the ETA starts no earlier.
    assert when("2026-11-21T10:00:00+08:00") <= when(b["service_start"]) <= when("2026-11-21T12:00:00+08:00")
    assert when(stops["C"]["service_start"]) <= when("2026-11-21T14:00:00+08:00")
    assert eta(b) == documented_eta(b["service_start"], b["leaves"], opens="2026-11-21T10:00:00+08:00")
    for stop in (stops["A"], stops["C"]):
        assert eta(stop) == documented_eta(stop["service_start"], stop["leaves"])
    assert plan["totals"]["served"] == 3 and plan["totals"]["distance_m"] > 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(StationPlan)) == 0  # stateless


def test_it_names_every_field_of_a_problem_no_plan_can_honour(personas: Personas) -> None:
    # Out of range (the OpenAPI documents the bounds): refused by the schema, every field at once.
    body = problem()
    body["depot"]["location"]["lat"] = 95.0
    body["stops"][0]["location"]["lon"] = -190.0
    out_of_range = fields(personas.ops.post(URL, json=body))
    assert set(out_of_range) == {"depot.location.lat", "stops.0.location.lon"}
    assert "less than or equal to 90" in out_of_range["depot.location.lat"]

    # In range but meaningless together: refused by the engine's checks, every field at once.
    body = problem()
    body["stops"][1]["appointment"]["end"] = "2026-11-21T09:00:00+08:00"  # before it starts
    body["stops"][2]["weight_kg"] = 75.0  # both couriers carry 60 kg
    errors = fields(personas.ops.post(URL, json=body))
    assert set(errors) == {"stops.1.appointment.end", "stops.2.weight_kg"}
    assert "before the window starts" in errors["stops.1.appointment.end"]
    assert "fit in no vehicle" in errors["stops.2.weight_kg"]


def test_it_refuses_a_shapeless_problem_before_solving(personas: Personas) -> None:
    body = problem()
    body["vehicles"][0]["shift_start"] = "2026-11-21T08:00:00"  # no offset
    body["stops"][0]["weight"] = 2.5  # a typo for weight_kg
    del body["depot"]["location"]

    errors = fields(personas.ops.post(URL, json=body))

    assert {"vehicles.0.shift_start", "stops.0.weight", "depot.location"} <= set(errors)


def test_it_answers_only_ops_and_stations(personas: Personas) -> None:
    body = problem(vehicles=[])  # invalid: whoever gets past the role check hears 422, not a plan

    assert personas.anonymous.post(URL, json=body).status_code == 401
    assert personas.courier.post(URL, json=problem()).status_code == 403
    assert personas.merchant.post(URL, json=problem()).status_code == 403
    for persona in (personas.station, personas.admin):
        assert "at least 1 item" in fields(persona.post(URL, json=body))["vehicles"]


def test_a_courier_leaves_at_the_shift_start_and_serves_what_it_can_before_a_late_window(
    personas: Personas,
) -> None:
    # One courier, shift from 08:00; a stop booked for 16:00-17:00 and one any time.
    # It used to leave at 15:xx to wait for the window, with the free stop in tow.
    body = problem(vehicles=problem()["vehicles"][:1])
    late = {"start": "2026-11-21T16:00:00+08:00", "end": "2026-11-21T17:00:00+08:00"}
    body["stops"] = [
        {**body["stops"][0], "stop_id": "ANY"},
        {**body["stops"][1], "stop_id": "LATE", "customer_tier": "normal", "appointment": late},
    ]

    answer = personas.ops.post(URL, json=body)

    assert answer.status_code == 200, answer.get_json()
    [route] = [r for r in answer.get_json()["routes"] if r["stops"]]
    stops = {s["stop_id"]: s for s in route["stops"]}
    assert when(route["start"]) == when("2026-11-21T08:00:00+08:00")
    assert when(stops["ANY"]["service_start"]) < when("2026-11-21T09:00:00+08:00")
    assert when(stops["LATE"]["service_start"]) == when(late["start"])
    assert [s["stop_id"] for s in route["stops"]] == ["ANY", "LATE"]


def test_a_stop_on_a_van_stays_on_it_and_must_name_a_vehicle_of_the_problem(personas: Personas) -> None:
    body = problem()
    body["stops"][0]["vehicle_id"] = "C-SH012"
    body["stops"][2]["vehicle_id"] = "C-SH011"
    plan = personas.ops.post(URL, json=body).get_json()
    on = {s["stop_id"]: r["vehicle_id"] for r in plan["routes"] for s in r["stops"]}
    assert on["A"] == "C-SH012" and on["C"] == "C-SH011"

    body["stops"][0]["vehicle_id"] = "C-NOBODY"
    assert "C-NOBODY" in fields(personas.ops.post(URL, json=body))["stops.0.vehicle_id"]
