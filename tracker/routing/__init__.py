"""Last-mile route optimisation, free of Flask and of the database.

How a solve flows, module by module::

    model.RoutingProblem          stations, vehicles, stops (UTC datetimes), validated
      │  (codec: JSON in, RoutingInputError with field paths out)
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

The literature benchmark (``scripts/bench_routing.py``) enters at
``vrptw.to_instance`` and calls the same ``engine.solve_instance``;
``cityscenario.city_problem`` builds a realistic day for demos and load tests.
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
