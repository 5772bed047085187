#!/usr/bin/env python
"""Benchmark the routing engine on literature instances or a generated city.

Literature (Solomon text files or VRPLIB ``.vrp``), every instance in a folder:

    python scripts/bench_routing.py --time-limit 10
    python scripts/bench_routing.py --instances tests/data/benchmarks/homberger-1000 \\
        --time-limit 60

Each instance is read by :mod:`tracker.sim.vrptw`, solved by the same
:func:`tracker.routing.engine.solve_instance` the service calls, checked by
the independent :func:`tracker.routing.checker.check_vrptw`, and its distance
recomputed in double precision. Best-known distances come from
``bks_distance_only.csv`` (vehicle counts from ``bks.csv``) or, for VRPLIB,
from the ``.sol`` beside each ``.vrp``.

City (the service's own path: model, matrix, solver, checker), with peak RSS:

    python scripts/bench_routing.py --city 1000 --vehicles 40 --time-limit 60

Prints JSON. ``--first-solution``, ``--metaheuristic`` (instead of the default
iterated local search) and ``--option NAME=VALUE`` override the engine's
default search, to compare strategies.
"""

from __future__ import annotations

import argparse
import csv
import json
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
    for sol in folder.glob("*.sol"):
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
    violations = check_vrptw(data, routes)
    return {
        "instance": data.name,
        "customers": data.customers,
        "vehicles": len(routes),
        "distance": round(distance, 2),
        "bks_distance": bks_distance,
        "gap_pct": round(100 * (distance / bks_distance - 1), 2) if bks_distance else None,
        "bks_vehicles": int(known["vehicles"]) if "vehicles" in known else None,
        "seconds": round(seconds, 2),
        "feasible": not violations,
        "left_out": len(solution.dropped),
        **({"violations": [v.to_dict() for v in violations[:5]]} if violations else {}),
    }


def run_literature(args: argparse.Namespace, options: SearchOptions) -> dict[str, Any]:
    folder = Path(args.instances)
    files = sorted(p for p in folder.iterdir() if p.suffix in (".txt", ".vrp"))
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
    return {
        "search": options.__dict__,
        "time_limit": args.time_limit,
        "results": results,
        "summary": {
            "mean_gap_pct": round(sum(gaps) / len(gaps), 2) if gaps else None,
            "instances": len(results),
            "feasible": sum(r["feasible"] and r["left_out"] == 0 for r in results),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default=str(DEFAULT_INSTANCES))
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance")
    parser.add_argument("--only", action="append", help="instance name (repeatable)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--city", type=int, help="solve a generated city with N stops")
    parser.add_argument("--vehicles", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-solution")
    parser.add_argument("--metaheuristic")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other SearchOptions field, e.g. guided_local_search_lambda=0.2",
    )
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args(argv)

    options = DEFAULT_SEARCH
    if args.first_solution:
        options = replace(options, first_solution=args.first_solution)
    if args.metaheuristic:
        # A named metaheuristic replaces the default iterated local search.
        options = replace(options, metaheuristic=args.metaheuristic, iterated_local_search=False)
    for item in args.option:
        name, _, value = item.partition("=")
        kind = type(getattr(options, name))
        parsed = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        options = replace(options, **{name: parsed})
    report = run_city(args, options) if args.city else run_literature(args, options)
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
