"""The routing API's wire format: pydantic models, the one definition of it (pure).

Requests, and the JSON form of a routing problem::

    {"start": "2026-11-20T08:00:00+08:00",            # optional
     "depot": {"depot_id": "ST-SH-07", "location": {"lat": 31.23, "lon": 121.47}},
     "vehicles": [{"vehicle_id": "V1", "capacity_parcels": 120, "capacity_kg": 500,
                   "shift_start": "...+08:00", "shift_end": "...+08:00",
                   "start": null, "end": null, "fixed_cost": 0}],
     "stops": [{"stop_id": "TRK0000000001", "location": {"lat": .., "lon": ..},
                "parcels": 1, "weight_kg": 1.2, "service_time_s": 180,
                "appointment": {"start": "...", "end": "..."},
                "promised_by": "...", "customer_tier": "vip"}]}

A stop's window is its ``appointment`` (``window`` is a synonym) or, without
one, ``[open, promised_by]``. The models check the *shape* (a missing field,
a time without an offset); :meth:`ProblemIn.to_problem` builds the engine's
dataclasses (:mod:`tracker.routing.model`), which check what it *means*. So
``POST /api/v1/routes/optimize`` (:class:`OptimizeIn`), ``tracker routes
optimize FILE`` and re-solving a stored problem (:class:`ProblemIn`, through
:func:`tracker.routing.service.read_problem`) validate once, the same way;
:func:`problem_json` writes ``route_plans.problem`` with the same models.

Every text, time and number follows :mod:`tracker.core.inputs`: ids and tiers
without control characters, times from 2000-01-01 to 2099 (and, through the
API, at most a year ahead: :meth:`OptimizeIn.horizon_errors`), finite numbers
within what the solver's int64 arithmetic takes (:data:`MAX_PARCELS`,
:data:`MAX_KG`, :data:`MAX_FIXED_COST`, :data:`MAX_SERVICE_TIME_S`), so no
input can overflow the solver or the conversion to its seconds.

The response models only document the answers (``/openapi.json``), which
:func:`tracker.routing.planning.plan_answer` makes from the
:mod:`tracker.routing.plan` dataclasses, and :mod:`tracker.routing.store`
from the stored plans.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from tracker.core.errors import FieldError, FieldValueError, ValidationFailed
from tracker.core.inputs import Instant, Integer, Number, PlanDate, horizon_errors, text
from tracker.core.vocabulary import CustomerTier
from tracker.routing.errors import RoutingInputError
from tracker.routing.model import Depot, Location, RoutingProblem, Stop, TimeWindow, Vehicle
from tracker.routing.planning import PlanOptions
from tracker.scans.schemas import Code

#: Bounds on one request's work: the matrix grows with the square of the stops.
#: (The command line, run by ops on their own machine, has none.)
MAX_STOPS = 2000
MAX_VEHICLES = 200
MAX_TIME_LIMIT_S = 30
#: Below a tenth of a second the solver finds no first solution worth sending.
MIN_TIME_LIMIT_S = 0.1
#: Bounds on the numbers, for the solver's int64 arithmetic: kilograms become
#: grams, and leaving a stop out costs (2 x the longest leg + the largest
#: fixed cost) x 1000 per stop, summed over every stop.
MAX_PARCELS = 1_000_000
MAX_KG = 1_000_000.0
MAX_FIXED_COST = 1_000_000_000
MAX_SERVICE_TIME_S = 86_400

#: An instant (the one time rule: 2000 to 2099, in UTC), written back as
#: ``datetime.isoformat`` writes it (``+00:00``, not pydantic's ``Z``), as
#: stored plans always have been.
Time = Annotated[Instant, PlainSerializer(dt.datetime.isoformat, return_type=str, when_used="json")]


#: The engine's attribute names that the wire spells otherwise (one name per concept).
_WIRE_NAMES = {
    "stops": {
        "id": "stop_id",
        "tier": "customer_tier",
        "service_time": "service_time_s",
        "vehicle": "vehicle_id",
    },
    "vehicles": {"id": "vehicle_id"},
}


#: An id in a routing problem: not empty, not blank (the engine refuses those).
RouteId = text(100, min_length=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PointIn(_Strict):
    lat: Number = Field(ge=-90, le=90, description="Degrees north, -90 to 90.")
    lon: Number = Field(ge=-180, le=180, description="Degrees east, -180 to 180.")

    def to_location(self) -> Location:
        return Location(self.lat, self.lon)

    @classmethod
    def of(cls, location: Location) -> PointIn:
        return cls(lat=location.lat, lon=location.lon)


def _point(location: Location | None) -> PointIn | None:
    return None if location is None else PointIn.of(location)


def _location(point: PointIn | None) -> Location | None:
    return None if point is None else point.to_location()


class DepotIn(_Strict):
    depot_id: RouteId = "depot"
    location: PointIn


class VehicleIn(_Strict):
    vehicle_id: RouteId
    capacity_parcels: Integer = Field(ge=0, le=MAX_PARCELS)
    capacity_kg: Number = Field(ge=0, le=MAX_KG)
    shift_start: Time
    shift_end: Time = Field(description="After shift_start.")
    start: PointIn | None = Field(None, description="Where the shift starts; the depot when omitted.")
    end: PointIn | None = Field(None, description="Where the shift ends; the depot when omitted.")
    fixed_cost: Integer = Field(
        0, ge=0, le=MAX_FIXED_COST, description="Cost of using the vehicle at all, in metres of driving."
    )

    def to_vehicle(self) -> Vehicle:
        return Vehicle(
            self.vehicle_id,
            self.capacity_parcels,
            self.capacity_kg,
            self.shift_start,
            self.shift_end,
            start=_location(self.start),
            end=_location(self.end),
            fixed_cost=self.fixed_cost,
        )


class WindowIn(_Strict):
    start: Time | None = None
    end: Time | None = Field(None, description="Not before start.")


class StopIn(_Strict):
    stop_id: RouteId
    location: PointIn
    parcels: Integer = Field(1, ge=0, le=MAX_PARCELS)
    weight_kg: Number = Field(0.0, ge=0, le=MAX_KG)
    service_time_s: Number = Field(180, ge=0, le=MAX_SERVICE_TIME_S, description="Time spent at the door.")
    appointment: WindowIn | None = Field(None, description="When service may start; `window` is a synonym.")
    window: WindowIn | None = None
    promised_by: Time | None = Field(None, description="Without an appointment: the window's end.")
    customer_tier: CustomerTier = Field(CustomerTier.NORMAL, description="A vip stop is the last left out.")
    vehicle_id: RouteId | None = Field(
        None, description="The vehicle already carrying it (out for delivery): the plan keeps it there."
    )

    def booked(self) -> WindowIn | None:
        """The appointment (else its synonym ``window``) if it bounds anything."""
        sent = self.appointment if self.appointment is not None else self.window
        return sent if sent is not None and (sent.start or sent.end) is not None else None

    def to_stop(self) -> Stop:
        booked = self.booked()
        return Stop(
            self.stop_id,
            self.location.to_location(),
            parcels=self.parcels,
            weight_kg=self.weight_kg,
            service_time=dt.timedelta(seconds=self.service_time_s),
            window=TimeWindow(booked.start, booked.end) if booked else TimeWindow(None, self.promised_by),
            tier=self.customer_tier.value,
            vehicle=self.vehicle_id,
        )


class ProblemIn(_Strict):
    """A routing problem; every time carries an offset."""

    start: Time | None = Field(None, description="Time zero; the earliest shift start when omitted.")
    depot: DepotIn
    vehicles: list[VehicleIn]
    stops: list[StopIn]

    def to_problem(self) -> RoutingProblem:
        """The engine's problem; :class:`RoutingInputError` (engine paths, as sent) if it means nothing."""
        try:
            return RoutingProblem(
                Depot(self.depot.depot_id, self.depot.location.to_location()),
                tuple(v.to_vehicle() for v in self.vehicles),
                tuple(s.to_stop() for s in self.stops),
                start=self.start,
            )
        except RoutingInputError as exc:
            sent = (FieldError(self._as_sent(f.field), f.message) for f in exc.fields)
            raise RoutingInputError(sent) from None

    def _as_sent(self, path: str) -> str:
        """An engine path (``stops[3].tier``) as the client's field (``stops.3.customer_tier``)."""
        match = re.fullmatch(r"(stops|vehicles)\[(\d+)\]\.(\w+)(.*)", path)
        if match is None:
            return re.sub(r"\[(\d+)\]", r".\1", path)
        kind, index, name, rest = match.groups()
        name = _WIRE_NAMES[kind].get(name, name)
        if kind == "stops" and name == "window":
            # The engine calls a stop's window ``window`` whichever key the
            # client used; name the ``appointment`` the client sent.
            stop = self.stops[int(index)]
            if stop.appointment is not None and stop.booked() is not None:
                name = "appointment"
        return f"{kind}.{index}.{name}{rest}"

    @classmethod
    def of(cls, problem: RoutingProblem) -> ProblemIn:
        """The wire form of an engine problem (its window as ``window``, its start set)."""
        return cls(
            start=problem.start,
            depot=DepotIn(depot_id=problem.depot.id, location=PointIn.of(problem.depot.location)),
            vehicles=[
                VehicleIn(
                    vehicle_id=v.id,
                    capacity_parcels=v.capacity_parcels,
                    capacity_kg=v.capacity_kg,
                    shift_start=v.shift_start,
                    shift_end=v.shift_end,
                    start=_point(v.start),
                    end=_point(v.end),
                    fixed_cost=v.fixed_cost,
                )
                for v in problem.vehicles
            ],
            stops=[
                StopIn(
                    stop_id=s.id,
                    location=PointIn.of(s.location),
                    parcels=s.parcels,
                    weight_kg=s.weight_kg,
                    service_time_s=s.service_time.total_seconds(),
                    window=WindowIn(start=s.window.start, end=s.window.end),
                    customer_tier=CustomerTier(s.tier),
                    **({"vehicle_id": s.vehicle} if s.vehicle is not None else {}),
                )
                for s in problem.stops
            ],
        )


