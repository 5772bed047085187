"""The solver's answer: routes with per-stop times, totals, and what was left out.

Plain frozen dataclasses with :meth:`RoutePlan.to_dict` for the API (times
as RFC 3339 in UTC, distances in metres, durations in seconds) and
:meth:`RoutePlan.from_dict` to read it back (the service stores plans, and
the checker can verify a stored one).

Reason codes for a stop left out, most specific first:

``window_unreachable``
    even a direct trip from a vehicle's start at the start of its shift
    arrives after the stop's window closes (for every vehicle).
``shift_too_short``
    some vehicle could reach it in time, but none could serve it and still
    get back to its end location before its shift ends.
``capacity``
    reachable, but heavier (parcels or kg) than what any suitable vehicle
    has left after its planned stops.
``priority``
    stops of a higher customer tier took its place: on a vehicle that could
    have carried it (its room went to them), or in a fleet without room for
    every stop.
``no_room``
    no vehicle could fit it into its route without missing another stop's
    window or its own shift end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from typing import Any

from tracker.core.timefmt import iso_local

__all__ = ["REASONS", "LeftOut", "PlannedStop", "RoutePlan", "Totals", "VehicleRoute"]

REASONS = (
    "window_unreachable",
    "shift_too_short",
    "capacity",
    "priority",
    "no_room",
)


@dataclass(frozen=True)
class PlannedStop:
    """One visit: ``arrival`` at the door, ``service_start`` after any wait
    for the window to open, ``departure`` after the service time. ``load_*``
    is what is on board on arrival, before this stop's parcels come off."""

    stop_id: str
    arrival: datetime
    service_start: datetime
    departure: datetime
    distance_from_previous_m: float
    load_parcels: int
    load_kg: float


@dataclass(frozen=True)
class VehicleRoute:
    """A vehicle's day; an unused vehicle has no stops and zero distance.

    ``empty_distance_m`` is driven after the last delivery (back to the end
    location with nothing on board).
    """

    vehicle_id: str
    stops: tuple[PlannedStop, ...]
    start: datetime
    end: datetime
    distance_m: float
    duration_s: float
    load_parcels: int
    load_kg: float
    utilisation_parcels: float
    utilisation_kg: float
    empty_distance_m: float


@dataclass(frozen=True)
class LeftOut:
    stop_id: str
    reason: str  # one of REASONS
    detail: str


@dataclass(frozen=True)
class Totals:
    """Sums over the used vehicles; utilisation is load over their capacity."""

    distance_m: float
    duration_s: float
    served: int
    left_out: int
    vehicles_used: int
    utilisation_parcels: float
    utilisation_kg: float
    empty_distance_share: float


@dataclass(frozen=True)
class RoutePlan:
    routes: tuple[VehicleRoute, ...]
    left_out: tuple[LeftOut, ...]
    totals: Totals
    solver_status: str
    solve_seconds: float

    def to_dict(self, zone: tzinfo | None = None) -> dict[str, Any]:
        """JSON-ready: datetimes become RFC 3339 strings.

        With a ``zone``, in the API's one time form
        (:func:`~tracker.core.timefmt.iso_local`); without, as stored (lossless).
        """
        return _jsonable(asdict(self), zone)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutePlan:
        def when(value: str) -> datetime:
            return datetime.fromisoformat(value)

        routes = []
        for r in data["routes"]:
            stops = tuple(
                PlannedStop(
                    **{
                        **s,
                        "arrival": when(s["arrival"]),
                        "service_start": when(s["service_start"]),
                        "departure": when(s["departure"]),
                    }
                )
                for s in r["stops"]
            )
            routes.append(
                VehicleRoute(**{**r, "stops": stops, "start": when(r["start"]), "end": when(r["end"])})
            )
        return cls(
            routes=tuple(routes),
            left_out=tuple(LeftOut(**x) for x in data["left_out"]),
            totals=Totals(**data["totals"]),
            solver_status=data["solver_status"],
            solve_seconds=data["solve_seconds"],
        )


def _jsonable(value: Any, zone: tzinfo | None) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() if zone is None else iso_local(value, zone)
    if isinstance(value, dict):
        return {k: _jsonable(v, zone) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, zone) for v in value]
    return value
