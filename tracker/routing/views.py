"""Routes for ops and stations: a stateless solve, a station's day, a courier's list (views).

* ``POST /api/v1/routes/optimize`` (ops, facility): depot, vehicles and stops
  in the JSON form of :mod:`tracker.routing.schemas`; answers the plan with an
  ETA window per stop. Stores nothing.
* ``POST /api/v1/facilities/{facility}/routes`` (ops; a facility key for its own
  station only): plans the parcels due out of the station today with its
  couriers, stores the plan and puts each parcel's ETA window on the parcel
  (so the tracking page shows it).
* ``GET /api/v1/couriers/{courier_id}/route`` (the courier's own key; ops):
  the courier's ordered stops for the day from the station's latest plan.

The bodies are documented and shape-checked by the pydantic models of
:mod:`tracker.routing.schemas`; what a problem *means* (coordinates in range,
windows in order, a stop that fits some vehicle) is checked once, by
:class:`tracker.routing.RoutingProblem`, so the API and ``tracker routes
optimize`` report the same errors. This module checks who may call and owns
the connections; :mod:`tracker.routing.service` runs the sequences it shares
with :mod:`tracker.routing.commands`, :mod:`tracker.routing.store` the SQL.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify
from flask_openapi3 import APIBlueprint, Tag

from tracker.core.errors import FieldError, Forbidden
from tracker.core.vocabulary import Role
from tracker.routing import service, store
from tracker.routing.schemas import (
    CourierPath,
    CourierRouteOut,
    DayQuery,
    FacilityPath,
    OptimizeIn,
    PlanOut,
    StationPlanIn,
    StationPlanOut,
)
from tracker.routing.slots import SolveSlots
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


def _slots() -> SolveSlots:
    """This process's solving slots (one set per app: each gunicorn worker builds its own)."""
    slots = current_app.extensions.get("tracker.solve_slots")
    if slots is None:
        slots = current_app.extensions.setdefault(
            "tracker.solve_slots", SolveSlots(runtime().settings.solve_slots)
        )
    return slots  # type: ignore[no-any-return]


def _today() -> dt.date:
    rt = runtime()
    return rt.now().astimezone(rt.settings.timezone).date()


@api.post(
    "/routes/optimize",
    summary="Plan routes for the depot, vehicles and stops given (stores nothing)",
    responses={200: PlanOut, 422: ErrorOut, 503: ErrorOut, **AUTH_ERRORS},
)
def optimize(body: OptimizeIn):  # type: ignore[no-untyped-def]
    """Routes with per-stop arrival times and ETA windows, and the stops left out with a reason.

    A stop's window is its ``appointment`` or else ``[open, promised_by]``;
    a vip stop is the last to be left out. Errors name every bad field
    (``stops.3.window.end``). The solve runs in one of the server's solving
    slots, off the request threads; when every slot is busy the answer is
    503 ``solver_busy`` with ``Retry-After``.
    """
    caller(Role.OPS, Role.FACILITY)
    body.check_horizon(runtime().now())  # times at most a year ahead: needs the clock, not in the schema
    answer = service.optimize(
        body,
        time_limit=dt.timedelta(seconds=body.time_limit_s),
        zone=runtime().settings.timezone,
        slots=_slots(),
    )
    return jsonify(answer)


@api.post(
    "/facilities/<facility>/routes",
    summary="Plan a station's day and put the ETAs on its parcels",
    responses={200: StationPlanOut, 404: ErrorOut, 422: ErrorOut, 503: ErrorOut, **AUTH_ERRORS},
)
def plan_station(path: FacilityPath, body: StationPlanIn):  # type: ignore[no-untyped-def]
    """Plans the parcels due out of the station with its couriers and stores the plan.

    Due out: not delivered, not for a pickup point, and last put at the station
    (arrived there, or out for delivery / a failed attempt from it). Each
    served parcel's ETA window (planned service start -15 min / +30 min) is
    shown on its tracking page; the sweep keeps it instead of its own estimate.
    """
    principal = caller(Role.OPS, Role.FACILITY)
    if principal.role is Role.FACILITY and principal.facility_code != path.facility:
        raise Forbidden(
            f"a {principal.describe()} may only plan its own station, not {path.facility}",
            [FieldError("facility", f"must be {principal.facility_code}")],
        )
    rt = runtime()
    answer = service.plan_station(
        rt.engine,
        path.facility,
        body.options(_today()),
        now=rt.now(),
        zone=rt.settings.timezone,
        requested_by=f"{principal.role.value}:{principal.key_id}",
        slots=_slots(),
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
        answer = store.courier_route(
            conn, path.courier_id, query.date or _today(), zone=runtime().settings.timezone
        )
    return jsonify(answer)
