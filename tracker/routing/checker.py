"""An independent check of routing answers, sharing no code with the solver.

Nothing here imports OR-Tools, the engine, or the conversions in
:mod:`tracker.routing.solver`: it reads the problem as the caller gave it and
the answer as the solver printed it, recomputes what it can, and lists every
violation it finds (an empty list means the answer is feasible).

* :func:`check_plan` checks a :class:`~tracker.routing.plan.RoutePlan`
  against its :class:`~tracker.routing.model.RoutingProblem` and the
  :class:`~tracker.routing.matrix.Matrix` it was planned on: every stop served
  or left out (exactly one of them, once), loads within capacity, service
  inside the windows and shifts, and each reported arrival no earlier than
  the previous departure plus the travel time.
* :func:`check_vrptw` checks literature routes (customer indices) against a
  :class:`~tracker.sim.vrptw.VrptwData`, recomputing the schedule in
  double precision, as the benchmark's "feasible" column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tracker.routing.plan import REASONS

if TYPE_CHECKING:
    from tracker.routing.matrix import Matrix
    from tracker.routing.model import RoutingProblem, Stop, Vehicle
    from tracker.routing.plan import PlannedStop, RoutePlan, VehicleRoute
    from tracker.sim.vrptw import VrptwData

__all__ = ["Violation", "check_plan", "check_vrptw"]

# Reported times are whole seconds and the matrix is in float seconds, so a
# consistent answer may still be off by a rounding step per leg.
TIME_TOLERANCE_S = 1.0
EPSILON = 1e-6


@dataclass(frozen=True)
class Violation:
    """One broken rule: a code, who broke it, and a sentence for people."""

    code: str
    detail: str
    vehicle: str | None = None
    stop: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _check_each_once(
    expected: Iterable[str], served: Sequence[str], left_out: Sequence[str]
) -> list[Violation]:
    found: list[Violation] = []
    expected_set = set(expected)
    counts = Counter(served)
    left = Counter(left_out)
    for stop, count in sorted(counts.items()):
        if stop not in expected_set:
            found.append(Violation("unknown_stop", f"{stop} is not in the problem", stop=stop))
        elif count > 1:
            found.append(Violation("stop_twice", f"{stop} is served {count} times", stop=stop))
        if stop in left:
            found.append(Violation("served_and_left_out", f"{stop} is served and left out", stop=stop))
    for stop, count in sorted(left.items()):
        if stop not in expected_set:
            found.append(Violation("unknown_stop", f"{stop} is not in the problem", stop=stop))
        elif count > 1:
            found.append(Violation("stop_twice", f"{stop} is left out {count} times", stop=stop))
    for stop in sorted(expected_set - counts.keys() - left.keys()):
        found.append(Violation("stop_missing", f"{stop} is neither served nor left out", stop=stop))
    return found


def check_vrptw(data: VrptwData, routes: Sequence[Sequence[int]]) -> list[Violation]:
    """Check literature routes: all customers once, capacity, windows, depot due."""
    customers = [str(c) for c in range(1, data.customers + 1)]
    found = _check_each_once(customers, [str(c) for r in routes for c in r], [])
    used = [r for r in routes if r]
    if len(used) > data.vehicles:
        found.append(Violation("fleet_size", f"{len(used)} routes but only {data.vehicles} vehicles"))
    d = data.distances()
    for number, route in enumerate(used, start=1):
        vehicle = f"route {number}"
        load = int(sum(int(data.demand[c]) for c in route))
        if load > data.capacity:
            found.append(Violation("capacity", f"load {load} > capacity {data.capacity}", vehicle))
        now, previous = float(data.ready[0]), 0
        for customer in route:
            now = max(now + float(d[previous, customer]), float(data.ready[customer]))
            if now > data.due[customer] + EPSILON:
                found.append(
                    Violation(
                        "window",
                        f"service starts at {now:.3f}, after the due time {data.due[customer]:g}",
                        vehicle,
                        str(customer),
                    )
                )
            now += float(data.service[customer])
            previous = customer
        now += float(d[previous, 0])
        if now > data.due[0] + EPSILON:
            found.append(
                Violation(
                    "shift_end",
                    f"back at the depot at {now:.3f}, after its due time {data.due[0]:g}",
                    vehicle,
                )
            )
    return found


def check_plan(problem: RoutingProblem, plan: RoutePlan, matrix: Matrix) -> list[Violation]:
    """Check a plan against its problem and the matrix it was planned on."""
    found = _check_each_once(
        (s.id for s in problem.stops),
        [p.stop_id for r in plan.routes for p in r.stops],
        [x.stop_id for x in plan.left_out],
    )
    for x in plan.left_out:
        if x.reason not in REASONS:
            found.append(Violation("unknown_reason", f"reason {x.reason!r}", stop=x.stop_id))

    vehicles = {v.id: v for v in problem.vehicles}
    stops = {s.id: s for s in problem.stops}
    seen: set[str] = set()
    for route in plan.routes:
        vehicle = vehicles.get(route.vehicle_id)
        if vehicle is None or route.vehicle_id in seen:
            found.append(Violation("unknown_vehicle", "unknown or repeated vehicle", route.vehicle_id))
            continue
        seen.add(route.vehicle_id)
        known = [p for p in route.stops if p.stop_id in stops]
        for p in known:
            carried_by = stops[p.stop_id].vehicle
            if carried_by is not None and carried_by != route.vehicle_id:
                found.append(
                    Violation(
                        "wrong_vehicle", f"{carried_by} carries it", vehicle=route.vehicle_id, stop=p.stop_id
                    )
                )
        try:
            found += _check_route(problem, vehicle, route, known, stops, matrix)
        except KeyError as missing:
            found.append(Violation("matrix_incomplete", f"the matrix has no row for {missing}", vehicle.id))
    return found


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def _check_route(
    problem: RoutingProblem,
    vehicle: Vehicle,
    route: VehicleRoute,
    planned: list[PlannedStop],
    stops: dict[str, Stop],
    matrix: Matrix,
) -> list[Violation]:
    found: list[Violation] = []
    vid = vehicle.id

    def late(a: datetime, b: datetime) -> bool:
        """True when ``a`` is meaningfully after ``b``."""
        return _seconds(b, a) > TIME_TOLERANCE_S

    parcels = sum(stops[p.stop_id].parcels for p in planned)
    kg = sum(stops[p.stop_id].weight_kg for p in planned)
    if parcels > vehicle.capacity_parcels:
        found.append(Violation("capacity", f"{parcels} parcels > capacity {vehicle.capacity_parcels}", vid))
    if kg > vehicle.capacity_kg + EPSILON:
        found.append(Violation("capacity", f"{kg:g} kg > capacity {vehicle.capacity_kg:g} kg", vid))
    if not planned:
        return found

    if late(vehicle.shift_start, route.start):
        found.append(Violation("shift_start", "leaves before the shift starts", vid))
    depot = problem.depot.location
    here, free_at, driven = vehicle.start or depot, route.start, 0.0
    for p in planned:
        stop = stops[p.stop_id]
        row, col = matrix.index(here), matrix.index(stop.location)
        driven += float(matrix.distance_m[row, col])
        travel = float(matrix.duration_s[row, col])
        if _seconds(free_at, p.arrival) < travel - TIME_TOLERANCE_S:
            found.append(
                Violation(
                    "arrival_inconsistent",
                    f"arrives {_seconds(free_at, p.arrival):.0f} s after leaving the previous "
                    f"place, but the drive takes {travel:.0f} s",
                    vid,
                    stop.id,
                )
            )
        if late(p.arrival, p.service_start):
            found.append(Violation("arrival_inconsistent", "service before arrival", vid, stop.id))
        if stop.window.start is not None and late(stop.window.start, p.service_start):
            found.append(Violation("window", "service starts before the window opens", vid, stop.id))
        if stop.window.end is not None and late(p.service_start, stop.window.end):
            found.append(Violation("window", "service starts after the window closes", vid, stop.id))
        service = stop.service_time.total_seconds()
        if _seconds(p.service_start, p.departure) < service - TIME_TOLERANCE_S:
            found.append(
                Violation("arrival_inconsistent", "leaves before the service time is over", vid, stop.id)
            )
        here, free_at = stop.location, p.departure
    end = vehicle.end or depot
    row, col = matrix.index(here), matrix.index(end)
    driven += float(matrix.distance_m[row, col])
    if _seconds(free_at, route.end) < float(matrix.duration_s[row, col]) - TIME_TOLERANCE_S:
        found.append(Violation("arrival_inconsistent", "back at the end too early", vid))
    if late(route.end, vehicle.shift_end):
        found.append(Violation("shift_end", "returns after the shift ends", vid))
    if abs(driven - route.distance_m) > max(1.0, 1e-6 * driven):
        found.append(
            Violation(
                "distance_inconsistent",
                f"reports {route.distance_m:.0f} m but its legs add up to {driven:.0f} m",
                vid,
            )
        )
    return found
