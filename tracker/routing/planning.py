"""Planning a delivery station's day: parcels in, courier routes and ETAs out.

The link between the database and the pure routing engine
(:mod:`tracker.routing`); it knows nothing of Flask. One plan
(:func:`plan_station`) is:

1. Read the station, its couriers and the parcels due out (:func:`due_parcels`)
   in one short read transaction.
2. Build the routing problem (:func:`build_day`, pure): the station is the
   depot, each courier a vehicle for the shift with the day's capacities, each
   parcel a stop at its destination with its weight, its customer tier (vip is
   the last to be left out) and a window: the customer's appointment, else
   ``[open, promised_by]``. Parcels no vehicle can take (no coordinates,
   heavier than a vehicle carries) are left out here, with a reason like the
   solver's, so that one odd parcel cannot fail the station's plan.
3. Solve outside any transaction (:func:`timed_solve`), counting the result
   and the time in :mod:`tracker.core.metrics`.
4. Store it in one write transaction (:func:`store_plan`): a ``route_plans``
   row, one ``route_stops`` row per parcel (a courier's n-th stop with its ETA,
   or left out and why), each served parcel's ETA window on the parcel with
   ``eta_source = "route"`` (the sweep keeps it instead of its stage estimate,
   see :func:`tracker.sweep.run.judge`) and the plan's distance for ``/metrics``.

"Due out" means: not delivered, no pickup point (those go to the pickup point
in bulk, not to a door), and the scan that set the parcel's status put it at
the station: ``arrived`` there, or ``out_for_delivery`` / ``delivery_failed``
there or by one of its couriers (a courier's failed-attempt scan usually names
no facility). A ``damaged`` scan sets no status, so it changes nothing here.
A parcel whose appointment starts after the shift ends is left for its day.

The ETA window a customer sees is the planned start of service (after any
wait for the appointment to open) from :data:`ETA_BEFORE` before to
:data:`ETA_AFTER` after, but never opening before the courier leaves the
station or before the appointment opens, widened to whole minutes.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, insert, select

from tracker.core import bulk, metrics
from tracker.core.db import write_transaction
from tracker.core.errors import FieldError, NotFound, TrackerError, ValidationFailed
from tracker.core.models import Courier, Facility, Parcel, RouteStop, ScanEvent, StationPlan
from tracker.core.service_state import record_state
from tracker.core.vocabulary import CustomerTier, EventType, ParcelStatus
from tracker.routing import (
    Depot,
    Location,
    RoutePlan,
    RoutingError,
    RoutingInputError,
    RoutingProblem,
    Stop,
    TimeWindow,
    Vehicle,
    solve,
)
from tracker.routing.codec import problem_from_dict

log = logging.getLogger("tracker.routes")

#: The customer's ETA window around the planned start of service. Wider after
#: than before: a courier is held up (traffic, a slow handover) more often than
#: ahead of plan, and is never early for an appointment (he waits).
ETA_BEFORE = timedelta(minutes=15)
ETA_AFTER = timedelta(minutes=30)
#: ``service_state`` key of the last stored plan's distance (``tracker_route_objective_meters``).
OBJECTIVE_STATE = "route.last_objective"

#: Statuses and status-setting scans of a parcel waiting at (or out from) a station.
_AT_STATION_STATUSES = (ParcelStatus.IN_TRANSIT, ParcelStatus.OUT_FOR_DELIVERY, ParcelStatus.FAILED_ATTEMPT)
_AT_STATION_SCANS = (EventType.ARRIVED, EventType.OUT_FOR_DELIVERY, EventType.DELIVERY_FAILED)


@dataclass(frozen=True)
class PlanOptions:
    """How a station's day is planned; every courier gets the same shift and capacities."""

    day: date
    shift_start: clock_time = clock_time(8, 0)
    shift_end: clock_time = clock_time(20, 0)
    capacity_parcels: int = 120
    capacity_kg: float = 300.0
    service_time: timedelta = timedelta(minutes=3)
    time_limit: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class Candidate:
    """A parcel due out of the station, with what a stop needs to know."""

    parcel_id: int
    tracking_number: str
    lat: float | None
    lon: float | None
    weight_kg: float
    tier: str
    appointment_start: datetime | None
    appointment_end: datetime | None
    promised_by: datetime | None
    #: The parcel shows an ETA from an earlier plan (to be withdrawn if left out now).
    route_eta: bool


