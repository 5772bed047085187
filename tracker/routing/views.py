"""Routes for ops and stations: a stateless solve, a station's day, a courier's list.

* ``POST /api/v1/routes/optimize`` (ops, facility): depot, vehicles and stops
  in the JSON form of :mod:`tracker.routing.codec`; answers the plan with an
  ETA window per stop. Stores nothing.
* ``POST /api/v1/facilities/{code}/routes`` (ops; a facility key for its own
  station only): plans the parcels due out of the station today with its
  couriers, stores the plan and puts each parcel's ETA window on the parcel
  (so the tracking page shows it).
* ``GET /api/v1/couriers/{courier_id}/route`` (the courier's own key; ops):
  the courier's ordered stops for the day from the station's latest plan.

The bodies are documented and shape-checked by the pydantic models below;
what a problem *means* (coordinates in range, windows in order, a stop that
fits some vehicle) is checked once, by :class:`tracker.routing.RoutingProblem`,
so the API and ``tracker routes optimize`` report the same errors. The work
is in :mod:`tracker.routing.planning`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from tracker.core.errors import FieldError, FieldValueError, Forbidden
from tracker.core.vocabulary import Role
from tracker.routing import planning as route_planning
from tracker.scans.schemas import Code
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

api = APIBlueprint(
    "routes",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="routes", description="Route planning for ops and stations")],
    abp_security=[{"bearer": []}],
)
api.before_request(authenticate_request)

#: Bounds on one request's work: the matrix grows with the square of the stops.
MAX_STOPS = 2000
MAX_VEHICLES = 200
MAX_TIME_LIMIT_S = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointIn(_Strict):
    lat: float = Field(description="Degrees north, -90 to 90.")
    lon: float = Field(description="Degrees east, -180 to 180.")


class DepotIn(_Strict):
    id: str = "depot"
    location: PointIn


class VehicleIn(_Strict):
    id: str
    capacity_parcels: int = Field(description="Zero or more.")
    capacity_kg: float = Field(description="Zero or more.")
    shift_start: AwareDatetime
    shift_end: AwareDatetime = Field(description="After shift_start.")
    start: PointIn | None = Field(None, description="Where the shift starts; the depot when omitted.")
    end: PointIn | None = Field(None, description="Where the shift ends; the depot when omitted.")
    fixed_cost: int = Field(0, description="Cost of using the vehicle at all, in metres of driving.")


class WindowIn(_Strict):
    start: AwareDatetime | None = None
    end: AwareDatetime | None = Field(None, description="Not before start.")


class StopIn(_Strict):
    id: str
    location: PointIn
    parcels: int = 1
    weight_kg: float = 0.0
    service_time_s: float = Field(180, description="Time spent at the door.")
    appointment: WindowIn | None = Field(None, description="When service may start; `window` is a synonym.")
    window: WindowIn | None = None
    promised_by: AwareDatetime | None = Field(None, description="Without an appointment: the window's end.")
    customer_tier: str = Field("normal", description="economy, normal or vip (left out last).")


class OptimizeIn(_Strict):
    """A routing problem; every time carries an offset."""

    start: AwareDatetime | None = Field(None, description="Time zero; the earliest shift start when omitted.")
    depot: DepotIn
    vehicles: list[VehicleIn] = Field(max_length=MAX_VEHICLES)
    stops: list[StopIn] = Field(max_length=MAX_STOPS)
    time_limit_s: float = Field(10, gt=0, le=MAX_TIME_LIMIT_S, description="Seconds the solver may search.")

    def problem(self) -> dict[str, Any]:
        """The codec's JSON form."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"time_limit_s"})


class EtaOut(BaseModel):
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
    eta: EtaOut = Field(description="What the customer is told: service start -15 min / +30 min.")


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
    reason: str = Field(
        description="window_unreachable, shift_too_short, capacity, dropped_for_higher_priority, no_room"
    )
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


