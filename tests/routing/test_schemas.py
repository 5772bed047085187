"""The routing problem's JSON form (tracker.routing.schemas): shape errors, synonyms, the stored form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from tracker.core.errors import field_errors
from tracker.routing.errors import RoutingInputError
from tracker.routing.schemas import OptimizeIn, ProblemIn, problem_json
from tracker.routing.service import read_problem

PROBLEM: dict[str, Any] = {
    "depot": {"depot_id": "ST-SH-07", "location": {"lat": 31.23, "lon": 121.47}},
    "vehicles": [
        {
            "vehicle_id": "V1",
            "capacity_parcels": 40,
            "capacity_kg": 300,
            "shift_start": "2026-11-20T08:00:00+08:00",
            "shift_end": "2026-11-20T17:00:00+08:00",
        }
    ],
    "stops": [
        {
            "stop_id": "TRK1",
            "location": {"lat": 31.24, "lon": 121.48},
            "weight_kg": 1.2,
            "appointment": {"start": "2026-11-20T10:00:00+08:00", "end": "2026-11-20T12:00:00+08:00"},
            "customer_tier": "vip",
        },
        {
            "stop_id": "TRK2",
            "location": {"lat": 31.22, "lon": 121.46},
            "promised_by": "2026-11-20T18:00:00+08:00",
            "service_time_s": 60,
        },
    ],
}


def shape_errors(data: dict[str, Any], model: type[ProblemIn] = ProblemIn) -> dict[str, str]:
    with pytest.raises(ValidationError) as error:
        model.model_validate(data)
    return {f.field: f.message for f in field_errors(error.value)}


def test_it_reads_the_json_form_with_appointments_and_promises() -> None:
    p = ProblemIn.model_validate(PROBLEM).to_problem()

    assert p.stops[0].window.start == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert p.stops[0].priority > p.stops[1].priority
    assert p.stops[1].window.start is None
    assert p.stops[1].window.end == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert p.stops[1].service_time == timedelta(seconds=60)
    stored = json.loads(json.dumps(problem_json(p)))
    assert ProblemIn.model_validate(stored).to_problem() == p
    # The stored form names the window ``window`` and writes times as isoformat does.
    assert stored["stops"][1]["window"] == {"start": None, "end": "2026-11-20T10:00:00+00:00"}
    assert set(stored["stops"][0]) == {
        "stop_id",
        "location",
        "parcels",
        "weight_kg",
        "service_time_s",
        "window",
        "customer_tier",
    }
    assert stored["vehicles"][0]["start"] is None and stored["start"] == "2026-11-20T00:00:00+00:00"


def test_it_names_missing_and_mistyped_json_fields() -> None:
    data = {
        "depot": {"location": {"lat": "north", "lon": 121.47}},
        "vehicles": [
            {
                "vehicle_id": "V1",
                "capacity_parcels": 40,
                "capacity_kg": 300,
                "shift_start": "2026-11-20T08:00:00",
                "shift_end": "tomorrow",
            }
        ],
        "stops": [{"location": {"lat": 31.2, "lon": 121.4}}],
    }

    errors = shape_errors(data)

    assert set(errors) == {
        "depot.location.lat",
        "vehicles.0.shift_start",
        "vehicles.0.shift_end",
        "stops.0.stop_id",
    }
    assert "timezone" in errors["vehicles.0.shift_start"]


def test_it_rejects_json_without_lists() -> None:
    assert set(shape_errors({"depot": {"location": {"lat": 0, "lon": 0}}, "stops": {}})) == {
        "vehicles",
        "stops",
    }


def test_only_the_api_bounds_the_size_of_a_problem() -> None:
    many = {**PROBLEM, "stops": [{**PROBLEM["stops"][1], "stop_id": f"S{i}"} for i in range(2001)]}

    assert len(ProblemIn.model_validate(many).stops) == 2001
    assert set(shape_errors(many, OptimizeIn)) == {"stops"}


def test_it_names_the_appointment_or_its_synonym_as_sent() -> None:
    late = {"start": "2026-11-20T12:00:00+08:00", "end": "2026-11-20T10:00:00+08:00"}
    for key in ("appointment", "window"):
        stop = {k: v for k, v in PROBLEM["stops"][0].items() if k != "appointment"}
        data = {**PROBLEM, "stops": [{**stop, key: late}]}
        with pytest.raises(RoutingInputError) as error:
            ProblemIn.model_validate(data).to_problem()
        assert [f.field for f in error.value.fields] == [f"stops.0.{key}.end"]


def test_an_empty_appointment_leaves_the_promise_as_the_window() -> None:
    stop = {**PROBLEM["stops"][1], "appointment": {}}

    p = ProblemIn.model_validate({**PROBLEM, "stops": [stop]}).to_problem()

    assert p.stops[0].window.start is None
    assert p.stops[0].window.end == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_meaning_errors_name_the_fields_as_the_client_spells_them() -> None:
    # The engine calls them ``id`` and ``tier``; the client sent ``stop_id``,
    # ``vehicle_id`` and ``customer_tier`` and must read the same names back.
    twice = [PROBLEM["stops"][0], {**PROBLEM["stops"][1], "stop_id": PROBLEM["stops"][0]["stop_id"]}]
    vehicles = [PROBLEM["vehicles"][0], PROBLEM["vehicles"][0]]
    with pytest.raises(RoutingInputError) as error:
        ProblemIn.model_validate({**PROBLEM, "stops": twice, "vehicles": vehicles}).to_problem()

    assert {f.field for f in error.value.fields} == {"stops.1.stop_id", "vehicles.1.vehicle_id"}


def test_the_tiers_are_those_of_parcels() -> None:
    economy = {**PROBLEM, "stops": [{**PROBLEM["stops"][0], "customer_tier": "economy"}]}

    errors = shape_errors(economy)

    assert set(errors) == {"stops.0.customer_tier"}
    assert "'normal' or 'vip'" in errors["stops.0.customer_tier"]


def test_plans_stored_before_the_rename_still_read() -> None:
    stored = json.loads(json.dumps(problem_json(ProblemIn.model_validate(PROBLEM).to_problem())))
    legacy = {
        **stored,
        "depot": {"id" if k == "depot_id" else k: v for k, v in stored["depot"].items()},
        "vehicles": [{"id" if k == "vehicle_id" else k: v for k, v in x.items()} for x in stored["vehicles"]],
        "stops": [{"id" if k == "stop_id" else k: v for k, v in x.items()} for x in stored["stops"]],
    }

    assert read_problem(legacy).to_problem() == read_problem(stored).to_problem()
    with pytest.raises(ValidationError):
        OptimizeIn.model_validate({**legacy, "time_limit_s": 1})  # the API takes only the new names