def problem_json(problem: RoutingProblem) -> dict[str, Any]:
    """The JSON form a plan stores; :class:`ProblemIn` reads it back to an equal problem."""
    # exclude_unset: the synonyms ``of`` leaves out (appointment, promised_by) stay out.
    return ProblemIn.of(problem).model_dump(mode="json", exclude_unset=True)


class OptimizeIn(ProblemIn):
    """A routing problem; every time carries an offset."""

    vehicles: list[VehicleIn] = Field(min_length=1, max_length=MAX_VEHICLES)
    stops: list[StopIn] = Field(max_length=MAX_STOPS)
    time_limit_s: Number = Field(
        10, ge=MIN_TIME_LIMIT_S, le=MAX_TIME_LIMIT_S, description="Seconds the solver may search."
    )

    def horizon_errors(self, now: dt.datetime) -> list[FieldError]:
        """Every time more than a year after ``now`` (the API plans, it does not dream), by field."""
        times: dict[str, dt.datetime | None] = {"start": self.start}
        for i, v in enumerate(self.vehicles):
            times |= {f"vehicles.{i}.shift_start": v.shift_start, f"vehicles.{i}.shift_end": v.shift_end}
        for i, s in enumerate(self.stops):
            times[f"stops.{i}.promised_by"] = s.promised_by
            for key in ("appointment", "window"):
                sent = getattr(s, key)
                if sent is not None:
                    times |= {f"stops.{i}.{key}.start": sent.start, f"stops.{i}.{key}.end": sent.end}
        return horizon_errors(now, times)

    def check_horizon(self, now: dt.datetime) -> None:
        """Raise :class:`ValidationFailed` (422) naming every time beyond the horizon."""
        errors = self.horizon_errors(now)
        if errors:
            raise ValidationFailed("the routing problem is not valid", errors)