class ShiftIn(_Strict):
    start: dt.time = Field(dt.time(8, 0), description="Local time at the station, HH:MM.")
    end: dt.time = Field(dt.time(20, 0), description="Local time at the station, HH:MM; after start.")

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

    date: dt.date | None = Field(None, description="The station's local day; today when omitted.")
    shift: ShiftIn = Field(default_factory=ShiftIn, description="Every courier's shift (local times).")
    capacity_parcels: int = Field(120, ge=1, le=10_000, description="Parcels per courier.")
    capacity_kg: float = Field(300, gt=0, le=100_000, description="Kilograms per courier.")
    service_time_s: int = Field(180, ge=0, le=3600, description="Time spent at each door.")
    time_limit_s: float = Field(10, gt=0, le=MAX_TIME_LIMIT_S, description="Seconds the solver may search.")

    @model_validator(mode="before")
    @classmethod
    def _empty_body(cls, data: Any) -> Any:
        return {} if data is None else data

    def options(self, today: dt.date) -> route_planning.PlanOptions:
        return route_planning.PlanOptions(
            day=self.date or today,
            shift_start=self.shift.start,
            shift_end=self.shift.end,
            capacity_parcels=self.capacity_parcels,
            capacity_kg=self.capacity_kg,
            service_time=dt.timedelta(seconds=self.service_time_s),
            time_limit=dt.timedelta(seconds=self.time_limit_s),
        )


class FacilityPath(BaseModel):
    code: Code


class StationStopOut(BaseModel):
    sequence: int
    tracking_number: str
    arrival: dt.datetime
    service_start: dt.datetime
    departure: dt.datetime
    eta: EtaOut


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
    reason: str = Field(description="A solver reason (see /routes/optimize), or no_location, too_heavy.")
    detail: str


class StationPlanOut(BaseModel):
    id: int
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
    date: dt.date | None = Field(None, description="The station's local day; today when omitted.")


class CourierStopOut(BaseModel):
    sequence: int
    tracking_number: str
    status: str
    arrival: dt.datetime
    service_start: dt.datetime
    departure: dt.datetime
    eta: EtaOut
    destination: dict[str, Any]
    recipient: dict[str, Any]
    customer_tier: str
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


def _today() -> dt.date:
    rt = runtime()
    return rt.now().astimezone(rt.settings.timezone).date()


@api.post(
    "/routes/optimize",
    summary="Plan routes for the depot, vehicles and stops given (stores nothing)",
    responses={200: PlanOut, 422: ErrorOut, **AUTH_ERRORS},
)
def optimize(body: OptimizeIn):  # type: ignore[no-untyped-def]
    """Routes with per-stop arrival times and ETA windows, and the stops left out with a reason.

    A stop's window is its ``appointment`` or else ``[open, promised_by]``;
    a vip stop is the last to be left out. Errors name every bad field
    (``stops.3.window.end``).
    """
    caller(Role.OPS, Role.FACILITY)
    answer = route_planning.optimize(body.problem(), time_limit=dt.timedelta(seconds=body.time_limit_s))
    return jsonify(answer)


@api.post(
    "/facilities/<code>/routes",
    summary="Plan a station's day and put the ETAs on its parcels",
    responses={200: StationPlanOut, 404: ErrorOut, 422: ErrorOut, **AUTH_ERRORS},
)
def plan_station(path: FacilityPath, body: StationPlanIn):  # type: ignore[no-untyped-def]
    """Plans the parcels due out of the station with its couriers and stores the plan.

    Due out: not delivered, not for a pickup point, and last put at the station
    (arrived there, or out for delivery / a failed attempt from it). Each
    served parcel's ETA window (planned service start -15 min / +30 min) is
    shown on its tracking page; the sweep keeps it instead of its own estimate.
    """
    principal = caller(Role.OPS, Role.FACILITY)
    if principal.role is Role.FACILITY and principal.facility_code != path.code:
        raise Forbidden(
            f"a {principal.describe()} may only plan its own station, not {path.code}",
            [FieldError("code", f"must be {principal.facility_code}")],
        )
    rt = runtime()
    answer = route_planning.plan_station(
        rt.engine,
        path.code,
        body.options(_today()),
        now=rt.now(),
        zone=rt.settings.timezone,
        requested_by=f"{principal.role.value}:{principal.key_id}",
    )
    return jsonify(answer)


@api.get(
    "/couriers/<courier_id>/route",
    summary="A courier's stops for the day, in order",
    responses={200: CourierRouteOut, 404: ErrorOut, **AUTH_ERRORS},
)
def courier_route(path: CourierPath, query: DayQuery):  # type: ignore[no-untyped-def]
    """From the latest plan of the courier's station for the day, unmasked (the courier delivers)."""
    principal = caller(Role.COURIER, Role.OPS)
    if principal.role is Role.COURIER and principal.courier_code != path.courier_id:
        raise Forbidden(
            f"a {principal.describe()} may only read its own route, not {path.courier_id}'s",
            [FieldError("courier_id", f"must be {principal.courier_code}")],
        )
    with runtime().engine.connect() as conn:
        answer = route_planning.courier_route(conn, path.courier_id, query.date or _today())
    return jsonify(answer)
