"""``solve(problem) -> RoutePlan``: the routing engine's front door.

1. Price every pair of locations with a :class:`~tracker.routing.matrix.MatrixSource`
   (great-circle by default), one row per distinct address.
2. Lay the problem out as an integer :class:`~tracker.routing.instance.Instance`:
   terminals (the depot and any other start/end locations) first, then the
   stops; metres, seconds from ``problem.start``, parcels and grams. Travel
   times round up and windows round inwards, so an integer plan is feasible
   in real time too.
3. Solve it with :func:`~tracker.routing.engine.solve_instance` (the same
   function the literature benchmark measures).
4. Time each route: the earliest finish, departing as late as that finish
   allows (no idle wait at the first door), then ETAs, loads, utilisation.
5. Explain each stop left out (:mod:`tracker.routing.reasons`) and, unless
   told not to, verify the whole plan with the independent checker: a plan
   that breaks a rule is a bug, and raises rather than reaching a courier.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np

from tracker.core.errors import FieldError
from tracker.routing.checker import check_plan
from tracker.routing.engine import DEFAULT_SEARCH, SearchOptions, solve_instance
from tracker.routing.errors import RoutingInputError, RoutingSolverError
from tracker.routing.instance import Instance
from tracker.routing.matrix import HaversineMatrix, Matrix, MatrixSource, unique_locations
from tracker.routing.model import PRIORITY_WEIGHT, Location, RoutingProblem
from tracker.routing.plan import LeftOut, PlannedStop, RoutePlan, Totals, VehicleRoute
from tracker.routing.reasons import explain_all

__all__ = ["problem_locations", "solve"]


def problem_locations(problem: RoutingProblem) -> tuple[Location, ...]:
    """Every distinct location a plan can touch: depot, vehicle ends, stops."""
    depot = problem.depot.location
    ends = [loc or depot for v in problem.vehicles for loc in (v.start, v.end)]
    return unique_locations([depot, *ends, *(s.location for s in problem.stops)])


@dataclass(frozen=True)
class _Layout:
    """How the problem maps onto the instance: node -> matrix row."""

    instance: Instance
    rows: np.ndarray  # matrix row of each node
    first_stop: int  # node of problem.stops[0]


def _seconds(problem: RoutingProblem, when: datetime) -> float:
    return (when - problem.origin).total_seconds()


def _layout(problem: RoutingProblem, matrix: Matrix) -> _Layout:
    depot = problem.depot.location
    terminals = list(dict.fromkeys(loc or depot for v in problem.vehicles for loc in (v.start, v.end)))
    terminal_node = {loc: i for i, loc in enumerate(terminals)}
    first = len(terminals)
    try:
        rows = np.array(
            [matrix.index(loc) for loc in (*terminals, *(s.location for s in problem.stops))],
            dtype=np.int64,
        )
    except KeyError as exc:
        raise ValueError(f"the matrix has no row for {exc.args[0]}") from None

    shift_start = np.array([max(0, math.ceil(_seconds(problem, v.shift_start))) for v in problem.vehicles])
    shift_end = np.array([math.floor(_seconds(problem, v.shift_end)) for v in problem.vehicles])
    horizon = int(max(shift_end.max(), 1))

    distance = matrix.distance_m[np.ix_(rows, rows)]
    duration = matrix.duration_s[np.ix_(rows, rows)]
    finite = np.isfinite(distance) & np.isfinite(duration)
    longest = float(distance[finite].max(initial=0.0))
    # An unroutable pair (OSRM null) gets a travel time no shift can absorb.
    distance = np.where(finite, np.rint(distance), 10 * longest + 1).astype(np.int64)
    duration = np.where(finite, np.ceil(duration - 1e-9), horizon + 1).astype(np.int64)

    stops = problem.stops
    n = first + len(stops)
    service = np.zeros(n, dtype=np.int64)
    window_start = np.zeros(n, dtype=np.int64)
    window_end = np.full(n, horizon, dtype=np.int64)
    demand = np.zeros((2, n), dtype=np.int64)
    penalty = np.zeros(n, dtype=np.int64)
    # Leaving a stop out must cost more than any detour or extra vehicle it
    # could need, so stops drop only when they truly cannot fit; the tier
    # weight then decides which stop goes when one must.
    base = 10 * (2 * int(distance.max(initial=0)) + max(v.fixed_cost for v in problem.vehicles)) + 1
    for i, s in enumerate(stops, start=first):
        service[i] = math.ceil(s.service_time.total_seconds())
        if s.window.start is not None:
            window_start[i] = max(0, math.ceil(_seconds(problem, s.window.start)))
        if s.window.end is not None:
            # Not clamped to the horizon: the engine clamps, and the reasons
            # need the real window to explain a stop left out.
            window_end[i] = math.floor(_seconds(problem, s.window.end))
        demand[:, i] = (s.parcels, math.ceil(s.weight_kg * 1000 - 1e-6))
        penalty[i] = base * PRIORITY_WEIGHT[s.priority]

    vehicles = problem.vehicles
    instance = Instance(
        distance=distance,
        duration=duration,
        service=service,
        window_start=window_start,
        window_end=window_end,
        demand=demand,
        capacity=np.array(
            [
                [v.capacity_parcels for v in vehicles],
                [math.floor(v.capacity_kg * 1000 + 1e-6) for v in vehicles],
            ],
            dtype=np.int64,
        ),
        vehicle_start=np.array([terminal_node[v.start or depot] for v in vehicles]),
        vehicle_end=np.array([terminal_node[v.end or depot] for v in vehicles]),
        shift_start=shift_start,
        shift_end=shift_end,
        fixed_cost=np.array([v.fixed_cost for v in vehicles], dtype=np.int64),
        penalty=penalty,
        first_visit=first,
        # A service problem is a courier's day (see Instance): leave at the
        # shift's start, and a second of completion weighs as a metre driven.
        leave_at_shift_start=True,
        completion_cost=1,
        fixed_vehicle=_fixed_vehicles(problem, first) if any(s.vehicle for s in stops) else None,
    )
    return _Layout(instance, rows, first)


def _fixed_vehicles(problem: RoutingProblem, first: int) -> np.ndarray:
    index = {v.id: i for i, v in enumerate(problem.vehicles)}
    fixed = np.full(first + len(problem.stops), -1, dtype=np.int64)
    for i, s in enumerate(problem.stops, start=first):
        if s.vehicle is not None:
            fixed[i] = index[s.vehicle]
    return fixed


def _check_shifts(problem: RoutingProblem, inst: Instance) -> None:
    errors: list[FieldError] = []
    for v in range(inst.num_vehicles):
        trip = inst.duration[inst.vehicle_start[v], inst.vehicle_end[v]]
        if inst.shift_start[v] + trip > inst.shift_end[v]:
            errors.append(
                FieldError(
                    f"vehicles[{v}].shift_end",
                    "the shift is too short to drive from its start to its end "
                    "(or ends before the plan starts)",
                )
            )
    if errors:
        raise RoutingInputError(errors)


def _schedule(inst: Instance, v: int, route: list[int]) -> tuple[int, list[int], list[int], int]:
    """Departure, arrivals, service starts and return for a fixed sequence.

    A courier's day (``inst.leave_at_shift_start``): leave at the shift's
    start, serve each stop on arrival or when its window opens. Otherwise
    (textbook instances): first the earliest finish; then, walking back from
    it, the latest each service may start without delaying that finish; then
    forward again from the latest departure those allow. Same finish, least
    waiting.
    """
    start_node, end_node = int(inst.vehicle_start[v]), int(inst.vehicle_end[v])
    if not route:
        return int(inst.shift_start[v]), [], [], int(inst.shift_start[v])
    dur, svc, ws, we = inst.duration, inst.service, inst.window_start, inst.window_end
    if inst.leave_at_shift_start:
        # The parcels are on the bike when the shift starts: waiting at the
        # station for a late window only makes every other stop later.
        return _forward(inst, int(inst.shift_start[v]), start_node, end_node, route)
    t, prev = int(inst.shift_start[v]), start_node
    for node in route:
        t = max(t + int(dur[prev, node]), int(ws[node])) + int(svc[node])
        prev = node
    finish = t + int(dur[prev, end_node])
    latest, nxt = finish - int(dur[prev, end_node]), None
    for node in reversed(route):
        if nxt is not None:
            latest -= int(dur[node, nxt])
        latest = min(int(we[node]), latest - int(svc[node]))
        nxt = node
    return _forward(inst, latest - int(dur[start_node, route[0]]), start_node, end_node, route)


def _forward(
    inst: Instance, depart: int, start_node: int, end_node: int, route: list[int]
) -> tuple[int, list[int], list[int], int]:
    """Leaving at ``depart``, each stop served on arrival or when its window opens."""
    dur, svc, ws = inst.duration, inst.service, inst.window_start
    arrivals, starts = [], []
    t, prev = depart, start_node
    for node in route:
        arrivals.append(t + int(dur[prev, node]))
        starts.append(max(arrivals[-1], int(ws[node])))
        t = starts[-1] + int(svc[node])
        prev = node
    return depart, arrivals, starts, t + int(dur[prev, end_node])


def _route(
    problem: RoutingProblem, layout: _Layout, matrix: Matrix, v: int, route: list[int]
) -> VehicleRoute:
    inst, vehicle = layout.instance, problem.vehicles[v]

    def clock(seconds: int) -> datetime:
        return problem.origin + timedelta(seconds=seconds)

    depart, arrivals, starts, back = _schedule(inst, v, route)
    rows = layout.rows[[int(inst.vehicle_start[v]), *route, int(inst.vehicle_end[v])]]
    legs = matrix.distance_m[rows[:-1], rows[1:]] if route else np.zeros(0)
    stops = [problem.stops[n - layout.first_stop] for n in route]
    parcels = sum(s.parcels for s in stops)
    kg = sum(s.weight_kg for s in stops)
    planned, on_board, on_board_kg = [], parcels, kg
    for i, s in enumerate(stops):
        planned.append(
            PlannedStop(
                stop_id=s.id,
                arrival=clock(seconds=arrivals[i]),
                service_start=clock(seconds=starts[i]),
                departure=clock(seconds=starts[i] + int(inst.service[route[i]])),
                distance_from_previous_m=round(float(legs[i]), 1),
                load_parcels=on_board,
                load_kg=round(on_board_kg, 3),
            )
        )
        on_board -= s.parcels
        on_board_kg -= s.weight_kg
    return VehicleRoute(
        vehicle_id=vehicle.id,
        stops=tuple(planned),
        start=clock(seconds=depart),
        end=clock(seconds=back),
        distance_m=round(float(legs.sum()), 1),
        duration_s=float(back - depart),
        load_parcels=parcels,
        load_kg=round(kg, 3),
        utilisation_parcels=round(parcels / vehicle.capacity_parcels, 4) if vehicle.capacity_parcels else 0.0,
        utilisation_kg=round(kg / vehicle.capacity_kg, 4) if vehicle.capacity_kg else 0.0,
        empty_distance_m=round(float(legs[-1]), 1) if route else 0.0,
    )


def _totals(problem: RoutingProblem, routes: list[VehicleRoute], left_out: int) -> Totals:
    used = [(r, v) for r, v in zip(routes, problem.vehicles, strict=True) if r.stops]
    distance = sum(r.distance_m for r, _ in used)
    cap_parcels = sum(v.capacity_parcels for _, v in used)
    cap_kg = sum(v.capacity_kg for _, v in used)
    return Totals(
        distance_m=round(distance, 1),
        duration_s=sum(r.duration_s for r, _ in used),
        served=sum(len(r.stops) for r, _ in used),
        left_out=left_out,
        vehicles_used=len(used),
        utilisation_parcels=round(sum(r.load_parcels for r, _ in used) / cap_parcels, 4)
        if cap_parcels
        else 0.0,
        utilisation_kg=round(sum(r.load_kg for r, _ in used) / cap_kg, 4) if cap_kg else 0.0,
        empty_distance_share=round(sum(r.empty_distance_m for r, _ in used) / distance, 4)
        if distance
        else 0.0,
    )


def solve(
    problem: RoutingProblem,
    *,
    time_limit: timedelta,
    matrix_source: MatrixSource | None = None,
    matrix: Matrix | None = None,
    search: SearchOptions = DEFAULT_SEARCH,
    verify: bool = True,
    zone: tzinfo = UTC,
) -> RoutePlan:
    """Plan routes for ``problem`` within ``time_limit`` (matrix building included).

    Give either a ``matrix_source`` (default: :class:`HaversineMatrix`) or a
    prebuilt ``matrix`` that has a row for every location of the problem.
    Raises :class:`RoutingInputError` for a problem no plan can honour (a
    shift too short to drive from its start to its end) and
    :class:`RoutingSolverError` if the plan fails the independent check.
    """
    if time_limit <= timedelta(0):
        raise RoutingInputError.one("time_limit", "must be positive")
    started = time.perf_counter()
    if matrix is None:
        matrix = (matrix_source or HaversineMatrix()).build(problem_locations(problem))
    layout = _layout(problem, matrix)
    inst = layout.instance
    _check_shifts(problem, inst)

    if problem.stops:
        # Keep back a little for timing the routes and the independent check,
        # so the whole call ends within time_limit.
        limit = time_limit.total_seconds()
        budget = limit - (time.perf_counter() - started) - min(1.0, 0.02 * limit)
        solution = solve_instance(inst, time_limit=max(budget, 0.05), options=search)
        node_routes, dropped, status = solution.routes, solution.dropped, solution.status
    else:
        node_routes, dropped, status = [[] for _ in problem.vehicles], [], "no_stops"

    routes = [_route(problem, layout, matrix, v, r) for v, r in enumerate(node_routes)]
    reasons = explain_all(
        inst,
        node_routes,
        dropped,
        priority=[0] * layout.first_stop + [s.priority for s in problem.stops],
        clock=lambda seconds: problem.origin + timedelta(seconds=seconds),
        zone=zone,
    )
    left_out = tuple(LeftOut(problem.stops[n - layout.first_stop].id, *reasons[n]) for n in dropped)
    plan = RoutePlan(
        routes=tuple(routes),
        left_out=left_out,
        totals=_totals(problem, routes, len(left_out)),
        solver_status=status,
        solve_seconds=round(time.perf_counter() - started, 3),
    )
    if verify:
        violations = check_plan(problem, plan, matrix)
        if violations:
            listed = "; ".join(f"{v.code}: {v.detail}" for v in violations[:5])
            raise RoutingSolverError(f"the plan failed the independent check: {listed}")
    return plan