@dataclass(frozen=True)
class StationDay:
    """A station's day laid out for the solver, and what was left out before it."""

    facility: str
    day: date
    problem: RoutingProblem
    #: Every parcel in the plan, by tracking number (the stop id).
    parcels: Mapping[str, Candidate]
    #: (tracking number, reason, detail) of parcels no vehicle can take.
    left_out: tuple[tuple[str, str, str], ...]


def eta_window(
    service_start: datetime, *, leaves: datetime, opens: datetime | None = None
) -> tuple[datetime, datetime]:
    """The window a customer is shown for a planned start of service.

    It opens no earlier than the courier ``leaves`` the station, nor than the
    appointment ``opens`` (an early courier waits for it), and is widened to
    whole minutes: customers read minutes.
    """
    start = max(service_start - ETA_BEFORE, leaves)
    if opens is not None:
        start = max(start, opens)
    end = service_start + ETA_AFTER
    return _minute(start, math.floor), _minute(end, math.ceil)


def _minute(at: datetime, rounding: Callable[[float], int]) -> datetime:
    return datetime.fromtimestamp(rounding(at.timestamp() / 60) * 60, UTC)


def _dotted(path: str) -> str:
    # The routing engine writes ``stops[3].window.end``; the API's fields are
    # ``stops.3.window.end``, as pydantic's are.
    return re.sub(r"\[(\d+)\]", r".\1", path) or "body"


def invalid_problem(
    exc: RoutingInputError, message: str = "the routing problem is not valid"
) -> ValidationFailed:
    """A :class:`RoutingInputError` in the API's error shape (a 422)."""
    return ValidationFailed(message, [FieldError(_dotted(f["field"]), f["message"]) for f in exc.fields])


def timed_solve(problem: RoutingProblem, *, time_limit: timedelta) -> RoutePlan:
    """:func:`tracker.routing.solve`, counted (ok, error, invalid) and timed in the metrics.

    Raises :class:`RoutingInputError` for a problem no plan can honour, and
    :class:`TrackerError` (500, ``routing_failed``) when the engine fails.
    """
    started = time.perf_counter()
    try:
        plan = solve(problem, time_limit=time_limit)
    except RoutingInputError:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise
    except RoutingError as exc:
        metrics.ROUTE_SOLVES.labels("error").inc()
        log.exception("route solve failed")
        error = TrackerError(f"routing failed: {exc}")
        error.code = "routing_failed"
        raise error from exc
    except Exception:
        metrics.ROUTE_SOLVES.labels("error").inc()
        raise
    finally:
        metrics.ROUTE_SOLVE_SECONDS.observe(time.perf_counter() - started)
    metrics.ROUTE_SOLVES.labels("ok").inc()
    return plan


def optimize(data: Mapping[str, Any], *, time_limit: timedelta) -> dict[str, Any]:
    """Solve a problem in its JSON form (:mod:`tracker.routing.codec`); the plan with ETA windows.

    Stores nothing. Raises :class:`ValidationFailed` naming every bad field.
    """
    try:
        problem = problem_from_dict(data)
    except RoutingInputError as exc:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise invalid_problem(_as_sent(exc, data)) from None
    try:
        plan = timed_solve(problem, time_limit=time_limit)
    except RoutingInputError as exc:  # counted by timed_solve
        raise invalid_problem(exc) from None
    return plan_answer(problem, plan)


def _as_sent(exc: RoutingInputError, data: Mapping[str, Any]) -> RoutingInputError:
    # The model calls a stop's window ``window`` whichever key the client
    # used; name the ``appointment`` the client sent.
    stops = data.get("stops") if isinstance(data.get("stops"), list) else []

    def rename(path: str) -> str:
        match = re.match(r"stops\[(\d+)\]\.window\b(.*)", path)
        if match is None:
            return path
        index = int(match.group(1))
        sent = stops[index] if index < len(stops) and isinstance(stops[index], Mapping) else {}
        return f"stops[{index}].appointment{match.group(2)}" if sent.get("appointment") else path

    return RoutingInputError({"field": rename(f["field"]), "message": f["message"]} for f in exc.fields)


