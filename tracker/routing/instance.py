"""The solver's view of a routing problem: integer arrays and nothing else.

Two front doors lead here: :func:`tracker.routing.solver.solve` turns a
:class:`~tracker.routing.model.RoutingProblem` (stations, datetimes, metres)
into an :class:`Instance`, and the literature readers in
:mod:`tracker.sim.vrptw` turn Solomon or VRPLIB files into one. Both then
call the same :func:`tracker.routing.engine.solve_instance`, so the benchmark
measures the code the service runs.

Node layout::

    0 .. first_visit-1      terminals: where vehicles start and end
    first_visit .. n-1      visits: the stops to serve (optional, with a penalty)

Units are whatever the front door chose (metres and seconds for the service,
scaled Euclidean units for the benchmarks); the engine only needs integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Instance"]


def _int_array(value: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        # Silently truncating floats would hide a unit mistake in the caller.
        raise ValueError(f"{name}: expected integers, got {array.dtype}")
    return array.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class Instance:
    """Integer arrays describing one capacitated routing problem with windows.

    ``duration`` is travel time only; the engine adds ``service[i]`` when
    leaving node ``i``. ``penalty[i]`` is the cost of leaving visit ``i`` out
    (ignored for terminals). Capacities and demands have one row per
    dimension (for the service: parcels, then grams).
    """

    distance: np.ndarray  # (n, n) cost of each arc
    duration: np.ndarray  # (n, n) travel time of each arc
    service: np.ndarray  # (n,)
    window_start: np.ndarray  # (n,)
    window_end: np.ndarray  # (n,)
    demand: np.ndarray  # (k, n)
    capacity: np.ndarray  # (k, v)
    vehicle_start: np.ndarray  # (v,) terminal node
    vehicle_end: np.ndarray  # (v,) terminal node
    shift_start: np.ndarray  # (v,)
    shift_end: np.ndarray  # (v,)
    fixed_cost: np.ndarray  # (v,)
    penalty: np.ndarray  # (n,)
    first_visit: int
    # Planar (x, y) of each node, when the front door knows them; only used
    # to split very large instances into sectors around the depot.
    coordinates: np.ndarray | None = None
    # A courier's day, not a textbook instance: each vehicle leaves at its
    # shift start (its parcels are loaded then), and every second a route
    # runs costs ``completion_cost`` besides the distance, so nobody idles at
    # the station and deliveries come as early as the windows allow. The
    # literature's instances (distance only) leave both off.
    leave_at_shift_start: bool = False
    completion_cost: int = 0
    # Per node, the vehicle that must serve it if it is served (the one
    # already carrying it), or -1 for any; None: every node is free.
    fixed_vehicle: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = np.asarray(self.distance).shape[0]
        if self.coordinates is not None:
            xy = np.asarray(self.coordinates, dtype=np.float64)
            if xy.shape != (n, 2):
                raise ValueError(f"coordinates: expected shape {(n, 2)}, got {xy.shape}")
            object.__setattr__(self, "coordinates", xy)
        if self.fixed_vehicle is not None:
            object.__setattr__(self, "fixed_vehicle", _int_array(self.fixed_vehicle, (n,), "fixed_vehicle"))
        k = np.asarray(self.demand).shape[0]
        v = np.asarray(self.vehicle_start).shape[0]
        for name, shape in (
            ("distance", (n, n)),
            ("duration", (n, n)),
            ("service", (n,)),
            ("window_start", (n,)),
            ("window_end", (n,)),
            ("demand", (k, n)),
            ("capacity", (k, v)),
            ("vehicle_start", (v,)),
            ("vehicle_end", (v,)),
            ("shift_start", (v,)),
            ("shift_end", (v,)),
            ("fixed_cost", (v,)),
            ("penalty", (n,)),
        ):
            object.__setattr__(self, name, _int_array(getattr(self, name), shape, name))
        if not 0 < self.first_visit <= n:
            raise ValueError("first_visit must leave at least one terminal node")
        terminals = set(self.vehicle_start.tolist()) | set(self.vehicle_end.tolist())
        # OR-Tools treats a depot node that no vehicle uses as a visit that
        # must be served; refuse such a layout rather than plan nonsense.
        if terminals != set(range(self.first_visit)):
            raise ValueError("every terminal node must be some vehicle's start or end")
        if v == 0:
            raise ValueError("at least one vehicle is needed")

    @property
    def num_nodes(self) -> int:
        return int(self.distance.shape[0])

    @property
    def num_vehicles(self) -> int:
        return int(self.vehicle_start.shape[0])

    @property
    def visits(self) -> range:
        return range(self.first_visit, self.num_nodes)

    @property
    def horizon(self) -> int:
        """Latest time anything can happen: the end of the longest shift."""
        return int(self.shift_end.max())
