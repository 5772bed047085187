"""The routing problem: validation of what it means, naming the field (its JSON form: test_schemas.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tracker.routing.errors import RoutingInputError
from tracker.routing.model import Location, TimeWindow

CST = timezone(timedelta(hours=8))


def fields_of(error: pytest.ExceptionInfo[RoutingInputError]) -> set[str]:
    return {f.field for f in error.value.fields}


def test_it_rejects_coordinates_out_of_range(problem, vehicle, stop):
    bad = stop("A").__class__(id="A", location=Location(91.0, 200.0))
    with pytest.raises(RoutingInputError) as error:
        problem([vehicle()], [bad])
    assert fields_of(error) == {"stops[0].location.lat", "stops[0].location.lon"}


def test_it_rejects_a_window_that_ends_before_it_starts(problem, vehicle, stop):
    with pytest.raises(RoutingInputError) as error:
        problem([vehicle()], [stop("A", window=(3, 2))])
    assert fields_of(error) == {"stops[0].window.end"}


def test_it_rejects_a_stop_heavier_than_every_vehicle(problem, vehicle, stop):
    fleet = [vehicle("V1", capacity_kg=100.0), vehicle("V2", capacity_kg=150.0)]
    with pytest.raises(RoutingInputError) as error:
        problem(fleet, [stop("A", weight_kg=151.0), stop("B", weight_kg=150.0)])
    assert fields_of(error) == {"stops[0].weight_kg"}
    assert "fit in no vehicle" in error.value.fields[0].message


def test_it_rejects_a_stop_that_fits_no_single_vehicle_though_each_limit_fits_one(problem, vehicle, stop):
    fleet = [
        vehicle("BIG", capacity_parcels=10, capacity_kg=500.0),
        vehicle("MANY", capacity_parcels=100, capacity_kg=50.0),
    ]
    with pytest.raises(RoutingInputError) as error:
        problem(fleet, [stop("A", parcels=20, weight_kg=100.0)])
    assert len(error.value.fields) == 1


def test_it_rejects_duplicate_ids(problem, vehicle, stop):
    with pytest.raises(RoutingInputError) as error:
        problem([vehicle("V1"), vehicle("V1")], [stop("A"), stop("A", km=2)])
    assert fields_of(error) == {"vehicles[1].id", "stops[1].id"}


def test_it_rejects_naive_times_and_a_shift_ending_before_it_starts(problem, vehicle):
    naive = datetime(2026, 11, 20, 8, 0)
    with pytest.raises(RoutingInputError) as error:
        problem(
            [vehicle("V1", shift_start=naive), vehicle("V2", shift_end=datetime(2026, 11, 19, tzinfo=UTC))],
            [],
        )
    assert fields_of(error) == {"vehicles[0].shift_start", "vehicles[1].shift_end"}


def test_it_lists_every_problem_at_once(problem, vehicle, stop):
    with pytest.raises(RoutingInputError) as error:
        problem([vehicle(capacity_parcels=-1)], [stop("A", tier="gold", parcels=-2)])
    assert fields_of(error) >= {"vehicles[0].capacity_parcels", "stops[0].tier", "stops[0].parcels"}
    assert "stops[0].tier" in str(error.value)


def test_it_requires_a_vehicle(problem, stop):
    with pytest.raises(RoutingInputError) as error:
        problem([], [stop("A")])
    assert fields_of(error) == {"vehicles"}


def test_it_stores_times_in_utc_and_starts_at_the_first_shift(problem, vehicle, stop, day):
    local = datetime(2026, 11, 20, 9, 0, tzinfo=CST)
    p = problem(
        [
            vehicle("V1", shift_start=local, shift_end=local + timedelta(hours=8)),
            vehicle("V2", shift_start=local - timedelta(hours=1)),
        ],
        [stop("A", window=TimeWindow(local, local + timedelta(hours=2)))],
    )
    assert p.vehicles[0].shift_start.tzinfo is UTC
    assert p.vehicles[0].shift_start == local
    assert p.stops[0].window.start.tzinfo is UTC
    assert p.origin == local - timedelta(hours=1)
