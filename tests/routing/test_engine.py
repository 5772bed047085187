"""The engine's search controls: stall stop, route-minimising cost, fast checks, progress."""

from __future__ import annotations

import json
import resource
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import load_script
from tracker.routing.checker import check_vrptw
from tracker.routing.engine import DEFAULT_SEARCH, SearchOptions, solve_instance
from tracker.sim.vrptw import read_instance, route_distance, to_instance


def solve(benchmarks: Path, name: str, seconds: float, options: SearchOptions = DEFAULT_SEARCH):
    folder = "solomon" if not name.endswith("_1") and not name.endswith("_2") else "homberger-1000"
    path = next((benchmarks / folder).rglob(f"{name}.*[tp]"))
    data = read_instance(path)
    solution = solve_instance(to_instance(data), time_limit=seconds, options=options)
    return data, solution, [r for r in solution.routes if r]


def test_a_stall_limit_ends_the_search_long_before_the_time_limit(benchmarks):
    options = replace(DEFAULT_SEARCH, stall_seconds=0.5)
    data, solution, routes = solve(benchmarks, "R211", 60.0, options)
    assert solution.stats["stalled"] == 1.0
    assert solution.seconds < 30  # a 60-s limit, stopped by the stall
    assert check_vrptw(data, routes) == [] and not solution.dropped
    # The stall is measured from the last improvement, which it follows.
    assert solution.stats["best_seconds"] + 0.5 <= solution.seconds + 1e-6


def test_without_a_stall_limit_the_search_uses_its_time():
    assert DEFAULT_SEARCH.stall_seconds is None
    with pytest.raises(ValueError, match="stall_seconds"):
        SearchOptions(stall_seconds=0)


def test_it_reports_when_the_first_and_the_final_solution_appeared(benchmarks):
    data, solution, routes = solve(benchmarks, "C101", 1.0)
    stats = solution.stats
    assert 0 < stats["first_solution_seconds"] <= stats["best_seconds"] <= solution.seconds
    assert stats["improvements"] >= 1
    # The objective is the plan's own: the distance in the engine's units.
    assert solution.objective == pytest.approx(route_distance(data, routes) * data.default_scale, rel=1e-3)


def test_an_iterated_local_search_that_found_a_plan_says_success(benchmarks):
    assert DEFAULT_SEARCH.uses_ils
    _, solution, _ = solve(benchmarks, "C101", 1.0)
    assert solution.status == "success"


@pytest.mark.parametrize("name", ["C201", "R101"])
def test_the_route_minimising_cost_keeps_every_customer_and_every_window(benchmarks, name):
    options = replace(DEFAULT_SEARCH, vehicle_cost_round_trips=2.0)
    data, solution, routes = solve(benchmarks, name, 2.0, options)
    assert check_vrptw(data, routes) == [] and not solution.dropped
    # The cost only steers the search: the reported objective is distance.
    assert solution.objective == pytest.approx(route_distance(data, routes) * data.default_scale, rel=1e-3)


def test_the_route_minimising_cost_does_not_use_more_vehicles(benchmarks):
    plain = solve(benchmarks, "R201", 2.0)[2]
    minimised = solve(benchmarks, "R201", 2.0, replace(DEFAULT_SEARCH, vehicle_cost_round_trips=5.0))[2]
    assert len(minimised) <= len(plain)


@pytest.mark.slow
def test_fast_checks_keep_a_thousand_customer_plan_feasible(benchmarks):
    # Checking only every 100th move is where the speed at 1,000 visits comes
    # from; the routing filters must still have kept every window and load.
    # Whole (no sectors), so the trimmed fleet and the fast checks meet 1,000 visits at once.
    options = replace(
        DEFAULT_SEARCH,
        iterated_local_search=False,
        metaheuristic="GREEDY_DESCENT",
        check_solution_period=100,
        decompose_above=None,
    )
    data, solution, routes = solve(benchmarks, "RC1_10_1", 30.0, options)
    assert not solution.dropped
    assert check_vrptw(data, routes) == []


