"""Literature VRPTW instances: Solomon text files and VRPLIB files.

The readers return :class:`VrptwData`, the instance as printed (floats, node 0
is the depot). :func:`to_instance` scales it to the integer
:class:`~tracker.routing.instance.Instance` the engine solves, following the
literature's conventions:

* Solomon: Euclidean distances in double precision, travel time = distance.
  The engine sees ``round(d * scale)`` as cost and ``ceil(d * scale)`` as
  time, so every schedule that is feasible in integers is feasible in
  doubles; distances are reported recomputed in double precision.
* Gehring & Homberger (VRPLIB, DIMACS convention): distances and times
  truncated to one decimal; with ``scale = 10`` the integers are exact.

Every customer must be served (the penalty for leaving one out dwarfs any
route), the fleet is the instance's, and routes end by the depot's due time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker.routing.instance import Instance

__all__ = [
    "VrptwData",
    "read_instance",
    "read_solomon",
    "read_vrplib",
    "route_distance",
    "to_instance",
]


@dataclass(frozen=True, eq=False)
class VrptwData:
    """A VRPTW instance as printed; index 0 is the depot."""

    name: str
    x: np.ndarray
    y: np.ndarray
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray
    capacity: int
    vehicles: int
    rounding: str  # "exact" (Solomon) or "dimacs" (truncate to one decimal)

    @property
    def customers(self) -> int:
        return len(self.x) - 1

    def distances(self) -> np.ndarray:
        """Distance (= travel time) matrix in double precision, per convention."""
        d = np.hypot(self.x[:, None] - self.x[None, :], self.y[:, None] - self.y[None, :])
        if self.rounding == "dimacs":
            # Truncate to one decimal; the small epsilon stops 12.3 stored as
            # 12.2999999 from losing a tenth.
            d = np.floor(d * 10 + 1e-9) / 10
        return d

    @property
    def default_scale(self) -> int:
        return 10 if self.rounding == "dimacs" else 1000


def read_solomon(path: str | Path) -> VrptwData:
    """Read the classic Solomon text format (name, VEHICLE, CUSTOMER table)."""
    text = Path(path).read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name = lines[0]
    try:
        vehicle_at = next(i for i, line in enumerate(lines) if line.upper() == "VEHICLE")
        vehicles, capacity = (int(v) for v in lines[vehicle_at + 2].split()[:2])
    except (StopIteration, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: no VEHICLE section with NUMBER and CAPACITY") from exc
    rows = [
        [float(v) for v in line.split()]
        for line in lines[vehicle_at + 3 :]
        if re.fullmatch(r"[\d.\s-]+", line)
    ]
    if not rows or any(len(row) != 7 for row in rows):
        raise ValueError(f"{path}: customer rows must have 7 numbers")
    table = np.array(rows)
    if not np.array_equal(table[:, 0], np.arange(len(table))):
        raise ValueError(f"{path}: customers must be numbered 0..n in order")
    return VrptwData(
        name=name,
        x=table[:, 1],
        y=table[:, 2],
        demand=table[:, 3].astype(np.int64),
        ready=table[:, 4],
        due=table[:, 5],
        service=table[:, 6],
        capacity=capacity,
        vehicles=vehicles,
        rounding="exact",
    )


def _vrplib_sections(text: str) -> tuple[dict[str, str], dict[str, list[list[float]]]]:
    specs: dict[str, str] = {}
    sections: dict[str, list[list[float]]] = {}
    current: list[list[float]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if re.fullmatch(r"[A-Z_]+_SECTION\s*:?", line):
            current = sections.setdefault(line.rstrip(" :"), [])
        elif re.match(r"[A-Z_]+\s*:", line):
            key, _, value = line.partition(":")
            specs[key.strip()] = value.strip()
            current = None
        elif current is not None:
            current.append([float(v) for v in line.split()])
    return specs, sections


def read_vrplib(path: str | Path) -> VrptwData:
    """Read a VRPLIB VRPTW file (NODE_COORD, DEMAND, TIME_WINDOW, DEPOT sections)."""
    specs, sections = _vrplib_sections(Path(path).read_text())
    if specs.get("EDGE_WEIGHT_TYPE", "EUC_2D") != "EUC_2D":
        raise ValueError(f"{path}: only EUC_2D instances are supported")
    coords = np.array(sections["NODE_COORD_SECTION"])
    n = len(coords)
    demand = np.array(sections["DEMAND_SECTION"])[:, 1]
    if "TIME_WINDOW_SECTION" not in sections:
        raise ValueError(f"{path}: not a VRPTW instance (no TIME_WINDOW_SECTION)")
    windows = np.array(sections["TIME_WINDOW_SECTION"])
    if "SERVICE_TIME_SECTION" in sections:
        service = np.array(sections["SERVICE_TIME_SECTION"])[:, 1]
    else:
        service = np.full(n, float(specs.get("SERVICE_TIME", 0)))
    depots = [int(v[0]) for v in sections.get("DEPOT_SECTION", [[1]]) if v[0] > 0]
    # Node ids are 1-based and the depot comes first in every file we read.
    if depots != [int(coords[0, 0])]:
        raise ValueError(f"{path}: exactly one depot, listed first, is supported")
    service = service.copy()
    service[0] = 0.0
    return VrptwData(
        name=specs.get("NAME", Path(path).stem),
        x=coords[:, 1],
        y=coords[:, 2],
        demand=demand.astype(np.int64),
        ready=windows[:, 1],
        due=windows[:, 2],
        service=service,
        capacity=int(specs["CAPACITY"]),
        vehicles=int(specs.get("VEHICLES", n - 1)),
        rounding="dimacs",
    )


def read_instance(path: str | Path) -> VrptwData:
    """Dispatch on the suffix: ``.vrp`` is VRPLIB, anything else Solomon."""
    return read_vrplib(path) if Path(path).suffix == ".vrp" else read_solomon(path)


def to_instance(data: VrptwData, scale: int | None = None) -> Instance:
    """Scale ``data`` to integers for the engine (see the module docstring)."""
    scale = scale or data.default_scale
    d = data.distances() * scale
    if data.rounding == "dimacs":
        cost = time = np.rint(d).astype(np.int64)  # exact: tenths times ten
    else:
        cost = np.rint(d).astype(np.int64)
        time = np.ceil(d - 1e-9).astype(np.int64)
    n = len(data.x)
    horizon = math.floor(data.due[0] * scale)
    # Leaving a customer out must never pay: its penalty exceeds the longest
    # possible detour (2 * max arc) many times over.
    penalty = np.full(n, 100 * (2 * int(cost.max()) + 1), dtype=np.int64)
    penalty[0] = 0
    v = data.vehicles
    return Instance(
        distance=cost,
        duration=time,
        service=np.rint(data.service * scale).astype(np.int64),
        window_start=np.ceil(data.ready * scale).astype(np.int64),
        window_end=np.floor(np.minimum(data.due, data.due[0]) * scale).astype(np.int64),
        demand=data.demand[None, :],
        capacity=np.full((1, v), data.capacity, dtype=np.int64),
        vehicle_start=np.zeros(v, dtype=np.int64),
        vehicle_end=np.zeros(v, dtype=np.int64),
        shift_start=np.full(v, math.ceil(data.ready[0] * scale), dtype=np.int64),
        shift_end=np.full(v, horizon, dtype=np.int64),
        fixed_cost=np.zeros(v, dtype=np.int64),
        penalty=penalty,
        first_visit=1,
        coordinates=np.column_stack([data.x, data.y]),
    )


def route_distance(data: VrptwData, routes: list[list[int]]) -> float:
    """Total distance of ``routes`` (customer indices) in double precision."""
    d = data.distances()
    total = 0.0
    for route in routes:
        if route:
            path = [0, *route, 0]
            total += float(d[path[:-1], path[1:]].sum())
    return total