class StopEtaOut(BaseModel):
    start: dt.datetime
    end: dt.datetime


class PlannedStopOut(BaseModel):
    stop_id: str
    arrival: dt.datetime
    service_start: dt.datetime = Field(description="After any wait for the window to open.")
    departure: dt.datetime
    distance_from_previous_m: float
    load_parcels: int = Field(description="On board on arrival.")
    load_kg: float
    eta: StopEtaOut = Field(description="What the customer is told: service start -15 min / +30 min.")


class VehicleRouteOut(BaseModel):
    vehicle_id: str
    stops: list[PlannedStopOut]
    start: dt.datetime
    end: dt.datetime
    distance_m: float
    duration_s: float
    load_parcels: int
    load_kg: float
    utilisation_parcels: float
    utilisation_kg: float
    empty_distance_m: float


class LeftOutOut(BaseModel):
    stop_id: str
    reason: str = Field(description="window_unreachable, shift_too_short, capacity, priority, no_room")
    detail: str


class TotalsOut(BaseModel):
    distance_m: float
    duration_s: float
    served: int
    left_out: int
    vehicles_used: int
    utilisation_parcels: float
    utilisation_kg: float
    empty_distance_share: float


class PlanOut(BaseModel):
    routes: list[VehicleRouteOut]
    left_out: list[LeftOutOut]
    totals: TotalsOut
    solver_status: str
    solve_seconds: float


