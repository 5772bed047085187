"""Literature readers on the real files in tests/data/benchmarks/, and the engine on them."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from tests.helpers import load_script
from tracker.routing.checker import check_vrptw
from tracker.routing.engine import SearchOptions, solve_instance
from tracker.sim.vrptw import read_instance, read_solomon, read_vrplib, route_distance, to_instance


def first_rows(path, count: int) -> list[list[str]]:
    """The first ``count`` numeric rows of a Solomon customer table."""
    rows = [line.split() for line in path.read_text().splitlines()]
    return [r for r in rows if len(r) == 7 and r[0].isdigit()][:count]


def test_it_reads_a_solomon_instance_as_printed(benchmarks):
    path = benchmarks / "solomon" / "R101.txt"
    data = read_solomon(path)
    rows = first_rows(path, 101)
    assert data.name == "R101" and data.customers == len(rows) - 1
    header = path.read_text().split("CAPACITY", 1)[1].split()
    assert (data.vehicles, data.capacity) == (int(header[0]), int(header[1]))
    assert data.x[3] == float(rows[3][1]) and data.due[0] == float(rows[0][5])
    assert data.service[0] == 0 and data.service[1] == float(rows[1][6])
    d = data.distances()
    assert d[0, 1] == pytest.approx(math.dist((data.x[0], data.y[0]), (data.x[1], data.y[1])))


def test_it_reads_a_vrplib_instance_with_dimacs_rounding(benchmarks):
    data = read_vrplib(benchmarks / "homberger-1000" / "type1" / "C1_10_1.vrp")
    assert data.customers == 1000 and data.rounding == "dimacs"
    d = data.distances()
    assert np.allclose(d * 10, np.round(d * 10))  # truncated to a tenth
    exact = math.dist((data.x[0], data.y[0]), (data.x[1], data.y[1]))
    assert exact - 0.1 < d[0, 1] <= exact
    assert data.service[0] == 0 and data.service[1] > 0


def test_it_scales_to_integers_that_never_shorten_a_trip(benchmarks):
    data = read_instance(benchmarks / "solomon" / "RC105.txt")
    inst = to_instance(data)
    assert np.all(inst.duration >= data.distances() * data.default_scale - 1e-6)
    assert inst.horizon == int(data.due[0] * data.default_scale)


def test_it_solves_a_solomon_instance_feasibly_close_to_the_best_known(benchmarks):
    data = read_solomon(benchmarks / "solomon" / "C101.txt")
    solution = solve_instance(to_instance(data), time_limit=2.0)
    routes = [r for r in solution.routes if r]
    assert check_vrptw(data, routes) == []
    assert not solution.dropped
    with (benchmarks / "solomon" / "bks_distance_only.csv").open() as handle:
        best = next(float(r["distance"]) for r in csv.DictReader(handle) if r["instance"] == "C101")
    assert route_distance(data, routes) <= best * 1.05


def test_it_rejects_unknown_search_names():
    with pytest.raises(ValueError, match="first-solution"):
        SearchOptions(first_solution="TELEPATHY")


def test_it_benchmarks_from_the_command_line(benchmarks, capsys):
    bench = load_script("bench_routing")
    bench.main(["--instances", str(benchmarks / "solomon"), "--only", "C101", "--time-limit", "1"])
    report = json.loads(capsys.readouterr().out)
    (row,) = report["results"]
    assert row["instance"] == "C101" and row["feasible"] and row["left_out"] == 0
    assert row["bks_distance"] and row["bks_vehicles"]
    assert report["summary"]["instances"] == 1 and report["summary"]["feasible"] == 1
