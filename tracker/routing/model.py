"""The routing problem as the service states it: a station, vehicles, stops.

Plain frozen dataclasses. Every datetime must carry an offset and is stored in
UTC; the solver later counts integer seconds from :attr:`RoutingProblem.start`.
Constructing a :class:`RoutingProblem` validates what the whole problem
*means* at once (coordinates in range, windows in order, a stop that fits some
vehicle) and raises :class:`~tracker.routing.errors.RoutingInputError` listing
every problem with a field path such as ``stops[3].window.end``, so the API
can answer all of them in one response. Its JSON form, and the shape checks
(a missing field, a time without an offset), are the pydantic models of
:mod:`tracker.routing.schemas`, which build these dataclasses; this module
knows nothing of JSON (pure).

A stop's priority comes from its customer tier (:data:`TIER_PRIORITY`); the
solver multiplies the penalty for leaving a stop out by
:data:`PRIORITY_WEIGHT`, so a "vip" stop is the last to be dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tracker.core.errors import FieldError
from tracker.routing.errors import RoutingInputError

__all__ = [
    "PRIORITY_WEIGHT",
    "TIER_PRIORITY",
    "Depot",
    "Location",
    "RoutingProblem",
    "Stop",
    "TimeWindow",
    "Vehicle",
]

TIER_PRIORITY: Mapping[str, int] = {"normal": 1, "vip": 2}  # the customer tiers of parcels
# Ten to one between tiers: the solver gives up as many as nine stops of a
# tier before one stop of the tier above.
PRIORITY_WEIGHT: Mapping[int, int] = {0: 1, 1: 10, 2: 100}


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class TimeWindow:
    """When service may start; an open end is ``None``.

    Built from the customer's appointment, or from the delivery promise (no
    start, end = promised time).
    """

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Depot:
    """The station the vehicles leave from and return to by default."""

    id: str
    location: Location


@dataclass(frozen=True)
class Vehicle:
    """A courier's vehicle for one shift.

    ``fixed_cost`` is what using the vehicle at all costs, in the objective's
    unit (metres driven): 5,000 means "worth a 5 km detour to avoid".
    """

    id: str
    capacity_parcels: int
    capacity_kg: float
    shift_start: datetime
    shift_end: datetime
    start: Location | None = None  # None: the depot
    end: Location | None = None  # None: the depot
    fixed_cost: int = 0


@dataclass(frozen=True)
class Stop:
    """A delivery address with what is dropped there and when."""

    id: str
    location: Location
    parcels: int = 1
    weight_kg: float = 0.0
    service_time: timedelta = timedelta(minutes=3)
    window: TimeWindow = field(default_factory=TimeWindow)
    tier: str = "normal"
    #: The vehicle already carrying it (out for delivery): the plan keeps it there.
    vehicle: str | None = None

    @property
    def priority(self) -> int:
        return TIER_PRIORITY[self.tier]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


@dataclass(frozen=True)
class RoutingProblem:
    """Everything one solve needs; validated on construction.

    ``start`` is time zero for the solver; by default the earliest shift start.
    """

    depot: Depot
    vehicles: tuple[Vehicle, ...]
    stops: tuple[Stop, ...]
    start: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "stops", tuple(self.stops))
        errors = _validate(self)
        if errors:
            raise RoutingInputError(errors)
        # Store UTC so that every later comparison and subtraction is plain.
        object.__setattr__(self, "vehicles", tuple(_vehicle_utc(v) for v in self.vehicles))
        object.__setattr__(self, "stops", tuple(_stop_utc(s) for s in self.stops))
        start = self.start or min(v.shift_start for v in self.vehicles)
        object.__setattr__(self, "start", _utc(start))

    @property
    def origin(self) -> datetime:
        """Time zero of the plan (``start`` after validation, never None)."""
        assert self.start is not None
        return self.start


def _vehicle_utc(v: Vehicle) -> Vehicle:
    return Vehicle(
        v.id,
        v.capacity_parcels,
        float(v.capacity_kg),
        _utc(v.shift_start),
        _utc(v.shift_end),
        v.start,
        v.end,
        v.fixed_cost,
    )


def _stop_utc(s: Stop) -> Stop:
    window = TimeWindow(
        _utc(s.window.start) if s.window.start else None,
        _utc(s.window.end) if s.window.end else None,
    )
    return Stop(s.id, s.location, s.parcels, float(s.weight_kg), s.service_time, window, s.tier, s.vehicle)


class _Errors(list[FieldError]):
    def add(self, field_name: str, message: str) -> None:
        self.append(FieldError(field_name, message))

    def location(self, where: str, loc: object) -> None:
        if not isinstance(loc, Location):
            self.add(where, "must be a location with lat and lon")
            return
        for name, limit in (("lat", 90.0), ("lon", 180.0)):
            value = getattr(loc, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                self.add(f"{where}.{name}", "must be a finite number")
            elif not -limit <= value <= limit:
                self.add(f"{where}.{name}", f"must be between -{limit:g} and {limit:g}")

    def aware(self, where: str, value: object) -> bool:
        if not isinstance(value, datetime):
            self.add(where, "must be a datetime")
            return False
        if value.tzinfo is None or value.utcoffset() is None:
            self.add(where, "must carry a UTC offset (naive times are ambiguous)")
            return False
        return True

    def non_negative(self, where: str, value: object, *, integer: bool = False) -> bool:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.add(where, "must be an integer" if integer else "must be a number")
        elif not math.isfinite(value) or value < 0:
            self.add(where, "must be zero or more")
        else:
            return True
        return False

    def unique_ids(self, where: str, items: Sequence[Vehicle] | Sequence[Stop]) -> None:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if not isinstance(item.id, str) or not item.id:
                self.add(f"{where}[{index}].id", "must be a non-empty string")
            elif item.id in seen:
                self.add(f"{where}[{index}].id", f"repeats the id {item.id!r}")
            seen.add(item.id)


def _validate(problem: RoutingProblem) -> list[FieldError]:
    errors = _Errors()
    errors.location("depot.location", problem.depot.location)
    if problem.start is not None:
        errors.aware("start", problem.start)
    if not problem.vehicles:
        errors.add("vehicles", "at least one vehicle is needed")
    errors.unique_ids("vehicles", problem.vehicles)
    errors.unique_ids("stops", problem.stops)

    fleet_ok = bool(problem.vehicles)
    for i, v in enumerate(problem.vehicles):
        where = f"vehicles[{i}]"
        fleet_ok &= errors.non_negative(f"{where}.capacity_parcels", v.capacity_parcels, integer=True)
        fleet_ok &= errors.non_negative(f"{where}.capacity_kg", v.capacity_kg)
        errors.non_negative(f"{where}.fixed_cost", v.fixed_cost, integer=True)
        # Both checks run so that both fields are reported at once.
        start_ok = errors.aware(f"{where}.shift_start", v.shift_start)
        end_ok = errors.aware(f"{where}.shift_end", v.shift_end)
        if start_ok and end_ok and v.shift_end <= v.shift_start:
            errors.add(f"{where}.shift_end", "must be after shift_start")
        for end in ("start", "end"):
            if getattr(v, end) is not None:
                errors.location(f"{where}.{end}", getattr(v, end))

    for i, s in enumerate(problem.stops):
        where = f"stops[{i}]"
        errors.location(f"{where}.location", s.location)
        parcels_ok = errors.non_negative(f"{where}.parcels", s.parcels, integer=True)
        weight_ok = errors.non_negative(f"{where}.weight_kg", s.weight_kg)
        if not isinstance(s.service_time, timedelta) or s.service_time < timedelta(0):
            errors.add(f"{where}.service_time", "must be a duration of zero or more")
        if s.tier not in TIER_PRIORITY:
            errors.add(f"{where}.tier", f"must be one of {', '.join(TIER_PRIORITY)}")
        if s.vehicle is not None and s.vehicle not in {v.id for v in problem.vehicles}:
            errors.add(f"{where}.vehicle", f"names no vehicle of the problem: {s.vehicle!r}")
        w = s.window
        ok = all(errors.aware(f"{where}.window.{k}", t) for k, t in vars(w).items() if t)
        if ok and w.start and w.end and w.end < w.start:
            errors.add(f"{where}.window.end", "ends before the window starts")
        if (
            fleet_ok
            and parcels_ok
            and weight_ok
            and not any(
                s.parcels <= v.capacity_parcels and s.weight_kg <= v.capacity_kg for v in problem.vehicles
            )
        ):
            too_many = s.parcels > max(v.capacity_parcels for v in problem.vehicles)
            errors.add(
                f"{where}.parcels" if too_many else f"{where}.weight_kg",
                f"{s.parcels} parcels / {s.weight_kg:g} kg fit in no vehicle",
            )
    return errors