def _local_time(schema: dict[str, Any]) -> None:
    # A wall-clock time without an offset: JSON Schema's "time" format demands one.
    schema.pop("format", None)
    schema["pattern"] = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


class ShiftIn(_Strict):
    start: dt.time = Field(
        dt.time(8, 0), description="Local time at the station, HH:MM.", json_schema_extra=_local_time
    )
    end: dt.time = Field(
        dt.time(20, 0),
        description="Local time at the station, HH:MM; after start.",
        json_schema_extra=_local_time,
    )

    @model_validator(mode="after")
    def _ordered(self) -> ShiftIn:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is not None:
                raise FieldValueError(name, "a local time at the station, without an offset")
        if self.end <= self.start:
            raise FieldValueError("end", "must be after start")
        return self


class StationPlanIn(_Strict):
    """How to plan the day; every field has a default, so ``{}`` will do."""

    date: PlanDate | None = Field(
        None, description="The station's local day; today when omitted, at most a year ahead."
    )
    shift: ShiftIn = Field(default_factory=ShiftIn, description="Every courier's shift (local times).")
    capacity_parcels: Integer = Field(120, ge=1, le=10_000, description="Parcels per courier.")
    capacity_kg: Number = Field(300, gt=0, le=100_000, description="Kilograms per courier.")
    service_time_s: Integer = Field(180, ge=0, le=3600, description="Time spent at each door.")
    time_limit_s: Number = Field(
        10, ge=MIN_TIME_LIMIT_S, le=MAX_TIME_LIMIT_S, description="Seconds the solver may search."
    )
    keep_loaded: bool = Field(
        True,
        description="Parcels already out for delivery stay with the courier carrying them; "
        "false lets the plan hand them to another.",
    )

    def options(self, today: dt.date) -> PlanOptions:
        return PlanOptions(
            day=self.date or today,
            shift_start=self.shift.start,
            shift_end=self.shift.end,
            capacity_parcels=self.capacity_parcels,
            capacity_kg=self.capacity_kg,
            service_time=dt.timedelta(seconds=self.service_time_s),
            time_limit=dt.timedelta(seconds=self.time_limit_s),
            keep_loaded=self.keep_loaded,
        )


class FacilityPath(BaseModel):
    facility: Code


class StationStopOut(BaseModel):
    sequence: int
    tracking_number: str
    arrival: dt.datetime
    service_start: dt.datetime
    departure: dt.datetime
    eta: StopEtaOut


class CourierRouteSummaryOut(BaseModel):
    courier_id: str
    start: dt.datetime
    end: dt.datetime
    distance_m: float
    duration_s: float
    load_parcels: int
    load_kg: float
    stops: list[StationStopOut]


class ParcelLeftOutOut(BaseModel):
    tracking_number: str
    reason: str = Field(
        description="A solver reason (see /routes/optimize), or no_location, too_heavy, held_at_pickup_point."
    )
    detail: str


class StationPlanOut(BaseModel):
    plan_id: int
    facility: str
    date: dt.date
    created_at: dt.datetime
    requested_by: str
    solver_status: str
    solve_seconds: float
    eta_margin: dict[str, float]
    totals: TotalsOut
    routes: list[CourierRouteSummaryOut]
    left_out: list[ParcelLeftOutOut]


class CourierPath(BaseModel):
    courier_id: Code


class DayQuery(BaseModel):
    date: PlanDate | None = Field(None, description="The station's local day; today when omitted.")


class CourierStopOut(BaseModel):
    sequence: int
    tracking_number: str
    status: str
    arrival: dt.datetime
    service_start: dt.datetime
    departure: dt.datetime
    eta: StopEtaOut
    destination: dict[str, Any]
    recipient: dict[str, Any]
    customer_tier: CustomerTier
    weight_kg: float | None
    appointment: dict[str, Any] | None
    promised_by: dt.datetime | None


class CourierRouteOut(BaseModel):
    courier_id: str
    facility: str
    date: dt.date
    plan_id: int
    planned_at: dt.datetime
    start: dt.datetime | None
    end: dt.datetime | None
    distance_m: float
    stops: list[CourierStopOut]