def test_the_bench_reports_vehicles_ratio_timing_and_stall(benchmarks, capsys):
    bench = load_script("bench_routing")
    bench.main(
        [
            "--instances",
            str(benchmarks / "solomon"),
            "--only",
            "R211",
            "--time-limit",
            "20",
            "--stall-s",
            "0.5",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    (row,) = report["results"]
    assert row["feasible"] and row["stalled"] and row["seconds"] < 15
    assert row["vehicles_ratio"] == pytest.approx(row["vehicles"] / row["bks_vehicles"], abs=1e-3)
    assert row["first_solution_s"] <= row["final_reached_s"] <= row["seconds"]
    assert report["search"]["stall_seconds"] == 0.5


def test_the_bench_reads_type_folders_of_the_thousand_customer_instances(benchmarks):
    bench = load_script("bench_routing")
    for kind in ("type1", "type2"):
        folder = benchmarks / "homberger-1000" / kind
        names = sorted(p.stem for p in folder.glob("*.vrp"))
        assert len(names) == 3 and all(n.split("_")[0][-1] == kind[-1] for n in names)
        known = bench._read_bks(folder)
        assert all(known[n]["distance"] > 0 and known[n]["vehicles"] > 0 for n in names)


def test_a_warm_start_is_kept_or_improved_never_lost(benchmarks):
    data, first, routes = solve(benchmarks, "R201", 1.0)
    inst = to_instance(data)
    warm = solve_instance(inst, time_limit=1.0, initial_routes=first.routes)
    warm_routes = [r for r in warm.routes if r]
    assert check_vrptw(data, warm_routes) == [] and not warm.dropped
    assert route_distance(data, warm_routes) <= route_distance(data, routes) + 1e-6


def test_a_warm_start_needs_one_route_list_per_vehicle(benchmarks):
    data, first, _ = solve(benchmarks, "C101", 0.5)
    with pytest.raises(ValueError, match="one list per vehicle"):
        solve_instance(to_instance(data), time_limit=0.5, initial_routes=first.routes[:2])


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sectors_solve_a_thousand_customers_whole_and_within_the_rules(benchmarks, workers):
    options = replace(DEFAULT_SEARCH, sector_visits=250, workers=workers)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    data, solution, routes = solve(benchmarks, "R1_10_1", 15.0, options)
    in_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    # Two workers search in processes of their own (threads shared one core: OR-Tools holds the GIL).
    assert (in_children > 5.0) if workers == 2 else (in_children < 1.0), in_children
    assert solution.stats["sectors"] == 4
    assert not solution.dropped and sorted(v for r in routes for v in r) == list(range(1, 1001))
    assert check_vrptw(data, routes) == []
    assert solution.stats["first_solution_seconds"] <= solution.stats["best_seconds"] <= solution.seconds


def test_long_routes_are_not_cut_into_sectors(benchmarks):
    # Type 2: 40-60 visits a route; a sector of 200 would hold four routes.
    from tracker.routing.engine import _sector_size

    for name, size in (("C2_10_2", None), ("R2_10_2", None), ("C1_10_1", 200), ("RC1_10_1", 200)):
        path = next((benchmarks / "homberger-1000").rglob(f"{name}.vrp"))
        assert _sector_size(to_instance(read_instance(path)), DEFAULT_SEARCH) == size
    small = to_instance(read_instance(benchmarks / "solomon" / "R101.txt"))
    assert _sector_size(small, DEFAULT_SEARCH) is None  # 100 visits: one solve


@pytest.mark.slow
def test_long_routes_solved_whole_then_regrouped_keep_every_visit_and_rule(benchmarks):
    # Type 2 with regroup_whole_share: the whole solve's routes, then groups of neighbouring
    # routes re-solved as sub-instances and mapped back: every visit once, every window kept.
    options = replace(DEFAULT_SEARCH, regroup_whole_share=0.5)
    data, solution, routes = solve(benchmarks, "RC2_10_2", 30.0, options)
    assert "whole_cost" in solution.stats  # it went the regrouping way
    assert not solution.dropped and sorted(v for r in routes for v in r) == list(range(1, 1001))
    assert check_vrptw(data, routes) == []


def test_a_load_capped_first_solution_starts_from_more_shorter_routes(benchmarks):
    # R2_10_2: routes bound by their windows, not their loads (18 vehicles' worth of
    # demand; the best known has 32 routes). Capped at 0.6, no route of the first
    # solution carries more than 600 of its 1,000, so there are more of them.
    from tracker.routing.engine import _fleet_to_keep

    path = next((benchmarks / "homberger-1000").rglob("R2_10_2.vrp"))
    data = read_instance(path)
    inst = to_instance(data)
    _keep, plain = _fleet_to_keep(inst, DEFAULT_SEARCH, 30.0)
    _keep, capped = _fleet_to_keep(inst, replace(DEFAULT_SEARCH, first_load_share=0.6), 30.0)
    assert plain is not None and capped is not None
    loads = [int(inst.demand[0, route].sum()) for route in capped if route]
    assert max(loads) <= 600 < int(inst.capacity[0, 0])
    assert len(loads) > sum(1 for route in plain if route)
    assert check_vrptw(data, [r for r in capped if r]) == []


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
@pytest.mark.parametrize("name", ["first_load_share", "whole_alternative_load_share"])
def test_a_load_share_must_be_a_share_of_the_capacity(name, share):
    with pytest.raises(ValueError, match=name):
        replace(DEFAULT_SEARCH, **{name: share})


@pytest.mark.slow
def test_long_routes_with_two_workers_regroup_the_cheaper_of_two_whole_solves(benchmarks):
    # The default start and the load-capped one, each in a process of its own, side by
    # side; the one with the shorter plan is the one regrouped.
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    data, solution, routes = solve(benchmarks, "R2_10_2", 20.0, replace(DEFAULT_SEARCH, workers=2))
    in_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    stats = solution.stats
    objectives = [stats[f"whole_{n}_objective"] for n in (0, 1)]
    assert "whole_2_objective" not in stats
    assert in_children > 5.0, in_children  # both whole solves ran in worker processes
    # Regrouping costs its start as the distance plus a depot round trip a route:
    # that is the cheaper whole solve's.
    from tracker.routing.engine import _vehicle_cost

    round_trip = _vehicle_cost(to_instance(data), replace(DEFAULT_SEARCH, vehicle_cost_round_trips=1.0))
    costs = [objectives[n] + round_trip * stats[f"whole_{n}_routes"] for n in (0, 1)]
    cheaper = int(np.argmin(objectives))
    assert stats["whole_cost"] == costs[cheaper], (objectives, costs, stats["whole_cost"])
    # Regrouping keeps a group only when it costs less, and never adds a route.
    assert stats["regrouped_cost"] <= stats["whole_cost"]
    assert len(routes) <= stats[f"whole_{cheaper}_routes"], (len(routes), stats)
    assert not solution.dropped and sorted(v for r in routes for v in r) == list(range(1, 1001))
    assert check_vrptw(data, routes) == []


REGROUP = replace(DEFAULT_SEARCH, regroup_whole_share=0.5)


@pytest.mark.parametrize(("search", "extra"), [("ruin", 0), ("scratch", 0), ("scratch", 1), ("guided", 0)])
def test_a_group_of_routes_is_re_solved_with_no_more_vehicles_than_it_has_routes(benchmarks, search, extra):
    # Ruin and recreate (the default): a group of 2 routes is a sub-instance of 2 vehicles
    # starting from its routes; from scratch, 2 vehicles (plus regroup_extra_routes) and no
    # start; guided, the whole fleet starting from its routes.
    from tracker.routing.engine import _Sectors

    inst = to_instance(read_instance(next((benchmarks / "homberger-1000").rglob("R2_10_2.vrp"))))
    options = replace(DEFAULT_SEARCH, regroup_search=search, regroup_extra_routes=extra)
    group = [[5, 9, 2], [40, 7]]
    sub, start = _Sectors(inst, options, 0.0, 1.0, 200)._part(np.array([5, 9, 2, 40, 7]), group)
    assert sub.num_nodes == 6 and sub.first_visit == 1
    if search == "ruin":
        assert sub.num_vehicles == 2 and start == [[1, 2, 3], [4, 5]]
    elif search == "scratch":
        assert sub.num_vehicles == 2 + extra and start is None
    else:
        assert sub.num_vehicles == inst.num_vehicles
        assert start is not None and start[:2] == [[1, 2, 3], [4, 5]] and not any(start[2:])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("regroup_extra_routes", -1),
        ("regroup_search", "tabu"),
        ("regroup_ruin_visits", 0),
        ("regroup_ruin_threshold", -0.01),
        ("regroup_ruin_threshold", 1.0),
        ("regroup_descent_every", 0),
        ("regroup_share", 0),
        ("regroup_share", 1.5),
    ],
)
def test_regrouping_options_that_would_break_a_solve_are_refused(name, value):
    # A negative regroup_extra_routes would give a group fewer vehicles than routes.
    with pytest.raises(ValueError, match=name):
        replace(DEFAULT_SEARCH, **{name: value})


