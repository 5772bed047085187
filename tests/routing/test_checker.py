"""The independent checker catches planted infeasible answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tracker.routing.checker import check_plan, check_vrptw
from tracker.routing.errors import RoutingSolverError
from tracker.routing.matrix import HaversineMatrix
from tracker.routing.plan import LeftOut, RoutePlan
from tracker.routing.solver import problem_locations, solve
from tracker.sim.vrptw import read_solomon


@pytest.fixture(scope="module")
def planned(problem, vehicle, stop, day):
    """A feasible plan: two vans of 10 parcels, four stops of 4, windows on two."""
    p = problem(
        [vehicle("V1", capacity_parcels=10), vehicle("V2", capacity_parcels=10)],
        [
            stop("A", km=1, parcels=4, window=(0, 4)),
            stop("B", km=2, parcels=4),
            stop("C", km=-1, parcels=4, window=(1, 5)),
            stop("D", km=-2, parcels=4),
        ],
    )
    matrix = HaversineMatrix().build(problem_locations(p))
    plan = solve(p, time_limit=timedelta(seconds=1), matrix=matrix)
    assert len([r for r in plan.routes if r.stops]) == 2
    return p, plan, matrix


def codes(violations) -> set[str]:
    return {v.code for v in violations}


def with_route(plan: RoutePlan, index: int, **changes) -> RoutePlan:
    routes = list(plan.routes)
    routes[index] = replace(routes[index], **changes)
    return replace(plan, routes=tuple(routes))


def used(plan: RoutePlan) -> list[int]:
    return [i for i, r in enumerate(plan.routes) if r.stops]


def test_it_accepts_the_solvers_plan(planned):
    p, plan, matrix = planned
    assert check_plan(p, plan, matrix) == []


def test_it_catches_an_overloaded_vehicle(planned):
    p, plan, matrix = planned
    first, second = used(plan)
    merged = plan.routes[first].stops + plan.routes[second].stops
    bad = with_route(with_route(plan, second, stops=()), first, stops=merged)
    assert "capacity" in codes(check_plan(p, bad, matrix))


def test_it_catches_a_missed_window(planned):
    p, plan, matrix = planned
    i, j = next((i, j) for i in used(plan) for j, s in enumerate(plan.routes[i].stops) if s.stop_id == "A")
    late = timedelta(hours=5)
    stops = list(plan.routes[i].stops)
    visit = stops[j]
    stops[j] = replace(
        visit,
        arrival=visit.arrival + late,
        service_start=visit.service_start + late,
        departure=visit.departure + late,
    )
    found = check_plan(p, with_route(plan, i, stops=tuple(stops)), matrix)
    assert any(v.code == "window" and v.stop == "A" for v in found)


def test_it_catches_a_stop_served_twice(planned):
    p, plan, matrix = planned
    i = used(plan)[0]
    stops = plan.routes[i].stops
    found = check_plan(p, with_route(plan, i, stops=stops + stops[:1]), matrix)
    assert "stop_twice" in codes(found)


def test_it_catches_a_stop_neither_served_nor_left_out(planned):
    p, plan, matrix = planned
    i = used(plan)[0]
    missing = plan.routes[i].stops[-1].stop_id
    found = check_plan(p, with_route(plan, i, stops=plan.routes[i].stops[:-1]), matrix)
    assert [(v.code, v.stop) for v in found if v.code == "stop_missing"] == [("stop_missing", missing)]


def test_it_catches_a_stop_both_served_and_left_out(planned):
    p, plan, matrix = planned
    bad = replace(plan, left_out=(LeftOut("A", "no_room", "planted"),))
    assert "served_and_left_out" in codes(check_plan(p, bad, matrix))


def test_it_catches_an_arrival_faster_than_the_road(planned):
    p, plan, matrix = planned
    i = used(plan)[0]
    stops = list(plan.routes[i].stops)
    stops[0] = replace(stops[0], arrival=plan.routes[i].start)
    found = check_plan(p, with_route(plan, i, stops=tuple(stops)), matrix)
    assert "arrival_inconsistent" in codes(found)


def test_it_catches_a_route_ending_after_the_shift(planned):
    p, plan, matrix = planned
    i = used(plan)[0]
    bad = with_route(plan, i, end=p.vehicles[i].shift_end + timedelta(minutes=5))
    assert "shift_end" in codes(check_plan(p, bad, matrix))


def test_it_catches_a_misreported_distance(planned):
    p, plan, matrix = planned
    i = used(plan)[0]
    bad = with_route(plan, i, distance_m=plan.routes[i].distance_m / 2)
    assert "distance_inconsistent" in codes(check_plan(p, bad, matrix))


def test_it_makes_solve_refuse_a_plan_that_fails_the_check(planned, monkeypatch):
    import tracker.routing.solver as solver_module

    p, _, matrix = planned
    monkeypatch.setattr(
        solver_module, "_schedule", lambda inst, v, route: (0, [0] * len(route), [0] * len(route), 0)
    )
    with pytest.raises(RoutingSolverError, match="independent check"):
        solve(p, time_limit=timedelta(seconds=1), matrix=matrix)


@pytest.fixture(scope="module")
def c101(benchmarks):
    return read_solomon(benchmarks / "solomon" / "C101.txt")


def test_it_catches_literature_routes_that_break_every_rule(c101):
    everyone = list(range(1, c101.customers + 1))
    found = check_vrptw(c101, [[*everyone[:-1], 5]])  # one truck, 5 twice, 100 missing
    assert codes(found) >= {"capacity", "window", "shift_end", "stop_twice", "stop_missing"}


def test_it_accepts_one_truck_per_customer_when_each_fits_alone(c101):
    # Direct trips are feasible for every Solomon customer; the fleet is not.
    found = check_vrptw(c101, [[c] for c in range(1, c101.customers + 1)])
    assert codes(found) == {"fleet_size"}
