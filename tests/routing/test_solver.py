"""solve(): each constraint, stops left out with reasons, and the answer's shape.

Every solve runs with a one-second limit on a handful of stops; the solver
checks its own plan with the independent checker, and these tests check the
behaviour a dispatcher relies on.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tracker.routing.checker import check_plan
from tracker.routing.errors import RoutingInputError
from tracker.routing.matrix import HaversineMatrix, Matrix
from tracker.routing.model import Location
from tracker.routing.plan import RoutePlan
from tracker.routing.solver import problem_locations, solve

LIMIT = timedelta(seconds=1)


def served(plan: RoutePlan) -> dict[str, str]:
    """Stop id -> id of the vehicle serving it."""
    return {p.stop_id: r.vehicle_id for r in plan.routes for p in r.stops}


def reasons(plan: RoutePlan) -> dict[str, str]:
    return {x.stop_id: x.reason for x in plan.left_out}


def visits(plan: RoutePlan) -> dict[str, object]:
    return {p.stop_id: p for r in plan.routes for p in r.stops}


def test_it_uses_another_vehicle_when_one_is_full(problem, vehicle, stop):
    fleet = [vehicle("V1", capacity_parcels=10), vehicle("V2", capacity_parcels=10)]
    stops = [stop(f"S{i}", km=1 + i * 0.3, parcels=4) for i in range(4)]
    plan = solve(problem(fleet, stops), time_limit=LIMIT)
    assert len(served(plan)) == 4 and not plan.left_out
    assert all(r.load_parcels <= 10 for r in plan.routes)
    assert plan.totals.vehicles_used == 2


def test_it_respects_the_weight_capacity_too(problem, vehicle, stop):
    fleet = [vehicle("V1", capacity_kg=30.0), vehicle("V2", capacity_kg=30.0)]
    stops = [stop(f"S{i}", km=1 + i * 0.3, weight_kg=12.5) for i in range(4)]
    plan = solve(problem(fleet, stops), time_limit=LIMIT)
    assert len(served(plan)) == 4
    assert all(r.load_kg <= 30.0 for r in plan.routes)


def test_it_serves_stops_inside_their_windows_even_against_geography(problem, vehicle, stop):
    # The far stop must be served first, the near one later.
    stops = [stop("NEAR", km=1, window=(2, 3)), stop("FAR", km=5, window=(0, 1))]
    plan = solve(problem([vehicle()], stops), time_limit=LIMIT)
    order = [p.stop_id for p in plan.routes[0].stops]
    assert order == ["FAR", "NEAR"]
    by_id = {s.id: s for s in stops}
    for p in plan.routes[0].stops:
        window = by_id[p.stop_id].window
        assert window.start <= p.service_start <= window.end
        assert p.arrival <= p.service_start


def test_a_courier_leaves_at_the_shift_start_and_serves_when_the_window_opens(problem, vehicle, stop, day):
    # The parcels are loaded at the shift's start; the courier does not sit at
    # the station until the last moment (a later window elsewhere would pay).
    plan = solve(problem([vehicle()], [stop("A", km=2, window=(3, 4))]), time_limit=LIMIT)
    route = plan.routes[0]
    visit = route.stops[0]
    assert route.start == day
    assert visit.arrival < visit.service_start == day + timedelta(hours=3)


def test_free_stops_come_before_a_late_window_not_after(problem, vehicle, stop, day):
    stops = [stop("LATE", km=2, window=(3, 4)), stop("FREE", km=1.5)]
    plan = solve(problem([vehicle()], stops), time_limit=LIMIT)
    route = plan.routes[0]
    assert [p.stop_id for p in route.stops] == ["FREE", "LATE"]
    assert route.stops[0].service_start < day + timedelta(hours=1)


def test_it_ends_every_route_before_its_shift_ends(problem, vehicle, stop, day):
    fleet = [vehicle("V1", shift_end=day + timedelta(hours=1))]
    stops = [stop(f"S{i}", km=1 + i, service_time=timedelta(minutes=8)) for i in range(8)]
    plan = solve(problem(fleet, stops), time_limit=LIMIT)
    assert plan.routes[0].end <= day + timedelta(hours=1)
    assert served(plan) and plan.left_out
    assert len(served(plan)) + len(plan.left_out) == 8


def test_it_leaves_out_a_stop_whose_window_no_vehicle_can_reach(problem, vehicle, stop):
    # 5 km out is ~16 minutes of driving; the window closes after 6.
    stops = [stop("LATE", km=5, window=(0, 0.1)), stop("OK", km=1)]
    plan = solve(problem([vehicle()], stops), time_limit=LIMIT)
    assert "OK" in served(plan)
    assert reasons(plan) == {"LATE": "window_unreachable"}
    assert "earliest arrival" in plan.left_out[0].detail


def test_it_says_the_shift_is_too_short_for_a_far_stop(problem, vehicle, stop, day):
    # 20 km out: about an hour each way, in a 90-minute shift.
    fleet = [vehicle("V1", shift_end=day + timedelta(minutes=90))]
    plan = solve(problem(fleet, [stop("FAR", km=20), stop("OK", km=1)]), time_limit=LIMIT)
    assert reasons(plan) == {"FAR": "shift_too_short"}


def test_it_leaves_out_what_does_not_fit_with_a_capacity_reason(problem, vehicle, stop):
    fleet = [vehicle("V1", capacity_parcels=10)]
    plan = solve(problem(fleet, [stop("A", parcels=6), stop("B", km=2, parcels=6)]), time_limit=LIMIT)
    assert len(served(plan)) == 1
    assert list(reasons(plan).values()) == ["capacity"]


@pytest.mark.parametrize("vip", ["EAST", "WEST"])
def test_it_keeps_the_vip_stop_when_one_of_two_must_go(problem, vehicle, stop, vip):
    # Same five-minute window on opposite sides of the station: one van
    # cannot do both, so the customer tier decides.
    stops = [
        stop("EAST", km=3, window=(1, 1.08), tier="vip" if vip == "EAST" else "normal"),
        stop("WEST", km=-3, window=(1, 1.08), tier="vip" if vip == "WEST" else "normal"),
    ]
    plan = solve(problem([vehicle()], stops), time_limit=LIMIT)
    assert set(served(plan)) == {vip}
    assert list(reasons(plan).values()) == ["priority"]


def test_it_says_no_room_when_equal_stops_compete(problem, vehicle, stop):
    stops = [stop("EAST", km=3, window=(1, 1.08)), stop("WEST", km=-3, window=(1, 1.08))]
    plan = solve(problem([vehicle()], stops), time_limit=LIMIT)
    assert len(served(plan)) == 1
    assert list(reasons(plan).values()) == ["no_room"]


def test_it_keeps_a_vip_over_several_normal_stops_and_says_so(problem, vehicle, stop):
    # The van holds 6 parcels: either the vip's 6 or the three normal stops'.
    # The normal stops fit the van; they are out because the vip took the
    # room, which is priority, not capacity.
    fleet = [vehicle("V1", capacity_parcels=6)]
    stops = [stop("VIP", km=4, parcels=6, tier="vip")] + [
        stop(f"N{i}", km=1 + 0.2 * i, parcels=2, tier="normal") for i in range(3)
    ]
    plan = solve(problem(fleet, stops), time_limit=LIMIT)
    assert set(served(plan)) == {"VIP"}
    assert reasons(plan) == {"N0": "priority", "N1": "priority", "N2": "priority"}


def test_what_fits_no_room_left_by_equals_is_capacity(problem, vehicle, stop):
    fleet = [vehicle("V1", capacity_parcels=6)]
    stops = [stop("BIG", km=4, parcels=6, tier="vip"), stop("ALSO", km=1, parcels=6, tier="vip")]
    plan = solve(problem(fleet, stops), time_limit=LIMIT)
    assert list(reasons(plan).values()) == ["capacity"]


def test_it_avoids_a_vehicle_with_a_high_fixed_cost(problem, vehicle, stop, place):
    # A courier who lives 3 km east would save driving, but is expensive to call in.
    east, west = stop("EAST", km=3), stop("WEST", km=-3)
    home = place(3.1)
    cheap = solve(
        problem([vehicle("DEPOT"), vehicle("HOME", start=home, end=home)], [east, west]),
        time_limit=LIMIT,
    )
    assert served(cheap)["EAST"] == "HOME"
    costly = solve(
        problem(
            [vehicle("DEPOT"), vehicle("HOME", start=home, end=home, fixed_cost=20_000)],
            [east, west],
        ),
        time_limit=LIMIT,
    )
    assert set(served(costly).values()) == {"DEPOT"}


def test_it_answers_json_with_etas_totals_and_utilisation(problem, vehicle, stop):
    stops = [stop("A", km=1, parcels=2), stop("B", km=2, parcels=3)]
    plan = solve(problem([vehicle(capacity_parcels=10)], stops), time_limit=LIMIT)
    data = json.loads(json.dumps(plan.to_dict()))
    assert RoutePlan.from_dict(data) == plan
    route = data["routes"][0]
    assert [s["stop_id"] for s in route["stops"]] in (["A", "B"], ["B", "A"])
    assert datetime.fromisoformat(route["stops"][0]["arrival"]).utcoffset() == timedelta(0)
    assert route["stops"][0]["load_parcels"] == 5
    assert route["utilisation_parcels"] == pytest.approx(0.5)
    legs = sum(s["distance_from_previous_m"] for s in route["stops"])
    assert route["distance_m"] == pytest.approx(legs + route["empty_distance_m"], abs=0.5)
    assert data["totals"]["served"] == 2 and data["totals"]["left_out"] == 0
    share = route["empty_distance_m"] / route["distance_m"]
    assert data["totals"]["empty_distance_share"] == pytest.approx(share, abs=1e-3)


def test_it_plans_on_a_given_matrix_and_the_checker_agrees(problem, vehicle, stop):
    p = problem([vehicle()], [stop("A", km=1), stop("B", km=2, north_km=1)])
    matrix = HaversineMatrix(circuity=1.5, speed_kmh=15).build(problem_locations(p))
    plan = solve(p, time_limit=LIMIT, matrix=matrix)
    assert check_plan(p, plan, matrix) == []
    first = plan.routes[0].stops[0]
    slow_leg = matrix.duration_s[0, matrix.index(next(s.location for s in p.stops if s.id == first.stop_id))]
    assert (first.arrival - plan.routes[0].start).total_seconds() >= slow_leg - 1


def test_it_refuses_a_matrix_missing_a_location(problem, vehicle, stop):
    p = problem([vehicle()], [stop("A")])
    partial = Matrix((Location(0, 0),), [[0.0]], [[0.0]])
    with pytest.raises(ValueError, match="no row"):
        solve(p, time_limit=LIMIT, matrix=partial)


def test_it_rejects_a_shift_too_short_to_drive_from_start_to_end(problem, vehicle, place, day):
    far = vehicle("V1", start=place(30), shift_end=day + timedelta(minutes=30))
    with pytest.raises(RoutingInputError) as error:
        solve(problem([far], []), time_limit=LIMIT)
    assert error.value.fields[0].field == "vehicles[0].shift_end"


def test_it_plans_an_empty_day_without_searching(problem, vehicle):
    plan = solve(problem([vehicle("V1"), vehicle("V2")], []), time_limit=LIMIT)
    assert [r.stops for r in plan.routes] == [(), ()]
    assert plan.totals.distance_m == 0 and plan.totals.vehicles_used == 0


def test_it_stays_within_its_time_limit(problem, vehicle, stop):
    stops = [stop(f"S{i}", km=(i % 7) - 3, north_km=(i // 7) - 2) for i in range(35)]
    plan = solve(problem([vehicle("V1"), vehicle("V2")], stops), time_limit=LIMIT)
    assert plan.solve_seconds < LIMIT.total_seconds() + 0.5
    assert len(served(plan)) + len(plan.left_out) == 35


def test_it_rejects_a_time_limit_that_is_not_positive(problem, vehicle, stop):
    with pytest.raises(RoutingInputError):
        solve(problem([vehicle()], [stop("A")]), time_limit=timedelta(0))