def plan_answer(problem: RoutingProblem, plan: RoutePlan) -> dict[str, Any]:
    """``plan.to_dict()`` with each planned stop's ETA window."""
    opens = {s.id: s.window.start for s in problem.stops}
    answer = plan.to_dict()
    for route, planned in zip(answer["routes"], plan.routes):
        for stop, p in zip(route["stops"], planned.stops):
            start, end = eta_window(p.service_start, leaves=planned.start, opens=opens[p.stop_id])
            stop["eta"] = {"start": start.isoformat(), "end": end.isoformat()}
    return answer


def due_parcels(conn: Connection, facility: str) -> list[Candidate]:
    """Parcels due out of ``facility`` (see the module docstring), in id order."""
    # The status index narrows the scan to parcels on the move; the join to the
    # scan that set each one's status says where that happened.
    place = func.coalesce(ScanEvent.facility_code, Courier.station_code)
    rows = conn.execute(
        select(
            Parcel.id,
            Parcel.tracking_number,
            Parcel.dest_lat,
            Parcel.dest_lon,
            Parcel.weight_kg,
            Parcel.customer_tier,
            Parcel.appointment_start,
            Parcel.appointment_end,
            Parcel.promised_by,
            Parcel.eta_source,
        )
        .join(ScanEvent, ScanEvent.event_id == Parcel.status_event_id)
        .outerjoin(Courier, Courier.code == ScanEvent.courier_code)
        .where(
            Parcel.status.in_(_AT_STATION_STATUSES),
            Parcel.status_event_type.in_(_AT_STATION_SCANS),
            Parcel.delivered_at.is_(None),
            Parcel.pickup_point.is_(None),
            place == facility,
        )
        .order_by(Parcel.id)
    )
    return [
        Candidate(
            parcel_id=r.id,
            tracking_number=r.tracking_number,
            lat=r.dest_lat,
            lon=r.dest_lon,
            weight_kg=r.weight_kg or 0.0,
            tier="vip" if r.customer_tier == CustomerTier.VIP else "normal",
            appointment_start=r.appointment_start,
            appointment_end=r.appointment_end,
            promised_by=r.promised_by,
            route_eta=r.eta_source == "route",
        )
        for r in rows
    ]