def test_a_ruin_cuts_one_string_of_consecutive_visits_from_each_route_it_touches():
    import random

    from tracker.routing.engine import _ruin_strings

    # Visits 1-40 on a line, four routes of ten in order; the depot (0) far away.
    points = np.array([[1000.0, 0.0], *[[float(i), 0.0] for i in range(1, 41)]])
    near = np.argsort(np.abs(points[:, None, 0] - points[None, :, 0]), axis=1, kind="stable")
    routes = [list(range(1 + 10 * k, 11 + 10 * k)) for k in range(4)]
    for seed in range(50):
        removed = _ruin_strings(routes, near, 8, random.Random(seed))
        every_route_cut = all(any(v in removed for v in route) for route in routes)
        # At least 8 unless every route was cut first; the last string may overshoot by 9.
        assert (len(removed) >= 8 or every_route_cut) and len(removed) <= 8 + 9
        for route in routes:
            cut = [i for i, v in enumerate(route) if v in removed]
            assert cut == list(range(cut[0], cut[-1] + 1)) if cut else True, (seed, route, removed)


def test_an_insertion_keeps_every_window_shift_and_load(benchmarks):
    # R101's windows are tight: ten visits taken out of a plan and put back where they add
    # least either fit (and the independent checker agrees) or the insertion says None.
    import random

    from tracker.routing.engine import _Insertion, _sub_instance

    data, _solution, routes = solve(benchmarks, "R101", 1.0)
    inst = to_instance(data)
    insertion = _Insertion(_sub_instance(inst, np.arange(1, 101), len(routes)))
    assert insertion.feasible(routes)
    fitted = 0
    for seed in range(20):
        removed = random.Random(seed).sample(range(1, 101), 10)
        found = insertion.insert([[v for v in r if v not in removed] for r in routes], removed)
        if found is not None:
            fitted += 1
            assert sorted(v for r in found for v in r) == list(range(1, 101))
            assert check_vrptw(data, [r for r in found if r]) == [] and insertion.feasible(found)
    assert fitted >= 10, fitted
    # A route driven backwards breaks its windows: both judges say so.
    longest = max(range(len(routes)), key=lambda k: len(routes[k]))
    backwards = [r[::-1] if k == longest else r for k, r in enumerate(routes)]
    assert not insertion.feasible(backwards) and check_vrptw(data, backwards) != []
    # Too much load for one vehicle is refused too.
    assert not insertion.feasible([[v for r in routes for v in r], *[[] for _ in routes[1:]]])


