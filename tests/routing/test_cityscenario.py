"""The generated city day: reproducible, realistic enough, and solvable."""

from __future__ import annotations

from datetime import timedelta

from tracker.routing.matrix import HaversineMatrix
from tracker.routing.solver import solve
from tracker.sim.city import SHANGHAI, city_problem, courier_day


def test_it_generates_the_same_day_for_the_same_seed():
    assert city_problem(50, vehicles=3, seed=4) == city_problem(50, vehicles=3, seed=4)
    assert city_problem(50, vehicles=3, seed=4) != city_problem(50, vehicles=3, seed=5)


def test_it_places_stops_around_the_city_with_a_realistic_mix():
    p = city_problem(400, vehicles=10, seed=1)
    assert len(p.stops) == 400 and len(p.vehicles) == 10
    matrix = HaversineMatrix(circuity=1.0).build([SHANGHAI, *(s.location for s in p.stops)])
    assert matrix.distance_m[0].max() < 20_000  # within the city
    tiers = {s.tier for s in p.stops}
    assert tiers == {"normal", "vip"}
    appointments = [s for s in p.stops if s.window.start is not None]
    promises = [s for s in p.stops if s.window.start is None and s.window.end is not None]
    assert 0.2 < len(appointments) / 400 < 0.5 and promises
    assert all(s.service_time > timedelta(0) for s in p.stops)


def test_it_solves_a_small_city_accounting_for_every_stop():
    p = city_problem(120, vehicles=5, seed=2)
    plan = solve(p, time_limit=timedelta(seconds=2))
    served = {v.stop_id for r in plan.routes for v in r.stops}
    left = {x.stop_id for x in plan.left_out}
    assert served | left == {s.id for s in p.stops} and not served & left
    assert all(x.reason and x.detail for x in plan.left_out)


def test_the_courier_day_is_one_station_with_e_bikes_and_a_few_booked_slots():
    p = courier_day(seed=3)
    assert len(p.stops) == 1200 and len(p.vehicles) == 8
    assert sum(s.parcels for s in p.stops) == sum(v.capacity_parcels for v in p.vehicles) == 1200
    booked = [s for s in p.stops if s.window.start is not None]
    assert 0.07 < len(booked) / 1200 < 0.13
    assert all(s.window.end - s.window.start == timedelta(hours=2) for s in booked)
    assert {(v.shift_start, v.shift_end) for v in p.vehicles} == {
        (p.vehicles[0].shift_start, p.vehicles[0].shift_end)
    }
    assert sum(s.weight_kg for s in p.stops) < sum(v.capacity_kg for v in p.vehicles)


def test_a_small_courier_day_is_served_whole_by_its_couriers():
    p = courier_day(150, couriers=2, seed=1)  # room to spare: every parcel fits
    plan = solve(p, time_limit=timedelta(seconds=3), matrix_source=HaversineMatrix(speed_kmh=15.0))
    assert not plan.left_out and plan.totals.served == 150
