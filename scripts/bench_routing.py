#!/usr/bin/env python
"""Benchmark the routing engine on literature instances or a generated city.

Literature (Solomon text files or VRPLIB ``.vrp``), every instance in a folder:

    python scripts/bench_routing.py --time-limit 10
    python scripts/bench_routing.py --instances tests/data/benchmarks/homberger-1000/type2 \\
        --time-limit 60 [--stall-s 10]

Each instance is read by :mod:`tracker.sim.vrptw`, solved by the same
:func:`tracker.routing.engine.solve_instance` the service calls, checked by
the independent :func:`tracker.routing.checker.check_vrptw`, and its distance
recomputed in double precision. Best-known distances come from
``bks_distance_only.csv`` (vehicle counts from ``bks.csv``) or, for VRPLIB,
from the ``.sol`` beside each ``.vrp``. Instances in sub-folders count too.
Per instance: gap, vehicles and their ratio to the best known's, when the
first solution and the final one were first reached (``first_solution_s``,
``final_reached_s``), whether a stall ended the search, feasibility, and for
long routes solved whole the routes each whole solve ended with
(``whole_solve_routes``: the usual start, then the load-capped one).

City (the service's own path: model, matrix, solver, checker), with peak RSS:

    python scripts/bench_routing.py --city 1000 --vehicles 40 --time-limit 60

A courier day (one station, 8 e-bike couriers, 1,200 parcels, 150 each, 10%
with booked slots; :func:`tracker.sim.city.courier_day`): served, left out,
distance, completion time, peak memory:

    python scripts/bench_routing.py --courier-day --time-limit 60

A solve of an instance cut into sectors (1,000 customers on short routes,
Gehring & Homberger type 1) solves them and its groups of routes in
``--workers`` processes at once, by default the machine's cores over
``--jobs`` (``search.workers`` in the JSON); other instances solve in one.

Prints JSON. ``--first-solution``, ``--metaheuristic`` (instead of the default
iterated local search) and ``--option NAME=VALUE`` override the engine's
default search, to compare strategies; ``--baseline`` is the search before
the 1,000-customer work (SAVINGS, a constraint check after every move, a
zlib-compressed trail, no sectors), for figures beside it in the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from tracker.routing.checker import check_vrptw
from tracker.routing.engine import DEFAULT_SEARCH, SearchOptions, solve_instance
from tracker.sim.vrptw import read_instance, route_distance, to_instance

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INSTANCES = REPO / "tests" / "data" / "benchmarks" / "solomon"
# The engine's default before fast checks, sectors and parallel cheapest insertion.
BASELINE_SEARCH = SearchOptions(
    first_solution="SAVINGS",
    check_solution_period=1,
    compress_trail=True,
    decompose_above=None,
    fleet_slack=None,
)


def _read_bks(folder: Path) -> dict[str, dict[str, float]]:
    """Best known: distance-only distances, vehicles-first vehicle counts."""
    bks: dict[str, dict[str, float]] = {}
    for file, key in (("bks_distance_only.csv", "distance"), ("bks.csv", "vehicles")):
        path = folder / file
        if path.exists():
            with path.open() as handle:
                for row in csv.DictReader(handle):
                    column = "distance" if key == "distance" else "vehicles"
                    bks.setdefault(row["instance"], {})[key] = float(row[column])
    for sol in folder.rglob("*.sol"):
        text = sol.read_text()
        routes = [line for line in text.splitlines() if line.startswith("Route")]
        cost = next(
            (float(line.split()[1]) for line in text.splitlines() if line.startswith("Cost")),
            None,
        )
        entry = bks.setdefault(sol.stem, {})
        entry.setdefault("vehicles", float(len(routes)))
        if cost is not None:
            entry.setdefault("distance", cost)
    return bks


def _solve_file(path: Path, time_limit: float, options: SearchOptions, bks: dict) -> dict:
    started = time.perf_counter()
    data = read_instance(path)
    solution = solve_instance(to_instance(data), time_limit=time_limit, options=options)
    seconds = time.perf_counter() - started
    # The engine's node i is customer i: the depot is node 0 in both.
    routes = [route for route in solution.routes if route]
    distance = route_distance(data, routes)
    known = bks.get(data.name, bks.get(path.stem, {}))
    bks_distance = known.get("distance")
    bks_vehicles = int(known["vehicles"]) if "vehicles" in known else None
    violations = check_vrptw(data, routes)
    stats = solution.stats
    return {
        "instance": data.name,
        "customers": data.customers,
        "vehicles": len(routes),
        "bks_vehicles": bks_vehicles,
        "vehicles_ratio": round(len(routes) / bks_vehicles, 3) if bks_vehicles else None,
        "distance": round(distance, 2),
        "bks_distance": bks_distance,
        "gap_pct": round(100 * (distance / bks_distance - 1), 2) if bks_distance else None,
        "seconds": round(seconds, 2),
        "first_solution_s": round(stats["first_solution_seconds"], 2)
        if "first_solution_seconds" in stats
        else None,
        "final_reached_s": round(stats["best_seconds"], 2) if "best_seconds" in stats else None,
        "stalled": bool(stats.get("stalled")),
        "feasible": not violations and not solution.dropped,
        "left_out": len(solution.dropped),
        # Long routes: the routes each whole solve ended its share with (the default
        # start, then the load-capped one); the cheaper was regrouped.
        **({"whole_solve_routes": wholes} if (wholes := _whole_routes(stats)) else {}),
        **({"violations": [v.to_dict() for v in violations[:5]]} if violations else {}),
    }


def _whole_routes(stats: dict[str, float]) -> list[int]:
    routes, n = [], 0
    while f"whole_{n}_routes" in stats:
        routes.append(int(stats[f"whole_{n}_routes"]))
        n += 1
    return routes


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def run_literature(args: argparse.Namespace, options: SearchOptions) -> dict[str, Any]:
    folder = Path(args.instances)
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".txt", ".vrp"))
    if args.only:
        files = [p for p in files if p.stem in args.only]
    if not files:
        raise SystemExit(f"no instances in {folder}")
    bks = _read_bks(folder)
    started = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(_solve_file, p, args.time_limit, options, bks) for p in files]
            results = [f.result() for f in futures]
    else:
        results = [_solve_file(p, args.time_limit, options, bks) for p in files]
    gaps = [r["gap_pct"] for r in results if r["gap_pct"] is not None]
    ratios = [r["vehicles_ratio"] for r in results if r["vehicles_ratio"] is not None]
    return {
        "search": options.__dict__,
        "time_limit": args.time_limit,
        "results": results,
        "summary": {
            "mean_gap_pct": round(sum(gaps) / len(gaps), 2) if gaps else None,
            "max_gap_pct": max(gaps) if gaps else None,
            "mean_vehicles_ratio": _mean(ratios),
            "max_vehicles_ratio": max(ratios) if ratios else None,
            "mean_final_reached_s": _mean([r["final_reached_s"] for r in results if r["final_reached_s"]]),
            "instances": len(results),
            "feasible": sum(r["feasible"] for r in results),
            "total_seconds": round(time.perf_counter() - started, 1),
        },
    }


def run_city(args: argparse.Namespace, options: SearchOptions) -> dict[str, Any]:
    from tracker.routing.checker import check_plan
    from tracker.routing.matrix import HaversineMatrix
    from tracker.routing.solver import problem_locations, solve
    from tracker.sim.city import city_problem

    problem = city_problem(args.city, vehicles=args.vehicles, seed=args.seed)
    started = time.perf_counter()
    matrix = HaversineMatrix().build(problem_locations(problem))
    matrix_seconds = time.perf_counter() - started
    # The time limit covers the matrix too: solve() gets what is left.
    remaining = timedelta(seconds=args.time_limit - matrix_seconds)
    plan = solve(problem, time_limit=remaining, matrix=matrix, search=options)
    seconds = time.perf_counter() - started
    violations = check_plan(problem, plan, matrix)
    reasons: dict[str, int] = {}
    for left in plan.left_out:
        reasons[left.reason] = reasons.get(left.reason, 0) + 1
    # ru_maxrss is in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "city_stops": args.city,
        "vehicles": args.vehicles,
        "seed": args.seed,
        "time_limit": args.time_limit,
        "seconds": round(seconds, 2),
        "matrix_seconds": round(matrix_seconds, 3),
        "served": sum(len(r.stops) for r in plan.routes),
        "left_out": len(plan.left_out),
        "left_out_reasons": reasons,
        "every_stop_accounted": not any(v.code in ("stop_missing", "stop_twice") for v in violations),
        "violations": len(violations),
        "vehicles_used": sum(1 for r in plan.routes if r.stops),
        "distance_km": round(plan.totals.distance_m / 1000, 1),
        "peak_rss_mb": round(peak, 1),
    }


def run_courier_day(args: argparse.Namespace, options: SearchOptions) -> dict[str, Any]:
    """One station, e-bike couriers, a full day: what a station manager sees."""
    from tracker.routing.checker import check_plan
    from tracker.routing.matrix import HaversineMatrix
    from tracker.routing.solver import problem_locations, solve
    from tracker.sim.city import CST, courier_day

    problem = courier_day(args.parcels, couriers=args.couriers, seed=args.seed)
    started = time.perf_counter()
    # E-bikes in a dense district: 15 km/h door to door, roads 1.3x the crow flies.
    matrix = HaversineMatrix(speed_kmh=15.0).build(problem_locations(problem))
    matrix_seconds = time.perf_counter() - started
    remaining = timedelta(seconds=args.time_limit - matrix_seconds)
    plan = solve(problem, time_limit=remaining, matrix=matrix, search=options)
    seconds = time.perf_counter() - started
    violations = check_plan(problem, plan, matrix)
    used = [r for r in plan.routes if r.stops]
    reasons: dict[str, int] = {}
    for left in plan.left_out:
        reasons[left.reason] = reasons.get(left.reason, 0) + 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = max((r.end for r in used), default=None)
    return {
        "scenario": "courier_day",
        "parcels": args.parcels,
        "couriers": args.couriers,
        "seed": args.seed,
        "time_limit": args.time_limit,
        "search": options.__dict__,
        "seconds": round(seconds, 2),
        "served": sum(len(r.stops) for r in used),
        "left_out": len(plan.left_out),
        "left_out_reasons": reasons,
        "feasible": not violations,
        "couriers_used": len(used),
        "stops_per_courier": sorted(len(r.stops) for r in used),
        "distance_km": round(plan.totals.distance_m / 1000, 1),
        # The last courier back at the station, local time, and the longest day.
        "completion": done.astimezone(CST).isoformat(timespec="seconds") if done else None,
        "longest_route_h": round(max((r.duration_s for r in used), default=0) / 3600, 2),
        "solver_status": plan.solver_status,
        "peak_rss_mb": round(peak, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default=str(DEFAULT_INSTANCES))
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance")
    parser.add_argument("--only", action="append", help="instance name (repeatable)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--workers",
        type=int,
        help="processes one solve's sectors use (default: the machine's cores over --jobs)",
    )
    parser.add_argument("--city", type=int, help="solve a generated city with N stops")
    parser.add_argument("--vehicles", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--courier-day", action="store_true", help="the one-station courier day")
    parser.add_argument("--parcels", type=int, default=1200)
    parser.add_argument("--couriers", type=int, default=8)
    parser.add_argument(
        "--stall-s",
        type=float,
        help="stop a solve after this many seconds without a better solution",
    )
    parser.add_argument("--first-solution")
    parser.add_argument("--metaheuristic")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other SearchOptions field, e.g. guided_local_search_lambda=0.2",
    )
    parser.add_argument("--baseline", action="store_true", help="the search before sectors and fast checks")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args(argv)

    options = DEFAULT_SEARCH
    if args.baseline:
        options = BASELINE_SEARCH
    if args.first_solution:
        options = replace(options, first_solution=args.first_solution)
    if args.metaheuristic:
        # A named metaheuristic replaces the default iterated local search.
        options = replace(options, metaheuristic=args.metaheuristic, iterated_local_search=False)
    if args.stall_s:
        options = replace(options, stall_seconds=args.stall_s)
    # One solve at a time may use the machine: the time limit is wall-clock time.
    options = replace(options, workers=args.workers or max(1, (os.cpu_count() or 1) // args.jobs))
    for item in args.option:
        name, _, value = item.partition("=")
        current = getattr(options, name)
        kind = float if current is None else type(current)
        if value.lower() == "none":
            parsed = None
        elif current is None:
            # An optional field (int | None or float | None): a whole number stays an int.
            parsed = int(value) if value.lstrip("-").isdigit() else float(value)
        else:
            parsed = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        options = replace(options, **{name: parsed})
    if args.courier_day:
        report = run_courier_day(args, options)
    elif args.city:
        report = run_city(args, options)
    else:
        report = run_literature(args, options)
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
