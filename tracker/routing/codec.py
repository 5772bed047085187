"""JSON form of a :class:`~tracker.routing.model.RoutingProblem`.

::

    {"start": "2026-11-20T08:00:00+08:00",            # optional
     "depot": {"id": "ST-SH-07", "location": {"lat": 31.23, "lon": 121.47}},
     "vehicles": [{"id": "V1", "capacity_parcels": 120, "capacity_kg": 500,
                   "shift_start": "...+08:00", "shift_end": "...+08:00",
                   "start": null, "end": null, "fixed_cost": 0}],
     "stops": [{"id": "TRK0000000001", "location": {"lat": .., "lon": ..},
                "parcels": 1, "weight_kg": 1.2, "service_time_s": 180,
                "appointment": {"start": "...", "end": "..."},
                "promised_by": "...", "customer_tier": "vip"}]}

A stop's window is its ``appointment`` (``window`` is accepted as a synonym)
or, without one, ``[open, promised_by]``. Shape errors (a missing field, a
string where a number belongs, a time without an offset) are collected with
their field path and raised together as one
:class:`~tracker.routing.errors.RoutingInputError`; the model then checks
the meaning (windows, capacities, duplicates).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tracker.routing.errors import FieldError, RoutingInputError
from tracker.routing.model import Depot, Location, RoutingProblem, Stop, TimeWindow, Vehicle

__all__ = ["problem_from_dict", "problem_to_dict", "time_to_json"]

_MISSING = object()


def time_to_json(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Reader:
    """Reads typed fields out of nested JSON, collecting every error."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def get(self, data: Mapping[str, Any], key: str, path: str, default: Any = _MISSING) -> Any:
        if key in data and data[key] is not None:
            return data[key]
        if default is _MISSING:
            self.fail(f"{path}{key}", "is required")
        return None if default is _MISSING else default

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        if value is not None:
            self.fail(path, "must be an object")
        return {}

    def text(self, data: Mapping[str, Any], key: str, path: str, default: Any = _MISSING) -> str:
        value = self.get(data, key, path, default)
        if value is not None and not isinstance(value, str):
            self.fail(f"{path}{key}", "must be a string")
        return value if isinstance(value, str) else ""

    def number(self, data: Mapping[str, Any], key: str, path: str, default: Any = _MISSING) -> Any:
        value = self.get(data, key, path, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            if value is not None:
                self.fail(f"{path}{key}", "must be a number")
            return 0
        return value

    def time(self, data: Mapping[str, Any], key: str, path: str, default: Any = _MISSING) -> Any:
        value = self.get(data, key, path, default)
        if value is None or isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail(f"{path}{key}", "must be an RFC 3339 time")
        elif parsed.tzinfo is None:
            self.fail(f"{path}{key}", "must carry a UTC offset (naive times are ambiguous)")
            parsed = None
        return parsed

    def location(self, value: Any, path: str) -> Location:
        loc = self.mapping(value, path)
        return Location(self.number(loc, "lat", f"{path}."), self.number(loc, "lon", f"{path}."))

    def optional_location(self, data: Mapping[str, Any], key: str, path: str) -> Location | None:
        value = data.get(key)
        return None if value is None else self.location(value, f"{path}{key}")


def _vehicle(r: _Reader, data: Mapping[str, Any], path: str) -> Vehicle:
    return Vehicle(
        id=r.text(data, "id", path),
        capacity_parcels=r.number(data, "capacity_parcels", path),
        capacity_kg=r.number(data, "capacity_kg", path),
        shift_start=r.time(data, "shift_start", path),
        shift_end=r.time(data, "shift_end", path),
        start=r.optional_location(data, "start", path),
        end=r.optional_location(data, "end", path),
        fixed_cost=r.number(data, "fixed_cost", path, 0),
    )


def _stop(r: _Reader, data: Mapping[str, Any], path: str) -> Stop:
    appointment_key = "appointment" if data.get("appointment") is not None else "window"
    appointment = r.mapping(data.get(appointment_key), f"{path}{appointment_key}")
    if appointment:
        where = f"{path}{appointment_key}."
        window = TimeWindow(
            r.time(appointment, "start", where, None), r.time(appointment, "end", where, None)
        )
    else:
        window = TimeWindow(None, r.time(data, "promised_by", path, None))
    service = r.number(data, "service_time_s", path, 180)
    return Stop(
        id=r.text(data, "id", path),
        location=r.location(data.get("location"), f"{path}location"),
        parcels=r.number(data, "parcels", path, 1),
        weight_kg=r.number(data, "weight_kg", path, 0.0),
        service_time=timedelta(seconds=service),
        window=window,
        tier=r.text(data, "customer_tier", path, "normal"),
    )


def _listed(r: _Reader, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list):
        r.fail(key, "must be a list")
        return []
    return [r.mapping(item, f"{key}[{i}]") for i, item in enumerate(value)]


def problem_from_dict(data: Mapping[str, Any]) -> RoutingProblem:
    """Build and validate a problem from its JSON form."""
    r = _Reader()
    if not isinstance(data, Mapping):
        raise RoutingInputError.one("", "the routing problem must be an object")
    depot = r.mapping(data.get("depot"), "depot")
    if not depot:
        r.fail("depot", "is required")
    problem_args = {
        "depot": Depot(
            r.text(depot, "id", "depot.", "depot"), r.location(depot.get("location"), "depot.location")
        ),
        "vehicles": [_vehicle(r, v, f"vehicles[{i}].") for i, v in enumerate(_listed(r, data, "vehicles"))],
        "stops": [_stop(r, s, f"stops[{i}].") for i, s in enumerate(_listed(r, data, "stops"))],
        "start": r.time(data, "start", "", None),
    }
    if r.errors:
        raise RoutingInputError(r.errors)
    return RoutingProblem(**problem_args)


def _location(loc: Location | None) -> dict[str, float] | None:
    return None if loc is None else {"lat": loc.lat, "lon": loc.lon}


def problem_to_dict(problem: RoutingProblem) -> dict[str, Any]:
    """The JSON form that :func:`problem_from_dict` reads back unchanged."""
    return {
        "start": time_to_json(problem.start),
        "depot": {"id": problem.depot.id, "location": _location(problem.depot.location)},
        "vehicles": [
            {
                "id": v.id,
                "capacity_parcels": v.capacity_parcels,
                "capacity_kg": v.capacity_kg,
                "shift_start": time_to_json(v.shift_start),
                "shift_end": time_to_json(v.shift_end),
                "start": _location(v.start),
                "end": _location(v.end),
                "fixed_cost": v.fixed_cost,
            }
            for v in problem.vehicles
        ],
        "stops": [
            {
                "id": s.id,
                "location": _location(s.location),
                "parcels": s.parcels,
                "weight_kg": s.weight_kg,
                "service_time_s": s.service_time.total_seconds(),
                "window": {"start": time_to_json(s.window.start), "end": time_to_json(s.window.end)},
                "customer_tier": s.tier,
            }
            for s in problem.stops
        ],
    }