def test_an_insertion_refuses_routes_that_taking_visits_out_made_late():
    # Travel that breaks the triangle inequality: the depot reaches visit 2 in 2 through
    # visit 1 but in 100 straight, and visit 2 closes at 10. [[1, 2]] keeps the window;
    # with 1 taken out, [[2]] is late before anything is put back, so no plan comes of it.
    from tracker.routing.engine import _Insertion
    from tracker.routing.instance import Instance

    duration = np.array([[0, 1, 100], [1, 0, 1], [1, 1, 0]])
    inst = Instance(
        distance=duration,
        duration=duration,
        service=np.zeros(3, dtype=int),
        window_start=np.zeros(3, dtype=int),
        window_end=np.array([1000, 1000, 10]),
        demand=np.array([[0, 1, 1]]),
        capacity=np.array([[10]]),
        vehicle_start=np.array([0]),
        vehicle_end=np.array([0]),
        shift_start=np.array([0]),
        shift_end=np.array([1000]),
        fixed_cost=np.array([0]),
        penalty=np.array([0, 1000, 1000]),
        first_visit=1,
    )
    insertion = _Insertion(inst)
    assert insertion.feasible([[1, 2]]) and not insertion.feasible([[2, 1]])
    assert insertion.insert([[2]], [1]) is None
    assert insertion.insert([[]], [1, 2]) == [[1, 2]]