def shift_bounds(options: PlanOptions, *, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The shift in UTC; planned during the shift, the couriers leave from now on."""
    today = now.astimezone(zone).date()
    if options.day < today:
        raise ValidationFailed(
            "cannot plan a day that has passed",
            [FieldError("date", f"{options.day} is before today, {today}")],
        )
    start = datetime.combine(options.day, options.shift_start, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(options.day, options.shift_end, tzinfo=zone).astimezone(UTC)
    if start < now:
        # Routes that left in the past would give ETAs the sweep discards at once.
        start = _minute(now, math.ceil)
    if end <= start:
        raise ValidationFailed(
            "the shift is over",
            [FieldError("shift.end", f"{options.shift_end:%H:%M} on {options.day} has passed")],
        )
    return start, end


def stop_window(c: Candidate, shift_start: datetime, shift_end: datetime) -> TimeWindow | None:
    """The parcel's window on this shift; ``None`` if it is not due on it.

    The appointment if there is one, else the promise as the window's end. An
    appointment that starts after the shift is for another day; one that has
    passed, or a promise that has, no longer limits anything: the parcel is
    late and still goes out.
    """
    if c.appointment_start is not None and c.appointment_end is not None:
        if c.appointment_start >= shift_end:
            return None
        if c.appointment_end > shift_start:
            return TimeWindow(c.appointment_start, c.appointment_end)
    if c.promised_by is not None and c.promised_by > shift_start:
        return TimeWindow(None, c.promised_by)
    return TimeWindow()


def build_day(
    facility: str,
    depot: Location,
    couriers: Sequence[str],
    candidates: Sequence[Candidate],
    options: PlanOptions,
    *,
    now: datetime,
    zone: ZoneInfo,
) -> StationDay:
    """The routing problem of a station's day (pure)."""
    if not couriers:
        raise ValidationFailed(
            f"no couriers are based at {facility}", [FieldError("code", f"{facility} has no couriers")]
        )
    start, end = shift_bounds(options, now=now, zone=zone)
    vehicles = [
        Vehicle(code, options.capacity_parcels, options.capacity_kg, shift_start=start, shift_end=end)
        for code in couriers
    ]
    stops: list[Stop] = []
    parcels: dict[str, Candidate] = {}
    left_out: list[tuple[str, str, str]] = []
    for c in candidates:
        window = stop_window(c, start, end)
        if window is None:
            continue
        parcels[c.tracking_number] = c
        if c.lat is None or c.lon is None:
            left_out.append((c.tracking_number, "no_location", "the destination has no coordinates"))
        elif c.weight_kg > options.capacity_kg:
            left_out.append(
                (
                    c.tracking_number,
                    "too_heavy",
                    f"{c.weight_kg:g} kg is more than a courier carries ({options.capacity_kg:g} kg)",
                )
            )
        else:
            stops.append(
                Stop(
                    c.tracking_number,
                    Location(c.lat, c.lon),
                    weight_kg=c.weight_kg,
                    service_time=options.service_time,
                    window=window,
                    tier=c.tier,
                )
            )
    try:
        problem = RoutingProblem(Depot(facility, depot), tuple(vehicles), tuple(stops))
    except RoutingInputError as exc:
        raise _station_error(exc, stops, vehicles) from None
    return StationDay(facility, options.day, problem, parcels, tuple(left_out))


def _station_error(
    exc: RoutingInputError, stops: Sequence[Stop], vehicles: Sequence[Vehicle]
) -> ValidationFailed:
    # The problem was built here, not sent: name parcels and couriers, not list indexes.
    def rename(path: str) -> str:
        match = re.match(r"(stops|vehicles)\[(\d+)\](.*)", path)
        if match is None:
            return _dotted(path)
        kind, index, rest = match.groups()
        name = stops[int(index)].id if kind == "stops" else vehicles[int(index)].id
        return f"{'parcels' if kind == 'stops' else 'couriers'}.{name}{rest}"

    return ValidationFailed(
        "the station's day cannot be planned",
        [FieldError(rename(f["field"]), f["message"]) for f in exc.fields],
    )


def read_day(
    conn: Connection, facility: str, options: PlanOptions, *, now: datetime, zone: ZoneInfo
) -> StationDay:
    """The station, its couriers and its due parcels, laid out by :func:`build_day`."""
    station = conn.execute(select(Facility.lat, Facility.lon).where(Facility.code == facility)).first()
    if station is None:
        raise NotFound(f"no facility with code {facility}")
    couriers = list(
        conn.scalars(select(Courier.code).where(Courier.station_code == facility).order_by(Courier.code))
    )
    candidates = due_parcels(conn, facility)
    return build_day(
        facility, Location(station.lat, station.lon), couriers, candidates, options, now=now, zone=zone
    )


def store_plan(
    conn: Connection, day: StationDay, plan: RoutePlan, *, now: datetime, requested_by: str
) -> int:
    """Write the plan, its stops and the parcels' ETAs (see the module docstring); the plan's id."""
    # Plans of one station are stored one at a time. Without this lock, two
    # plans solved at once could take their ids in one order and write their
    # ETAs in the other, and "the latest plan" would disagree with the ETAs
    # customers see. (SQLite's writers queue anyway.)
    conn.execute(select(Facility.id).where(Facility.code == day.facility).with_for_update(key_share=True))
    # A parcel delivered while the solver ran keeps its stop in the plan as it
    # was solved, but gets no ETA. Locked in id order, as ingest locks them.
    ids = sorted(c.parcel_id for c in day.parcels.values())
    live = set(
        conn.scalars(
            select(Parcel.id)
            .where(Parcel.id.in_(ids), Parcel.delivered_at.is_(None))
            .order_by(Parcel.id)
            .with_for_update(key_share=True)
        )
    )
    left_out = [*day.left_out, *((x.stop_id, x.reason, x.detail) for x in plan.left_out)]
    totals = plan.totals
    plan_id: int = conn.execute(
        insert(StationPlan)
        .values(
            facility_code=day.facility,
            plan_date=day.day,
            created_at=now,
            requested_by=requested_by,
            solver_status=plan.solver_status,
            solve_seconds=plan.solve_seconds,
            distance_m=totals.distance_m,
            duration_s=totals.duration_s,
            served=totals.served,
            left_out=len(left_out),
            vehicles_used=totals.vehicles_used,
            problem=day.problem.to_dict(),
            result=plan.to_dict(),
        )
        .returning(StationPlan.id)
    ).scalar_one()

    opens = {s.id: s.window.start for s in day.problem.stops}
    rows: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for route in plan.routes:
        for sequence, stop in enumerate(route.stops, start=1):
            parcel = day.parcels[stop.stop_id]
            eta_start, eta_end = eta_window(stop.service_start, leaves=route.start, opens=opens[stop.stop_id])
            rows.append(
                _stop_row(
                    plan_id,
                    parcel.parcel_id,
                    courier_code=route.vehicle_id,
                    sequence=sequence,
                    arrival=stop.arrival,
                    service_start=stop.service_start,
                    departure=stop.departure,
                    eta_start=eta_start,
                    eta_end=eta_end,
                )
            )
            if parcel.parcel_id in live:
                updates[parcel.parcel_id] = _eta(eta_start, eta_end, "route", now)
    for tracking_number, reason, detail in left_out:
        parcel = day.parcels[tracking_number]
        rows.append(_stop_row(plan_id, parcel.parcel_id, reason=reason, detail=detail))
        if parcel.route_eta and parcel.parcel_id in live:
            # An earlier plan's ETA no longer holds: the sweep estimates again at once.
            updates[parcel.parcel_id] = _eta(None, None, None, now)
    if rows:
        conn.execute(insert(RouteStop), rows)
    bulk.update_parcels(conn, updates, updated_at=now)
    record_state(conn, OBJECTIVE_STATE, now, totals.distance_m)
    return plan_id


def _stop_row(plan_id: int, parcel_id: int, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(
        (
            "courier_code",
            "sequence",
            "arrival",
            "service_start",
            "departure",
            "eta_start",
            "eta_end",
            "reason",
            "detail",
        )
    )
    row.update(values, plan_id=plan_id, parcel_id=parcel_id)
    return row


def _eta(start: datetime | None, end: datetime | None, source: str | None, now: datetime) -> dict[str, Any]:
    # Due now: the sweep re-judges at-risk against the new ETA.
    return {"eta_start": start, "eta_end": end, "eta_source": source, "next_check_at": now}


def plan_station(
    engine: Engine,
    facility: str,
    options: PlanOptions,
    *,
    now: datetime,
    zone: ZoneInfo,
    requested_by: str,
) -> dict[str, Any]:
    """Read, solve (outside any transaction: it takes seconds), store; the stored plan."""
    with engine.connect() as conn:
        day = read_day(conn, facility, options, now=now, zone=zone)
    try:
        plan = timed_solve(day.problem, time_limit=options.time_limit)
    except RoutingInputError as exc:
        raise invalid_problem(exc, "the station's day cannot be planned") from None
    with write_transaction(engine) as conn:
        plan_id = store_plan(conn, day, plan, now=now, requested_by=requested_by)
        return plan_record(conn, plan_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _window(start: datetime | None, end: datetime | None) -> dict[str, str | None] | None:
    return {"start": _iso(start), "end": _iso(end)} if start is not None or end is not None else None


def plan_record(conn: Connection, plan_id: int) -> dict[str, Any]:
    """A stored plan: each courier's route in order with ETAs, and the parcels left out."""
    plan = conn.execute(select(StationPlan).where(StationPlan.id == plan_id)).one()
    stops = conn.execute(
        select(RouteStop, Parcel.tracking_number)
        .join(Parcel, Parcel.id == RouteStop.parcel_id)
        .where(RouteStop.plan_id == plan_id)
        .order_by(RouteStop.courier_code, RouteStop.sequence, RouteStop.id)
    ).all()
    by_courier: dict[str, list[dict[str, Any]]] = {}
    left_out = []
    for s in stops:
        if s.courier_code is None:
            left_out.append({"tracking_number": s.tracking_number, "reason": s.reason, "detail": s.detail})
            continue
        by_courier.setdefault(s.courier_code, []).append(
            {
                "sequence": s.sequence,
                "tracking_number": s.tracking_number,
                "arrival": _iso(s.arrival),
                "service_start": _iso(s.service_start),
                "departure": _iso(s.departure),
                "eta": _window(s.eta_start, s.eta_end),
            }
        )
    routes = [
        {
            "courier_id": r["vehicle_id"],
            "start": r["start"],
            "end": r["end"],
            "distance_m": r["distance_m"],
            "duration_s": r["duration_s"],
            "load_parcels": r["load_parcels"],
            "load_kg": r["load_kg"],
            "stops": by_courier.get(r["vehicle_id"], []),
        }
        for r in plan.result["routes"]
    ]
    return {
        "id": plan.id,
        "facility": plan.facility_code,
        "date": plan.plan_date.isoformat(),
        "created_at": _iso(plan.created_at),
        "requested_by": plan.requested_by,
        "solver_status": plan.solver_status,
        "solve_seconds": plan.solve_seconds,
        "eta_margin": {"before_s": ETA_BEFORE.total_seconds(), "after_s": ETA_AFTER.total_seconds()},
        "totals": {**plan.result["totals"], "left_out": plan.left_out},
        "routes": routes,
        "left_out": left_out,
    }


def courier_route(conn: Connection, courier: str, day: date) -> dict[str, Any]:
    """The courier's stops on ``day`` from the latest plan of the courier's station."""
    station = conn.scalar(select(Courier.station_code).where(Courier.code == courier))
    if station is None:
        raise NotFound(f"no courier with code {courier} (or not based at a station)")
    plan = conn.execute(
        select(StationPlan.id, StationPlan.created_at, StationPlan.result)
        .where(StationPlan.facility_code == station, StationPlan.plan_date == day)
        .order_by(StationPlan.id.desc())
        .limit(1)
    ).first()
    if plan is None:
        raise NotFound(f"no route planned at {station} on {day}")
    route = next((r for r in plan.result["routes"] if r["vehicle_id"] == courier), None)
    rows = conn.execute(
        select(
            RouteStop.sequence,
            RouteStop.arrival,
            RouteStop.service_start,
            RouteStop.departure,
            RouteStop.eta_start,
            RouteStop.eta_end,
            Parcel.tracking_number,
            Parcel.status,
            Parcel.dest_lat,
            Parcel.dest_lon,
            Parcel.dest_district,
            Parcel.dest_address,
            Parcel.recipient_name,
            Parcel.recipient_phone,
            Parcel.customer_tier,
            Parcel.weight_kg,
            Parcel.appointment_start,
            Parcel.appointment_end,
            Parcel.promised_by,
        )
        .join(Parcel, Parcel.id == RouteStop.parcel_id)
        .where(RouteStop.plan_id == plan.id, RouteStop.courier_code == courier)
        .order_by(RouteStop.sequence)
    ).all()
    return {
        "courier_id": courier,
        "facility": station,
        "date": day.isoformat(),
        "plan_id": plan.id,
        "planned_at": _iso(plan.created_at),
        "start": route["start"] if route and route["stops"] else None,
        "end": route["end"] if route and route["stops"] else None,
        "distance_m": route["distance_m"] if route else 0.0,
        "stops": [_courier_stop(row) for row in rows],
    }


def _courier_stop(s: Any) -> dict[str, Any]:
    # The courier's own work list: unmasked, as on the label.
    return {
        "sequence": s.sequence,
        "tracking_number": s.tracking_number,
        "status": s.status,
        "arrival": _iso(s.arrival),
        "service_start": _iso(s.service_start),
        "departure": _iso(s.departure),
        "eta": _window(s.eta_start, s.eta_end),
        "destination": {
            "lat": s.dest_lat,
            "lon": s.dest_lon,
            "district": s.dest_district,
            "address": s.dest_address,
        },
        "recipient": {"name": s.recipient_name, "phone": s.recipient_phone},
        "customer_tier": s.customer_tier,
        "weight_kg": s.weight_kg,
        "appointment": _window(s.appointment_start, s.appointment_end),
        "promised_by": _iso(s.promised_by),
    }
