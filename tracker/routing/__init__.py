"""Last-mile route optimisation: the engine (pure) and station planning on top of it.

How a solve flows, module by module (all pure: no Flask, no database)::

    schemas.ProblemIn             the JSON form (pydantic: the one shape check)
      │  .to_problem()
      ▼
    model.RoutingProblem          stations, vehicles, stops (UTC datetimes); checks what
      │                           they mean, RoutingInputError with field paths (errors.py)
      ▼
    matrix.MatrixSource           haversine (default) | geodesic | OSRM table
      ▼
    solver.solve                  lays the problem out as integers ─► instance.Instance
      │                                                                 ▼
      │                           engine.solve_instance (OR-Tools: C++-side matrices,
      │                             capacities, time windows, shifts, optional stops)
      ▼
    plan.RoutePlan                routes with ETAs, totals, utilisation, stops left
                                  out with a reason (reasons.py); verified by
                                  checker.check_plan, which shares no code with the solver

A station's day, by layer: ``planning`` (pure: the day's problem, ETA
windows, answers), ``store`` (SQL on a given connection), and on top
``service`` with ``views`` (the blueprint) and ``commands`` (``tracker
routes``), which own the transactions.

The literature benchmark (``scripts/bench_routing.py``) enters at
:func:`tracker.sim.vrptw.to_instance` and calls the same
``engine.solve_instance``; :func:`tracker.sim.city.city_problem` builds a
realistic day for demos and load tests. This package never imports
:mod:`tracker.sim` (only for type checking).
"""

from tracker.routing.checker import Violation, check_plan
from tracker.routing.engine import DEFAULT_SEARCH, SearchOptions
from tracker.routing.errors import MatrixSourceError, RoutingError, RoutingInputError, RoutingSolverError
from tracker.routing.matrix import GeodesicMatrix, HaversineMatrix, Matrix, MatrixSource, OsrmMatrix
from tracker.routing.model import Depot, Location, RoutingProblem, Stop, TimeWindow, Vehicle
from tracker.routing.plan import LeftOut, PlannedStop, RoutePlan, Totals, VehicleRoute
from tracker.routing.solver import problem_locations, solve

__all__ = [
    "DEFAULT_SEARCH",
    "Depot",
    "GeodesicMatrix",
    "HaversineMatrix",
    "LeftOut",
    "Location",
    "Matrix",
    "MatrixSource",
    "MatrixSourceError",
    "OsrmMatrix",
    "PlannedStop",
    "RoutePlan",
    "RoutingError",
    "RoutingInputError",
    "RoutingProblem",
    "RoutingSolverError",
    "SearchOptions",
    "Stop",
    "TimeWindow",
    "Totals",
    "Vehicle",
    "VehicleRoute",
    "Violation",
    "check_plan",
    "problem_locations",
    "solve",
]