def test_ruin_and_recreate_improves_a_plan_and_never_returns_a_worse_one(benchmarks):
    # From parallel cheapest insertion's first solution of R201 (no local search), two
    # seconds of ruin and recreate: every customer served once, every window kept, shorter.
    from tracker.routing.engine import _fleet_to_keep, _route_cost, _ruin_and_recreate, _sub_instance

    data = read_instance(benchmarks / "solomon" / "R201.txt")
    inst = to_instance(data)
    _keep, first = _fleet_to_keep(inst, DEFAULT_SEARCH, 5.0)
    assert first is not None
    start = [route for route in first if route]
    # The same nodes in the same order, with as many vehicles as the plan has routes.
    sub = _sub_instance(inst, np.arange(1, 101), len(start))
    found = _ruin_and_recreate(sub, start, 2.0, DEFAULT_SEARCH)
    routes = [route for route in found if route]
    assert sorted(v for r in routes for v in r) == list(range(1, 101))
    assert check_vrptw(data, routes) == []
    assert len(routes) <= len(start)
    before = sum(_route_cost(inst, r) for r in start)
    after = sum(_route_cost(inst, r) for r in routes)
    assert after < before, (after, before)


def test_a_courier_s_day_is_never_cut_into_sectors_or_regrouped(benchmarks):
    # A sector's sub-instance carries neither the shift-start departure, the time a
    # route costs, nor the parcels already loaded on a courier's van.
    from tracker.routing.engine import _regroups_whole, _sector_size

    for name in ("C1_10_1", "R2_10_2"):
        inst = to_instance(read_instance(next((benchmarks / "homberger-1000").rglob(f"{name}.vrp"))))
        assert _sector_size(inst, REGROUP) is not None or _regroups_whole(inst, REGROUP)
        day = replace(inst, leave_at_shift_start=True, completion_cost=1)
        assert _sector_size(day, REGROUP) is None and not _regroups_whole(day, REGROUP)
        carried = np.full(inst.num_nodes, -1)
        carried[inst.first_visit] = 0  # one parcel already on vehicle 0's van
        loaded = replace(inst, fixed_vehicle=carried)
        assert _sector_size(loaded, REGROUP) is None and not _regroups_whole(loaded, REGROUP)


def test_an_instance_with_a_pickup_is_never_regrouped(benchmarks):
    # Regrouping judges a route's load by its total, which is its peak only when no
    # demand is negative.
    from tracker.routing.engine import _regroups_whole

    inst = to_instance(read_instance(next((benchmarks / "homberger-1000").rglob("R2_10_2.vrp"))))
    assert _regroups_whole(inst, REGROUP)
    demand = inst.demand.copy()
    demand[0, inst.first_visit] = -5
    assert not _regroups_whole(replace(inst, demand=demand), REGROUP)


@pytest.mark.slow
def test_a_trimmed_fleet_search_starts_from_the_trimming_solution_and_never_loses_it(benchmarks):
    # Long routes (type 2): the first solution that trimmed the fleet is where
    # the search starts, so the answer serves every visit, keeps every rule
    # and is no longer than that solution, however little time the search had.
    from tracker.routing.engine import _fleet_to_keep

    path = next((benchmarks / "homberger-1000").rglob("C2_10_2.vrp"))
    data = read_instance(path)
    inst = to_instance(data)
    assert DEFAULT_SEARCH.trim_warm_above is not None and len(inst.visits) >= DEFAULT_SEARCH.trim_warm_above
    _keep, trimming = _fleet_to_keep(inst, DEFAULT_SEARCH, 60.0)
    assert trimming is not None
    # 30 s: half of it is the solve's own trimming, which must finish on a loaded machine.
    solution = solve_instance(inst, time_limit=30.0)
    routes = [r for r in solution.routes if r]
    assert not solution.dropped and check_vrptw(data, routes) == []
    assert route_distance(data, routes) <= route_distance(data, [r for r in trimming if r]) + 1e-6
